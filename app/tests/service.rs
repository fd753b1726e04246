//! The kiosk's word to systemd over a real notify socket, as the service
//! manager receives it: READY, the status line and the watchdog ping,
//! with `WATCHDOG_USEC` read from the environment systemd sets. The
//! sender runs as a child process given that environment, as systemd
//! starts the kiosk.

use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::{Duration, Instant};

use kiosk::service::{Health, ServiceWatch, send};

const CHILD: &str = "KIOSK_SERVICE_TEST_CHILD";

/// The child's part: ticks as the kiosk's timer does, alive, alive half an
/// interval on, then stuck.
#[test]
fn child_ticks_as_the_kiosk_does() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let mut watch = ServiceWatch::from_env();
    let alive = Health {
        worker_answering: true,
        store_ready: true,
    };
    let stuck = Health {
        worker_answering: false,
        store_ready: true,
    };
    let start = Instant::now();
    send(&watch.tick(start, alive));
    send(&watch.tick(start + Duration::from_secs(2), alive));
    send(&watch.tick(start + Duration::from_secs(4), stuck));
    send(&watch.tick(start + Duration::from_secs(6), stuck));
}

#[test]
fn ready_the_status_and_pings_reach_the_service_managers_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_ticks_as_the_kiosk_does",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("NOTIFY_SOCKET", &path)
        .env("WATCHDOG_USEC", "4000000")
        .status()
        .unwrap();
    assert!(status.success());
    let mut datagrams = Vec::new();
    socket.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 512];
    while let Ok(n) = socket.recv(&mut buf) {
        datagrams.push(String::from_utf8_lossy(&buf[..n]).to_string());
    }
    assert_eq!(datagrams.len(), 2, "{datagrams:?}");
    let first: Vec<&str> = datagrams[0].lines().collect();
    for line in ["READY=1", "STATUS=taking registrations", "WATCHDOG=1"] {
        assert!(first.contains(&line), "{line} in {datagrams:?}");
    }
    // Half the interval on, a ping alone; stuck, nothing.
    assert_eq!(datagrams[1].trim(), "WATCHDOG=1");
}
