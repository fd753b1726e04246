//! The smartcard reader through PC/SC (`pcscd`): readers listed and
//! watched as they and their cards come and go, a card connected for
//! reading. A reader that vanishes is a state the kiosk shows, not an
//! error that stops it.

use std::ffi::{CStr, CString};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub use pcsc::Context;
use pcsc::{Protocols, ReaderState, Scope, ShareMode, State};

use super::chip::{CardError, SHORT_READ, Transport};

/// One reader as the kiosk last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reader {
    pub name: String,
    pub card: Option<Vec<u8>>,
    /// PC/SC's count of cards arriving at and leaving this reader: a card
    /// lifted and put back between two looks changes it.
    pub events: u32,
}

/// All readers, or why none can be seen.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Readers {
    pub readers: Vec<Reader>,
    /// `pcscd` is not there, or stopped answering.
    pub error: Option<String>,
}

impl Readers {
    /// The first reader with a card on it.
    pub fn with_card(&self) -> Option<&Reader> {
        self.readers.iter().find(|r| r.card.is_some())
    }

    /// Cards arrived and left on every reader, together: it moves with any.
    pub fn events(&self) -> u32 {
        self.readers
            .iter()
            .fold(0u32, |sum, r| sum.wrapping_add(r.events))
    }
}

fn reader_error(e: pcsc::Error) -> CardError {
    match e {
        pcsc::Error::RemovedCard
        | pcsc::Error::ResetCard
        | pcsc::Error::NoSmartcard
        | pcsc::Error::UnpoweredCard
        | pcsc::Error::UnresponsiveCard => CardError::Removed,
        other => CardError::Reader(other.to_string()),
    }
}

/// A connection to `pcscd`.
pub fn establish() -> Result<Context, CardError> {
    Context::establish(Scope::User).map_err(|e| CardError::Reader(format!("pcscd: {e}")))
}

/// The readers `pcscd` knows now, each with the ATR of its card if one is
/// present.
pub fn list(ctx: &Context) -> Result<Vec<Reader>, CardError> {
    let names = match ctx.list_readers_owned() {
        Ok(names) => names,
        Err(pcsc::Error::NoReadersAvailable) => return Ok(Vec::new()),
        Err(e) => return Err(reader_error(e)),
    };
    let mut states: Vec<ReaderState> = names
        .into_iter()
        .map(|n| ReaderState::new(n, State::UNAWARE))
        .collect();
    if !states.is_empty() {
        match ctx.get_status_change(Duration::ZERO, &mut states) {
            Ok(()) | Err(pcsc::Error::Timeout) => {}
            Err(e) => return Err(reader_error(e)),
        }
    }
    Ok(states.iter().map(describe).collect())
}

fn describe(s: &ReaderState) -> Reader {
    let present =
        s.event_state().contains(State::PRESENT) && !s.event_state().contains(State::MUTE);
    Reader {
        name: s.name().to_string_lossy().into_owned(),
        card: present.then(|| s.atr().to_vec()),
        events: s.event_count(),
    }
}

/// A card connected on a reader, exclusively for the time of a read.
pub struct Connected {
    card: pcsc::Card,
    extended: bool,
}

impl std::fmt::Debug for Connected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Connected(extended: {})", self.extended)
    }
}

impl Connected {
    pub fn open(ctx: &Context, reader: &str) -> Result<Connected, CardError> {
        let name =
            CString::new(reader).map_err(|_| CardError::Reader("a reader name with NUL".into()))?;
        let card = ctx
            .connect(&name, ShareMode::Exclusive, Protocols::ANY)
            .map_err(reader_error)?;
        // The reader's largest message (PC/SC part 3, SCARD_ATTR_MAXINPUT):
        // more than a short APDU's 261 bytes allows extended reads.
        let extended = card
            .get_attribute_owned(pcsc::Attribute::Maxinput)
            .ok()
            .and_then(|v| {
                v.get(..4)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            })
            .is_some_and(|n| n > 261);
        Ok(Connected { card, extended })
    }

    /// The READ BINARY size to use: extended where the reader allows it.
    pub fn max_read(&self) -> usize {
        if self.extended { 0x0F00 } else { SHORT_READ }
    }

    pub fn reader_allows_extended(&self) -> bool {
        self.extended
    }

    pub fn atr(&self) -> Option<Vec<u8>> {
        self.card.status2_owned().ok().map(|s| s.atr().to_vec())
    }
}

impl Transport for Connected {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, CardError> {
        let mut buf = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
        let got = self.card.transmit(apdu, &mut buf).map_err(reader_error)?;
        // No status word at all: the card left the field while answering
        // (the reader may not have noticed yet).
        if got.len() < 2 {
            return Err(CardError::Removed);
        }
        Ok(got.to_vec())
    }
}

#[derive(Debug, Default)]
struct Published {
    readers: Readers,
}

