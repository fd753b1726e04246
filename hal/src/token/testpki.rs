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

/// A certificate authority for tests, with its files in `dir`.
#[derive(Debug)]
pub struct TestCa {
    dir: PathBuf,
    key: PathBuf,
    cert: PathBuf,
    pub certificate: Vec<u8>,
}

impl TestCa {
    /// A self-signed CA named `name` (UTF-8).
    pub fn create(dir: &Path, name: &str) -> Result<TestCa, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let key = dir.join("ca.key");
        let cert = dir.join("ca.pem");
        let subject = format!("/C=VN/O={name}/CN={name}");
        run(
            "openssl",
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-utf8",
                "-keyout",
                path_str(&key),
                "-out",
                path_str(&cert),
                "-days",
                "3650",
                "-subj",
                &subject,
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        )?;
        let certificate = run(
            "openssl",
            &["x509", "-in", path_str(&cert), "-outform", "DER"],
        )?;
        Ok(TestCa {
            dir: dir.to_path_buf(),
            key,
            cert,
            certificate,
        })
    }

    /// A certificate signed by this CA for a new key, usable to issue in
    /// turn: a real intermediate CA (`ca = true`), or an end-entity
    /// certificate pretending to be one (`ca = false`).
    pub fn subordinate(&self, dir: &Path, name: &str, ca: bool) -> Result<TestCa, String> {
        let extensions = if ca {
            "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
        } else {
            LEAF_EXTENSIONS
        };
        self.issue(dir, name, extensions)
    }

    /// A certificate signed by this CA for a new key, with `extensions`
    /// as OpenSSL's configuration lines (`basicConstraints=…`, one a line):
    /// for chains that break a rule on purpose.
    pub fn issue(&self, dir: &Path, name: &str, extensions: &str) -> Result<TestCa, String> {
        self.issue_to(dir, &format!("/C=VN/O={name}/CN={name}"), extensions)
    }

    /// As [`TestCa::issue`], to a whole `subject` in OpenSSL's `-subj`
    /// form (`/C=VN/CN=Lê Thị Hồng/UID=CCCD:001190000777`). The key is
    /// `dir/ca.key` (RSA 2048, PEM), for signing as its holder.
    pub fn issue_to(&self, dir: &Path, subject: &str, extensions: &str) -> Result<TestCa, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let key = dir.join("ca.key");
        let cert = dir.join("ca.pem");
        let csr = dir.join("ca.csr");
        let ext = dir.join("ext.cnf");
        run(
            "openssl",
            &[
                "req",
                "-new",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-utf8",
                "-keyout",
                path_str(&key),
                "-out",
                path_str(&csr),
                "-subj",
                subject,
            ],
        )?;
        std::fs::write(&ext, format!("[v3]\n{extensions}")).map_err(|e| e.to_string())?;
        let serial = format!("0x{:016x}", rand_serial());
        run(
            "openssl",
            &[
                "x509",
                "-req",
                "-in",
                path_str(&csr),
                "-CA",
                path_str(&self.cert),
                "-CAkey",
                path_str(&self.key),
                "-set_serial",
                &serial,
                "-days",
                "3650",
                "-extfile",
                path_str(&ext),
                "-extensions",
                "v3",
                "-out",
                path_str(&cert),
            ],
        )?;
        let certificate = run(
            "openssl",
            &["x509", "-in", path_str(&cert), "-outform", "DER"],
        )?;
        Ok(TestCa {
            dir: dir.to_path_buf(),
            key,
            cert,
            certificate,
        })
    }

    /// The CA made earlier in `dir` by [`TestCa::create`].
    pub fn open(dir: &Path) -> Result<TestCa, String> {
        let key = dir.join("ca.key");
        let cert = dir.join("ca.pem");
        let certificate = run(
            "openssl",
            &["x509", "-in", path_str(&cert), "-outform", "DER"],
        )?;
        if !key.exists() {
            return Err(format!("{}: missing", key.display()));
        }
        Ok(TestCa {
            dir: dir.to_path_buf(),
            key,
            cert,
            certificate,
        })
    }

    /// Signs `message` with this CA's key as its holder would: RSA PKCS#1
    /// v1.5 over SHA-256, by `openssl dgst`.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        let input = self.dir.join("to-sign.bin");
        std::fs::write(&input, message).map_err(|e| e.to_string())?;
        run(
            "openssl",
            &[
                "dgst",
                "-sha256",
                "-sign",
                path_str(&self.key),
                path_str(&input),
            ],
        )
    }

    /// OpenSSL's `ca` configuration for this CA's database of revocations,
    /// made on first use.
    fn ca_config(&self, crl_extensions: &str) -> Result<PathBuf, String> {
        let index = self.dir.join("index.txt");
        let number = self.dir.join("crlnumber");
        if !index.exists() {
            std::fs::write(&index, "").map_err(|e| e.to_string())?;
            std::fs::write(&number, "01\n").map_err(|e| e.to_string())?;
        }
        let config = self.dir.join("ca.cnf");
        let text = format!(
            "[ca]\ndefault_ca = test\n[test]\ndatabase = {}\ncrlnumber = {}\ncertificate = {}\nprivate_key = {}\ndefault_md = sha256\ncrl_extensions = crl_ext\n[crl_ext]\nauthorityKeyIdentifier = keyid:always\n{crl_extensions}",
            path_str(&index),
            path_str(&number),
            path_str(&self.cert),
            path_str(&self.key),
        );
        std::fs::write(&config, text).map_err(|e| e.to_string())?;
        Ok(config)
    }

    /// Marks `certificate` (DER, issued by this CA) revoked in the CA's
    /// database (`openssl ca -revoke`); the next [`TestCa::crl`] names it.
    pub fn revoke(&self, certificate: &[u8]) -> Result<(), String> {
        let config = self.ca_config("")?;
        let der = self.dir.join("revoke.der");
        let pem = self.dir.join("revoke.pem");
        std::fs::write(&der, certificate).map_err(|e| e.to_string())?;
        run(
            "openssl",
            &[
                "x509",
                "-inform",
                "DER",
                "-in",
                path_str(&der),
                "-out",
                path_str(&pem),
            ],
        )?;
        run(
            "openssl",
            &[
                "ca",
                "-config",
                path_str(&config),
                "-revoke",
                path_str(&pem),
            ],
        )
        .map(drop)
    }

    /// A revocation list signed by this CA (`openssl ca -gencrl`), DER,
    /// naming every certificate revoked so far and valid for `hours`;
    /// `extensions` are more OpenSSL lines for the list's extensions.
    pub fn crl(&self, hours: u32, extensions: &str) -> Result<Vec<u8>, String> {
        let config = self.ca_config(extensions)?;
        let pem = self.dir.join("crl.pem");
        run(
            "openssl",
            &[
                "ca",
                "-config",
                path_str(&config),
                "-gencrl",
                "-crlhours",
                &hours.to_string(),
                "-out",
                path_str(&pem),
            ],
        )?;
        run(
            "openssl",
            &["crl", "-in", path_str(&pem), "-outform", "DER"],
        )
    }

    /// Writes the CA certificate into `anchors` (a trust-anchor directory).
    pub fn install_anchor(&self, anchors: &Path, file: &str) -> Result<(), String> {
        std::fs::create_dir_all(anchors).map_err(|e| e.to_string())?;
        std::fs::copy(&self.cert, anchors.join(file))
            .map(drop)
            .map_err(|e| e.to_string())
    }

    /// Creates a SoftHSM token, generates its key on the token, and stores
    /// a certificate for it signed by this CA.
    pub fn issue_token(&self, spec: &TokenSpec<'_>) -> Result<TestToken, String> {
        ensure_softhsm_conf()?;
        let module =
            softhsm_module().ok_or("SoftHSM2 is not installed (apt-get install softhsm2)")?;
        let m = path_str(&module);
        let work = self.dir.join(spec.label);
        std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
        let file = |name: &str| work.join(name);
        run(
            "softhsm2-util",
            &[
                "--init-token",
                "--free",
                "--label",
                spec.label,
                "--pin",
                spec.pin,
                "--so-pin",
                "87654321",
            ],
        )?;
        let tool = |args: &[&str]| {
            let mut all = vec!["--module", m, "--token-label", spec.label];
            all.extend_from_slice(args);
            run("pkcs11-tool", &all)
        };
        let key_type = match spec.key {
            KeyType::Rsa2048 => "rsa:2048",
            KeyType::P256 => "EC:prime256v1",
            KeyType::P384 => "EC:secp384r1",
        };
        tool(&[
            "--login",
            "--pin",
            spec.pin,
            "--keypairgen",
            "--key-type",
            key_type,
            "--id",
            "01",
            "--label",
            "key",
        ])?;
        match spec.key {
            KeyType::Rsa2048 => {
                tool(&[
                    "--read-object",
                    "--type",
                    "pubkey",
                    "--id",
                    "01",
                    "-o",
                    path_str(&file("pub.der")),
                ])?;
            }
            // OpenSC 0.23 cannot export a P-384 key ("cannot create
            // EVP_PKEY"): assemble the SubjectPublicKeyInfo from the
            // token's EC_POINT and EC_PARAMS instead, for every curve.
            KeyType::P256 | KeyType::P384 => {
                let listing = String::from_utf8_lossy(&tool(&[
                    "--list-objects",
                    "--type",
                    "pubkey",
                    "--id",
                    "01",
                ])?)
                .to_string();
                std::fs::write(file("pub.der"), ec_spki(&listing)?).map_err(|e| e.to_string())?;
            }
        }
        run(
            "openssl",
            &[
                "pkey",
                "-pubin",
                "-inform",
                "DER",
                "-in",
                path_str(&file("pub.der")),
                "-out",
                path_str(&file("pub.pem")),
            ],
        )?;
        if spec.without_key {
            tool(&[
                "--login",
                "--pin",
                spec.pin,
                "--delete-object",
                "--type",
                "privkey",
                "--id",
                "01",
            ])?;
        }
        run(
            "openssl",
            &[
                "req",
                "-new",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-utf8",
                "-keyout",
                path_str(&file("csr.key")),
                "-out",
                path_str(&file("req.csr")),
                "-subj",
                spec.subject,
            ],
        )?;
        std::fs::write(
            file("ext.cnf"),
            format!(
                "[v3]\nbasicConstraints=CA:FALSE\nkeyUsage={}\n",
                spec.key_usage
            ),
        )
        .map_err(|e| e.to_string())?;
        let serial = format!("0x{:016x}", rand_serial());
        run(
            "openssl",
            &[
                "x509",
                "-req",
                "-in",
                path_str(&file("req.csr")),
                "-CA",
                path_str(&self.cert),
                "-CAkey",
                path_str(&self.key),
                "-set_serial",
                &serial,
                "-force_pubkey",
                path_str(&file("pub.pem")),
                "-days",
                &spec.days.to_string(),
                "-extfile",
                path_str(&file("ext.cnf")),
                "-extensions",
                "v3",
                "-outform",
                "DER",
                "-out",
                path_str(&file("cert.der")),
            ],
        )?;
        tool(&[
            "--login",
            "--pin",
            spec.pin,
            "--write-object",
            path_str(&file("cert.der")),
            "--type",
            "cert",
            "--id",
            "01",
            "--label",
            "cert",
        ])?;
        if spec.with_ca_certificate {
            std::fs::write(file("ca.der"), &self.certificate).map_err(|e| e.to_string())?;
            tool(&[
                "--login",
                "--pin",
                spec.pin,
                "--write-object",
                path_str(&file("ca.der")),
                "--type",
                "cert",
                "--id",
                "ca",
                "--label",
                "ca",
            ])?;
        }
        let certificate = std::fs::read(file("cert.der")).map_err(|e| e.to_string())?;
        Ok(TestToken {
            label: spec.label.to_string(),
            pin: spec.pin.to_string(),
            module,
            certificate,
        })
    }
}

