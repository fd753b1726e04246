//! Issuing a test card: a CSCA and a Document Signer made by `openssl`, the
//! data groups of a citizen, and EF.SOD signed by `openssl cms`, as a
//! country's issuing system would.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::super::bac::{MrzKey, check_digit};
use super::super::lds::File;
use super::super::tlv;

/// A citizen as printed on the card and held in the chip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Citizen {
    /// The 12-digit personal number.
    pub cccd: String,
    /// Full name with diacritics, as DG13 holds it.
    pub full_name: String,
    /// dd/mm/yyyy.
    pub birth: String,
    /// "Nam" or "Nữ".
    pub sex: String,
    pub ethnicity: String,
    pub religion: String,
    pub home_town: String,
    pub residence: String,
    /// dd/mm/yyyy.
    pub issued: String,
    /// dd/mm/yyyy.
    pub expires: String,
    pub father: String,
    pub mother: String,
    /// The old 9-digit CMND number.
    pub old_id: Option<String>,
    /// The six digits printed on the card's face (PACE's CAN).
    pub can: String,
}

impl Citizen {
    /// The demo citizen of the kiosk's demo and the tests.
    pub fn demo() -> Citizen {
        Citizen {
            cccd: "001203004567".into(),
            full_name: "Nguyễn Thị Thu Hà".into(),
            birth: "15/03/2003".into(),
            sex: "Nữ".into(),
            ethnicity: "Kinh".into(),
            religion: "Không".into(),
            home_town: "Xã Đông Anh, Hà Nội".into(),
            residence: "Số 12 ngõ 34 phố Huế, Phường Hai Bà Trưng, Hà Nội".into(),
            issued: "10/05/2021".into(),
            expires: "15/03/2028".into(),
            father: "Nguyễn Văn Bình".into(),
            mother: "Trần Thị Lan".into(),
            old_id: Some("013456789".into()),
            can: "123456".into(),
        }
    }

    fn yymmdd(date: &str) -> String {
        super::super::bac::printed_date(date).expect("a citizen's dates are dd/mm/yyyy")
    }

    pub fn birth_yymmdd(&self) -> String {
        Self::yymmdd(&self.birth)
    }

    pub fn expiry_yymmdd(&self) -> String {
        Self::yymmdd(&self.expires)
    }

    /// The key printed in the MRZ.
    pub fn mrz_key(&self) -> MrzKey {
        MrzKey::from_cccd(&self.cccd, &self.birth_yymmdd(), &self.expiry_yymmdd())
            .expect("a well-formed citizen")
    }

    /// The TD1 MRZ of a CCCD card: the document number is the personal
    /// number's last nine digits, the whole number in the optional field,
    /// the name without diacritics.
    pub fn mrz(&self) -> String {
        let doc = &self.cccd[3..];
        let line1 = format!("IDVNM{doc}{}{:<<15}", check_digit(doc), self.cccd);
        let birth = self.birth_yymmdd();
        let expiry = self.expiry_yymmdd();
        let sex = if self.sex == "Nam" { 'M' } else { 'F' };
        let head = format!(
            "{birth}{}{sex}{expiry}{}VNM",
            check_digit(&birth),
            check_digit(&expiry)
        );
        let optional2 = "<".repeat(11);
        let composite = format!(
            "{}{}{}{}",
            &line1[5..30],
            &head[0..7],
            &head[8..15],
            optional2
        );
        let line2 = format!("{head}{optional2}{}", check_digit(&composite));
        let ascii: String = unaccent(&self.full_name).to_ascii_uppercase();
        let mut words = ascii.split_whitespace();
        let surname = words.next().unwrap_or("");
        let given: Vec<&str> = words.collect();
        let mut line3 = format!("{surname}<<{}", given.join("<"));
        line3.truncate(30);
        format!("{line1}{line2}{line3:<<30}")
    }
}

/// Vietnamese letters without their marks, for the MRZ.
fn unaccent(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    s.nfd()
        .filter(|c| !('\u{300}'..='\u{36F}').contains(c))
        .map(|c| match c {
            'đ' => 'd',
            'Đ' => 'D',
            c => c,
        })
        .collect()
}

pub fn dg1(c: &Citizen) -> Vec<u8> {
    tlv::encode(0x61, &tlv::encode(0x5F1F, c.mrz().as_bytes()))
}

fn field(n: u8, values: &[&str]) -> Vec<u8> {
    let mut inner = vec![0x02, 0x01, n];
    if values.len() == 1 {
        inner.extend(tlv::encode(0x0C, values[0].as_bytes()));
    } else {
        let mut list = Vec::new();
        for v in values {
            list.extend(tlv::encode(0x30, &tlv::encode(0x0C, v.as_bytes())));
        }
        inner.extend(tlv::encode(0x30, &list));
    }
    tlv::encode(0x30, &inner)
}

