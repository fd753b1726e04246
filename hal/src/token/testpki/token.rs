//! SoftHSM tokens whose key is generated on the token, with a certificate
//! from the test CA for the token's own public key.

use super::ca::rand_serial;
use super::{
    KeyType, TestCa, TestToken, TokenSpec, ensure_softhsm_conf, path_str, run, softhsm_module,
};

impl TestCa {
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
