//! The headless walk drives the demo kiosk through the real window's
//! callbacks, portrait and landscape: every step must land on the screen it
//! should, and leave a picture that shows something.

use std::path::Path;

use kiosk_ui::i18n::Lang;

fn colours(path: &Path) -> usize {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let mut seen: Vec<&[u8]> = buf[..info.buffer_size()].chunks(3).collect();
    seen.sort_unstable();
    seen.dedup();
    seen.len()
}

#[test]
fn every_method_walks_through_the_real_screens_at_both_sizes() {
    assert!(
        std::env::var_os("KIOSK_VPCD_PORT").is_some(),
        "run through tests/run, which starts pcscd with the virtual card reader the walk uses"
    );
    let dir = tempfile::tempdir().unwrap();
    // Portrait in Vietnamese, landscape in English: every screen in each
    // language and at each size (the walk checks the language of each).
    for (width, height, lang) in [(1080, 1920, Lang::Vi), (1920, 1080, Lang::En)] {
        let data = dir.path().join(format!("data-{width}"));
        let shots = kiosk::walk::run(&dir.path().join("png"), &data, width, height, lang)
            .unwrap_or_else(|e| panic!("{width}x{height} {lang:?}: {e}"))
            .shots;
        let names: Vec<String> = shots
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for step in [
            "home",
            "mobile-field-error",
            "mobile-otp",
            "mobile-password-checklist",
            "mobile-done",
            "mobile-account-exists",
            "bhxh-done",
            "card-key",
            "card-place",
            "card-wrong-key",
            "card-filled",
            "card-done",
            "sim-waiting",
            "sim-back",
            "sim-confirm",
            "sim-done",
            "sim-refused",
            "bhxh-otp-not-sent",
            "token-pin",
            "token-wrong-pin",
            "token-confirm",
            "token-done",
            "business-methods",
            "business-sim-confirm",
            "business-sim-done",
            "lookup",
            "lookup-answer",
            "reset-code",
            "reset-password",
            "reset-done",
            "complaint-reason",
            "complaint-contact",
            "complaint-filed",
            "counters",
            "name-respell",
            "idle-warning",
            "idle-timeout-home",
        ] {
            assert!(
                names
                    .iter()
                    .any(|n| n.contains(&format!("-{step}-{}-{width}x{height}", lang.code()))),
                "{step} missing from {names:?}"
            );
        }
        for shot in &shots {
            assert!(colours(shot) > 50, "{} looks empty", shot.display());
        }
        // Six registrations reached the store, sealed. Online, the demo
        // portal answered the checks: the subscriber and the BHXH record
        // matched, so nothing is left pending; the chip of the demo CCCD
        // card raised the second mobile registration to level 2; the SIMs
        // (a citizen's, a company's) and the token gave level 3.
        let store = kiosk::store::Store::open(&data.join("kiosk.sqlite3")).unwrap();
        // And one complaint, about the account the second visit found.
        let (complaints, registrations): (Vec<_>, Vec<_>) = store
            .queue()
            .unwrap()
            .into_iter()
            .partition(|r| r.reference.starts_with("KN-"));
        assert_eq!(complaints.len(), 1, "{complaints:?}");
        let rows: Vec<(String, u8, Vec<String>)> = registrations
            .into_iter()
            .map(|r| (r.method, r.level, r.pending))
            .collect();
        assert_eq!(rows.len(), 6, "{rows:?}");
        assert!(
            store
                .queue()
                .unwrap()
                .iter()
                .any(|r| r.method == "sim_signature" && r.subject == "business"),
            "the company registered by its SIM"
        );
        let mobile: Vec<u8> = rows
            .iter()
            .filter(|r| r.0 == "mobile_subscriber")
            .map(|r| r.1)
            .collect();
        assert_eq!(mobile, [1, 2], "typed, then with the chip: {rows:?}");
        let find = |m: &str| {
            rows.iter()
                .find(|r| r.0 == m)
                .unwrap_or_else(|| panic!("{m}: {rows:?}"))
        };
        assert_eq!(find("bhxh").1, 2, "{rows:?}");
        assert!(
            rows.iter()
                .filter(|r| r.0 == "sim_signature")
                .all(|r| r.1 == 3),
            "{rows:?}"
        );
        assert_eq!(find("usb_token").1, 3, "{rows:?}");
        for r in &rows {
            assert!(
                r.2.iter()
                    .all(|p| p != "bhxh_match" && p != "subscriber_ownership"),
                "{rows:?}"
            );
        }
    }
}