type Shared = Arc<(Mutex<Published>, Condvar)>;

/// Watches the readers on its own thread with `SCardGetStatusChange`
/// (readers plugged and unplugged through the PnP notification, cards
/// placed and removed), and publishes what it sees. When `pcscd` is gone it
/// says so and keeps trying.
pub struct ReaderWatcher {
    shared: Shared,
    stop: Arc<Mutex<Option<Context>>>,
    stopping: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ReaderWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReaderWatcher")
            .field("readers", &self.readers())
            .finish()
    }
}

impl ReaderWatcher {
    pub fn spawn() -> ReaderWatcher {
        let shared: Shared = Arc::default();
        let stop: Arc<Mutex<Option<Context>>> = Arc::default();
        let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (published, canceller, flag) = (
            Arc::clone(&shared),
            Arc::clone(&stop),
            Arc::clone(&stopping),
        );
        let thread = std::thread::Builder::new()
            .name("card-watch".into())
            .spawn(move || watch(&published, &canceller, &flag))
            .expect("spawning the reader watcher");
        ReaderWatcher {
            shared,
            stop,
            stopping,
            thread: Some(thread),
        }
    }

    pub fn readers(&self) -> Readers {
        self.shared
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .readers
            .clone()
    }

    /// Waits up to `timeout` for the readers to satisfy `until`; answers
    /// what they are then.
    pub fn wait(&self, timeout: Duration, until: impl Fn(&Readers) -> bool) -> Readers {
        let (lock, cvar) = &*self.shared;
        let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) = cvar
            .wait_timeout_while(guard, timeout, |p| !until(&p.readers))
            .unwrap_or_else(|e| e.into_inner());
        guard.readers.clone()
    }
}

impl Drop for ReaderWatcher {
    fn drop(&mut self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(ctx) = self.stop.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            let _ = ctx.cancel();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn publish(shared: &Shared, readers: Readers) {
    let (lock, cvar) = &**shared;
    let mut p = lock.lock().unwrap_or_else(|e| e.into_inner());
    if p.readers != readers {
        p.readers = readers;
        cvar.notify_all();
    }
}

/// How often a waiting watcher looks whether it is being dropped.
const WAKE: Duration = Duration::from_millis(250);

/// How long to wait before asking a missing `pcscd` again.
const RETRY: Duration = Duration::from_millis(500);

/// No readers, because `pcscd` did not answer.
fn unreachable(e: pcsc::Error) -> Readers {
    Readers {
        readers: Vec::new(),
        error: Some(format!("pcscd: {e}")),
    }
}

fn watch(
    shared: &Shared,
    canceller: &Mutex<Option<Context>>,
    stopping: &std::sync::atomic::AtomicBool,
) {
    use std::sync::atomic::Ordering;
    while !stopping.load(Ordering::SeqCst) {
        let ctx = match Context::establish(Scope::User) {
            Ok(ctx) => ctx,
            Err(e) => {
                publish(shared, unreachable(e));
                std::thread::sleep(RETRY);
                continue;
            }
        };
        *canceller.lock().unwrap_or_else(|e| e.into_inner()) = Some(ctx.clone());
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        // Until the context fails: list, then wait for any change.
        loop {
            let names: Vec<CString> = match ctx.list_readers_owned() {
                Ok(n) => n,
                Err(pcsc::Error::NoReadersAvailable) => Vec::new(),
                Err(e) => {
                    publish(shared, unreachable(e));
                    break;
                }
            };
            let mut states: Vec<ReaderState> = names
                .into_iter()
                .map(|n| ReaderState::new(n, State::UNAWARE))
                .collect();
            states.push(ReaderState::new(pnp(), State::UNAWARE));
            // First call: learn the current state of each reader.
            match ctx.get_status_change(Duration::ZERO, &mut states) {
                Ok(()) | Err(pcsc::Error::Timeout) => {}
                Err(pcsc::Error::Cancelled) => return,
                Err(_) => break,
            }
            publish(
                shared,
                Readers {
                    readers: states[..states.len() - 1].iter().map(describe).collect(),
                    error: None,
                },
            );
            for s in &mut states {
                s.sync_current_state();
            }
            // Then wait for any change, and list again. The wait wakes now
            // and then to see whether the watcher is being dropped: a
            // cancel sent before the wait began would be lost.
            let changed = loop {
                match ctx.get_status_change(WAKE, &mut states) {
                    Ok(()) => break true,
                    Err(pcsc::Error::Timeout) if !stopping.load(Ordering::SeqCst) => {}
                    Err(pcsc::Error::Timeout | pcsc::Error::Cancelled) => return,
                    Err(_) => break false,
                }
            };
            if !changed {
                break;
            }
        }
        std::thread::sleep(RETRY);
    }
}

fn pnp() -> &'static CStr {
    pcsc::PNP_NOTIFICATION()
}
