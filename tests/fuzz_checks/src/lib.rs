//! What each fuzz target checks, as plain functions of the input bytes:
//! `cargo fuzz` (tests/fuzz) calls them with libFuzzer's inputs, and
//! `tests/corpus.rs` replays the committed corpora and every crash found
//! as an ordinary test. A check panics when the code under test breaks a
//! rule: a panic of its own, or a round trip that does not come back.
//!
//! Every parser that takes bytes from outside the kiosk has one: the modem
//! (AT lines, SMS PDUs), certificates and chains and revocation lists, the
//! policy and its signature, the portal's JSON bodies and request
//! signatures, sealed envelopes and export files, the Telex composer, the
//! identifiers a citizen types, and what a CCCD chip sends (APDUs, secure
//! messaging, its files and security object).

use std::time::Duration;

/// A check: panics when the code under test breaks a rule on `data`.
pub type Check = fn(&[u8]);

/// Every target, by name: the corpus directories are named the same.
pub const TARGETS: [(&str, Check); 13] = [
    ("at_feed", at_feed),
    ("sms_pdu", sms_pdu),
    ("certificate", certificate),
    ("chain", chain),
    ("crl", crl),
    ("policy", policy),
    ("portal_bodies", portal_bodies),
    ("httpsig", httpsig),
    ("envelope", envelope),
    ("export_file", export_file),
    ("telex", telex),
    ("identifiers", identifiers),
    ("card", card),
];

/// A CA, a certificate it issued (Lê Thị Hồng, CCCD 001190000777) and a
/// revocation list naming it, made with OpenSSL for these checks.
const CA: &[u8] = include_bytes!("../data/ca.der");
const LEAF: &[u8] = include_bytes!("../data/leaf.der");
const CRL: &[u8] = include_bytes!("../data/crl.der");

/// Unix time the fixed certificates are valid at.
const NOW: i64 = 1_796_000_000;

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// The AT engine, fed the same bytes whole and split at points taken from
/// the input: both give the same outputs, so a line torn across reads
/// never reads differently.
pub fn at_feed(data: &[u8]) {
    use kiosk_hal::modem::at::{Command, Engine};
    let Some((&control, bytes)) = data.split_first() else {
        return;
    };
    let run = |pieces: &[&[u8]]| {
        let mut engine = Engine::new();
        let mut out = Vec::new();
        let now = Duration::from_secs(1);
        if control & 1 == 1 {
            let written = engine
                .start(Command::new("AT+CSQ", Duration::from_secs(5)), now)
                .expect("a fresh engine is idle");
            out.push(format!("{written:?}"));
        }
        for piece in pieces {
            out.extend(engine.feed(piece, now).iter().map(|o| format!("{o:?}")));
        }
        out.extend(
            engine
                .poll(Duration::from_secs(10))
                .iter()
                .map(|o| format!("{o:?}")),
        );
        out
    };
    let whole = run(&[bytes]);
    // Cut points from the bytes themselves, at most eight pieces.
    let mut cuts: Vec<usize> = bytes
        .iter()
        .take(7)
        .map(|b| usize::from(*b) % (bytes.len() + 1))
        .collect();
    cuts.sort_unstable();
    let mut pieces = Vec::new();
    let mut start = 0;
    for cut in cuts {
        pieces.push(&bytes[start..cut.max(start)]);
        start = cut.max(start);
    }
    pieces.push(&bytes[start..]);
    assert_eq!(
        whole,
        run(&pieces),
        "split at {:?}",
        pieces.iter().map(|p| p.len()).collect::<Vec<_>>()
    );
}

/// Any text encodes to SMS-SUBMIT PDUs that decode back to it, part by
/// part, with a consistent concatenation header; and any hex decodes
/// without a panic.
pub fn sms_pdu(data: &[u8]) {
    use kiosk_hal::modem::pdu::{decode_submit, encode_submit};
    let hex: String = data.iter().map(|b| format!("{b:02X}")).collect();
    let _ = decode_submit(&hex);
    let Some((&reference, rest)) = data.split_first() else {
        return;
    };
    let text = text(rest);
    let Ok(parts) = encode_submit("+84912345678", &text, Duration::from_secs(3600), reference)
    else {
        return;
    };
    let total = parts.len();
    let mut back = String::new();
    for (i, part) in parts.iter().enumerate() {
        let decoded = decode_submit(&part.hex).expect("our own PDU decodes");
        assert_eq!(decoded.destination, "+84912345678");
        match decoded.part {
            None => assert_eq!(total, 1),
            Some((r, t, seq)) => assert_eq!(
                (r, usize::from(t), usize::from(seq)),
                (reference, total, i + 1)
            ),
        }
        back.push_str(&decoded.text);
    }
    assert_eq!(back, text);
}

