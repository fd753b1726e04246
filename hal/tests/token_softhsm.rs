//! Tokens through real PKCS#11 calls into SoftHSM2, with certificates from
//! a test CA carrying Vietnamese subjects.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use kiosk_hal::token::cert::{CertInfo, CertProblem, Holder, Scheme, SubjectId, TrustAnchors};
use kiosk_hal::token::pkcs11::{
    TokenError, TokenEvent, TokenRef, diff, list_tokens, prove_possession,
};
use kiosk_hal::token::testpki::{KeyType, TestCa, TestPki, TestToken, TokenSpec};
use secrecy::SecretString;

struct Pki {
    _dir: tempfile::TempDir,
    ca: TestCa,
    anchors: PathBuf,
    stranger: TestCa,
    citizen_rsa: TestToken,
    citizen_ec: TestToken,
    business: TestToken,
    wrong_pin: TestToken,
    wrong_usage: TestToken,
    untrusted: TestToken,
    no_key: TestToken,
    removable: TestToken,
    organisation_p384: TestToken,
    via_intermediate: TestToken,
    via_end_entity: TestToken,
}

/// Every token this process uses, made before SoftHSM is first loaded:
/// SoftHSM builds its slot list once, at C_Initialize, and never sees
/// tokens another process creates later (vendor modules do).
fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let TestPki { ca, stranger, anchors } = TestPki::create(dir.path()).unwrap();
        let issue = |ca: &TestCa, name: &str, subject: &str, key: KeyType, tweak: &dyn Fn(&mut TokenSpec)| {
            let label = label(name);
            let mut spec = TokenSpec::new(&label, subject, key);
            tweak(&mut spec);
            ca.issue_token(&spec).unwrap()
        };
        let none = |_: &mut TokenSpec| {};
        Pki {
            citizen_rsa: issue(&ca, "citizen-rsa", "/C=VN/CN=Trần Thị Thuỷ/UID=CCCD:051303000111", KeyType::Rsa2048, &none),
            citizen_ec: issue(&ca, "citizen-ec", "/C=VN/CN=Đặng Quốc Ưng/UID=CMND:212345678", KeyType::P256, &none),
            business: issue(
                &ca,
                "business",
                "/C=VN/O=CÔNG TY TNHH AN PHÚ/CN=CÔNG TY TNHH AN PHÚ/UID=MST:0100047516/UID=CCCD:051090001234",
                KeyType::Rsa2048,
                &|s| s.with_ca_certificate = true,
            ),
            wrong_pin: issue(&ca, "wrong-pin", "/C=VN/CN=Lê Văn Tám/UID=CCCD:051099000888", KeyType::P256, &none),
            wrong_usage: issue(&ca, "usage", "/C=VN/CN=Hồ Thị Lan/UID=CCCD:051199000777", KeyType::P256, &|s| {
                s.key_usage = "critical,keyEncipherment"
            }),
            untrusted: issue(&stranger, "stranger", "/C=VN/CN=Hồ Thị Lan/UID=CCCD:051199000777", KeyType::P256, &none),
            no_key: issue(&ca, "no-key", "/C=VN/CN=Phan Văn Khải/UID=CCCD:051085000555", KeyType::Rsa2048, &|s| s.without_key = true),
            organisation_p384: issue(
                &ca,
                "org-p384",
                "/C=VN/O=CÔNG TY CỔ PHẦN BÌNH MINH/CN=CÔNG TY CỔ PHẦN BÌNH MINH/organizationIdentifier=VATVN-0100233488",
                KeyType::P384,
                &none,
            ),
            via_intermediate: {
                let sub = ca.subordinate(&dir.path().join("intermediate"), "CA Trung Gian", true).unwrap();
                issue(&sub, "via-intermediate", "/C=VN/CN=Vũ Thị Mai/UID=CCCD:051190000321", KeyType::P256, &|s| {
                    s.with_ca_certificate = true
                })
            },
            via_end_entity: {
                // A citizen's own, valid certificate, used to "issue" another.
                let rogue = ca.subordinate(&dir.path().join("rogue"), "Người Dùng Thường", false).unwrap();
                issue(&rogue, "via-end-entity", "/C=VN/CN=Giả Mạo/UID=CCCD:051190000999", KeyType::P256, &|s| {
                    s.with_ca_certificate = true
                })
            },
            removable: issue(&ca, "removable", "/C=VN/CN=Mai Anh/UID=CCCD:051200000444", KeyType::P256, &none),
            _dir: dir,
            ca,
            anchors,
            stranger,
        }
    })
}