/// DG13 as the CCCD chip holds it: numbered fields, UTF-8 values.
pub fn dg13(c: &Citizen) -> Vec<u8> {
    let mut fields = Vec::new();
    fields.extend(field(1, &[&c.cccd]));
    fields.extend(field(2, &[&c.full_name]));
    fields.extend(field(3, &[&c.birth]));
    fields.extend(field(4, &[&c.sex]));
    fields.extend(field(5, &["Việt Nam"]));
    fields.extend(field(6, &[&c.ethnicity]));
    fields.extend(field(7, &[&c.religion]));
    fields.extend(field(8, &[&c.home_town]));
    fields.extend(field(9, &[&c.residence]));
    fields.extend(field(10, &["Nốt ruồi C:1cm trên sau cánh mũi phải"]));
    fields.extend(field(11, &[&c.issued]));
    fields.extend(field(12, &[&c.expires]));
    fields.extend(field(13, &[&c.father, &c.mother]));
    fields.extend(field(14, &[""]));
    if let Some(old) = &c.old_id {
        fields.extend(field(15, &[old]));
    }
    let mut content = vec![0x02, 0x01, 0x00];
    content.extend(tlv::encode(0x30, &fields));
    tlv::encode(0x6D, &tlv::encode(0x30, &content))
}

/// DG2 stand-in: a face record whose image is not a real picture.
pub fn dg2() -> Vec<u8> {
    let mut image = b"\x00\x00\x00\x0cjP  \r\n\x87\n".to_vec();
    image.resize(12_000, 0x5A);
    let bio = tlv::encode(0x5F2E, &image);
    let group = tlv::encode(
        0x7F60,
        &[tlv::encode(0xA1, &[0x80, 0x02, 0x01, 0x01]), bio].concat(),
    );
    tlv::encode(
        0x75,
        &tlv::encode(0x7F61, &[vec![0x02, 0x01, 0x01], group].concat()),
    )
}

pub fn com(dgs: &[u8]) -> Vec<u8> {
    let tags: Vec<u8> = dgs.iter().map(|&n| File::Dg(n).tag()).collect();
    let mut body = tlv::encode(0x5F01, b"0107");
    body.extend(tlv::encode(0x5F36, b"040000"));
    body.extend(tlv::encode(0x5C, &tags));
    tlv::encode(0x60, &body)
}

/// A Country Signing CA and the Document Signer it certified, as files.
#[derive(Debug, Clone)]
pub struct Pki {
    pub dir: PathBuf,
}

fn openssl(args: &[&str], dir: &Path) -> io::Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "openssl {}: {}",
            args.first().unwrap_or(&""),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

