//! kioskctl as a technician uses it: real binary, real data directory.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use support::{Fixture, Person};
use time::macros::datetime;

fn kioskctl(data_dir: &Path, args: &[&str]) -> Output {
    run_with_stdin(data_dir, args, "")
}

fn run_with_stdin(data_dir: &Path, args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_kioskctl"))
        .args(args)
        .env("KIOSK_DATA_DIR", data_dir)
        .env("KIOSK_CONFIG", data_dir.join("absent.toml"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn check_accepts_valid_values_and_explains_invalid_ones() {
    let dir = tempfile::tempdir().unwrap();
    let ok = kioskctl(dir.path(), &["check", "cccd", "001099012345"]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    assert!(text(&ok).contains("born 1999, male, birth registered in Hà Nội"));

    let cases: [(&[&str], &str); 5] = [
        (&["check", "cccd", "003099012345"], "not a known province"),
        (&["check", "mst", "0100047517"], "check digit"),
        (&["check", "phone", "0101234567"], "no known mobile network"),
        (
            &["check", "id", "079303012345", "--dob", "05/09/2004"],
            "do not match the date of birth",
        ),
        (&["check", "dob", "29/02/2013"], "no such day"),
    ];
    for (args, why) in cases {
        let out = kioskctl(dir.path(), args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(why), "{args:?}: {}", text(&out));
    }
    assert_eq!(
        kioskctl(dir.path(), &["check", "nonsense", "1"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn password_is_read_from_stdin_with_a_checklist() {
    let dir = tempfile::tempdir().unwrap();
    let weak = run_with_stdin(dir.path(), &["check", "password"], "matkhau\nmatkhau\n");
    assert_eq!(weak.status.code(), Some(1));
    assert!(text(&weak).contains("FAIL At least 8 characters"));
    let strong = run_with_stdin(
        dir.path(),
        &["check", "password"],
        "Matkhau@2026\nMatkhau@2026\n",
    );
    assert_eq!(strong.status.code(), Some(0), "{}", text(&strong));
}

#[test]
fn policy_verify_lists_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    let shown = kioskctl(dir.path(), &["policy", "show"]);
    std::fs::write(&good, &shown.stdout).unwrap();
    let out = kioskctl(dir.path(), &["policy", "verify", good.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let bad = dir.path().join("bad.toml");
    let broken = String::from_utf8(shown.stdout)
        .unwrap()
        .replace("digits = 6", "digits = 12")
        .replace("idle_timeout_seconds = 90", "idle_timeout_seconds = 5");
    std::fs::write(&bad, broken).unwrap();
    let out = kioskctl(dir.path(), &["policy", "verify", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("otp.digits") && text(&out).contains("idle_timeout_seconds"),
        "{}",
        text(&out)
    );
}

#[test]
fn queue_and_audit_show_metadata_only_and_catch_tampering() {
    let person = Person {
        full_name: "Lý Thị Kiều Oanh",
        personal_id: "051199001234",
        date_of_birth: "20/10/1999",
        phone: "0905 778 899",
        email: "oanh@gmail.com",
        password: "Oanh@2026ok",
    };
    let mut kiosk = Fixture::new();
    let reference = kiosk
        .register(&person, datetime!(2026-11-28 10:00 +7), 1)
        .reference;
    let dir = &kiosk.dir;
    let list = kioskctl(dir.path(), &["queue", "list"]);
    let shown = text(&list);
    assert_eq!(list.status.code(), Some(0), "{shown}");
    assert!(
        shown.contains(&reference)
            && shown.contains("mobile_subscriber")
            && shown.contains("1 registration(s)")
    );
    for secret in [
        "Oanh",
        "051199001234",
        "0905778899",
        "oanh@gmail.com",
        "1999",
    ] {
        assert!(!shown.contains(secret), "{secret} shown: {shown}");
    }
    let audit = kioskctl(dir.path(), &["audit", "verify"]);
    assert_eq!(audit.status.code(), Some(0), "{}", text(&audit));

    let conn = rusqlite::Connection::open(dir.path().join("kiosk.sqlite3")).unwrap();
    conn.execute_batch("DROP TRIGGER audit_no_update; UPDATE audit SET at = at + 1;")
        .unwrap();
    drop(conn);
    let audit = kioskctl(dir.path(), &["audit", "verify"]);
    assert_eq!(audit.status.code(), Some(1));
    assert!(text(&audit).contains("altered"), "{}", text(&audit));
}

#[test]
fn the_device_key_is_created_once_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let first = kioskctl(dir.path(), &["device-key"]);
    assert!(text(&first).contains("created a new device key"));
    let again = kioskctl(dir.path(), &["device-key"]);
    assert!(!text(&again).contains("created"));
    assert_eq!(first.stdout, again.stdout);
    assert_eq!(first.stdout.len(), 45, "base64 of 32 bytes and a newline");
    // The setup page's fingerprint of the same key, on standard error.
    use base64::Engine as _;
    let key = base64::engine::general_purpose::STANDARD
        .decode(String::from_utf8_lossy(&first.stdout).trim())
        .unwrap();
    let fingerprint = kiosk::controller::device_fingerprint(&key);
    assert!(
        String::from_utf8_lossy(&again.stderr).contains(&format!("fingerprint {fingerprint}")),
        "{}",
        text(&again)
    );
}

#[test]
fn selftest_passes_on_a_healthy_machine() {
    let dir = tempfile::tempdir().unwrap();
    let out = kioskctl(dir.path(), &["selftest"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("envelope opens with the portal key"));
    // The self-test never touches the kiosk's own queue.
    assert!(!dir.path().join("kiosk.sqlite3").exists());
}

#[test]
fn modem_probe_and_send_against_the_simulated_modem() {
    use kiosk_hal::modem::sim::Simulator;
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("ttyModem");
    let sim = Simulator::start(&link).unwrap();
    let device = link.to_str().unwrap();

    let probe = kioskctl(dir.path(), &["modem", "probe", "--device", device]);
    assert_eq!(probe.status.code(), Some(0), "{}", text(&probe));
    assert!(
        text(&probe).contains("-71 dBm (4/4 bars)") && text(&probe).contains("ready to send SMS")
    );

    let sent = kioskctl(
        dir.path(),
        &[
            "modem",
            "send",
            "--device",
            device,
            "--to",
            "0912 345 678",
            "--text",
            "Thử nghiệm",
        ],
    );
    assert_eq!(sent.status.code(), Some(0), "{}", text(&sent));
    assert!(text(&sent).contains("091****678"), "{}", text(&sent));
    assert_eq!(sim.sent()[0].decoded.text, "Thử nghiệm");

    let bad = kioskctl(
        dir.path(),
        &["modem", "send", "--device", device, "--to", "0101234567"],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad).contains("no known mobile network"));

    sim.set_faults(|f| f.registered = false);
    let probe = kioskctl(dir.path(), &["modem", "probe", "--device", device]);
    assert_eq!(probe.status.code(), Some(1), "{}", text(&probe));
    assert!(text(&probe).contains("not registered to a mobile network"));

    drop(sim);
    let gone = kioskctl(dir.path(), &["modem", "probe", "--device", device]);
    assert_eq!(gone.status.code(), Some(3), "{}", text(&gone));
    assert!(text(&gone).contains("no modem found"), "{}", text(&gone));
    let unconfigured = kioskctl(dir.path(), &["modem", "probe"]);
    assert!(text(&unconfigured).contains("no modem configured"));
}

#[test]
fn token_list_and_verify_against_softhsm() {
    use kiosk_hal::token::testpki::{KeyType, TestCa, TokenSpec};
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::create(&dir.path().join("ca"), "CA Thử Nghiệm").unwrap();
    let anchors = dir.path().join("anchors");
    ca.install_anchor(&anchors, "ca.pem").unwrap();
    let label = format!("ctl-{}", std::process::id());
    let token = ca
        .issue_token(&TokenSpec::new(
            &label,
            "/C=VN/CN=Trần Thị Thuỷ/UID=CCCD:051303000111",
            KeyType::P256,
        ))
        .unwrap();
    let module = token.module.to_str().unwrap();
    let anchors = anchors.to_str().unwrap();

    let list = kioskctl(
        dir.path(),
        &["token", "list", "--module", module, "--anchors", anchors],
    );
    let shown = text(&list);
    assert_eq!(list.status.code(), Some(0), "{shown}");
    assert!(shown.contains(&format!("token \"{label}\"")), "{shown}");
    assert!(
        shown.contains("person; CCCD 051*******11; issuer CA Thử Nghiệm"),
        "{shown}"
    );
    assert!(shown.contains("chain: trusted, length 2"), "{shown}");
    assert!(
        !shown.contains("051303000111") && !shown.contains("Trần"),
        "personal data shown: {shown}"
    );

    let ok = run_with_stdin(
        dir.path(),
        &[
            "token",
            "verify",
            "--token",
            &label,
            "--module",
            module,
            "--anchors",
            anchors,
        ],
        "123456\n",
    );
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    assert!(
        text(&ok).contains("proof of possession: OK (Ecdsa"),
        "{}",
        text(&ok)
    );
    let wrong = run_with_stdin(
        dir.path(),
        &[
            "token",
            "verify",
            "--token",
            &label,
            "--module",
            module,
            "--anchors",
            anchors,
        ],
        "000000\n",
    );
    assert_eq!(wrong.status.code(), Some(1));
    assert!(text(&wrong).contains("wrong PIN"), "{}", text(&wrong));
    let elsewhere = tempfile::tempdir().unwrap();
    let untrusted = run_with_stdin(
        dir.path(),
        &[
            "token",
            "verify",
            "--token",
            &label,
            "--module",
            module,
            "--anchors",
            elsewhere.path().to_str().unwrap(),
        ],
        "123456\n",
    );
    assert_eq!(untrusted.status.code(), Some(1));
    assert!(
        text(&untrusted).contains("does not chain to a trusted CA"),
        "{}",
        text(&untrusted)
    );
    let none = kioskctl(dir.path(), &["token", "list"]);
    assert_eq!(none.status.code(), Some(3));
    assert!(text(&none).contains("no PKCS#11 module configured"));
}

#[test]
fn export_writes_the_sealed_queue_and_sync_status_describes_it() {
    let mut kiosk = Fixture::new();
    let now = datetime!(2026-11-28 10:00 +7);
    let person = |id: &'static str, phone: &'static str| Person {
        full_name: "Ngô Bảo Châu",
        personal_id: id,
        date_of_birth: "28/06/1972",
        phone,
        email: "",
        password: "Chau@1972abc",
    };
    let receipts = [
        kiosk.register(&person("051072000111", "0912000111"), now, 1),
        kiosk.register(&person("051072000222", "0912000222"), now, 2),
    ];
    let dir = kiosk.dir.path();

    let status = kioskctl(dir, &["sync", "status"]);
    assert_eq!(status.status.code(), Some(0), "{}", text(&status));
    assert!(
        text(&status).contains("waiting    2 registration(s)"),
        "{}",
        text(&status)
    );

    let usb = tempfile::tempdir().unwrap();
    let target = usb.path().join("kiosk-export.json");
    let out = kioskctl(dir, &["export", "--to", target.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("exported 2 sealed registration(s)"));
    assert!(!usb.path().join("kiosk-export.partial").exists());

    let bytes = std::fs::read(&target).unwrap();
    let file = kiosk_sync::ExportFile::from_bytes(&bytes).unwrap();
    assert_eq!(file.kiosk_key, kiosk.keys.device().public_key().to_base64());
    let ids: Vec<&str> = file
        .envelopes
        .iter()
        .map(|e| e.registration_id.as_str())
        .collect();
    assert_eq!(
        ids,
        receipts
            .iter()
            .map(|r| r.registration_id.as_str())
            .collect::<Vec<_>>()
    );
    // Sealed: the portal opens it; nothing personal is readable in the file.
    let payload: kiosk_sync::RegistrationPayload =
        serde_json::from_slice(&file.envelopes[0].open(&kiosk.portal).unwrap()).unwrap();
    assert_eq!(payload.reference, receipts[0].reference);
    for secret in ["Ngô", "051072000111", "0912000111", "1972"] {
        assert!(
            !String::from_utf8_lossy(&bytes).contains(secret),
            "{secret} readable in the export"
        );
    }
    // Exported is not delivered: the queue is unchanged.
    assert_eq!(kiosk.store.outbox().unwrap().len(), 2);

    let bad = kioskctl(dir, &["export", "--to", "/nonexistent/dir/x.json"]);
    assert_eq!(bad.status.code(), Some(3));
}

#[test]
fn a_clerks_pin_hash_and_token_fingerprint_are_what_the_counter_checks() {
    use argon2::{Argon2, PasswordHash, PasswordVerifier as _};
    let dir = tempfile::tempdir().unwrap();
    let out = run_with_stdin(dir.path(), &["clerk", "hash-pin"], "246810\n");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let hash = String::from_utf8(out.stdout).unwrap();
    let parsed = PasswordHash::new(hash.trim()).unwrap();
    assert_eq!(parsed.algorithm.as_str(), "argon2id");
    assert!(
        Argon2::default()
            .verify_password(b"246810", &parsed)
            .is_ok()
    );
    assert!(
        Argon2::default()
            .verify_password(b"246811", &parsed)
            .is_err()
    );
    // The PIN itself is printed nowhere.
    assert!(!hash.contains("246810"));
    let bad = run_with_stdin(dir.path(), &["clerk", "hash-pin"], "12\n");
    assert_ne!(bad.status.code(), Some(0));
    assert!(text(&bad).contains("4 to 16"), "{}", text(&bad));

    // A certificate made by openssl, as PEM and as DER: one fingerprint,
    // the SHA-256 of its DER as openssl itself computes it.
    let pem = dir.path().join("clerk.pem");
    let der = dir.path().join("clerk.der");
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args(["-subj", "/CN=Clerk", "-days", "30", "-keyout"])
        .arg(dir.path().join("clerk.key"))
        .arg("-out")
        .arg(&pem)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let converted = Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(&pem)
        .arg("-out")
        .arg(&der)
        .output()
        .unwrap();
    assert!(converted.status.success());
    let expected = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(&pem)
        .output()
        .unwrap();
    let expected = String::from_utf8(expected.stdout)
        .unwrap()
        .rsplit('=')
        .next()
        .unwrap()
        .trim()
        .replace(':', "")
        .to_lowercase();
    for file in [&pem, &der] {
        let out = kioskctl(
            dir.path(),
            &["clerk", "fingerprint", file.to_str().unwrap()],
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), expected);
    }
}

#[test]
fn an_update_is_signed_on_the_build_host_and_applied_to_the_other_slot_once_verified() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let keys = d.join("keys");
    let out = kioskctl(d, &["update", "keygen", "--out", keys.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stick = d.join("stick");
    let bundle = stick.join("kiosk-update");
    std::fs::create_dir_all(&bundle).unwrap();
    for (name, fill) in [("rootfs.img", 7u8), ("vmlinuz", 8), ("initrd.img", 9)] {
        std::fs::write(bundle.join(name), vec![fill; 200_000]).unwrap();
    }
    let secret = keys.join("update-key.secret");
    let out = kioskctl(
        d,
        &[
            "update",
            "sign",
            "--key",
            secret.to_str().unwrap(),
            "--version",
            "2026.12.05-2",
            bundle.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The machine: two slots, an ESP, booted from slot a at 2026.12.05-1.
    let parts = d.join("parts");
    let esp = d.join("efi");
    std::fs::create_dir_all(&parts).unwrap();
    std::fs::create_dir_all(esp.join("loader/entries")).unwrap();
    std::fs::write(parts.join("root-a"), b"a").unwrap();
    std::fs::write(parts.join("root-b"), b"").unwrap();
    std::fs::write(d.join("cmdline"), "root=PARTLABEL=root-a ro kiosk.slot=a\n").unwrap();
    std::fs::write(d.join("release"), "VERSION=\"2026.12.05-1\"\n").unwrap();
    let (public, cmdline, release) = (
        keys.join("update-key.pub"),
        d.join("cmdline"),
        d.join("release"),
    );
    let apply = |stick: &Path| {
        let path = |p: &Path| p.to_str().unwrap().to_string();
        let args = [
            "update".into(),
            "apply".into(),
            "--from-stick".into(),
            path(stick),
            "--key".into(),
            path(&public),
            "--partitions".into(),
            path(&parts),
            "--esp".into(),
            path(&esp),
            "--cmdline".into(),
            path(&cmdline),
            "--release".into(),
            path(&release),
        ];
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        kioskctl(d, &refs)
    };
    // A stick with nothing on it: nothing done.
    let empty = d.join("empty-stick");
    std::fs::create_dir_all(&empty).unwrap();
    let out = apply(&empty);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("no update"), "{}", text(&out));
    // A byte of the image changed after signing: refused, nothing written.
    let mut image = std::fs::read(bundle.join("rootfs.img")).unwrap();
    image[5] ^= 1;
    std::fs::write(bundle.join("rootfs.img"), &image).unwrap();
    let out = apply(&stick);
    assert_ne!(out.status.code(), Some(0));
    assert!(text(&out).contains("rootfs.img"), "{}", text(&out));
    assert_eq!(std::fs::read(parts.join("root-b")).unwrap(), b"");
    image[5] ^= 1;
    std::fs::write(bundle.join("rootfs.img"), &image).unwrap();
    // As signed: written to slot b, exit 4 (the unit reboots).
    let out = apply(&stick);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert_eq!(std::fs::read(parts.join("root-b")).unwrap(), image);
    assert!(esp.join("loader/entries/kiosk-b+1.conf").is_file());
}
