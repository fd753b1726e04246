//! From PIN entry to a verified proof of possession: log in, sign a fresh
//! challenge on the token, verify the signature and the chain on the kiosk.
//! RSA-2048 and P-256 on SoftHSM, measured in the same run.
//!
//! `cargo bench -p kiosk-hal --bench token_proof`

use criterion::Criterion;
use kiosk_hal::token::cert::{Scheme, TrustAnchors};
use kiosk_hal::token::pkcs11::{list_tokens, prove_possession};
use kiosk_hal::token::testpki::{KeyType, TestCa, TokenSpec};
use secrecy::SecretString;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::create(&dir.path().join("ca"), "Bench CA").unwrap();
    ca.install_anchor(&dir.path().join("anchors"), "ca.pem")
        .unwrap();
    let anchors = TrustAnchors::load(&dir.path().join("anchors")).unwrap();
    let made: Vec<_> = [
        ("bench-rsa2048", KeyType::Rsa2048),
        ("bench-p256", KeyType::P256),
    ]
    .into_iter()
    .map(|(name, key)| {
        let label = format!("{name}-{}", std::process::id());
        (
            name,
            ca.issue_token(&TokenSpec::new(
                &label,
                "/C=VN/CN=Bench/UID=CCCD:051090000001",
                key,
            ))
            .unwrap(),
        )
    })
    .collect();
    let pin = SecretString::from("123456".to_string());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut group = c.benchmark_group("token");
    group.sample_size(20);
    for (name, token) in &made {
        let found = list_tokens(std::slice::from_ref(&token.module))
            .unwrap()
            .into_iter()
            .find(|t| t.label == token.label)
            .unwrap();
        group.bench_function(format!("pin_to_verified_proof/{name}"), |b| {
            b.iter(|| {
                let proof = prove_possession(
                    &found,
                    &pin,
                    b"bench challenge 0123456789abcdef",
                    Scheme::RsaPkcs1Sha256,
                )
                .unwrap();
                anchors
                    .verify(&proof.certificate, &proof.others, now)
                    .unwrap()
            })
        });
    }
    group.finish();
}

fn main() {
    // SoftHSM reads SOFTHSM2_CONF when first loaded; without it, run again
    // with a configuration of our own under target/.
    if std::env::var_os("SOFTHSM2_CONF").is_none() {
        let conf =
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("softhsm-bench/softhsm2.conf");
        let _ = std::fs::remove_dir_all(conf.parent().unwrap());
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(std::env::args_os().skip(1))
            .env("SOFTHSM2_CONF", conf)
            .status()
            .unwrap();
        std::process::exit(status.code().unwrap_or(1));
    }
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
