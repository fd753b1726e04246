//! Noticing tokens come and go: the slots are polled (not every module
//! supports slot events) and each change is published for the UI.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::pkcs11::{TokenError, TokenEvent, TokenRef, diff, list_tokens};

#[derive(Debug, Default)]
struct Published {
    tokens: Vec<TokenRef>,
    events: VecDeque<TokenEvent>,
    error: Option<String>,
}

type Shared = Arc<(Mutex<Published>, Condvar)>;

/// Polls the slots on its own thread; the UI reads the present tokens and
/// waits for insertions and removals.
#[derive(Debug)]
pub struct TokenWatcher {
    shared: Shared,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TokenWatcher {
    /// Watches the tokens of `modules`.
    pub fn spawn(modules: Vec<PathBuf>, interval: Duration) -> TokenWatcher {
        Self::spawn_with(move || list_tokens(&modules), interval)
    }

    /// Watches whatever `list` reports (the slots of some modules).
    pub fn spawn_with(
        mut list: impl FnMut() -> Result<Vec<TokenRef>, TokenError> + Send + 'static,
        interval: Duration,
    ) -> TokenWatcher {
        let shared: Shared = Arc::default();
        let (stop, stopped) = mpsc::channel::<()>();
        let published = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("token-watch".into())
            .spawn(move || {
                loop {
                    let listed = list();
                    {
                        let (lock, cvar) = &*published;
                        let mut p = lock.lock().unwrap_or_else(|e| e.into_inner());
                        match listed {
                            Ok(now) => {
                                let events = diff(&p.tokens, &now);
                                p.events.extend(events);
                                p.tokens = now;
                                p.error = None;
                            }
                            Err(e) => p.error = Some(e.to_string()),
                        }
                        cvar.notify_all();
                    }
                    match stopped.recv_timeout(interval) {
                        Err(RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                }
            })
            .expect("spawning the token watcher");
        TokenWatcher {
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The tokens present at the last poll.
    pub fn tokens(&self) -> Vec<TokenRef> {
        self.shared
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .tokens
            .clone()
    }

    /// Why the last poll failed, if it did (a module that stopped answering).
    pub fn error(&self) -> Option<String> {
        self.shared
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .error
            .clone()
    }

    /// The next insertion or removal, waiting up to `timeout`.
    pub fn next_event(&self, timeout: Duration) -> Option<TokenEvent> {
        let (lock, cvar) = &*self.shared;
        let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let (mut guard, _) = cvar
            .wait_timeout_while(guard, timeout, |p| p.events.is_empty())
            .unwrap_or_else(|e| e.into_inner());
        guard.events.pop_front()
    }
}

impl Drop for TokenWatcher {
    fn drop(&mut self) {
        self.stop = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