/// A certificate parses or is refused, and one that parses can be checked
/// against itself as an anchor.
pub fn certificate(data: &[u8]) {
    use kiosk_pki::cert::{CertInfo, TrustAnchors};
    let Ok(cert) = CertInfo::parse(data) else {
        return;
    };
    let _ = cert.identifier(|_| true);
    let _ = cert.serial();
    let anchors = TrustAnchors::from_certificates(vec![cert.clone()]);
    let _ = anchors.verify(&cert, &[], NOW);
}

/// Up to four certificates, each as a two-byte big-endian length and its
/// DER: the first is the anchor, the last the leaf, the others
/// intermediates; and the fixed leaf with the fuzzed ones beside it.
pub fn chain(data: &[u8]) {
    use kiosk_pki::cert::{CertInfo, TrustAnchors};
    let mut certs = Vec::new();
    let mut rest = data;
    while certs.len() < 4 && rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let blob = &rest[2..(2 + len).min(rest.len())];
        rest = &rest[(2 + len).min(rest.len())..];
        if let Ok(cert) = CertInfo::parse(blob) {
            certs.push(cert);
        }
    }
    if let (Some(anchor), Some(leaf)) = (certs.first(), certs.last()) {
        let anchors = TrustAnchors::from_certificates(vec![anchor.clone()]);
        let _ = anchors.verify(leaf, &certs, NOW);
    }
    let ca = CertInfo::parse(CA).expect("the fixed CA parses");
    let leaf = CertInfo::parse(LEAF).expect("the fixed leaf parses");
    let anchors = TrustAnchors::from_certificates(vec![ca]);
    let _ = anchors.verify(&leaf, &certs, NOW);
}

/// A revocation list parses against the fixed CA or is refused; the fixed
/// list still says what it says whatever else sits beside it.
pub fn crl(data: &[u8]) {
    use kiosk_pki::cert::CertInfo;
    use kiosk_pki::crl::RevocationList;
    let ca = CertInfo::parse(CA).expect("the fixed CA parses");
    if let Ok(list) = RevocationList::parse(data, std::slice::from_ref(&ca)) {
        let _ = list.is_current(NOW);
    }
    let _ = RevocationList::parse(data, &[]);
    let fixed = RevocationList::parse(CRL, &[ca]).expect("the fixed list parses");
    assert_eq!(fixed.len(), 1);
}

/// A policy document reads or is refused with a reason; one that reads
/// writes out and reads back the same. A signed envelope (JSON) is
/// refused unless its signature verifies.
pub fn policy(data: &[u8]) {
    use kiosk::policy::{Policy, accept_signed};
    if let Ok(policy) = Policy::from_toml(&text(data)) {
        let again = Policy::from_toml(&policy.to_toml()).expect("a written policy reads");
        assert_eq!(again, policy);
    }
    if let Ok(signed) = serde_json::from_slice::<kiosk_sync::api::SignedPolicy>(data) {
        let key = kiosk_sync::DeviceKey::from_secret_bytes(&[7; 32]).expect("a key");
        let accepted = accept_signed(&signed, &key.public_key(), Policy::built_in());
        assert!(accepted.is_err(), "a policy nobody signed was accepted");
    }
}

/// Reads `data` as a `T` the way the portal reads a body; one that reads
/// writes out and reads back the same.
fn body<T: serde::Serialize + serde::de::DeserializeOwned>(data: &[u8]) {
    if let Ok(value) = serde_json::from_slice::<T>(data) {
        let first = serde_json::to_value(&value).expect("serialises");
        let again: T = serde_json::from_value(first.clone()).expect("reads back");
        assert_eq!(serde_json::to_value(&again).expect("serialises"), first);
    }
}

/// Every JSON body the portal takes (through `serde_json`, as its
/// extractors do), the sealed payload, and the reasons a portal sends back
/// as the kiosk keeps them: never a run of four digits, never long.
pub fn portal_bodies(data: &[u8]) {
    use kiosk_sync::api;
    body::<api::EnrolRequest>(data);
    body::<api::UploadRequest>(data);
    body::<api::Heartbeat>(data);
    body::<api::DuplicateCheck>(data);
    body::<api::BhxhCheck>(data);
    body::<api::SubscriberCheck>(data);
    body::<api::CertificateCheck>(data);
    body::<api::StartSignature>(data);
    body::<api::LookupQuestion>(data);
    body::<api::HandoffRequest>(data);
    body::<api::HandoffAnswer>(data);
    body::<api::LookupAnswer>(data);
    body::<api::UploadResponse>(data);
    body::<api::StatusResponse>(data);
    body::<api::ResetRequest>(data);
    body::<api::ResetResend>(data);
    body::<api::ResetAnswer>(data);
    body::<api::ResetCompletion>(data);
    body::<api::ResetResult>(data);
    body::<kiosk_sync::RegistrationPayload>(data);
    body::<kiosk_sync::ComplaintPayload>(data);
    body::<kiosk_sync::CounterResetPayload>(data);
    body::<kiosk_sync::ResetPayload>(data);
    let kept = api::recordable_reason(&text(data));
    assert!(kept.chars().count() <= 160, "{kept}");
    let mut digits = 0;
    for c in kept.chars() {
        digits = if c.is_ascii_digit() { digits + 1 } else { 0 };
        assert!(digits < 4, "a number reached the kiosk's records: {kept}");
    }
}

