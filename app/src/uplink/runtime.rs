//! The tokio runtime behind the kiosk: the uplink runs on it (in the demo,
//! the reference portal too), and the worker thread blocks on it for live
//! checks. Dropping it stops everything started on it.

use std::time::Duration;

use super::{Uplink, UplinkHandle};

/// The tokio runtime for what runs in the background of the kiosk (the
/// uplink; in the demo also the reference portal). Dropping it stops them.
pub struct AsyncRuntime {
    runtime: Option<tokio::runtime::Runtime>,
    stops: Vec<tokio::sync::oneshot::Sender<()>>,
}

impl std::fmt::Debug for AsyncRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncRuntime")
            .field("tasks", &self.stops.len())
            .finish()
    }
}

impl AsyncRuntime {
    pub fn new() -> std::io::Result<AsyncRuntime> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("kiosk-background")
            .enable_all()
            .build()?;
        Ok(AsyncRuntime {
            runtime: Some(runtime),
            stops: Vec::new(),
        })
    }

    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime.as_ref().expect("present until dropped")
    }

    /// A future that completes when this runtime is dropped.
    pub fn stop_signal(&mut self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (stop, stopped) = tokio::sync::oneshot::channel();
        self.stops.push(stop);
        async move {
            let _ = stopped.await;
        }
    }

    /// Runs the uplink until this runtime is dropped.
    pub fn start_uplink(&mut self, uplink: Uplink) -> UplinkHandle {
        let handle = uplink.handle();
        let stop = self.stop_signal();
        self.runtime().spawn(uplink.run(stop));
        handle
    }
}

impl Drop for AsyncRuntime {
    fn drop(&mut self) {
        self.stops.clear();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(2));
        }
    }
}
