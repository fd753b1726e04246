//! Revocation lists made by OpenSSL's own CA (`openssl ca -revoke`,
//! `-gencrl`), read by `kiosk_pki::crl`, and each verdict compared with
//! `openssl verify -crl_check` on the same files.

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use kiosk_hal::token::cert::CertInfo;
use kiosk_hal::token::testpki::TestCa;
use kiosk_pki::crl::{CrlProblem, RevocationList, Revocations, Status, Unknown};

const LEAF: &str = kiosk_hal::token::testpki::LEAF_EXTENSIONS;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn info(der: &[u8]) -> CertInfo {
    CertInfo::parse(der).unwrap()
}

/// What `openssl verify -crl_check` says of `leaf` with `ca` and `crl`.
fn openssl_says(dir: &Path, ca: &TestCa, leaf: &TestCa, crl: &[u8]) -> bool {
    let write = |name: &str, der: &[u8], kind: &str| {
        let d = dir.join(format!("{name}.der"));
        let p = dir.join(format!("{name}.pem"));
        std::fs::write(&d, der).unwrap();
        let ok = Command::new("openssl")
            .args([kind, "-inform", "DER", "-in"])
            .arg(&d)
            .arg("-out")
            .arg(&p)
            .status()
            .unwrap()
            .success();
        assert!(ok);
        p
    };
    let ca_pem = write("check-ca", &ca.certificate, "x509");
    let leaf_pem = write("check-leaf", &leaf.certificate, "x509");
    let crl_pem = write("check-crl", crl, "crl");
    Command::new("openssl")
        .args(["verify", "-crl_check", "-CAfile"])
        .arg(&ca_pem)
        .arg("-CRLfile")
        .arg(&crl_pem)
        .arg(&leaf_pem)
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn a_revoked_certificate_is_revoked_a_listed_ca_s_other_certificates_are_good() {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n);
    let ca = TestCa::create(&d("ca"), "CA Thử Nghiệm Kiosk").unwrap();
    let revoked = ca.issue(&d("revoked"), "Người Bị Thu Hồi", LEAF).unwrap();
    let good = ca.issue(&d("good"), "Người Còn Hiệu Lực", LEAF).unwrap();
    ca.revoke(&revoked.certificate).unwrap();
    let crl = ca.crl(24, "").unwrap();
    std::fs::create_dir_all(d("crl")).unwrap();
    std::fs::write(d("crl/ca.crl"), &crl).unwrap();

    let (lists, problems) = Revocations::load(&d("crl"), &[info(&ca.certificate)]);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(lists.lists().len(), 1);
    assert_eq!(lists.lists()[0].len(), 1);
    let t = now();
    assert!(matches!(
        lists.status(&info(&revoked.certificate), t),
        Status::Revoked { at } if (t - 600..=t + 5).contains(&at)
    ));
    assert_eq!(lists.status(&info(&good.certificate), t), Status::Good);
    // OpenSSL reads the same list the same way.
    assert!(!openssl_says(dir.path(), &ca, &revoked, &crl));
    assert!(openssl_says(dir.path(), &ca, &good, &crl));
    // A day and more later the list is past its nextUpdate: nobody is good.
    assert_eq!(
        lists.status(&info(&good.certificate), t + 2 * 86_400),
        Status::Unknown(Unknown::Stale)
    );
    // PEM reads as DER does.
    let pem = std::fs::read(d("ca/crl.pem")).unwrap();
    let from_pem = RevocationList::parse(&pem, &[info(&ca.certificate)]).unwrap();
    assert_eq!(from_pem.len(), 1);
}

#[test]
fn a_list_from_a_ca_with_the_same_name_but_another_key_speaks_for_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n);
    let ca = TestCa::create(&d("ca"), "CA Thử Nghiệm Kiosk").unwrap();
    let twin = TestCa::create(&d("twin"), "CA Thử Nghiệm Kiosk").unwrap();
    let person = ca.issue(&d("person"), "Nguyễn Văn Bình", LEAF).unwrap();
    // The twin's list, claiming the trusted CA's name, is refused...
    assert_eq!(
        RevocationList::parse(&twin.crl(24, "").unwrap(), &[info(&ca.certificate)]).unwrap_err(),
        CrlProblem::Untrusted
    );
    // ...and even trusted as an issuer, it says nothing of the real CA's
    // certificates: their status is unknown, not good.
    std::fs::create_dir_all(d("crl")).unwrap();
    std::fs::write(d("crl/twin.crl"), twin.crl(24, "").unwrap()).unwrap();
    let (lists, problems) =
        Revocations::load(&d("crl"), &[info(&ca.certificate), info(&twin.certificate)]);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(
        lists.status(&info(&person.certificate), now()),
        Status::Unknown(Unknown::NoList)
    );
}

#[test]
fn a_list_with_a_critical_extension_nobody_understands_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::create(&dir.path().join("ca"), "CA Thử Nghiệm Kiosk").unwrap();
    // A delta list (deltaCRLIndicator, critical by RFC 5280) on its own
    // says nothing about certificates it does not name.
    let delta = ca.crl(24, "2.5.29.27 = critical,DER:02:01:01\n").unwrap();
    assert_eq!(
        RevocationList::parse(&delta, &[info(&ca.certificate)]).unwrap_err(),
        CrlProblem::UnknownCritical
    );
    assert_eq!(
        RevocationList::parse(b"not a list", &[info(&ca.certificate)]).unwrap_err(),
        CrlProblem::Malformed
    );
}