/// Request signature headers (the input split at a newline): the claimed
/// key and the full check, without a panic; nothing verifies that no
/// enrolled key signed.
pub fn httpsig(data: &[u8]) {
    use kiosk_sync::httpsig::{RequestParts, claimed_key, verify};
    let text = text(data);
    let mut lines = text.splitn(3, '\n');
    let (input, signature, body) = (lines.next(), lines.next(), lines.next().unwrap_or(""));
    let _ = claimed_key(input, signature);
    let parts = RequestParts {
        method: "POST",
        authority: "127.0.0.1:8470",
        path: "/v1/heartbeat",
        query: None,
        content_digest: None,
    };
    let key = kiosk_sync::DeviceKey::from_secret_bytes(&[9; 32]).expect("a key");
    let verified = verify(parts, body.as_bytes(), input, signature, |_| {
        Some(key.public_key())
    });
    assert!(verified.is_err(), "a signature nobody made verified");
}

/// A sealed envelope reads or is refused; one that reads writes back the
/// same; only a signed one opens.
pub fn envelope(data: &[u8]) {
    use kiosk_sync::{Envelope, PortalSecretKey};
    let Ok(envelope) = Envelope::from_bytes(data) else {
        return;
    };
    let again = Envelope::from_bytes(&envelope.to_bytes()).expect("a written envelope reads");
    assert_eq!(again, envelope);
    // The seed corpus is sealed to this key, so mutations reach the
    // opening; whatever opens must be signed by the key it names.
    let portal = PortalSecretKey::from_bytes(&[3; 32]).expect("a key");
    if envelope.open(&portal).is_ok() {
        assert!(envelope.verify().is_ok(), "an unsigned envelope opened");
    }
}

/// An export file reads or is refused; one that reads writes back the same.
pub fn export_file(data: &[u8]) {
    use kiosk_sync::ExportFile;
    let Ok(file) = ExportFile::from_bytes(data) else {
        return;
    };
    let again = ExportFile::from_bytes(&file.to_bytes()).expect("a written file reads");
    assert_eq!(again.to_bytes(), file.to_bytes());
}

/// Telex keys compose without a panic, never into more letters than keys
/// typed, and a respelled word keeps its length.
pub fn telex(data: &[u8]) {
    use kiosk_ui::telex::{ToneStyle, compose, respell_last_word};
    let keys = text(data);
    for style in [ToneStyle::Classic, ToneStyle::Modern] {
        let composed = compose(&keys, style);
        assert!(
            composed.chars().count() <= keys.chars().count(),
            "{keys:?} gave {composed:?}"
        );
        if let Some(respelled) = respell_last_word(&composed, style.other()) {
            assert_eq!(respelled.chars().count(), composed.chars().count());
        }
    }
}

/// Every identifier a citizen types: parsed or refused with a reason, and
/// what parses reads back the same from its own canonical form.
pub fn identifiers(data: &[u8]) {
    use kiosk::domain::{
        BhxhCode, BusinessName, DateOfBirth, Email, Mst, Password, PersonName, PersonalId,
        PhoneNumber, Pin,
    };
    use kiosk::policy::Policy;
    let input = text(data);
    let policy = Policy::built_in();
    let rules = &policy.identifiers;
    let year = 2026;
    if let Ok(id) = PersonalId::parse(&input, rules, year) {
        assert_eq!(PersonalId::parse(id.as_str(), rules, year).ok(), Some(id));
    }
    // A reference number: once read, read the same, and always well formed.
    if let Some(reference) = kiosk_sync::normalise_reference(&input) {
        assert_eq!(
            kiosk_sync::normalise_reference(&reference).as_deref(),
            Some(reference.as_str())
        );
        assert_eq!(reference.len(), 12, "{reference}");
    }
    if let Ok(mst) = Mst::parse(&input) {
        assert_eq!(Mst::parse(mst.as_str()).ok(), Some(mst));
    }
    if let Ok(code) = BhxhCode::parse(&input) {
        assert_eq!(BhxhCode::parse(code.as_str()).ok(), Some(code));
    }
    if let Ok(phone) = PhoneNumber::parse(&input, rules) {
        assert_eq!(PhoneNumber::parse(phone.e164(), rules).ok(), Some(phone));
    }
    if let Ok(email) = Email::parse(&input) {
        assert_eq!(Email::parse(email.as_str()).ok(), Some(email));
    }
    if let Ok(name) = PersonName::parse(&input, &policy.person) {
        assert_eq!(
            PersonName::parse(name.as_str(), &policy.person).ok(),
            Some(name)
        );
    }
    if let Ok(name) = BusinessName::parse(&input, &policy.person) {
        assert_eq!(
            BusinessName::parse(name.as_str(), &policy.person).ok(),
            Some(name)
        );
    }
    let today = time::macros::date!(2026 - 12 - 04);
    let _ = DateOfBirth::parse(&input, today, &policy.person);
    let _ = Pin::new(&input);
    let _ = Password::new(&input, &input, &policy.password);
}

