//! Sending one OTP through the AT driver to the simulated modem on a pty:
//! how long it takes, against one bare `AT` round trip measured in the same
//! run, and how many AT round trips it needs after bring-up.
//!
//! `cargo bench -p kiosk-hal --bench otp_send`

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use kiosk_hal::modem::at::Command;
use kiosk_hal::modem::sim::Simulator;
use kiosk_hal::modem::{Locator, Timeouts, connect};

const OTP: &str = "Ma OTP dang ky tai khoan Cong DVC cua ban la 482913. Ma co hieu luc 5 phut. Khong cung cap ma nay cho bat ky ai.";

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("ttyModem");
    let _sim = Simulator::start(&link).unwrap();
    let mut modem = connect(
        &Locator::Path(link),
        std::path::Path::new("/sys"),
        Timeouts::default(),
    )
    .unwrap();
    let before = modem.round_trips();
    modem
        .send_sms("+84912345678", OTP, Duration::from_secs(300))
        .unwrap();
    let per_otp = modem.round_trips() - before;
    eprintln!(
        "AT round trips per OTP after bring-up: {per_otp} (minimum possible: 1, one AT+CMGS)"
    );

    let mut group = c.benchmark_group("modem");
    group.bench_function("at_round_trip_baseline", |b| {
        b.iter(|| {
            modem
                .command(Command::new("AT", Duration::from_secs(2)))
                .unwrap()
        })
    });
    group.bench_function("send_one_otp", |b| {
        b.iter(|| {
            modem
                .send_sms("+84912345678", OTP, Duration::from_secs(300))
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
