//! modem-sim: a simulated GSM modem on a pseudo-terminal, for the demo and
//! for trying `kioskctl modem` without hardware. Prints every SMS it is
//! asked to send, as a phone would show it.
//!
//! Usage: modem-sim LINK [--no-sim | --sim-pin | --no-network | --noisy]

use std::path::PathBuf;
use std::time::Duration;

use kiosk_hal::modem::sim::{SimCard, Simulator};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(link) = args.next().map(PathBuf::from) else {
        eprintln!("usage: modem-sim LINK [--no-sim | --sim-pin | --no-network | --noisy]");
        std::process::exit(2);
    };
    let sim = match Simulator::start(&link) {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("error: cannot create the pty at {}: {e}", link.display());
            std::process::exit(3);
        }
    };
    for arg in args {
        match arg.as_str() {
            "--no-sim" => sim.set_faults(|f| f.sim = SimCard::Missing),
            "--sim-pin" => sim.set_faults(|f| f.sim = SimCard::PinRequired),
            "--no-network" => sim.set_faults(|f| f.registered = false),
            "--noisy" => sim.set_faults(|f| f.noisy = true),
            other => {
                eprintln!("error: unknown option {other}");
                std::process::exit(2);
            }
        }
    }
    println!("simulated modem at {} (Ctrl-C to stop)", link.display());
    let mut shown = 0;
    loop {
        if sim.wait_for_sent(shown + 1, Duration::from_secs(3600)) {
            for sms in &sim.sent()[shown..] {
                println!("SMS to {}: {}", sms.decoded.destination, sms.decoded.text);
            }
            shown = sim.sent().len();
        }
    }
}
