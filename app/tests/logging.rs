//! No personal data in the log, at any level: the whole walk (every
//! registration method, mistakes, a wrong PIN, a refused signature, the
//! idle timeout) runs with every event of every crate at `trace`, the
//! output is captured, and nothing typed, nor anyone the demo portal
//! knows, may be found in it.

use std::io::Write;
use std::sync::{Arc, Mutex};

use kiosk_ui::i18n::Lang;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every form in which `value` could appear: as typed, without its
/// spaces, a local phone number as E.164 and without its leading zero.
fn forms(value: &str) -> Vec<String> {
    let mut forms = vec![value.to_string()];
    let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    if compact != value {
        forms.push(compact.clone());
    }
    if let Some(rest) = compact.strip_prefix('0')
        && compact.len() == 10
        && compact.chars().all(|c| c.is_ascii_digit())
    {
        forms.push(format!("84{rest}"));
        forms.push(rest.to_string());
    }
    if let Some(rest) = compact.strip_prefix("+84") {
        forms.push(format!("0{rest}"));
    }
    forms
}

/// Whether `value` stands in `log` as a whole word: not inside a longer
/// run of letters and digits (a six-digit code is found in `code=482193`
/// but not in the middle of a hash or a longer number).
fn stands_in(log: &str, value: &str) -> bool {
    log.match_indices(value).any(|(at, _)| {
        let before = log[..at].chars().next_back();
        let after = log[at + value.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// The personal values found in `log`, each once.
fn leaks(log: &str, values: &[String]) -> Vec<String> {
    let mut found: Vec<String> = values
        .iter()
        // Fewer than four characters cannot be told from a count.
        .filter(|v| v.chars().count() >= 4)
        .flat_map(|v| forms(v))
        .filter(|form| stands_in(log, form))
        .collect();
    found.sort();
    found.dedup();
    found
}

#[test]
fn the_leak_finder_finds_a_value_in_any_of_its_forms() {
    let values = vec![
        "0912345678".to_string(),
        "Nguyễn Văn An".to_string(),
        "4821".to_string(),
    ];
    assert!(leaks("sent to +84912345678 at 09:00", &values).contains(&"84912345678".to_string()));
    assert!(!leaks("a name: Nguyễn Văn An", &values).is_empty());
    assert_eq!(leaks("code=4821.", &values), vec!["4821".to_string()]);
    assert!(leaks("to 0912***678, code ****, id 94821a, n=48215", &values).is_empty());
}

#[test]
fn a_whole_walk_at_trace_logs_nothing_anyone_typed() {
    let capture = Capture::default();
    let sink = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .without_time()
        .with_writer(move || sink.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let walked = kiosk::walk::run_without_pictures(&dir.path().join("kiosk"), 1080, 1920, Lang::Vi)
        .unwrap_or_else(|e| panic!("the walk: {e}"));

    let log = String::from_utf8_lossy(&capture.0.lock().unwrap()).into_owned();
    // The log is there to be read: the walk stored registrations and sent
    // codes, and said so.
    for event in [
        "registration stored",
        "OTP sent",
        "effect",
        "session started",
    ] {
        assert!(log.contains(event), "no {event:?} in the log");
    }
    let mut private = walked.typed.clone();
    let people = kiosk_portal::demo_fixtures();
    for r in &people.bhxh {
        private.extend([r.code.clone(), r.full_name.clone()]);
        private.push(r.personal_id.value().to_string());
    }
    for s in &people.subscribers {
        private.extend([s.phone.clone(), s.personal_id.value().to_string()]);
    }
    for u in &people.mobile_signature {
        private.extend([u.phone.clone(), u.full_name.clone()]);
        private.push(u.personal_id.value().to_string());
    }
    assert!(walked.typed.len() > 20, "the walk typed {:?}", walked.typed);
    let found = leaks(&log, &private);
    assert!(
        found.is_empty(),
        "personal data in the log ({} bytes): {found:?}",
        log.len()
    );
}
