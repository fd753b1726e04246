#![no_main]
// The check is kiosk_fuzz_checks::card (tests/fuzz_checks), where its rules are.
libfuzzer_sys::fuzz_target!(|data: &[u8]| kiosk_fuzz_checks::card(data));