fn hex_field(listing: &str, name: &str) -> Result<Vec<u8>, String> {
    let hex = listing
        .lines()
        .find_map(|l| l.trim().strip_prefix(name))
        .map(str::trim)
        .ok_or_else(|| format!("pkcs11-tool shows no {name}"))?;
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|e| e.to_string()))
        .collect()
}

/// SEQUENCE { SEQUENCE { id-ecPublicKey, <curve OID> }, BIT STRING <point> }.
fn ec_spki(listing: &str) -> Result<Vec<u8>, String> {
    let tlv = |tag: u8, body: &[u8]| -> Vec<u8> {
        let mut out = vec![tag];
        match body.len() {
            n if n < 0x80 => out.push(n as u8),
            n => out.extend([0x81, n as u8]),
        }
        out.extend_from_slice(body);
        out
    };
    let params = hex_field(listing, "EC_PARAMS:")?;
    // CKA_EC_POINT is the point wrapped in a DER OCTET STRING.
    let wrapped = hex_field(listing, "EC_POINT:")?;
    let point = match wrapped.get(1) {
        Some(&len) if len < 0x80 => &wrapped[2..],
        Some(_) => &wrapped[3..],
        None => return Err("empty EC_POINT".into()),
    };
    let ec_public_key = [0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    let algorithm = tlv(0x30, &[&ec_public_key[..], &params].concat());
    let bits = tlv(0x03, &[&[0u8][..], point].concat());
    Ok(tlv(0x30, &[algorithm, bits].concat()))
}

/// Serial numbers must differ between certificates of one CA.
fn rand_serial() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish() >> 1
}
