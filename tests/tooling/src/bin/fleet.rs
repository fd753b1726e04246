//! fleet: a province's kiosks at the reference portal, over TLS.
//!
//! For each fleet size N, a fresh portal (`portal init`, N one-time codes
//! from `portal enrol-code`, `portal serve --tls` as its own process, so its
//! memory is its own) and N simulated kiosks in this process, each enrolled
//! with its own Ed25519 key and its own pinned TLS client, as a kiosk's
//! relay is. Each kiosk registers citizens at random moments (exponential
//! gaps, mean `--every` seconds), seals each registration to the portal and
//! uploads it at once in a batch of `--batch`, as the relay does when it is
//! woken; it polls the status feed every `--poll` seconds and sends a
//! heartbeat every `--heartbeat` seconds, from a random moment on. Every
//! registration is a different citizen.
//!
//! Prints, per N: registrations accepted per second, upload latency p50
//! and p99, status-poll latency, errors by kind (goal: none), and the
//! portal's resident memory at the end and at its peak.
//!
//! ```sh
//! tests/fleet                                # N = 10, 100, 1000 for 60 s each
//! tests/fleet --kiosks 100 --every 0 --batch 50   # flat out: the portal's ceiling
//! ```

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kiosk_sync::api::{Heartbeat, Peripherals};
use kiosk_sync::client::{ClientConfig, PortalClient};
use kiosk_sync::relay::{ItemOutcome, UploadResult};
use kiosk_sync::{
    DeviceKey, EnvelopeHeader, PAYLOAD_SCHEMA, PortalPublicKey, RegistrationPayload, seal,
};
use rand::rngs::StdRng;
use rand::{RngExt as _, SeedableRng as _};

const USAGE: &str = "usage: fleet [--portal PATH] [--kiosks 10,100,1000] [--seconds 60] \
[--every 10] [--batch 1] [--poll 60] [--heartbeat 300]";

struct Args {
    portal: PathBuf,
    kiosks: Vec<usize>,
    seconds: u64,
    every: f64,
    batch: usize,
    poll: u64,
    heartbeat: u64,
}