/// A label no other test or run uses.
fn label(name: &str) -> String {
    format!("{name}-{}", std::process::id() ^ rand_u32())
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u8(0);
    h.finish() as u32
}

fn find(token: &TestToken) -> TokenRef {
    list_tokens(std::slice::from_ref(&token.module))
        .unwrap()
        .into_iter()
        .find(|t| t.label == token.label)
        .expect("the new token is listed")
}

fn pin(p: &str) -> SecretString {
    SecretString::from(p.to_string())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn anchors() -> TrustAnchors {
    TrustAnchors::load(&pki().anchors).unwrap()
}

const CHALLENGE: &[u8] = b"kiosk challenge 8f1d2c3b4a5e6f708192a3b4c5d6e7f8";

#[test]
fn a_citizen_rsa_token_proves_possession_with_pkcs1_and_pss() {
    let found = find(&pki().citizen_rsa);
    assert_eq!(found.manufacturer, "SoftHSM project");
    for scheme in [Scheme::RsaPkcs1Sha256, Scheme::RsaPssSha256] {
        let proof = prove_possession(&found, &pin("123456"), CHALLENGE, scheme).unwrap();
        assert_eq!(proof.scheme, scheme);
        let cert = &proof.certificate;
        assert_eq!(cert.common_name.as_deref(), Some("Trần Thị Thuỷ"));
        assert_eq!(
            cert.identifiers,
            vec![SubjectId::Cccd("051303000111".into())]
        );
        assert_eq!(cert.holder, Holder::Person);
        assert_eq!(
            cert.issuer_common_name.as_deref(),
            Some("CA Thử Nghiệm Kiosk")
        );
        let chain = anchors().verify(cert, &proof.others, now()).unwrap();
        assert_eq!(chain, vec!["Trần Thị Thuỷ", "CA Thử Nghiệm Kiosk"]);
        let shown = format!("{proof:?}");
        assert!(
            !shown.contains("Trần") && !shown.contains("051303000111"),
            "{shown}"
        );
    }
}

#[test]
fn an_old_style_citizen_on_p256_proves_possession_with_raw_ecdsa() {
    let proof = prove_possession(
        &find(&pki().citizen_ec),
        &pin("123456"),
        CHALLENGE,
        Scheme::RsaPkcs1Sha256,
    )
    .unwrap();
    assert_eq!(proof.scheme, Scheme::Ecdsa);
    assert_eq!(
        proof.certificate.identifiers,
        vec![SubjectId::Cmnd("212345678".into())]
    );
    assert!(anchors().verify(&proof.certificate, &[], now()).is_ok());
}

#[test]
fn a_business_certificate_is_read_as_an_organisation() {
    let proof = prove_possession(
        &find(&pki().business),
        &pin("123456"),
        CHALLENGE,
        Scheme::RsaPkcs1Sha256,
    )
    .unwrap();
    let cert = &proof.certificate;
    assert_eq!(cert.holder, Holder::Organization);
    assert_eq!(cert.organization.as_deref(), Some("CÔNG TY TNHH AN PHÚ"));
    assert_eq!(
        cert.identifier(|i| matches!(i, SubjectId::Mst(_))),
        Some(&SubjectId::Mst("0100047516".into()))
    );
    // The CA certificate on the token is offered as a chain link, not as the holder's.
    assert_eq!(proof.others.len(), 1);
    assert!(anchors().verify(cert, &proof.others, now()).is_ok());
}

#[test]
fn an_organisation_identifier_on_a_p384_key_is_a_business_with_its_tax_code() {
    let proof = prove_possession(
        &find(&pki().organisation_p384),
        &pin("123456"),
        CHALLENGE,
        Scheme::RsaPkcs1Sha256,
    )
    .unwrap();
    assert_eq!(proof.scheme, Scheme::Ecdsa);
    let cert = &proof.certificate;
    assert_eq!(cert.holder, Holder::Organization);
    assert_eq!(cert.identifiers, vec![SubjectId::Mst("0100233488".into())]);
    assert_eq!(
        cert.organization.as_deref(),
        Some("CÔNG TY CỔ PHẦN BÌNH MINH")
    );
    assert!(anchors().verify(cert, &[], now()).is_ok());
}

#[test]
fn only_a_ca_may_link_a_chain() {
    // A real intermediate carried on the token completes the chain…
    let proof = prove_possession(
        &find(&pki().via_intermediate),
        &pin("123456"),
        CHALLENGE,
        Scheme::Ecdsa,
    )
    .unwrap();
    assert_eq!(
        anchors()
            .verify(&proof.certificate, &proof.others, now())
            .unwrap(),
        vec!["Vũ Thị Mai", "CA Trung Gian", "CA Thử Nghiệm Kiosk"]
    );
    // …and without it the chain does not reach an anchor.
    assert_eq!(
        anchors().verify(&proof.certificate, &[], now()),
        Err(CertProblem::Untrusted)
    );
    // A valid end-entity certificate signed by the trusted CA cannot vouch
    // for a certificate its owner made.
    let forged = prove_possession(
        &find(&pki().via_end_entity),
        &pin("123456"),
        CHALLENGE,
        Scheme::Ecdsa,
    )
    .unwrap();
    assert_eq!(forged.others.len(), 1);
    assert!(
        anchors().verify(&forged.others[0], &[], now()).is_ok(),
        "the rogue's own certificate is genuine"
    );
    assert_eq!(
        anchors().verify(&forged.certificate, &forged.others, now()),
        Err(CertProblem::Untrusted)
    );
}

#[test]
fn a_wrong_pin_is_reported_and_the_right_one_still_works() {
    let found = find(&pki().wrong_pin);
    let err = prove_possession(&found, &pin("000000"), CHALLENGE, Scheme::Ecdsa).unwrap_err();
    assert!(matches!(err, TokenError::WrongPin(_)), "{err:?}");
    assert!(prove_possession(&found, &pin("123456"), CHALLENGE, Scheme::Ecdsa).is_ok());
}

#[test]
fn dates_usage_and_trust_are_checked_on_the_kiosk() {
    let cert = CertInfo::parse(&pki().citizen_ec.certificate).unwrap();
    let a = anchors();
    assert_eq!(
        a.verify(&cert, &[], cert.not_after + 1),
        Err(CertProblem::Expired)
    );
    assert_eq!(
        a.verify(&cert, &[], cert.not_before - 1),
        Err(CertProblem::NotYetValid)
    );
    assert!(a.verify(&cert, &[], cert.not_before + 60).is_ok());

    let wrong_usage = CertInfo::parse(&pki().wrong_usage.certificate).unwrap();
    assert_eq!(
        a.verify(&wrong_usage, &[], now()),
        Err(CertProblem::WrongUsage)
    );

    let untrusted = CertInfo::parse(&pki().untrusted.certificate).unwrap();
    assert_eq!(
        a.verify(&untrusted, &[], now()),
        Err(CertProblem::Untrusted)
    );
    // Offering the stranger's own CA as an "intermediate" does not make it trusted.
    let stranger_ca = CertInfo::parse(&pki().stranger.certificate).unwrap();
    assert_eq!(
        a.verify(&untrusted, &[stranger_ca], now()),
        Err(CertProblem::Untrusted)
    );
}

#[test]
fn a_certificate_without_its_key_is_refused() {
    let err = prove_possession(
        &find(&pki().no_key),
        &pin("123456"),
        CHALLENGE,
        Scheme::RsaPkcs1Sha256,
    )
    .unwrap_err();
    assert_eq!(err, TokenError::NoMatchingKey);
}

#[test]
fn a_token_pulled_out_is_never_a_success_or_a_wrong_pin() {
    let found = find(&pki().removable);
    remove_token(&found.label);
    // Vendor tokens answer CKR_DEVICE_REMOVED (mapped to Removed, see the
    // unit test of `classify`); SoftHSM, whose files just vanished, answers
    // CKR_GENERAL_ERROR. Either way the citizen is asked to reinsert.
    let err = prove_possession(&found, &pin("123456"), CHALLENGE, Scheme::Ecdsa).unwrap_err();
    assert!(
        matches!(err, TokenError::Removed | TokenError::Pkcs11(_)),
        "{err:?}"
    );
}

#[test]
fn polls_show_insertions_and_removals() {
    let token = |serial: &str| TokenRef {
        module: PathBuf::from("/usr/lib/vendor/libtoken.so"),
        slot: list_tokens(std::slice::from_ref(&pki().citizen_rsa.module)).unwrap()[0].slot,
        label: "VNPT-CA".into(),
        serial: serial.into(),
        manufacturer: "Vendor".into(),
        model: "Token".into(),
        pin: Default::default(),
    };
    let (a, b) = (token("A1"), token("B2"));
    assert_eq!(
        diff(&[], std::slice::from_ref(&a)),
        vec![TokenEvent::Inserted(a.clone())]
    );
    assert_eq!(
        diff(std::slice::from_ref(&a), &[]),
        vec![TokenEvent::Removed(a.clone())]
    );
    // Another token in the same slot: the old one left, the new one came.
    assert_eq!(
        diff(std::slice::from_ref(&a), std::slice::from_ref(&b)),
        vec![TokenEvent::Removed(a.clone()), TokenEvent::Inserted(b)]
    );
    assert!(diff(std::slice::from_ref(&a), std::slice::from_ref(&a)).is_empty());
}

#[test]
fn the_watcher_publishes_present_tokens_and_changes() {
    use kiosk_hal::token::watch::TokenWatcher;
    use std::time::Duration;
    let module = pki().citizen_rsa.module.clone();
    // The real module: tokens present at start are announced as inserted.
    let watcher = TokenWatcher::spawn(vec![module.clone()], Duration::from_millis(20));
    let first = watcher
        .next_event(Duration::from_secs(5))
        .expect("an event");
    assert!(matches!(first, TokenEvent::Inserted(_)), "{first:?}");
    assert!(
        watcher
            .tokens()
            .iter()
            .any(|t| t.label == pki().citizen_rsa.label)
    );
    drop(watcher);

    // SoftHSM cannot show a hot-plug inside one process, so the slot
    // listings of a token going in and out are replayed.
    let real = find(&pki().citizen_ec);
    let script = std::sync::Mutex::new(
        vec![vec![], vec![real.clone()], vec![real.clone()], vec![]].into_iter(),
    );
    let watcher = TokenWatcher::spawn_with(
        move || Ok(script.lock().unwrap().next().unwrap_or_default()),
        Duration::from_millis(5),
    );
    assert_eq!(
        watcher.next_event(Duration::from_secs(5)),
        Some(TokenEvent::Inserted(real.clone()))
    );
    assert_eq!(
        watcher.next_event(Duration::from_secs(5)),
        Some(TokenEvent::Removed(real))
    );
    assert!(watcher.next_event(Duration::from_millis(100)).is_none());
}

fn remove_token(label: &str) {
    let ok = std::process::Command::new("softhsm2-util")
        .args(["--delete-token", "--token", label])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

#[test]
fn trust_anchors_load_pem_and_der_and_name_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    pki().ca.install_anchor(dir.path(), "a.pem").unwrap();
    std::fs::write(dir.path().join("b.der"), &pki().stranger.certificate).unwrap();
    assert_eq!(TrustAnchors::load(dir.path()).unwrap().len(), 2);
    std::fs::write(dir.path().join("c.crt"), b"garbage").unwrap();
    assert!(
        TrustAnchors::load(dir.path())
            .unwrap_err()
            .contains("c.crt")
    );
    assert!(TrustAnchors::load(Path::new("/nonexistent")).is_err());
}