/// What a chip (or something posing as one) sends the kiosk: the first
/// byte picks the parser. APDUs and BER-TLV objects round-trip; secure
/// messaging (3DES and AES), the files, the security object, EF.CardAccess,
/// PACE's authentication data and DG14/DG15 with an active-authentication
/// answer parse or are refused, never panic; a command the reader protects
/// opens on the chip's side as it was.
pub fn card(data: &[u8]) {
    use kiosk_hal::card::apdu::{Command, Response};
    use kiosk_hal::card::lds::{Dg13, Mrz, data_groups};
    use kiosk_hal::card::pa::SecurityObject;
    use kiosk_hal::card::sm::Session;
    use kiosk_hal::card::tlv;
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let keys = || Session::new([0x11; 16], [0x22; 16], 0x0102_0304_0506_0708);
    let aes = || Session::aes([0x33; 16], [0x44; 16]);
    match which % 8 {
        0 => {
            if let Some(cmd) = Command::parse(rest) {
                assert_eq!(Command::parse(&cmd.encode()), Some(cmd.clone()));
            }
            // Secure messaging takes plain commands: CLA without its SM bits.
            if let Some(cmd) = Command::parse(rest).filter(|c| c.cla & 0x0C == 0) {
                let protected = keys().protect(&cmd);
                let opened = keys()
                    .open_command(&protected)
                    .expect("our own protection opens");
                assert_eq!(opened, cmd);
            }
            if let Some(r) = Response::parse(rest) {
                assert_eq!(r.encode(), rest);
            }
        }
        1 => {
            let _ = keys().unprotect(rest);
            let _ = keys().open_command(rest);
            let _ = aes().unprotect(rest);
            let _ = aes().open_command(rest);
            if let Some(cmd) = Command::parse(rest).filter(|c| c.cla & 0x0C == 0) {
                let opened = aes().open_command(&aes().protect(&cmd));
                assert_eq!(opened.expect("our own protection opens"), cmd);
            }
        }
        2 => {
            if let Some(objects) = tlv::parse_all(rest) {
                for o in objects {
                    let again = tlv::encode(o.tag, o.value);
                    let (back, tail) = tlv::parse(&again).expect("our own encoding parses");
                    assert_eq!((back.tag, back.value, tail.len()), (o.tag, o.value, 0));
                }
            }
        }
        3 => {
            let _ = data_groups(rest);
            let _ = Mrz::parse_dg1(rest);
            if let Ok(text) = std::str::from_utf8(rest) {
                let _ = Mrz::parse(text);
            }
        }
        4 => {
            if let Ok(dg13) = Dg13::parse(rest) {
                let _ = (dg13.full_name(), dg13.old_id(), dg13.mother());
            }
        }
        5 => {
            use kiosk_hal::card::pace;
            if let Some(info) = pace::supported(rest) {
                assert_eq!(pace::supported(&pace::card_access(info.curve)), Some(info));
            }
            for tag in [0x80, 0x82, 0x84, 0x86] {
                if let Some(v) = pace::auth_data(rest, tag) {
                    assert_eq!(pace::auth_data(&pace::wrap(tag, v), tag), Some(v));
                }
            }
            // A point from the chip: on the curve, or refused.
            let _ = pace::Curve::BrainpoolP256r1.agree(rest, &[7; 32]);
        }
        6 => {
            use kiosk_pki::emrtd::aa;
            if let Ok(point) = aa::dg15_point(rest) {
                assert_eq!(aa::dg15_point(&aa::dg15(&point)), Ok(point));
            }
            let (files, answer) = rest.split_at(rest.len() / 2);
            let _ = aa::verify(Some(files), files, b"challenge", answer);
            let _ = aa::verify(Some(&aa::dg14()), files, b"challenge", answer);
        }
        _ => {
            if let Ok(so) = SecurityObject::parse(rest) {
                let anchors = kiosk_pki::cert::TrustAnchors::default();
                let _ = so.verify_signer(&anchors, NOW);
                let _ = so.check_hashes([(1u8, &b"x"[..])]);
            }
        }
    }
}