fn args() -> Result<Args, String> {
    let here = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut a = Args {
        portal: here.with_file_name("portal"),
        kiosks: vec![10, 100, 1000],
        seconds: 60,
        every: 10.0,
        batch: 1,
        poll: 60,
        heartbeat: 300,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        let bad = |v: &str| format!("{flag}: cannot read {v:?}\n{USAGE}");
        match flag.as_str() {
            "--portal" => a.portal = value()?.into(),
            "--kiosks" => {
                let v = value()?;
                a.kiosks = v
                    .split(',')
                    .map(|n| n.trim().parse().map_err(|_| bad(&v)))
                    .collect::<Result<_, _>>()?;
            }
            "--seconds" => a.seconds = value()?.parse().map_err(|_| bad(&flag))?,
            "--every" => a.every = value()?.parse().map_err(|_| bad(&flag))?,
            "--batch" => a.batch = value()?.parse().map_err(|_| bad(&flag))?,
            "--poll" => a.poll = value()?.parse().map_err(|_| bad(&flag))?,
            "--heartbeat" => a.heartbeat = value()?.parse().map_err(|_| bad(&flag))?,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    if a.batch == 0 || a.kiosks.contains(&0) {
        return Err(format!("--batch and --kiosks must be at least 1\n{USAGE}"));
    }
    Ok(a)
}

fn main() -> std::process::ExitCode {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    if !args.portal.exists() {
        eprintln!(
            "no portal program at {} (cargo build --release -p kiosk-portal, or --portal PATH)",
            args.portal.display()
        );
        return std::process::ExitCode::from(3);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    println!(
        "fleet: each kiosk registers a citizen every {} s on average and uploads at once in batches of {}, polls the status feed every {} s, heartbeat every {} s; {} s per fleet; portal and kiosks share this machine's {} cores",
        args.every,
        args.batch,
        args.poll,
        args.heartbeat,
        args.seconds,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let mut clean = true;
    for &n in &args.kiosks {
        match runtime.block_on(fleet(&args, n)) {
            Ok(report) => {
                clean &= report.errors.is_empty();
                report.print(n);
            }
            Err(e) => {
                eprintln!("fleet of {n}: {e}");
                return std::process::ExitCode::from(1);
            }
        }
    }
    if clean {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::from(1)
    }
}

/// What one fleet run saw.
#[derive(Default)]
struct Report {
    seconds: f64,
    enrol: Duration,
    uploads: Vec<Duration>,
    polls: Vec<Duration>,
    heartbeats: usize,
    accepted: u64,
    /// Error kind → count.
    errors: BTreeMap<String, u64>,
    /// Kilobytes.
    portal_rss: u64,
    portal_peak: u64,
    portal_start: u64,
    /// The portal's CPU time over the run ÷ the run's length: 1.0 is one
    /// core busy all along.
    portal_cores: f64,
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

impl Report {
    fn print(mut self, n: usize) {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let (up50, up99) = (
            percentile(&mut self.uploads, 0.5),
            percentile(&mut self.uploads, 0.99),
        );
        let (poll50, poll99) = (
            percentile(&mut self.polls, 0.5),
            percentile(&mut self.polls, 0.99),
        );
        println!(
            "N = {n} kiosks (enrolled in {:.1} s)",
            self.enrol.as_secs_f64()
        );
        println!(
            "  accepted        {} registrations, {:.1} per second",
            self.accepted,
            self.accepted as f64 / self.seconds
        );
        println!(
            "  uploads         {}: p50 {:.1} ms, p99 {:.1} ms",
            self.uploads.len(),
            ms(up50),
            ms(up99)
        );
        println!(
            "  status polls    {}: p50 {:.1} ms, p99 {:.1} ms; heartbeats {}",
            self.polls.len(),
            ms(poll50),
            ms(poll99),
            self.heartbeats
        );
        if self.errors.is_empty() {
            println!("  errors          none");
        } else {
            for (kind, count) in &self.errors {
                println!("  errors          {count} × {kind}");
            }
        }
        println!(
            "  portal memory   {:.1} MiB resident at the end ({:.1} MiB before the kiosks came), {:.1} MiB at its peak",
            self.portal_rss as f64 / 1024.0,
            self.portal_start as f64 / 1024.0,
            self.portal_peak as f64 / 1024.0
        );
        println!(
            "  portal CPU      {:.2} cores busy on average",
            self.portal_cores
        );
    }
}

/// The portal as its own process, killed on drop.
struct PortalProcess {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for PortalProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn portal_cmd(portal: &Path, data: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(portal)
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .map_err(|e| format!("{}: {e}", portal.display()))?;
    if !out.status.success() {
        return Err(format!(
            "portal {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn quoted(text: &str, key: &str) -> Result<String, String> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key} = \"")))
        .and_then(|rest| rest.strip_suffix('"'))
        .map(str::to_string)
        .ok_or_else(|| format!("portal init printed no {key}"))
}

/// User and system CPU seconds of process `pid` so far.
fn cpu_seconds(pid: u32) -> f64 {
    // Clock ticks per second: what `getconf CLK_TCK` says, 100 on Linux.
    let ticks = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        })
        .unwrap_or(100.0);
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // After the command name in parentheses: fields 3 onwards.
            let fields: Vec<&str> = s.rsplit(')').next()?.split_whitespace().collect();
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) / ticks)
        })
        .unwrap_or(0.0)
}

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Every registration of the run is a different citizen.
static CITIZENS: AtomicU64 = AtomicU64::new(0);

fn registration(kiosk: &DeviceKey, portal: &PortalPublicKey) -> kiosk_sync::Envelope {
    let g = CITIZENS.fetch_add(1, Ordering::Relaxed);
    // CCCD: Hồ Chí Minh City (079), a man or woman born in 19YY, a serial.
    let (serial, year, sex) = (g % 1_000_000, (g / 1_000_000) % 100, (g / 100_000_000) % 2);
    let id = uuid::Uuid::new_v4().to_string();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let payload = RegistrationPayload {
        schema: PAYLOAD_SCHEMA.into(),
        registration_id: id.clone(),
        reference: format!("DK-{}", &id[..8].to_uppercase()),
        created_at: now,
        method: "mobile_subscriber".into(),
        subject: "citizen".into(),
        level: 1,
        pending: vec!["global_duplicate".into(), "subscriber_ownership".into()],
        full_name: Some("Trần Thị Bình".into()),
        business_name: None,
        personal_id_kind: Some("cccd".into()),
        personal_id: Some(format!("079{sex}{year:02}{serial:06}")),
        tax_code: None,
        bhxh_code: None,
        date_of_birth: Some(format!("19{year:02}-01-01")),
        phone: Some(format!("+849{:08}", g % 100_000_000)),
        email: None,
        certificate: None,
        proof: None,
        chip: None,
        counter: None,
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g".into()),
    };
    let bytes = serde_json::to_vec(&payload).expect("a payload serialises");
    seal(&bytes, EnvelopeHeader::new(id, now), portal, kiosk).expect("sealing")
}

