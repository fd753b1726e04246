//! The touchscreen's figures, with Chromium showing an equivalent static
//! form as the alternative a province would otherwise deploy; everything
//! in one run, so the ratios hold on a noisy shared machine.
//!
//! - cold start to the first rendered frame (1080×1920), as a process:
//!   `kiosk --demo --first-frame` against `chromium --headless --screenshot`;
//! - peak memory of each (PSS, summed over all of Chromium's processes);
//! - resident memory after start (over a long day: `benches/memory.rs`);
//! - the time to render a full 1080×1920 frame of the busiest screen with
//!   the software renderer, against filling the same frame buffer.
//!
//! `cargo bench -p kiosk --bench screen` (release build).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use kiosk::walk::Walker;
use support::{median, status_kib};

mod support;

const RUNS: usize = 5;

/// Proportional set size: shared pages divided among the processes that
/// share them, so a process tree's sum counts each page once.
fn pss_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Pss:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// `pid` and every process below it.
fn tree(pid: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat"))
            && let Some(after) = stat.rsplit(')').next()
            && let Some(ppid) = after.split_whitespace().nth(1)
            && let Ok(ppid) = ppid.parse::<u32>()
        {
            parents.push((child, ppid));
        }
    }
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        out.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    out
}

/// Runs `cmd` to completion; answers the wall time and the peak of the
/// summed PSS of its process tree, sampled every 5 ms.
fn run_sampled(cmd: &mut Command) -> (Duration, u64) {
    let start = Instant::now();
    let mut child = cmd.spawn().expect("starting the command");
    let mut peak = 0;
    loop {
        let rss: u64 = tree(child.id()).into_iter().map(pss_of).sum();
        peak = peak.max(rss);
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{cmd:?} failed: {status}");
            return (start.elapsed(), peak);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A static page with what the kiosk's form screen shows: status bar,
/// heading, five labelled fields, a 40-key keyboard, the buttons.
fn form_html(path: &Path) {
    let fields: String = [
        "Họ và tên",
        "Số CCCD/CMND",
        "Ngày sinh",
        "Số điện thoại",
        "Email",
    ]
    .iter()
    .map(|l| format!("<label>{l} <b>*</b><input value=\"\"></label>"))
    .collect();
    let keys: String = "1234567890qwertyuiopasdfghjklzxcvbnm@._-"
        .chars()
        .map(|k| format!("<button>{k}</button>"))
        .collect();
    let html = format!(
        "<!doctype html><html lang=vi><meta charset=utf-8><style>\
         body{{margin:0;width:1080px;height:1920px;font-family:'DejaVu Sans';background:#f4f6f8}}\
         header{{height:88px;background:#1b2430;color:#fff;font-size:26px;padding:0 32px;display:flex;align-items:center}}\
         main{{padding:40px}} h1{{font-size:48px}} label{{display:block;font-size:28px;margin:24px 0}}\
         label b{{color:#c0001a}} input{{display:block;width:100%;height:84px;font-size:34px;border-radius:12px}}\
         .kb{{display:grid;grid-template-columns:repeat(10,1fr);gap:8px;margin-top:40px}}\
         .kb button{{height:84px;font-size:34px}} nav button{{height:96px;font-size:32px;margin:24px 12px 0 0}}\
         </style><header>Cổng Dịch vụ công · Ngoại tuyến · Chờ gửi: 0</header><main>\
         <h1>Đăng ký bằng thuê bao di động</h1>{fields}<div class=kb>{keys}</div>\
         <nav><button>Quay lại</button><button>Hủy</button><button>Đăng ký</button></nav></main></html>"
    );
    std::fs::write(path, html).unwrap();
}

fn main() {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let kiosk_bin = env!("CARGO_BIN_EXE_kiosk");

    // Cold start to the first frame, as a separate process each time, on a
    // fresh data directory (keys and database created).
    let mut kiosk_runs = Vec::new();
    let mut kiosk_peak = 0;
    for i in 0..RUNS {
        let dir = tmp.path().join(format!("cold-{i}"));
        let (wall, peak) = run_sampled(
            Command::new(kiosk_bin)
                .args(["--demo", "--demo-dir"])
                .arg(&dir)
                .arg("--first-frame")
                .arg(dir.join("first.png"))
                .stdout(std::process::Stdio::null()),
        );
        kiosk_runs.push(wall);
        kiosk_peak = kiosk_peak.max(peak);
    }
    let kiosk_start = median(kiosk_runs);

    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok());
    let chromium_figures = chromium.map(|bin| {
        let page = tmp.path().join("form.html");
        form_html(&page);
        let mut runs = Vec::new();
        let mut peak = 0;
        for i in 0..RUNS {
            let profile = tmp.path().join(format!("chromium-{i}"));
            let (wall, p) = run_sampled(
                Command::new(bin)
                    .args([
                        "--headless",
                        "--no-sandbox",
                        "--disable-gpu",
                        "--hide-scrollbars",
                        "--no-first-run",
                        "--window-size=1080,1920",
                    ])
                    .arg(format!("--user-data-dir={}", profile.display()))
                    .arg(format!(
                        "--screenshot={}",
                        profile.join("shot.png").display()
                    ))
                    .arg(format!("file://{}", page.display()))
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null()),
            );
            runs.push(wall);
            peak = peak.max(p);
        }
        (median(runs), peak)
    });

    // In this process: memory after start, and the full-frame render time.
    let out = tmp.path().join("walk");
    let mut walker = Walker::start(
        &out,
        &tmp.path().join("warm"),
        1080,
        1920,
        kiosk_ui::i18n::Lang::Vi,
    )
    .unwrap();
    walker.render_frame();
    let rss_started = status_kib("VmRSS:");
    walker.open_form().unwrap();
    let mut render = Vec::new();
    let mut fill = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        let pixels = walker.render_frame();
        render.push(t.elapsed());
        assert_eq!(pixels.len(), 1080 * 1920);
        let t = Instant::now();
        let buffer = vec![slint::Rgb8Pixel::new(0xf4, 0xf6, 0xf8); 1080 * 1920];
        fill.push(t.elapsed());
        std::hint::black_box(buffer);
    }
    let (render, fill) = (median(render), median(fill));

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mib = |k: u64| k as f64 / 1024.0;
    println!("kiosk screen, 1080x1920, release build, median of {RUNS} (render: of 30)");
    println!(
        "  cold start to first frame (process)   {:8.1} ms   peak PSS {:7.1} MiB",
        ms(kiosk_start),
        mib(kiosk_peak)
    );
    match chromium_figures {
        Some((start, peak)) => {
            println!(
                "  chromium headless, same form         {:8.1} ms   peak PSS {:7.1} MiB (all processes)",
                ms(start),
                mib(peak)
            );
            println!(
                "  ratio chromium / kiosk               {:8.1}x start      {:7.1}x memory",
                start.as_secs_f64() / kiosk_start.as_secs_f64(),
                peak as f64 / kiosk_peak.max(1) as f64
            );
        }
        None => println!("  chromium: not installed (apt-get install chromium), no comparison"),
    }
    println!(
        "  resident memory after start           {:8.1} MiB",
        mib(rss_started)
    );
    println!(
        "  full frame, software renderer         {:8.2} ms   = {:.0}x filling the frame buffer ({:.3} ms)",
        ms(render),
        render.as_secs_f64() / fill.as_secs_f64().max(1e-9),
        ms(fill)
    );
}
