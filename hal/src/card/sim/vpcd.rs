//! The virtual card in a virtual reader: a client of `vsmartcard-vpcd`,
//! the PC/SC driver that gives `pcscd` a reader ("Virtual PCD") fed over a
//! TCP socket. Each message is a two-byte big-endian length and its bytes;
//! one-byte messages are the reader's power commands (0 off, 1 on, 2 reset,
//! 4 ATR), anything longer is an APDU to answer. Connected means the card is
//! on the reader; closing the socket takes it off.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::chip::{ATR, VirtualChip};

/// A card placed on the virtual reader at `port`; dropping it (or
/// [`Placed::remove`]) takes it off.
#[derive(Debug)]
pub struct Placed {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<(VirtualChip, TcpStream)>>,
    chip_apdus: Arc<Mutex<usize>>,
}

impl Placed {
    /// Connects to vpcd on localhost, retrying until `patience` has passed
    /// (the driver listens only once `pcscd` has loaded it).
    pub fn on_reader(port: u16, chip: VirtualChip, patience: Duration) -> io::Result<Placed> {
        let deadline = Instant::now() + patience;
        let stream = loop {
            match TcpStream::connect(("127.0.0.1", port)) {
                Ok(s) => break s,
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        stream.set_nodelay(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let chip_apdus = Arc::new(Mutex::new(0));
        let (stop2, count) = (Arc::clone(&stop), Arc::clone(&chip_apdus));
        // The thread owns the only handle on the socket: when it ends, the
        // socket closes and the reader sees the card leave.
        let thread = std::thread::Builder::new()
            .name("virtual-card".into())
            .spawn(move || serve(stream, chip, &stop2, &count))?;
        Ok(Placed {
            stop,
            thread: Some(thread),
            chip_apdus,
        })
    }

    /// Waits (up to `patience`) until `pcscd` reports the card on the
    /// virtual reader: the driver notices a connection at its next poll.
    pub fn seen(self, patience: Duration) -> io::Result<Placed> {
        wait_until_seen(patience)?;
        Ok(self)
    }

    /// Takes the card off (if it has not left by itself) and waits (up to
    /// `patience`) until the reader's own poll has seen it gone. A read
    /// that failed because the card left makes `pcscd` say "empty" at once,
    /// before its poll has looked; a card placed again in between would
    /// never be seen arriving, so this waits for the poll's own removal
    /// event (the reader's event counter moves).
    pub fn removed(mut self, patience: Duration) -> io::Result<()> {
        use pcsc::{Context, ReaderState, Scope, State};
        let deadline = Instant::now() + patience;
        let err = |e: pcsc::Error| io::Error::other(format!("pcscd: {e}"));
        let ctx = Context::establish(Scope::User).map_err(err)?;
        let name = ctx
            .list_readers_owned()
            .map_err(err)?
            .into_iter()
            .find(|n| n.to_bytes().starts_with(b"Virtual PCD"))
            .ok_or_else(|| io::Error::other("no virtual reader"))?;
        let mut state = [ReaderState::new(name, State::UNAWARE)];
        ctx.get_status_change(Duration::ZERO, &mut state)
            .map_err(err)?;
        let before = state[0].event_count();
        self.take_off();
        loop {
            let s = &state[0];
            if s.event_count() != before && !s.event_state().contains(State::PRESENT) {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "pcscd did not see the card leave the virtual reader",
                ));
            }
            state[0].sync_current_state();
            match ctx.get_status_change(left, &mut state) {
                Ok(()) | Err(pcsc::Error::Timeout) => {}
                Err(e) => return Err(err(e)),
            }
        }
    }

    /// APDUs the card answered so far.
    pub fn apdus(&self) -> usize {
        *self.chip_apdus.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the card off the reader; answers the chip (for another
    /// placing).
    pub fn remove(mut self) -> Option<VirtualChip> {
        self.take_off()
    }

    fn take_off(&mut self) -> Option<VirtualChip> {
        self.stop.store(true, Ordering::SeqCst);
        // The socket closes here, once the card is taken off, whether or
        // not it left the field by itself before.
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .map(|(chip, _socket)| chip)
    }
}

impl Drop for Placed {
    fn drop(&mut self) {
        self.take_off();
    }
}

/// How often a waiting card looks whether it is being taken off.
const POLL: Duration = Duration::from_millis(50);
/// How long the rest of a message may take once it has started.
const MESSAGE: Duration = Duration::from_secs(5);

/// Waits until `pcscd` reports a card on the virtual reader.
fn wait_until_seen(patience: Duration) -> io::Result<()> {
    use crate::card::reader::{ReaderWatcher, Readers};
    let watcher = ReaderWatcher::spawn();
    // The driver's first slot, "Virtual PCD 00 00", is the port given;
    // the second slot listens on the next port.
    let seen = |r: &Readers| {
        r.readers
            .iter()
            .find(|r| r.name.starts_with("Virtual PCD"))
            .is_some_and(|r| r.card.is_some())
    };
    if seen(&watcher.wait(patience, seen)) {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "pcscd did not report the card on the virtual reader",
        ))
    }
}

fn serve(
    mut s: TcpStream,
    mut chip: VirtualChip,
    stop: &AtomicBool,
    count: &Mutex<usize>,
) -> (VirtualChip, TcpStream) {
    let mut len = [0u8; 2];
    while !stop.load(Ordering::SeqCst) {
        // Wait for the reader's next message, looking up now and then to
        // see whether the card is being taken off.
        let _ = s.set_read_timeout(Some(POLL));
        // vpcd's socket keeps Nagle's algorithm: unless we acknowledge at
        // once, its next message waits for our delayed ACK, 40 ms an APDU
        // (measured: 20 APDUs in 1,053 ms without, 10 ms with). Linux
        // clears the flag as it goes, so it is set before every wait.
        let _ = socket2::SockRef::from(&s).set_tcp_quickack(true);
        match s.peek(&mut len[..1]) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(_) => break,
        }
        let _ = s.set_read_timeout(Some(MESSAGE));
        if s.read_exact(&mut len).is_err() {
            break;
        }
        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if s.read_exact(&mut msg).is_err() {
            break;
        }

        let answer = match msg[..] {
            [0] | [1] | [2] => {
                chip.reset();
                continue;
            }
            [4] => ATR.to_vec(),
            _ => {
                if !chip.present() {
                    break;
                }
                let a = chip.process(&msg);
                *count.lock().unwrap_or_else(|e| e.into_inner()) = chip.apdus;
                if !chip.present() {
                    // Pulled out while answering: the answer never arrives.
                    break;
                }
                a
            }
        };
        let mut out = (answer.len() as u16).to_be_bytes().to_vec();
        out.extend(answer);
        if s.write_all(&out).is_err() {
            break;
        }
    }
    let _ = s.shutdown(Shutdown::Both);
    (chip, s)
}
