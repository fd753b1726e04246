//! The appliance's unit file (`image/systemd/kiosk.service`) as systemd
//! reads it: its hardening scored by `systemd-analyze security`, which
//! fails above the threshold.

use std::path::Path;
use std::process::Command;

fn unit(name: &str) -> (std::path::PathBuf, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../image/systemd")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    (path, text)
}

fn has(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

#[test]
fn the_kiosk_unit_is_a_hardened_notify_service_with_a_watchdog() {
    let (path, text) = unit("kiosk.service");
    for line in [
        "Type=notify",
        "WatchdogSec=30",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/kiosk",
        "PrivateTmp=yes",
        "DevicePolicy=closed",
        // Restarts stop after five failures; the out-of-service screen
        // takes over rather than a reboot loop.
        "StartLimitBurst=5",
        "OnFailure=kiosk-maintenance.service",
    ] {
        assert!(has(&text, line), "{line} missing");
    }
    assert!(exposure(&path).is_none_or(|score| score <= 2.0));
    let (path, text) = unit("kiosk-maintenance.service");
    for line in [
        "Type=notify",
        "ExecStart=/usr/bin/kiosk --maintenance",
        "Conflicts=kiosk.service",
        "PrivateNetwork=yes",
    ] {
        assert!(has(&text, line), "{line} missing");
    }
    assert!(!text.contains("ReadWritePaths"), "it writes nothing");
    assert!(exposure(&path).is_none_or(|score| score <= 1.0));
}

/// `systemd-analyze security`'s overall exposure (0 best, 10 worst), or
/// `None` where systemd-analyze is not installed.
fn exposure(unit: &Path) -> Option<f32> {
    let Ok(out) = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager", "--threshold=20"])
        .arg(unit)
        .output()
    else {
        eprintln!("skipped the score: systemd-analyze is not installed");
        return None;
    };
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}");
    let score = report
        .lines()
        .find_map(|l| l.split(".service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no score in {report}"));
    eprintln!("{}: exposure {score}", unit.display());
    Some(score)
}
