//! The headless walk drives the demo kiosk through the real window's
//! callbacks, portrait and landscape: every step must land on the screen it
//! should, and leave a picture that shows something.

use std::path::Path;

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
    let dir = tempfile::tempdir().unwrap();
    for (width, height) in [(1080, 1920), (1920, 1080)] {
        let data = dir.path().join(format!("data-{width}"));
        let shots = kiosk::walk::run(&dir.path().join("png"), &data, width, height)
            .unwrap_or_else(|e| panic!("{width}x{height}: {e}"));
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
            "business-methods",
            "idle-warning",
            "idle-timeout-home",
        ] {
            assert!(
                names
                    .iter()
                    .any(|n| n.contains(&format!("-{step}-{width}x{height}"))),
                "{step} missing from {names:?}"
            );
        }
        for shot in &shots {
            assert!(colours(shot) > 50, "{} looks empty", shot.display());
        }
        // Two registrations reached the store, sealed.
        let store = kiosk::store::Store::open(&data.join("kiosk.sqlite3")).unwrap();
        assert_eq!(store.queue().unwrap().len(), 2);
    }
}
