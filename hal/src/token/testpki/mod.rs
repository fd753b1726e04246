//! Real tokens for tests and the demo: SoftHSM2 tokens whose keys are
//! generated on the token (`pkcs11-tool --keypairgen`), with certificates
//! issued by a test CA to Vietnamese subjects.
//!
//! `openssl x509 -new -subj` garbles UTF-8, so the subject travels in a CSR
//! made with `openssl req -utf8`, and the CA signs it with `-force_pubkey`
//! set to the token's public key.
//!
//! SoftHSM reads `SOFTHSM2_CONF` when the module is initialised, so the
//! process must have it set (`tests/run` does); [`ensure_softhsm_conf`]
//! writes the file and the token directory it names.

use std::path::{Path, PathBuf};
use std::process::Command;

mod ca;
mod token;

pub use ca::TestCa;

/// Where Debian installs SoftHSM's PKCS#11 module.
pub fn softhsm_module() -> Option<PathBuf> {
    [
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// Makes sure the file named by `SOFTHSM2_CONF` exists, with its token
/// directory beside it.
pub fn ensure_softhsm_conf() -> Result<PathBuf, String> {
    let conf = std::env::var_os("SOFTHSM2_CONF")
        .map(PathBuf::from)
        .ok_or("SOFTHSM2_CONF is not set: run the tests through tests/run, which sets it")?;
    if !conf.exists() {
        let dir = conf.parent().ok_or("SOFTHSM2_CONF has no directory")?;
        let tokens = dir.join("tokens");
        std::fs::create_dir_all(&tokens).map_err(|e| format!("{}: {e}", tokens.display()))?;
        let text = format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
            tokens.display()
        );
        let tmp = conf.with_extension("tmp");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &conf))
            .map_err(|e| format!("{}: {e}", conf.display()))?;
    }
    Ok(conf)
}

fn run(program: &str, args: &[&str]) -> Result<Vec<u8>, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// OpenSSL extension lines for an end-entity signing certificate, for
/// [`TestCa::issue`] and [`TestCa::issue_to`].
pub const LEAF_EXTENSIONS: &str =
    "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\n";

/// The key a token generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Rsa2048,
    P256,
    P384,
}

/// What to put on a test token.
#[derive(Debug, Clone)]
pub struct TokenSpec<'a> {
    pub label: &'a str,
    pub pin: &'a str,
    pub key: KeyType,
    /// OpenSSL `-subj` form, UTF-8: `/C=VN/CN=Trần Thị Thuỷ/UID=CCCD:051303000111`.
    pub subject: &'a str,
    /// OpenSSL `keyUsage` value.
    pub key_usage: &'a str,
    pub days: u32,
    /// Put the CA certificate on the token as well (as vendors do).
    pub with_ca_certificate: bool,
    /// Leave the private key out: the certificate then matches no key.
    pub without_key: bool,
}

impl<'a> TokenSpec<'a> {
    pub fn new(label: &'a str, subject: &'a str, key: KeyType) -> Self {
        TokenSpec {
            label,
            pin: "123456",
            key,
            subject,
            key_usage: "critical,digitalSignature,nonRepudiation",
            days: 365,
            with_ca_certificate: false,
            without_key: false,
        }
    }
}

/// A token ready for the kiosk.
#[derive(Debug, Clone)]
pub struct TestToken {
    pub label: String,
    pub pin: String,
    pub module: PathBuf,
    pub certificate: Vec<u8>,
}

/// A trusted test CA, a CA nobody trusts, and the anchor directory that
/// trusts the first.
#[derive(Debug)]
pub struct TestPki {
    pub ca: TestCa,
    pub stranger: TestCa,
    pub anchors: PathBuf,
}

impl TestPki {
    pub fn create(dir: &Path) -> Result<TestPki, String> {
        let ca = TestCa::create(&dir.join("ca"), "CA Thử Nghiệm Kiosk")?;
        let stranger = TestCa::create(&dir.join("stranger"), "Unknown CA")?;
        let anchors = dir.join("anchors");
        ca.install_anchor(&anchors, "test-ca.pem")?;
        Ok(TestPki {
            ca,
            stranger,
            anchors,
        })
    }
}