#[test]
fn a_counter_day_walks_through_the_real_screens_in_landscape() {
    assert!(
        std::env::var_os("KIOSK_VPCD_PORT").is_some(),
        "run through tests/run, which starts pcscd with the virtual card reader the counter needs"
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("counter");
    // The walk itself checks each page and language, and that the demo
    // portal, having verified the chip, recorded the clerk at level 3.
    let shots = kiosk::walk::run_counter(&dir.path().join("png"), &data, 1920, 1080, Lang::En)
        .unwrap_or_else(|e| panic!("{e}"))
        .shots;
    let names: Vec<String> = shots
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for step in [
        "counter-sign-in",
        "counter-sign-in-wrong",
        "counter-home",
        "counter-card-key",
        "counter-card-filled",
        "counter-face-check",
        "counter-otp",
        "counter-password",
        "counter-done",
        "counter-exists",
        "counter-reset-password",
        "counter-reset-queued",
        "counter-complaint-filed",
        "counter-today",
        "counter-locked",
        "counter-token-pin",
        "counter-token-home",
        "counter-idle-locked",
    ] {
        assert!(
            names.iter().any(|n| n.contains(&format!("-{step}-en-"))),
            "{step} missing from {names:?}"
        );
    }
    for shot in &shots {
        assert!(colours(shot) > 50, "{} looks empty", shot.display());
    }
    let store = kiosk::store::Store::open(&data.join("kiosk.sqlite3")).unwrap();
    let rows: Vec<(String, String, u8, String)> = store
        .queue()
        .unwrap()
        .into_iter()
        .map(|r| (r.reference[..2].to_string(), r.method, r.level, r.status))
        .collect();
    let row = |prefix: &str, level: u8, status: &str| {
        (
            prefix.to_string(),
            "counter".to_string(),
            level,
            status.to_string(),
        )
    };
    assert_eq!(
        rows,
        [
            row("DK", 3, "activated"),
            row("MK", 0, "activated"),
            row("KN", 0, "received"),
        ],
        "a registration, a password reset and a complaint at the counter, each delivered"
    );
    // Every clerk action is in the audit chain, by staff code.
    let audit = std::process::Command::new(env!("CARGO_BIN_EXE_kioskctl"))
        .args(["audit", "list"])
        .env("KIOSK_DATA_DIR", &data)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&audit.stdout);
    for event in [
        "clerk.sign_in_refused",
        "clerk.signed_in",
        "counter.face_checked",
        "clerk.locked",
    ] {
        assert!(listed.contains(event), "{event} missing from:\n{listed}");
    }
    assert!(listed.contains("clerk=BD-DEMO-0001"), "{listed}");
}

#[test]
fn a_new_kiosks_setup_is_drawn_in_both_languages() {
    let dir = tempfile::tempdir().unwrap();
    for lang in Lang::ALL {
        let shots = kiosk::walk::run_setup(
            &dir.path().join("png"),
            &dir.path().join(lang.code()),
            1080,
            1920,
            lang,
        )
        .unwrap_or_else(|e| panic!("{lang:?}: {e}"));
        assert_eq!(shots.len(), 3);
        for shot in &shots {
            assert!(colours(shot) > 50, "{} looks empty", shot.display());
        }
    }
}
