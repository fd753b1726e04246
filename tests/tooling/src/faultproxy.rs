//! A TCP proxy on loopback that misbehaves on purpose, for the tests and
//! the drain benchmark: the network between a kiosk and the portal as it
//! is in the field.
//!
//! Each new connection takes the next [`Fault`] from a queue (then
//! [`Fault::None`]): refused, reset in the middle of the request, the
//! portal's answer lost after the portal committed, answered late,
//! truncated, or answered by the "proxy" itself with a 500 or a 503 and
//! `Retry-After`. A [`Link`] shapes every connection: bandwidth each way
//! and round-trip time. The proxy counts the bytes it carried each way.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// What happens to one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Carried faithfully (within the link's shape).
    None,
    /// Closed as soon as it is accepted.
    Refuse,
    /// The request reaches the portal only in part; then both sides close.
    CutRequest { after_bytes: usize },
    /// The request reaches the portal and the portal answers, but the
    /// answer is lost: the connection closes at its first byte.
    LoseResponse,
    /// The answer is held this long before it is passed on.
    DelayResponse(Duration),
    /// Only the first bytes of the answer arrive; then the connection closes.
    TruncateResponse { after_bytes: usize },
    /// The proxy answers itself, the portal never sees the request.
    Respond {
        status: u16,
        retry_after: Option<u64>,
    },
}

/// The shape of the line: bandwidth each way (bits per second, `None` for
/// unlimited) and round-trip time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Link {
    pub bits_per_second: Option<u64>,
    pub round_trip: Duration,
}

/// Bytes carried so far.
#[derive(Debug, Default)]
pub struct Counters {
    pub to_portal: AtomicU64,
    pub to_kiosk: AtomicU64,
    pub connections: AtomicU64,
}

#[derive(Debug)]
struct State {
    faults: Mutex<VecDeque<Fault>>,
    link: Mutex<Link>,
    counters: Counters,
    /// When each direction of the line is next free: one line carries every
    /// connection, as a kiosk's single modem or DSL line does.
    line_free: [Mutex<Instant>; 2],
    /// Bumped to close every open connection at once.
    severed: tokio::sync::watch::Sender<u64>,
}

/// A running proxy; it stops when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    address: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let state = Arc::new(State {
            faults: Mutex::new(VecDeque::new()),
            link: Mutex::new(Link::default()),
            counters: Counters::default(),
            line_free: [Mutex::new(Instant::now()), Mutex::new(Instant::now())],
            severed: tokio::sync::watch::Sender::new(0),
        });
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let fault = shared
                    .faults
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .pop_front()
                    .unwrap_or(Fault::None);
                let link = *shared
                    .link
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                shared.counters.connections.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(connection(
                    client,
                    upstream,
                    fault,
                    link,
                    Arc::clone(&shared),
                ));
            }
        });
        Ok(FaultProxy {
            address,
            state,
            task,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.address)
    }

    /// Faults for the next connections, in order.
    pub fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.state
            .faults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(faults);
    }

    /// Faults not yet used.
    pub fn pending_faults(&self) -> usize {
        self.state
            .faults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// The shape of connections opened from now on.
    pub fn set_link(&self, link: Link) {
        *self
            .state
            .link
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = link;
    }

    /// Closes every open connection now, as when the line drops: kept-alive
    /// connections do not outlive it. New ones take the queued faults.
    pub fn sever(&self) {
        self.state.severed.send_modify(|n| *n += 1);
    }

    pub fn counters(&self) -> &Counters {
        &self.state.counters
    }
}

fn canned(status: u16, retry_after: Option<u64>) -> Vec<u8> {
    let reason = match status {
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        429 => "Too Many Requests",
        _ => "Error",
    };
    let body = format!(
        "{{\"type\":\"about:blank\",\"title\":\"{reason}\",\"status\":{status},\"code\":\"proxy\"}}"
    );
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    if let Some(secs) = retry_after {
        head.push_str(&format!("retry-after: {secs}\r\n"));
    }
    head.push_str("\r\n");
    head.push_str(&body);
    head.into_bytes()
}

