//! cccd-sim: a virtual CCCD card on the "Virtual PCD" reader of
//! `vsmartcard-vpcd`, for the demo and for trying `kioskctl card` without a
//! card. Issues the card (a test CSCA and Document Signer in PKI_DIR, made
//! once by openssl), places it on the reader, and takes it off when its
//! standard input closes or a line is typed.
//!
//! Usage: cccd-sim PKI_DIR [--port N] [--tampered | --forged | --unknown-csca
//!        | --expired | --slow | --pulled-after N]

use std::path::PathBuf;
use std::time::Duration;

use kiosk_hal::card::lds::File;
use kiosk_hal::card::sim::chip::{Faults, VirtualChip};
use kiosk_hal::card::sim::issue::{Citizen, Document, Pki};
use kiosk_hal::card::sim::vpcd::Placed;

const USAGE: &str = "usage: cccd-sim PKI_DIR [--port N] [--tampered | --forged | --unknown-csca | --expired | --slow | --pulled-after N]";

fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("error: {message}");
    std::process::exit(2);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args
        .next()
        .filter(|d| !d.starts_with('-'))
        .map(PathBuf::from)
    else {
        fail(USAGE);
    };
    // Debian's vsmartcard-vpcd listens on 0x8C7B for the system pcscd.
    let mut port = std::env::var("KIOSK_VPCD_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0x8C7B);
    let mut citizen = Citizen::demo();
    let mut faults = Faults::default();
    let (mut issuer, mut tamper, mut forge) = ("Test VN", false, false);
    while let Some(arg) = args.next() {
        let mut number = |what: &str| -> u64 {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| fail(format!("{what} needs a number")))
        };
        match arg.as_str() {
            "--port" => {
                port = u16::try_from(number("--port")).unwrap_or_else(|_| fail("--port: too large"))
            }
            "--tampered" => tamper = true,
            "--forged" => forge = true,
            "--unknown-csca" => issuer = "Elsewhere",
            "--expired" => citizen.expires = "15/03/2024".into(),
            "--slow" => faults.slow = Some(Duration::from_millis(60)),
            "--pulled-after" => faults.pulled_after = Some(number("--pulled-after") as usize),
            _ => fail(USAGE),
        }
    }
    let trusted = Pki::create(&dir.join("Test VN"), "Test VN", 3650).unwrap_or_else(|e| fail(e));
    let pki = if issuer == "Test VN" {
        trusted.clone()
    } else {
        Pki::create(&dir.join(issuer), issuer, 3650).unwrap_or_else(|e| fail(e))
    };
    let mut doc = Document::issue(&citizen, &pki).unwrap_or_else(|e| fail(e));
    if tamper {
        doc.tamper(File::Dg(13));
    }
    if forge {
        doc.forge_signature();
    }
    let placed = Placed::on_reader(port, VirtualChip::new(doc, faults), Duration::from_secs(10))
        .unwrap_or_else(|e| fail(format!("no virtual reader on port {port}: {e}")));
    println!(
        "card of {} (CCCD {}, born {}, expires {}) on the reader at port {port}; CSCA list: {}",
        citizen.full_name,
        citizen.cccd,
        citizen.birth,
        citizen.expires,
        trusted.csca_dir().display()
    );
    println!("press Enter (or close standard input) to take it off");
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    println!("taken off after {} APDUs", placed.apdus());
}
