//! The chip protocol end to end against the virtual card, without a reader
//! in between: BAC, secure messaging, the files, passive authentication,
//! and each fault a card can show. The same card behind a real `pcscd` is
//! in `card_reader.rs`.

use std::path::Path;
use std::sync::OnceLock;

use kiosk_hal::card::bac::MrzKey;
use kiosk_hal::card::chip::{self, CardError, ReadOptions};
use kiosk_hal::card::lds::File;
use kiosk_hal::card::pa::Failure;
use kiosk_hal::card::sim::chip::{Faults, VirtualChip};
use kiosk_hal::card::sim::issue::{Citizen, Document, Pki};
use kiosk_pki::cert::TrustAnchors;

/// The test country's PKI and a second one the kiosk does not trust, made
/// once per run by openssl.
fn pkis() -> &'static (Pki, Pki, tempfile::TempDir) {
    static PKIS: OnceLock<(Pki, Pki, tempfile::TempDir)> = OnceLock::new();
    PKIS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let vn = Pki::create(&dir.path().join("vn"), "Test VN", 365).unwrap();
        let rogue = Pki::create(&dir.path().join("rogue"), "Elsewhere", 365).unwrap();
        (vn, rogue, dir)
    })
}

fn cscas() -> TrustAnchors {
    pkis().0.cscas().unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn card(citizen: &Citizen, pki: &Pki) -> Document {
    Document::issue(citizen, pki).unwrap()
}

fn read(doc: Document, key: &MrzKey) -> Result<chip::ChipFiles, CardError> {
    let mut chip = VirtualChip::new(doc, Faults::default());
    chip::read(&mut chip, key, ReadOptions::default())
}

#[test]
fn a_genuine_card_is_read_verified_and_parsed() {
    let citizen = Citizen::demo();
    let files = read(card(&citizen, &pkis().0), &citizen.mrz_key()).unwrap();
    assert_eq!(files.listed, [1, 2, 13, 14, 15]);
    let v = chip::verify(&files, &cscas(), now()).unwrap();
    assert_eq!(v.checked, [1, 13, 14, 15]);
    assert_eq!(v.signer, "Document Signer Test VN");
    assert_eq!(v.mrz.document_number, "203004567");
    assert_eq!(v.mrz.optional, "001203004567");
    assert_eq!(v.mrz.name, "NGUYEN THI THU HA");
    assert_eq!((v.mrz.birth.as_str(), v.mrz.sex), ("030315", 'F'));
    let dg13 = v.dg13.unwrap();
    assert_eq!(dg13.id_number(), Some("001203004567"));
    assert_eq!(dg13.full_name(), Some("Nguyễn Thị Thu Hà"));
    assert_eq!(dg13.birth(), Some("15/03/2003"));
    assert_eq!(dg13.sex(), Some("Nữ"));
    assert_eq!(dg13.father(), Some("Nguyễn Văn Bình"));
    assert_eq!(dg13.mother(), Some("Trần Thị Lan"));
    assert_eq!(dg13.old_id(), Some("013456789"));
    assert_eq!(dg13.expires(), Some("15/03/2028"));
}

#[test]
fn names_in_dg13_come_out_composed_whatever_the_chip_wrote() {
    let mut citizen = Citizen::demo();
    // Decomposed: "Hà" as H, a, combining grave.
    citizen.full_name = "Nguyễn Thị Thu Ha\u{300}".into();
    let files = read(card(&citizen, &pkis().0), &citizen.mrz_key()).unwrap();
    let v = chip::verify(&files, &cscas(), now()).unwrap();
    assert_eq!(v.dg13.unwrap().full_name(), Some("Nguyễn Thị Thu Hà"));
}

#[test]
fn a_wrong_date_of_birth_does_not_open_the_chip() {
    let citizen = Citizen::demo();
    let wrong = MrzKey::from_cccd(&citizen.cccd, "030316", &citizen.expiry_yymmdd()).unwrap();
    assert_eq!(
        read(card(&citizen, &pkis().0), &wrong).unwrap_err(),
        CardError::AccessDenied
    );
}

#[test]
fn a_data_group_changed_after_signing_fails_on_its_hash() {
    let citizen = Citizen::demo();
    let mut doc = card(&citizen, &pkis().0);
    doc.tamper(File::Dg(13));
    let files = read(doc, &citizen.mrz_key()).unwrap();
    let e = chip::verify(&files, &cscas(), now()).unwrap_err();
    assert_eq!(e, Failure::HashMismatch("DG13".into()));
    assert_eq!(e.step(), "hashes");
}

#[test]
fn a_forged_signature_fails_on_the_signature() {
    let citizen = Citizen::demo();
    let mut doc = card(&citizen, &pkis().0);
    doc.forge_signature();
    let files = read(doc, &citizen.mrz_key()).unwrap();
    assert_eq!(
        chip::verify(&files, &cscas(), now()).unwrap_err(),
        Failure::Signature
    );
}

#[test]
fn a_document_signer_from_an_unknown_csca_fails_on_the_chain() {
    let citizen = Citizen::demo();
    let files = read(card(&citizen, &pkis().1), &citizen.mrz_key()).unwrap();
    let e = chip::verify(&files, &cscas(), now()).unwrap_err();
    assert_eq!((e.clone(), e.step()), (Failure::UnknownCsca, "chain"));
}

#[test]
fn an_expired_card_is_refused_and_so_is_a_document_signer_out_of_date() {
    let mut citizen = Citizen::demo();
    citizen.expires = "15/03/2024".into();
    let files = read(card(&citizen, &pkis().0), &citizen.mrz_key()).unwrap();
    assert_eq!(
        chip::verify(&files, &cscas(), now()).unwrap_err(),
        Failure::Expired("240315".into())
    );
    let citizen = Citizen::demo();
    let files = read(card(&citizen, &pkis().0), &citizen.mrz_key()).unwrap();
    let in_two_years = now() + 2 * 365 * 86_400;
    assert_eq!(
        chip::verify(&files, &cscas(), in_two_years).unwrap_err(),
        Failure::CertificateDates
    );
}

#[test]
fn a_card_pulled_out_mid_read_is_a_removal_not_a_crash() {
    let citizen = Citizen::demo();
    for after in [1, 3, 5, 9] {
        let faults = Faults {
            pulled_after: Some(after),
            ..Faults::default()
        };
        let mut chip = VirtualChip::new(card(&citizen, &pkis().0), faults);
        let e = chip::read(&mut chip, &citizen.mrz_key(), ReadOptions::default()).unwrap_err();
        assert_eq!(e, CardError::Removed, "pulled after {after} APDUs");
    }
}

#[test]
fn extended_reads_need_fewer_apdus_and_give_the_same_files() {
    let citizen = Citizen::demo();
    let doc = card(&citizen, &pkis().0);
    let mut chip = VirtualChip::new(doc.clone(), Faults::default());
    let with_photo = ReadOptions {
        photo: true,
        ..ReadOptions::default()
    };
    let short = chip::read(&mut chip, &citizen.mrz_key(), with_photo).unwrap();
    let mut chip = VirtualChip::new(doc, Faults::default());
    let opts = ReadOptions {
        max_read: 0x1000,
        photo: true,
        ..ReadOptions::default()
    };
    let long = chip::read(&mut chip, &citizen.mrz_key(), opts).unwrap();
    assert_eq!((&long.com, &long.sod), (&short.com, &short.sod));
    assert_eq!(long.dgs, short.dgs);
    assert!(
        long.apdus * 2 < short.apdus,
        "{} extended against {} short",
        long.apdus,
        short.apdus
    );
    assert!(long.dgs[&2].len() > 12_000);
    chip::verify(&long, &cscas(), now()).unwrap();
    // A chip without extended length refuses such reads, plainly.
    let faults = Faults {
        short_only: true,
        ..Faults::default()
    };
    let mut chip = VirtualChip::new(card(&citizen, &pkis().0), faults);
    assert!(matches!(
        chip::read(&mut chip, &citizen.mrz_key(), opts),
        Err(CardError::Refused { sw: 0x6700, .. })
    ));
}

#[test]
fn the_issued_sod_is_a_cms_signed_data_openssl_itself_verifies() {
    // An independent decoder: openssl checks the signature and the chain of
    // the SOD the virtual card carries.
    let citizen = Citizen::demo();
    let doc = card(&citizen, &pkis().0);
    let sod = &doc.files[&File::Sod.id()];
    let (t, _) = kiosk_hal::card::tlv::parse(sod).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sod.der");
    std::fs::write(&path, t.value).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["cms", "-verify", "-inform", "DER", "-in"])
        .arg(&path)
        .arg("-CAfile")
        .arg(pkis().0.csca_cert())
        .args(["-purpose", "any", "-out"])
        .arg(dir.path().join("lds.der"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(Path::new(&dir.path().join("lds.der")).exists());
}

#[test]
fn pace_opens_the_chip_where_offered_with_the_mrz_or_the_can_and_bac_otherwise() {
    use kiosk_hal::card::chip::Access;
    use kiosk_hal::card::pace::Curve;
    let citizen = Citizen::demo();
    let doc = card(&citizen, &pkis().0);
    let opts = ReadOptions::default();
    let mut chip = VirtualChip::new(doc.clone(), Faults::default());
    let by_pace = chip::read(&mut chip, &citizen.mrz_key(), opts).unwrap();
    assert_eq!(by_pace.access, Access::Pace(Curve::BrainpoolP256r1));
    chip::verify(&by_pace, &cscas(), now()).unwrap();

    let mut chip = VirtualChip::new(doc.clone(), Faults::default());
    let by_can = chip::read_with_can(&mut chip, &citizen.can, opts).unwrap();
    assert_eq!(by_can.access, Access::Pace(Curve::BrainpoolP256r1));
    assert_eq!(by_can.dgs, by_pace.dgs);

    // A wrong CAN, a wrong date: the chip refuses the reader's token.
    let mut chip = VirtualChip::new(doc.clone(), Faults::default());
    assert_eq!(
        chip::read_with_can(&mut chip, "654321", opts).unwrap_err(),
        CardError::AccessDenied
    );
    let mut other = citizen.clone();
    other.expires = "15/03/2029".into();
    let mut chip = VirtualChip::new(doc.clone(), Faults::default());
    assert_eq!(
        chip::read(&mut chip, &other.mrz_key(), opts).unwrap_err(),
        CardError::AccessDenied
    );

    // An older chip: no EF.CardAccess, BAC; the same files.
    let bac_only = Faults {
        bac_only: true,
        ..Faults::default()
    };
    let mut chip = VirtualChip::new(doc.clone(), bac_only.clone());
    let by_bac = chip::read(&mut chip, &citizen.mrz_key(), opts).unwrap();
    assert_eq!(by_bac.access, Access::Bac);
    assert_eq!(by_bac.dgs, by_pace.dgs);
    // PACE: EF.CardAccess (SELECT, its header, the rest), MSE:Set AT, four
    // GENERAL AUTHENTICATE, SELECT of the application: 9. BAC after the
    // SELECT of EF.CardAccess the older chip refuses: 4.
    assert_eq!(by_bac.apdus + 5, by_pace.apdus);
    let mut chip = VirtualChip::new(doc, bac_only);
    assert_eq!(
        chip::read_with_can(&mut chip, &citizen.can, opts).unwrap_err(),
        CardError::NoPace
    );
}

#[test]
fn active_authentication_proves_the_chip_holds_dg15s_key_and_a_clone_does_not() {
    use kiosk_hal::card::chip::ActiveAuth;
    let citizen = Citizen::demo();
    let doc = card(&citizen, &pkis().0);
    let mut chip = VirtualChip::new(doc.clone(), Faults::default());
    let files = chip::read(&mut chip, &citizen.mrz_key(), ReadOptions::default()).unwrap();
    assert!(files.dgs.contains_key(&14) && files.dgs.contains_key(&15));
    let v = chip::verify(&files, &cscas(), now()).unwrap();
    assert_eq!(v.active_auth, ActiveAuth::Passed);

    // An independent verifier: OpenSSL reads DG15's key as a standard
    // SubjectPublicKeyInfo and checks the chip's ECDSA-SHA256 signature.
    let (challenge, answer) = files.active_auth.clone().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (spki, _) = kiosk_hal::card::tlv::parse(&files.dgs[&15]).unwrap();
    std::fs::write(dir.path().join("key.der"), spki.value).unwrap();
    std::fs::write(dir.path().join("challenge"), &challenge).unwrap();
    let der = p256::ecdsa::Signature::from_slice(&answer)
        .unwrap()
        .to_der();
    std::fs::write(dir.path().join("sig.der"), der.as_bytes()).unwrap();
    let out = std::process::Command::new("openssl")
        .args([
            "dgst",
            "-sha256",
            "-keyform",
            "DER",
            "-verify",
            "key.der",
            "-signature",
            "sig.der",
            "challenge",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The files copied onto another chip: passive authentication passes
    // (the files are genuine), active authentication does not.
    let cloned = Faults {
        cloned: true,
        ..Faults::default()
    };
    let mut chip = VirtualChip::new(doc, cloned);
    let files = chip::read(&mut chip, &citizen.mrz_key(), ReadOptions::default()).unwrap();
    let e = chip::verify(&files, &cscas(), now()).unwrap_err();
    assert!(matches!(e, Failure::ActiveAuth(_)), "{e}");
    assert_eq!(e.step(), "active-auth");
    // An answer altered on the way fails too.
    let mut chip = VirtualChip::new(card(&citizen, &pkis().0), Faults::default());
    let mut files = chip::read(&mut chip, &citizen.mrz_key(), ReadOptions::default()).unwrap();
    files.active_auth.as_mut().unwrap().1[5] ^= 1;
    assert!(matches!(
        chip::verify(&files, &cscas(), now()),
        Err(Failure::ActiveAuth(_))
    ));
}
