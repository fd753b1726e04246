//! Every input in the committed fuzz corpora (`tests/fuzz/corpus/<target>`)
//! and every crash a fuzzer found (`tests/fuzz/regressions/<target>`),
//! replayed through its check as an ordinary test: what once broke stays
//! fixed, on stable Rust, in every CI run.

use std::path::PathBuf;

fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz")
        .join(kind)
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn every_target_has_a_seed_corpus_and_every_input_passes_its_check() {
    for (target, check) in kiosk_fuzz_checks::TARGETS {
        let corpus = inputs("corpus", target);
        assert!(!corpus.is_empty(), "{target}: no seed corpus");
        for path in corpus.iter().chain(&inputs("regressions", target)) {
            let data = std::fs::read(path).unwrap();
            let result = std::panic::catch_unwind(|| check(&data));
            assert!(
                result.is_ok(),
                "{target}: {} fails its check",
                path.display()
            );
        }
    }
}