impl Pki {
    /// Makes (or reuses) in `dir` an RSA-2048 CSCA valid for ten years and an
    /// ECDSA P-256 Document Signer it issued, valid `ds_days` days from
    /// today. `country` names them.
    pub fn create(dir: &Path, country: &str, ds_days: u32) -> io::Result<Pki> {
        std::fs::create_dir_all(dir)?;
        let pki = Pki {
            dir: dir.to_owned(),
        };
        if pki.ds_cert().exists() {
            return Ok(pki);
        }
        let subject = format!("/C=VN/O={country}/CN=CSCA {country}");
        openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "csca.key",
                "-out",
                "csca.pem",
                "-days",
                "3650",
                "-subj",
                &subject,
                "-addext",
                "basicConstraints=critical,CA:TRUE,pathlen:0",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
            dir,
        )?;
        // The CSCA list a kiosk is given: the certificate alone.
        std::fs::create_dir_all(pki.csca_dir())?;
        std::fs::copy(pki.csca_cert(), pki.csca_dir().join("csca.pem"))?;
        openssl(
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                "ds.key",
            ],
            dir,
        )?;
        let ds_subject = format!("/C=VN/O={country}/CN=Document Signer {country}");
        openssl(
            &[
                "req",
                "-new",
                "-key",
                "ds.key",
                "-subj",
                &ds_subject,
                "-out",
                "ds.csr",
            ],
            dir,
        )?;
        std::fs::write(dir.join("ds.ext"), "keyUsage=critical,digitalSignature\n")?;
        openssl(
            &[
                "x509",
                "-req",
                "-in",
                "ds.csr",
                "-CA",
                "csca.pem",
                "-CAkey",
                "csca.key",
                "-set_serial",
                "4660",
                "-days",
                &ds_days.to_string(),
                "-sha256",
                "-extfile",
                "ds.ext",
                "-out",
                "ds.pem",
            ],
            dir,
        )?;
        Ok(pki)
    }

    pub fn csca_cert(&self) -> PathBuf {
        self.dir.join("csca.pem")
    }

    /// A directory holding only the CSCA certificate, as `/etc/kiosk/csca`.
    pub fn csca_dir(&self) -> PathBuf {
        self.dir.join("csca")
    }

    /// The CSCA list as the kiosk loads it.
    pub fn cscas(&self) -> Result<kiosk_pki::cert::TrustAnchors, String> {
        kiosk_pki::cert::TrustAnchors::load(&self.csca_dir())
    }

    pub fn ds_cert(&self) -> PathBuf {
        self.dir.join("ds.pem")
    }

    /// EF.SOD over `dgs`: the LDS security object (SHA-256 hashes) signed by
    /// the Document Signer with `openssl cms`.
    pub fn sign(&self, dgs: &BTreeMap<u8, Vec<u8>>) -> io::Result<Vec<u8>> {
        use sha2::Digest;
        let mut values = Vec::new();
        for (n, bytes) in dgs {
            let mut entry = vec![0x02, 0x01, *n];
            entry.extend(tlv::encode(0x04, &sha2::Sha256::digest(bytes)));
            values.extend(tlv::encode(0x30, &entry));
        }
        let sha256 = [
            0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        ];
        let mut so = vec![0x02, 0x01, 0x00];
        so.extend(tlv::encode(0x30, &sha256));
        so.extend(tlv::encode(0x30, &values));
        let so = tlv::encode(0x30, &so);
        static SIGNED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = SIGNED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let stem = format!("lds-{}-{n}", std::process::id());
        let input = self.dir.join(format!("{stem}.der"));
        let output = self.dir.join(format!("{stem}.sod"));
        std::fs::write(&input, so)?;
        openssl(
            &[
                "cms",
                "-sign",
                "-binary",
                "-nodetach",
                "-nosmimecap",
                "-outform",
                "DER",
                "-econtent_type",
                "2.23.136.1.1.1",
                "-md",
                "sha256",
                "-signer",
                "ds.pem",
                "-inkey",
                "ds.key",
                "-in",
                input.to_str().expect("a UTF-8 path"),
                "-out",
                output.to_str().expect("a UTF-8 path"),
            ],
            &self.dir,
        )?;
        let signed = std::fs::read(&output);
        let _ = std::fs::remove_file(&input);
        let _ = std::fs::remove_file(&output);
        Ok(tlv::encode(0x77, &signed?))
    }
}

/// The files of an issued card, by file identifier.
#[derive(Clone)]
pub struct Document {
    pub files: BTreeMap<u16, Vec<u8>>,
    pub key: MrzKey,
    /// The six digits printed on the card's face.
    pub can: String,
    /// The chip's active-authentication key (a P-256 scalar), whose public
    /// half DG15 holds; it never leaves a real chip.
    pub aa_key: Vec<u8>,
}

impl std::fmt::Debug for Document {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Document({} files)", self.files.len())
    }
}

/// A fresh P-256 private key, as bytes.
pub fn active_auth_key() -> Vec<u8> {
    loop {
        let mut k = vec![0u8; 32];
        getrandom::fill(&mut k).expect("randomness");
        if p256::ecdsa::SigningKey::from_slice(&k).is_ok() {
            return k;
        }
    }
}

impl Document {
    /// The card `pki` issues to `citizen`: DG1, DG2, DG13, EF.COM, EF.SOD.
    pub fn issue(citizen: &Citizen, pki: &Pki) -> io::Result<Document> {
        let aa_key = active_auth_key();
        let point = p256::ecdsa::SigningKey::from_slice(&aa_key)
            .map_err(io::Error::other)?
            .verifying_key()
            .to_sec1_point(false);
        let dgs: BTreeMap<u8, Vec<u8>> = [
            (1, dg1(citizen)),
            (2, dg2()),
            (13, dg13(citizen)),
            (14, kiosk_pki::emrtd::aa::dg14()),
            (15, kiosk_pki::emrtd::aa::dg15(point.as_bytes())),
        ]
        .into_iter()
        .collect();
        let sod = pki.sign(&dgs)?;
        let mut files: BTreeMap<u16, Vec<u8>> = dgs
            .iter()
            .map(|(n, b)| (File::Dg(*n).id(), b.clone()))
            .collect();
        files.insert(
            File::Com.id(),
            com(&dgs.keys().copied().collect::<Vec<_>>()),
        );
        files.insert(File::Sod.id(), sod);
        Ok(Document {
            files,
            key: citizen.mrz_key(),
            can: citizen.can.clone(),
            aa_key,
        })
    }

    /// Changes a byte inside `file` after signing (a forged data group).
    pub fn tamper(&mut self, file: File) {
        if let Some(bytes) = self.files.get_mut(&file.id()) {
            let last = bytes.len() - 1;
            bytes[last] ^= 0x01;
        }
    }

    /// Changes the last byte of EF.SOD: the Document Signer's signature.
    pub fn forge_signature(&mut self) {
        self.tamper(File::Sod);
    }
}
