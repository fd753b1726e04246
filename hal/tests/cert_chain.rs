//! Chains that break a rule, built with OpenSSL, checked by the kiosk's
//! chain verifier: a CA's pathLenConstraint, a critical extension nobody
//! understands, and a leaf whose extendedKeyUsage is not for signing.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use kiosk_hal::token::cert::{CertInfo, CertProblem, TrustAnchors};
use kiosk_hal::token::testpki::TestCa;

const CA: &str = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n";
const LEAF: &str = kiosk_hal::token::testpki::LEAF_EXTENSIONS;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn info(ca: &TestCa) -> CertInfo {
    CertInfo::parse(&ca.certificate).unwrap()
}

fn anchors(root: &TestCa, dir: &Path) -> TrustAnchors {
    root.install_anchor(&dir.join("anchors"), "root.pem")
        .unwrap();
    TrustAnchors::load(&dir.join("anchors")).unwrap()
}

#[test]
fn a_ca_may_not_issue_past_its_path_length() {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n);
    let root = TestCa::create(&d("root"), "Gốc Thử").unwrap();
    let trusted = anchors(&root, dir.path());
    for (path_len, allowed) in [(0u8, false), (1, true)] {
        let top = root
            .issue(
                &d(&format!("top{path_len}")),
                "CA Cấp Một",
                &format!(
                    "basicConstraints=critical,CA:TRUE,pathlen:{path_len}\nkeyUsage=critical,keyCertSign,cRLSign\n"
                ),
            )
            .unwrap();
        let second = top
            .issue(&d(&format!("second{path_len}")), "CA Cấp Hai", CA)
            .unwrap();
        let leaf = second
            .issue(&d(&format!("leaf{path_len}")), "Người Ký", LEAF)
            .unwrap();
        let verdict = trusted.verify(&info(&leaf), &[info(&second), info(&top)], now());
        assert_eq!(verdict.is_ok(), allowed, "pathlen {path_len}: {verdict:?}");
        if !allowed {
            assert_eq!(verdict, Err(CertProblem::Untrusted));
            // One CA below the constrained one less, and it holds.
            let direct = top
                .issue(&d(&format!("direct{path_len}")), "Người Ký Trực Tiếp", LEAF)
                .unwrap();
            assert!(trusted.verify(&info(&direct), &[info(&top)], now()).is_ok());
        }
    }
}

#[test]
fn a_critical_extension_nobody_understands_breaks_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n);
    let root = TestCa::create(&d("root"), "Gốc Thử").unwrap();
    let trusted = anchors(&root, dir.path());
    let strange = "1.3.6.1.4.1.55555.1=critical,ASN1:UTF8String:bí ẩn\n";
    // On the leaf.
    let leaf = root
        .issue(&d("leaf"), "Người Ký", &format!("{LEAF}{strange}"))
        .unwrap();
    assert_eq!(
        trusted.verify(&info(&leaf), &[], now()),
        Err(CertProblem::Untrusted)
    );
    // On an intermediate.
    let odd_ca = root
        .issue(&d("odd"), "CA Lạ", &format!("{CA}{strange}"))
        .unwrap();
    let below = odd_ca.issue(&d("below"), "Người Ký Khác", LEAF).unwrap();
    assert_eq!(
        trusted.verify(&info(&below), &[info(&odd_ca)], now()),
        Err(CertProblem::Untrusted)
    );
    // The same extension, not critical: ignored, as RFC 5280 allows.
    let mild = root
        .issue(
            &d("mild"),
            "Người Ký Thường",
            &format!("{LEAF}1.3.6.1.4.1.55555.1=ASN1:UTF8String:bí ẩn\n"),
        )
        .unwrap();
    assert!(trusted.verify(&info(&mild), &[], now()).is_ok());
}

#[test]
fn a_leaf_for_another_purpose_is_refused_for_signing() {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n);
    let root = TestCa::create(&d("root"), "Gốc Thử").unwrap();
    let trusted = anchors(&root, dir.path());
    let server = root
        .issue(
            &d("server"),
            "Máy Chủ",
            &format!("{LEAF}extendedKeyUsage=serverAuth\n"),
        )
        .unwrap();
    assert_eq!(
        trusted.verify(&info(&server), &[], now()),
        Err(CertProblem::WrongUsage)
    );
    let signer = root
        .issue(
            &d("signer"),
            "Người Ký",
            &format!("{LEAF}extendedKeyUsage=clientAuth,emailProtection\n"),
        )
        .unwrap();
    assert!(trusted.verify(&info(&signer), &[], now()).is_ok());
}
