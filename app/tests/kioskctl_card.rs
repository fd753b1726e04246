//! `kioskctl card` against the virtual CCCD card on the virtual reader of
//! the pcscd that `tests/run` starts: what a technician sees for a good
//! card, a wrong key, a tampered card, and no pcscd at all.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use kiosk_hal::card::lds::File;
use kiosk_hal::card::sim::chip::{Faults, VirtualChip};
use kiosk_hal::card::sim::issue::{Citizen, Document, Pki};
use kiosk_hal::card::sim::vpcd::Placed;

fn port() -> u16 {
    std::env::var("KIOSK_VPCD_PORT")
        .expect("run through tests/run, which starts pcscd with vsmartcard-vpcd")
        .parse()
        .unwrap()
}

fn kioskctl(csca: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kioskctl"))
        .args(args)
        .arg("--csca")
        .arg(csca)
        .env("KIOSK_CONFIG", "/nonexistent/kiosk.toml")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const READ: [&str; 8] = [
    "card",
    "read",
    "--number",
    "001203004567",
    "--birth",
    "15/03/2003",
    "--expiry",
    "15/03/2028",
];

/// All in one test: there is one virtual reader, and one card at a time.
#[test]
fn kioskctl_card_shows_the_reader_reads_a_card_and_names_the_failing_step() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::create(dir.path(), "Test VN", 365).unwrap();
    let csca = pki.csca_dir();
    let citizen = Citizen::demo();

    let o = kioskctl(&csca, &["card", "status"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("\"Virtual PCD 00 00\": no card"),
        "{}",
        text(&o)
    );

    let doc = Document::issue(&citizen, &pki).unwrap();
    let placed = Placed::on_reader(
        port(),
        VirtualChip::new(doc.clone(), Faults::default()),
        Duration::from_secs(10),
    )
    .and_then(|p| p.seen(Duration::from_secs(10)))
    .unwrap();
    let o = kioskctl(&csca, &["card", "status"]);
    assert!(
        text(&o).contains("card present, ATR 3B84800180"),
        "{}",
        text(&o)
    );
    let o = kioskctl(&csca, &READ);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("passive authentication: ok"), "{out}");
    assert!(out.contains("active authentication: ok"), "{out}");
    assert!(out.contains("personal number 001*******67"), "{out}");
    assert!(out.contains("old CMND number: 01*****89"), "{out}");
    assert!(
        out.contains("identity for registration: ok (2 number(s) for the duplicate check)"),
        "{out}"
    );
    assert!(out.contains("access (PACE (ECDH brainpoolP256r1"), "{out}");
    // Personal data stays masked.
    for clear in ["001203004567", "013456789", "Nguyễn", "NGUYEN"] {
        assert!(!out.contains(clear), "{clear} in {out}");
    }
    // The face is read and proven with the rest, and said, not shown.
    let photo = [&READ[..], &["--photo"]].concat();
    let o = kioskctl(&csca, &photo);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("photo on chip: DG2, 12028 bytes, JPEG 2000"),
        "{out}"
    );
    let mut wrong = READ;
    wrong[7] = "15/03/2029";
    let o = kioskctl(&csca, &wrong);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("refused the access key"), "{}", text(&o));
    placed.removed(Duration::from_secs(10)).unwrap();

    let mut tampered = doc;
    tampered.tamper(File::Dg(13));
    let placed = Placed::on_reader(
        port(),
        VirtualChip::new(tampered, Faults::default()),
        Duration::from_secs(10),
    )
    .and_then(|p| p.seen(Duration::from_secs(10)))
    .unwrap();
    let o = kioskctl(&csca, &READ);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("FAILED at step hashes: DG13's hash differs"),
        "{}",
        text(&o)
    );
    placed.removed(Duration::from_secs(10)).unwrap();
}

#[test]
fn without_pcscd_kioskctl_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_kioskctl"))
        .args(["card", "status"])
        .env("KIOSK_CONFIG", "/nonexistent/kiosk.toml")
        .env("PCSCLITE_CSOCK_NAME", dir.path().join("no-pcscd.comm"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("pcscd"), "{}", text(&o));
}
