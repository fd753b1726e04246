//! The test CA: made with OpenSSL, issuing to Vietnamese subjects (the
//! subject travels in a CSR made with `openssl req -utf8`), signing as a
//! holder would, revoking and publishing revocation lists with `openssl ca`.

use std::path::{Path, PathBuf};

use super::{LEAF_EXTENSIONS, path_str, run};

/// A certificate authority for tests, with its files in `dir`.
#[derive(Debug)]
pub struct TestCa {
    pub(super) dir: PathBuf,
    pub(super) key: PathBuf,
    pub(super) cert: PathBuf,
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
}

/// Serial numbers must differ between certificates of one CA.
pub(super) fn rand_serial() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish() >> 1
}