async fn connection(
    mut client: TcpStream,
    upstream: SocketAddr,
    fault: Fault,
    link: Link,
    state: Arc<State>,
) {
    let _ = client.set_nodelay(true);
    let mut severed = state.severed.subscribe();
    match fault {
        Fault::Refuse => return,
        Fault::Respond {
            status,
            retry_after,
        } => {
            // Read the request's head at least, then answer.
            let mut buf = [0u8; 8192];
            let _ = client.read(&mut buf).await;
            let _ = client.write_all(&canned(status, retry_after)).await;
            let _ = client.shutdown().await;
            return;
        }
        _ => {}
    }
    let Ok(portal) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = portal.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (portal_read, portal_write) = portal.into_split();
    let up_limit = match fault {
        Fault::CutRequest { after_bytes } => Some(after_bytes),
        _ => None,
    };
    let up = pipe(
        client_read,
        portal_write,
        link,
        up_limit,
        Duration::ZERO,
        false,
        Arc::clone(&state),
        true,
    );
    let (down_limit, delay, lose) = match fault {
        Fault::TruncateResponse { after_bytes } => (Some(after_bytes), Duration::ZERO, false),
        Fault::DelayResponse(d) => (None, d, false),
        Fault::LoseResponse => (Some(0), Duration::ZERO, true),
        _ => (None, Duration::ZERO, false),
    };
    let down = pipe(
        portal_read,
        client_write,
        link,
        down_limit,
        delay,
        lose,
        Arc::clone(&state),
        false,
    );
    // Either direction ending (or cut), or the line dropping, ends it.
    tokio::select! {
        () = up => {}
        () = down => {}
        _ = severed.changed() => {}
    }
}

/// Copies one direction, shaped by the link: each chunk arrives half a
/// round trip after it was read, and no faster than the bandwidth allows,
/// which concurrent connections share.
/// With `limit`, only that many bytes pass, then the direction closes; with
/// `lose`, the direction closes at the first byte that would pass.
#[allow(clippy::too_many_arguments)]
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    link: Link,
    limit: Option<usize>,
    first_delay: Duration,
    lose: bool,
    state: Arc<State>,
    towards_portal: bool,
) {
    let (chunks, mut arriving) = tokio::sync::mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let latency = link.round_trip / 2;
    let reader = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if chunks.send((Instant::now(), buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
            }
        }
    };
    let writer = async move {
        let mut passed = 0usize;
        let mut first = true;
        while let Some((read_at, mut chunk)) = arriving.recv().await {
            if lose {
                return;
            }
            if first {
                first = false;
                tokio::time::sleep(first_delay).await;
            }
            if let Some(limit) = limit {
                let room = limit.saturating_sub(passed);
                chunk.truncate(room);
            }
            tokio::time::sleep_until(read_at + latency).await;
            if let Some(bps) = link.bits_per_second {
                let on_wire = Duration::from_secs_f64(chunk.len() as f64 * 8.0 / bps as f64);
                let done = {
                    let mut free = state.line_free[usize::from(towards_portal)]
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    *free = (*free).max(Instant::now()) + on_wire;
                    *free
                };
                tokio::time::sleep_until(done).await;
            }
            if chunk.is_empty() || to.write_all(&chunk).await.is_err() {
                return;
            }
            passed += chunk.len();
            let counter = if towards_portal {
                &state.counters.to_portal
            } else {
                &state.counters.to_kiosk
            };
            counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            if limit.is_some_and(|l| passed >= l) {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::pin!(writer);
    tokio::select! {
        // The source closed: what is still on the line is delivered, then
        // the writer closes its side.
        () = reader => writer.await,
        // The writer stopped (a fault): the connection ends here.
        () = &mut writer => {}
    }
}