#[derive(Default)]
struct Shared {
    uploads: Vec<Duration>,
    polls: Vec<Duration>,
    heartbeats: usize,
    accepted: u64,
    errors: BTreeMap<String, u64>,
}

impl Shared {
    fn error(&mut self, kind: String) {
        *self.errors.entry(kind).or_default() += 1;
    }
}

fn client_error(e: &kiosk_sync::client::ClientError) -> String {
    use kiosk_sync::client::ClientError as E;
    match e {
        E::Busy(_) => "busy (429/503)".into(),
        E::Refused { status, code, .. } => format!("refused {status} {code}"),
        E::Transport(_) => "transport".into(),
        E::Protocol(_) => "protocol".into(),
        E::Address(_) => "address".into(),
    }
}

async fn fleet(args: &Args, n: usize) -> Result<Report, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let data = dir.path().join("portal");
    let keys = portal_cmd(&args.portal, &data, &["init"])?;
    let sealing = PortalPublicKey::from_base64(&quoted(&keys, "portal_public_key")?)
        .map_err(|e| e.to_string())?;
    let pin_hex = quoted(&keys, "tls_pin")?;
    let mut pin = [0u8; 32];
    for (i, b) in pin.iter_mut().enumerate() {
        *b = u8::from_str_radix(pin_hex.get(2 * i..2 * i + 2).unwrap_or(""), 16)
            .map_err(|_| "portal init printed a malformed tls_pin".to_string())?;
    }
    let codes: Vec<String> = (0..n)
        .map(|_| {
            portal_cmd(&args.portal, &data, &["enrol-code"])
                .map(|out| out.lines().last().unwrap_or("").trim().to_string())
        })
        .collect::<Result<_, _>>()?;

    let mut child = Command::new(&args.portal)
        .arg("--data")
        .arg(&data)
        .args(["serve", "--tls", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", args.portal.display()))?;
    let stdout = child.stdout.take().ok_or("no portal stdout")?;
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .map_err(|e| e.to_string())?;
    let portal = PortalProcess { child, _dir: dir };
    let address = first
        .trim()
        .rsplit("://")
        .next()
        .filter(|_| first.contains("https://"))
        .ok_or_else(|| format!("the portal said {first:?}"))?;
    let url = format!("https://{address}/");
    let pid = portal.child.id();
    let mut report = Report {
        portal_start: status_kib(pid, "VmRSS:"),
        ..Report::default()
    };

    // Enrolment, 50 at a time, as technicians would not all at once.
    let enrolling = Instant::now();
    let config = ClientConfig {
        tls_pin: Some(pin),
        timeout: Duration::from_secs(30),
        ..ClientConfig::new(url)
    };
    let mut kiosks = Vec::with_capacity(n);
    for chunk in codes.chunks(50) {
        let mut tasks = Vec::new();
        for code in chunk {
            let device = DeviceKey::generate();
            let signer =
                DeviceKey::from_secret_bytes(&*device.secret_bytes()).map_err(|e| e.to_string())?;
            let client = PortalClient::new(&config, device).map_err(|e| e.to_string())?;
            let code = code.clone();
            tasks.push(tokio::spawn(async move {
                client.enrol(&code).await.map(|_| (client, signer))
            }));
        }
        for t in tasks {
            let (client, signer) = t
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("enrolment: {e}"))?;
            kiosks.push((client, signer));
        }
    }
    report.enrol = enrolling.elapsed();

    let shared = Arc::new(Mutex::new(Shared::default()));
    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let mut tasks = Vec::new();
    for (k, (client, signer)) in kiosks.into_iter().enumerate() {
        let shared = Arc::clone(&shared);
        let sealing = sealing.clone();
        let (every, batch, poll, beat) = (args.every, args.batch, args.poll, args.heartbeat);
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(k as u64);
            let mut cursor = 0i64;
            let mut next_poll =
                Instant::now() + Duration::from_secs_f64(rng.random_range(0.0..poll.max(1) as f64));
            let mut next_beat =
                Instant::now() + Duration::from_secs_f64(rng.random_range(0.0..beat.max(1) as f64));
            loop {
                // An exponential gap: citizens arrive at random.
                let gap = if every > 0.0 {
                    -every * (1.0 - rng.random::<f64>()).ln()
                } else {
                    0.0
                };
                let wake = Instant::now() + Duration::from_secs_f64(gap);
                if wake >= deadline {
                    break;
                }
                tokio::time::sleep_until(wake.into()).await;
                let envelopes: Vec<_> = (0..batch)
                    .map(|_| registration(&signer, &sealing))
                    .collect();
                let t = Instant::now();
                let result = client.upload(envelopes).await;
                let took = t.elapsed();
                {
                    let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
                    s.uploads.push(took);
                    match result {
                        UploadResult::Answered(items) => {
                            for (_, outcome) in items {
                                match outcome {
                                    ItemOutcome::Accepted => s.accepted += 1,
                                    ItemOutcome::Duplicate => {
                                        s.error("duplicate (a citizen seen twice)".into())
                                    }
                                    ItemOutcome::Rejected(why) => {
                                        s.error(format!("rejected: {why}"))
                                    }
                                    ItemOutcome::RetryLater => s.error("retry later".into()),
                                    ItemOutcome::Held(why) => s.error(format!("held: {why}")),
                                }
                            }
                        }
                        UploadResult::RetryAfter(_) => s.error("busy (429/503)".into()),
                        UploadResult::Failed(why) => s.error(format!(
                            "upload failed: {}",
                            why.chars().take(60).collect::<String>()
                        )),
                    }
                }
                let now = Instant::now();
                if now >= next_poll {
                    next_poll = now + Duration::from_secs(poll);
                    let t = Instant::now();
                    let page = client.status_since(cursor, 500).await;
                    let took = t.elapsed();
                    let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
                    match page {
                        Ok(page) => {
                            cursor = page.next_cursor;
                            s.polls.push(took);
                        }
                        Err(e) => s.error(format!("status feed: {}", client_error(&e))),
                    }
                }
                if now >= next_beat {
                    next_beat = now + Duration::from_secs(beat);
                    let heartbeat = Heartbeat {
                        software_version: "fleet".into(),
                        queue_depth: 0,
                        oldest_pending_secs: None,
                        policy_version: None,
                        peripherals: Peripherals::default(),
                        clock_skew_secs: 0,
                    };
                    let answer = client.heartbeat(&heartbeat).await;
                    let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
                    match answer {
                        Ok(_) => s.heartbeats += 1,
                        Err(e) => s.error(format!("heartbeat: {}", client_error(&e))),
                    }
                }
            }
        }));
    }
    // The portal's memory, sampled while the fleet works.
    let sampler = tokio::spawn(async move {
        let mut peak = 0;
        while Instant::now() < deadline {
            peak = peak.max(status_kib(pid, "VmRSS:"));
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        peak
    });
    for t in tasks {
        t.await.map_err(|e| e.to_string())?;
    }
    report.seconds = started.elapsed().as_secs_f64();
    report.portal_cores = (cpu_seconds(pid) - cpu_before) / report.seconds;
    let sampled = sampler.await.map_err(|e| e.to_string())?;
    report.portal_rss = status_kib(pid, "VmRSS:");
    report.portal_peak = status_kib(pid, "VmHWM:").max(sampled);
    let s = std::mem::take(&mut *shared.lock().unwrap_or_else(|p| p.into_inner()));
    report.uploads = s.uploads;
    report.polls = s.polls;
    report.heartbeats = s.heartbeats;
    report.accepted = s.accepted;
    report.errors = s.errors;
    drop(portal);
    Ok(report)
}
