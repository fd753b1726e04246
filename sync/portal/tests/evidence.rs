//! Intake believes the evidence, not the kiosk: a rogue (but enrolled)
//! kiosk that claims a level, leaves checks out, or seals someone else's
//! certificate opens nothing. USB token certificates are checked against
//! the token CAs' revocation lists, made by OpenSSL's own `ca` and
//! refreshed from their directory; the proof of possession is checked
//! with the certificate's key (signed by `openssl dgst`, not by the
//! kiosk's code).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use kiosk_hal::token::testpki::TestCa;
use kiosk_portal::mssp::Mssp;
use kiosk_portal::{CertificateVerdict, Portal, demo_fixtures};
use kiosk_sync::relay::ItemOutcome;
use kiosk_sync::{
    DeviceKey, EnvelopeHeader, PAYLOAD_SCHEMA, PortalSecretKey, PossessionProof,
    RegistrationPayload, TOKEN_PROOF_CONTEXT, seal,
};

const LEAF: &str = kiosk_hal::token::testpki::LEAF_EXTENSIONS;

struct World {
    dir: tempfile::TempDir,
    portal: Portal,
    public: kiosk_sync::PortalPublicKey,
    kiosk: DeviceKey,
    next: u32,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let secret = PortalSecretKey::generate();
    let public = secret.public_key();
    let mut portal = Portal::open(&dir.path().join("portal.sqlite3"), secret).unwrap();
    portal.load_fixtures(&demo_fixtures()).unwrap();
    let kiosk = DeviceKey::generate();
    let code = portal.issue_enrolment_code(0, 600).unwrap();
    portal.enrol(&code, &kiosk.public_key(), None, 1).unwrap();
    World {
        dir,
        portal,
        public,
        kiosk,
        next: 0,
    }
}

/// A citizen's mobile-subscriber registration as an honest kiosk seals it.
fn mobile(person: &str, phone: &str) -> RegistrationPayload {
    RegistrationPayload {
        schema: PAYLOAD_SCHEMA.into(),
        registration_id: String::new(),
        reference: "DK-1".into(),
        created_at: now(),
        method: "mobile_subscriber".into(),
        subject: "citizen".into(),
        level: 1,
        pending: vec!["global_duplicate".into(), "subscriber_ownership".into()],
        full_name: Some("Nguyễn Văn An".into()),
        business_name: None,
        personal_id_kind: Some("cccd".into()),
        personal_id: Some(person.into()),
        tax_code: None,
        bhxh_code: None,
        date_of_birth: Some("1985-03-14".into()),
        phone: Some(phone.into()),
        email: None,
        certificate: None,
        proof: None,
        chip: None,
        counter: None,
        password_hash: Some("$argon2id$v=19$…".into()),
    }
}

/// `p` changed by `f` (a payload wipes itself on drop: no `..p` updates).
fn edit(
    mut p: RegistrationPayload,
    f: impl FnOnce(&mut RegistrationPayload),
) -> RegistrationPayload {
    f(&mut p);
    p
}

fn now() -> i64 {
    kiosk_portal::server::now()
}

impl World {
    /// Seals and delivers `p` from the kiosk; the portal's answer.
    fn deliver(&mut self, mut p: RegistrationPayload) -> ItemOutcome {
        self.next += 1;
        let id = format!("r{}", self.next);
        p.registration_id = id.clone();
        let envelope = seal(
            &serde_json::to_vec(&p).unwrap(),
            EnvelopeHeader::new(&id, 1),
            &self.public,
            &self.kiosk,
        )
        .unwrap();
        let mut out = self
            .portal
            .receive(&self.kiosk.public_key(), &[envelope], now())
            .unwrap();
        out.remove(0).1
    }

    /// Seals and delivers any payload (a complaint) as registration `id`.
    fn deliver_as(&mut self, id: &str, p: &impl serde::Serialize) -> ItemOutcome {
        let envelope = seal(
            &serde_json::to_vec(p).unwrap(),
            EnvelopeHeader::new(id, 1),
            &self.public,
            &self.kiosk,
        )
        .unwrap();
        let mut out = self
            .portal
            .receive(&self.kiosk.public_key(), &[envelope], now())
            .unwrap();
        out.remove(0).1
    }

    fn levels(&self) -> Vec<i64> {
        self.portal
            .account_summary()
            .unwrap()
            .into_iter()
            .flat_map(|(level, _, n)| std::iter::repeat_n(level, n as usize))
            .collect()
    }
}

fn rejected(outcome: &ItemOutcome, words: &str) -> bool {
    matches!(outcome, ItemOutcome::Rejected(r) if r.contains(words))
}

#[test]
fn a_kiosk_claiming_a_level_or_leaving_checks_out_gets_the_policys_level_and_every_check() {
    let mut w = world();
    // +84987654321 is Trần Thị Thủy's; the kiosk says level 4 and nothing pending.
    let mut stranger = mobile("051085001234", "+84987654321");
    stranger.level = 4;
    stranger.pending.clear();
    let out = w.deliver(stranger);
    assert!(rejected(&out, "someone else"), "{out:?}");
    // The owner's own number: opened, at the level the policy gives the
    // method (1), not the 4 the kiosk claimed.
    let mut owner = mobile("051085001234", "+84912345678");
    owner.level = 4;
    owner.pending.clear();
    assert_eq!(w.deliver(owner), ItemOutcome::Accepted);
    assert_eq!(w.levels(), vec![1]);
}

#[test]
fn a_bhxh_registration_opens_the_records_person_or_nothing() {
    let mut w = world();
    let bhxh = |person: &str, name: &str| {
        edit(mobile(person, "+84987654321"), |p| {
            p.method = "bhxh".into();
            p.level = 3;
            p.pending.clear();
            p.bhxh_code = Some("7901234568".into());
            p.full_name = Some(name.into());
            p.date_of_birth = Some("1992-11-02".into());
        })
    };
    // The kiosk claims the match and someone else's ID.
    let out = w.deliver(bhxh("051085001234", "Trần Thị Thủy"));
    assert!(rejected(&out, "not the BHXH record's"), "{out:?}");
    let out = w.deliver(bhxh("079192004567", "Trần Văn Khác"));
    assert!(rejected(&out, "did not match"), "{out:?}");
    assert_eq!(
        w.deliver(bhxh("079192004567", "Trần Thị Thủy")),
        ItemOutcome::Accepted
    );
    assert_eq!(w.levels(), vec![2]);
}

#[test]
fn methods_the_policy_does_not_offer_and_checks_nobody_runs_open_nothing() {
    let mut w = world();
    let business = edit(mobile("051085001234", "+84912345678"), |p| {
        p.subject = "business".into();
    });
    assert!(rejected(&w.deliver(business), "not offered"));
    let invented = edit(mobile("051085001234", "+84912345678"), |p| {
        p.method = "vneid".into();
    });
    assert!(rejected(
        &w.deliver(invented),
        "unknown registration method"
    ));
    // A check this portal does not know is not passed: held, nothing recorded.
    let mut unknown = mobile("051085001234", "+84912345678");
    unknown.pending.push("face_match".into());
    let out = w.deliver(unknown);
    assert!(
        matches!(&out, ItemOutcome::Held(r) if r.contains("face_match")),
        "{out:?}"
    );
    assert!(w.levels().is_empty());
}

/// A token CA trusted by the portal, its revocation list directory, and
/// the citizen's certificate with its key.
struct Tokens {
    ca: TestCa,
    crl_dir: std::path::PathBuf,
}

fn tokens(w: &mut World) -> Tokens {
    let d = |n: &str| w.dir.path().join(n);
    let ca = TestCa::create(&d("token-ca"), "CA Thử Nghiệm Kiosk").unwrap();
    ca.install_anchor(&d("anchors"), "token-ca.pem").unwrap();
    let crl_dir = d("crl");
    std::fs::create_dir_all(&crl_dir).unwrap();
    std::fs::write(crl_dir.join("token-ca.crl"), ca.crl(24, "").unwrap()).unwrap();
    let problems = w.portal.trust_token_cas(&d("anchors"), &crl_dir).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    Tokens { ca, crl_dir }
}

fn holder(t: &Tokens, dir: &std::path::Path, name: &str, cccd: &str) -> TestCa {
    t.ca.issue_to(
        &dir.join(format!("holder-{cccd}")),
        &format!("/C=VN/CN={name}/UID=CCCD:{cccd}"),
        LEAF,
    )
    .unwrap()
}

/// What the kiosk seals after the token `signer` answered its challenge
/// for the certificate of `cert`.
fn token_registration(cert: &TestCa, signer: &TestCa, cccd: &str) -> RegistrationPayload {
    let mut challenge = TOKEN_PROOF_CONTEXT.to_vec();
    challenge.extend_from_slice(&rand::random::<[u8; 32]>());
    edit(mobile(cccd, "+84900000000"), |p| {
        p.method = "usb_token".into();
        p.level = 3;
        p.pending = vec!["certificate_revocation".into()];
        p.full_name = Some("Lê Thị Hồng".into());
        p.phone = None;
        p.certificate = Some(B64.encode(&cert.certificate));
        p.proof = Some(PossessionProof {
            challenge: B64.encode(&challenge),
            signature: B64.encode(signer.sign(&challenge).unwrap()),
            scheme: "rsa-pkcs1-sha256".into(),
        });
    })
}

#[test]
fn a_token_registration_needs_a_trusted_unrevoked_certificate_naming_the_applicant_and_a_fresh_proof()
 {
    let mut w = world();
    let t = tokens(&mut w);
    let dir = w.dir.path().to_path_buf();
    let hong = holder(&t, &dir, "Lê Thị Hồng", "001190000777");
    let other = holder(&t, &dir, "Phạm Văn Khác", "001190000888");

    // Someone else's certificate, or no proof, or a proof by another key.
    let out = w.deliver(token_registration(&other, &other, "001190000777"));
    assert!(rejected(&out, "names someone other"), "{out:?}");
    let mut unproven = token_registration(&hong, &hong, "001190000777");
    unproven.proof = None;
    assert!(rejected(&w.deliver(unproven), "no signature proves"));
    let out = w.deliver(token_registration(&hong, &other, "001190000777"));
    assert!(rejected(&out, "does not verify"), "{out:?}");
    // A signature over anything but a kiosk's challenge.
    let mut elsewhere = token_registration(&hong, &hong, "001190000777");
    let text = b"Hop dong mua ban so 17";
    elsewhere.proof = Some(PossessionProof {
        challenge: B64.encode(text),
        signature: B64.encode(hong.sign(text).unwrap()),
        scheme: "rsa-pkcs1-sha256".into(),
    });
    assert!(rejected(
        &w.deliver(elsewhere),
        "other than a kiosk's challenge"
    ));

    // The real thing opens a level-3 account...
    let genuine = token_registration(&hong, &hong, "001190000777");
    let copy = genuine.clone();
    assert_eq!(w.deliver(genuine), ItemOutcome::Accepted);
    assert_eq!(w.levels(), vec![3]);
    // ...and its proof, copied into another registration, opens nothing.
    let out = w.deliver(copy);
    assert!(rejected(&out, "already used"), "{out:?}");
}

#[test]
fn a_revoked_token_certificate_is_refused_once_the_fresh_list_arrives_and_an_unknown_status_too() {
    let mut w = world();
    let t = tokens(&mut w);
    let dir = w.dir.path().to_path_buf();
    let hong = holder(&t, &dir, "Lê Thị Hồng", "001190000777");
    assert_eq!(
        w.portal.certificate_status(&hong.certificate, now()),
        CertificateVerdict::Good
    );
    // The CA revokes it and publishes a new list; the portal reads it
    // without a restart.
    t.ca.revoke(&hong.certificate).unwrap();
    std::fs::write(t.crl_dir.join("token-ca.crl"), t.ca.crl(24, "").unwrap()).unwrap();
    assert!(matches!(
        w.portal.certificate_status(&hong.certificate, now()),
        CertificateVerdict::Revoked { .. }
    ));
    let out = w.deliver(token_registration(&hong, &hong, "001190000777"));
    assert!(rejected(&out, "revoked"), "{out:?}");
    assert_eq!(w.portal.revocation_lists()[0].revoked, 1);

    // No list at all for the CA: unknown, and refused.
    std::fs::remove_file(t.crl_dir.join("token-ca.crl")).unwrap();
    let binh = holder(&t, &dir, "Nguyễn Văn Bình", "001190000999");
    let out = w.deliver(token_registration(&binh, &binh, "001190000999"));
    assert!(rejected(&out, "revocation status is unknown"), "{out:?}");
    // A CA the portal does not trust.
    let stranger = TestCa::create(&dir.join("stranger"), "CA Lạ").unwrap();
    let lost = stranger
        .issue_to(
            &dir.join("lost"),
            "/C=VN/CN=Ai Đó/UID=CCCD:001190000555",
            LEAF,
        )
        .unwrap();
    let out = w.deliver(token_registration(&lost, &lost, "001190000555"));
    assert!(rejected(&out, "does not chain"), "{out:?}");
    assert!(w.levels().is_empty());
}

#[test]
fn a_mobile_signature_registration_needs_the_sims_signature_from_the_portals_own_ca() {
    let mut w = world();
    let mssp = Mssp::generate().unwrap();
    let (key, cert) = mssp.issue("Trần Thị Thủy", "cccd:079192004567").unwrap();
    let text = "Dang ky tai khoan Cong dich vu cong. Ma xac nhan: 4821";
    let signed = edit(mobile("079192004567", "+84987654321"), |p| {
        p.method = "sim_signature".into();
        p.level = 3;
        p.pending.clear();
        p.full_name = Some("Trần Thị Thủy".into());
        p.certificate = Some(B64.encode(&cert));
        p.proof = Some(PossessionProof {
            challenge: B64.encode(text),
            signature: B64.encode(Mssp::sign(&key, text.as_bytes()).unwrap()),
            scheme: "ecdsa".into(),
        });
    });
    // Until the portal trusts its signing service's CA, nothing opens.
    let out = w.deliver(signed.clone());
    assert!(rejected(&out, "does not chain"), "{out:?}");
    w.portal
        .trust_signature_ca(mssp.ca_pem().as_bytes())
        .unwrap();
    let mut forged = signed.clone();
    forged.proof.as_mut().unwrap().challenge = B64.encode("Ma xac nhan: 0000");
    assert!(rejected(&w.deliver(forged), "does not verify"));
    assert_eq!(w.deliver(signed), ItemOutcome::Accepted);
    assert_eq!(w.levels(), vec![3]);
}

#[test]
fn an_account_with_no_other_way_in_needs_its_password() {
    let mut w = world();
    let none = edit(mobile("079192004567", "+84987654321"), |p| {
        p.password_hash = None;
    });
    assert!(rejected(&w.deliver(none), "no password"));
    assert_eq!(w.levels(), Vec::<i64>::new());
}

#[test]
fn a_business_registers_by_its_sim_with_an_organisation_certificate_naming_its_tax_code() {
    let mut w = world();
    let mssp = Mssp::generate().unwrap();
    w.portal
        .trust_signature_ca(mssp.ca_pem().as_bytes())
        .unwrap();
    let name = "Công ty TNHH Thương mại An Phú";
    let (key, cert) = mssp.issue(name, "mst:0100047516").unwrap();
    // What the kiosk reads in it: an organisation, its tax code.
    let info = kiosk_pki::cert::CertInfo::parse(&cert).unwrap();
    assert_eq!(info.holder, kiosk_pki::cert::Holder::Organization);
    assert_eq!(info.organization.as_deref(), Some(name));
    assert!(
        info.identifiers
            .iter()
            .filter(|i| **i == kiosk_pki::cert::SubjectId::Mst("0100047516".into()))
            .count()
            == 2,
        "MST in UID and organizationIdentifier"
    );
    let text = "Dang ky tai khoan Cong dich vu cong. Ma xac nhan: 7310";
    let business = |tax_code: &str| {
        edit(mobile("079192004567", "+84977100200"), |p| {
            p.method = "sim_signature".into();
            p.subject = "business".into();
            p.level = 3;
            p.pending.clear();
            p.full_name = None;
            p.personal_id = None;
            p.personal_id_kind = None;
            p.date_of_birth = None;
            p.business_name = Some(name.into());
            p.tax_code = Some(tax_code.into());
            p.email = Some("ketoan@anphu.com.vn".into());
            // The SIM is the login: no password, as in the manual.
            p.password_hash = None;
            p.reference = "DK-B1PY-A953".into();
            p.certificate = Some(B64.encode(&cert));
            p.proof = Some(PossessionProof {
                challenge: B64.encode(text),
                signature: B64.encode(Mssp::sign(&key, text.as_bytes()).unwrap()),
                scheme: "ecdsa".into(),
            });
        })
    };
    // The certificate names another tax code than the one claimed.
    assert!(rejected(
        &w.deliver(business("0100109106")),
        "names someone other"
    ));
    assert_eq!(w.deliver(business("0100047516")), ItemOutcome::Accepted);
    assert_eq!(w.levels(), vec![3]);
    // Told by SMS how to get in: with the SIM, there being no password.
    let told = w.portal.messages_since(0).unwrap();
    let last = &told.last().unwrap().text;
    assert!(last.contains("Đăng nhập bằng Sim ký số"), "{last}");
    assert!(
        w.portal
            .account_exists(
                &kiosk_sync::IdentityRef::new(kiosk_sync::IdentityKind::Mst, "0100047516").unwrap()
            )
            .unwrap()
    );
}

/// The chip's files as the kiosk seals them, from a card issued (by
/// `openssl`) to `citizen`, changed by `change` after signing.
fn chip_of(
    pki: &kiosk_hal::card::sim::issue::Pki,
    citizen: &kiosk_hal::card::sim::issue::Citizen,
    change: impl FnOnce(&mut kiosk_hal::card::sim::issue::Document),
) -> kiosk_sync::ChipEvidence {
    use kiosk_hal::card::lds::File;
    let mut doc = kiosk_hal::card::sim::issue::Document::issue(citizen, pki).unwrap();
    change(&mut doc);
    kiosk_sync::ChipEvidence {
        sod: B64.encode(&doc.files[&File::Sod.id()]),
        data_groups: [1u8, 13]
            .into_iter()
            .map(|n| kiosk_sync::ChipDataGroup {
                number: n,
                content: B64.encode(&doc.files[&File::Dg(n).id()]),
            })
            .collect(),
    }
}

#[test]
fn the_chip_raises_the_level_only_once_the_portal_has_verified_it_itself() {
    use kiosk_hal::card::lds::File;
    use kiosk_hal::card::sim::issue::{Citizen, Pki};
    let mut w = world();
    let pkis = tempfile::tempdir().unwrap();
    let trusted = Pki::create(&pkis.path().join("vn"), "Test VN", 365).unwrap();
    let elsewhere = Pki::create(&pkis.path().join("xx"), "Elsewhere", 365).unwrap();
    let c = Citizen::demo();
    let with_chip = |chip| {
        edit(mobile(&c.cccd, "+84966123456"), |p| {
            p.full_name = Some(c.full_name.clone());
            p.date_of_birth = Some("2003-03-15".into());
            p.level = 2;
            p.chip = Some(chip);
        })
    };
    // No CSCA list yet: the kiosk keeps it until the portal can verify.
    let out = w.deliver(with_chip(chip_of(&trusted, &c, |_| {})));
    assert!(
        matches!(&out, ItemOutcome::Held(r) if r.contains("CSCA")),
        "{out:?}"
    );
    assert_eq!(w.portal.trust_cscas(&trusted.csca_dir()).unwrap(), 1);

    // Tampered, forged, or signed under another country's CSCA: refused,
    // with the step that failed.
    for (chip, step) in [
        (chip_of(&trusted, &c, |d| d.tamper(File::Dg(13))), "hashes"),
        (chip_of(&trusted, &c, |d| d.forge_signature()), "signature"),
        (chip_of(&elsewhere, &c, |_| {}), "chain"),
    ] {
        let out = w.deliver(with_chip(chip));
        assert!(rejected(&out, &format!("step: {step}")), "{out:?}");
    }
    // Another person's genuine chip under this applicant's number.
    let mut other = c.clone();
    other.cccd = "001203004568".into();
    let out = w.deliver(with_chip(chip_of(&trusted, &other, |_| {})));
    assert!(rejected(&out, "someone other"), "{out:?}");
    assert!(w.levels().is_empty());

    // Genuine: opened at the chip's level (2), not the method's (1).
    assert_eq!(
        w.deliver(with_chip(chip_of(&trusted, &c, |_| {}))),
        ItemOutcome::Accepted
    );
    assert_eq!(w.levels(), vec![2]);
}

#[test]
fn an_account_opened_with_the_old_cmnd_is_found_by_the_chip_that_names_it() {
    use kiosk_hal::card::sim::issue::{Citizen, Pki};
    let mut w = world();
    let pkis = tempfile::tempdir().unwrap();
    let pki = Pki::create(&pkis.path().join("vn"), "Test VN", 365).unwrap();
    w.portal.trust_cscas(&pki.csca_dir()).unwrap();
    let c = Citizen::demo();
    // Years ago, typed with the 9-digit CMND (and a number the carrier
    // register does not know).
    let old = edit(mobile("", "+84911000111"), |p| {
        p.personal_id_kind = Some("cmnd".into());
        p.personal_id = c.old_id.clone();
    });
    assert_eq!(w.deliver(old), ItemOutcome::Accepted);
    let chip = edit(mobile(&c.cccd, "+84966123456"), |p| {
        p.chip = Some(chip_of(&pki, &c, |_| {}));
    });
    assert_eq!(w.deliver(chip), ItemOutcome::Duplicate);
    assert_eq!(w.levels(), vec![1]);
}

#[test]
fn after_the_chip_the_old_cmnd_finds_the_account_it_opened() {
    use kiosk_hal::card::sim::issue::{Citizen, Pki};
    use kiosk_sync::IdentityKind;
    let mut w = world();
    let pkis = tempfile::tempdir().unwrap();
    let pki = Pki::create(&pkis.path().join("vn"), "Test VN", 365).unwrap();
    w.portal.trust_cscas(&pki.csca_dir()).unwrap();
    let c = Citizen::demo();
    let old =
        kiosk_sync::IdentityRef::new(IdentityKind::Cmnd, c.old_id.as_deref().unwrap()).unwrap();
    assert!(!w.portal.account_exists(&old).unwrap());
    let chip = edit(mobile(&c.cccd, "+84966123456"), |p| {
        p.chip = Some(chip_of(&pki, &c, |_| {}));
    });
    assert_eq!(w.deliver(chip), ItemOutcome::Accepted);
    // The live check and intake both know the link the chip proved.
    assert!(w.portal.account_exists(&old).unwrap());
    let typed = edit(mobile("", "+84911000111"), |p| {
        p.personal_id_kind = Some("cmnd".into());
        p.personal_id = c.old_id.clone();
    });
    assert_eq!(w.deliver(typed), ItemOutcome::Duplicate);
    assert_eq!(w.levels(), vec![2]);
}

#[test]
fn a_counter_registration_opens_level_three_only_with_a_verified_chip_and_a_named_clerk() {
    use kiosk_hal::card::lds::File;
    use kiosk_hal::card::sim::issue::{Citizen, Pki};
    let mut w = world();
    let pkis = tempfile::tempdir().unwrap();
    let trusted = Pki::create(&pkis.path().join("vn"), "Test VN", 365).unwrap();
    w.portal.trust_cscas(&trusted.csca_dir()).unwrap();
    let c = Citizen::demo();
    let clerk = |id: &str, face: bool| kiosk_sync::CounterAttestation {
        clerk_id: id.into(),
        signed_in_by: "pin".into(),
        clerk_certificate_sha256: None,
        face_confirmed: face,
    };
    let at_counter = |chip: Option<kiosk_sync::ChipEvidence>, counter, reference: &str| {
        edit(mobile(&c.cccd, "+84966123456"), |p| {
            p.method = "counter".into();
            p.reference = reference.into();
            p.full_name = Some(c.full_name.clone());
            p.date_of_birth = Some("2003-03-15".into());
            p.level = 3;
            p.pending = vec!["global_duplicate".into()];
            p.chip = chip;
            p.counter = counter;
        })
    };
    let genuine = || Some(chip_of(&trusted, &c, |_| {}));
    for (p, words) in [
        (
            at_counter(None, Some(clerk("BD-KS-0001", true)), "DK-AAAA-AAAA"),
            "without the ID card's chip",
        ),
        (
            at_counter(genuine(), None, "DK-AAAA-AAAB"),
            "names no clerk",
        ),
        (
            at_counter(genuine(), Some(clerk("bd ks 1", true)), "DK-AAAA-AAAC"),
            "names no clerk",
        ),
        (
            at_counter(genuine(), Some(clerk("BD-KS-0001", false)), "DK-AAAA-AAAD"),
            "did not confirm the face",
        ),
        (
            at_counter(
                Some(chip_of(&trusted, &c, |d| d.tamper(File::Dg(13)))),
                Some(clerk("BD-KS-0001", true)),
                "DK-AAAA-AAAE",
            ),
            "step: hashes",
        ),
        // A clerk claimed by a registration the citizen made alone.
        (
            edit(mobile(&c.cccd, "+84966123456"), |p| {
                p.counter = Some(clerk("BD-KS-0001", true));
            }),
            "not made at a counter",
        ),
    ] {
        let out = w.deliver(p);
        assert!(rejected(&out, words), "{words}: {out:?}");
    }
    assert!(w.levels().is_empty());
    let out = w.deliver(at_counter(
        genuine(),
        Some(clerk("BD-KS-0001", true)),
        "DK-7K2M-9XQ4",
    ));
    assert_eq!(out, ItemOutcome::Accepted);
    assert_eq!(w.levels(), vec![3]);
    assert_eq!(
        w.portal.counter_registration("DK-7K2M-9XQ4").unwrap(),
        Some(("BD-KS-0001".to_string(), Some(3)))
    );
}

#[test]
fn a_complaint_at_the_counter_is_marked_proven_by_the_chip_only_when_the_chip_names_that_identity()
{
    use kiosk_hal::card::lds::File;
    use kiosk_hal::card::sim::issue::{Citizen, Pki};
    let mut w = world();
    let pkis = tempfile::tempdir().unwrap();
    let trusted = Pki::create(&pkis.path().join("vn"), "Test VN", 365).unwrap();
    w.portal.trust_cscas(&trusted.csca_dir()).unwrap();
    let c = Citizen::demo();
    let clerk = kiosk_sync::CounterAttestation {
        clerk_id: "BD-KS-0001".into(),
        signed_in_by: "token".into(),
        clerk_certificate_sha256: Some("ab".repeat(32)),
        face_confirmed: true,
    };
    let complaint = |id: &str, chip, counter| kiosk_sync::ComplaintPayload {
        schema: kiosk_sync::COMPLAINT_SCHEMA.into(),
        registration_id: id.into(),
        reference: format!("KN-7K2M-9XQ{}", &id[1..]),
        created_at: now(),
        identity: format!("cccd:{}", c.cccd),
        method: "counter".into(),
        subject: "citizen".into(),
        contact_phone: "+84966123456".into(),
        reason: "identity_misused".into(),
        chip,
        counter,
    };
    let mut other = c.clone();
    other.cccd = "001203004568".into();
    for (id, chip, counter, words) in [
        (
            "c1",
            None,
            Some(clerk.clone()),
            "without the ID card's chip",
        ),
        (
            "c2",
            Some(chip_of(&trusted, &other, |_| {})),
            Some(clerk.clone()),
            "someone other than the identity",
        ),
        (
            "c3",
            Some(chip_of(&trusted, &c, |d| d.tamper(File::Dg(1)))),
            Some(clerk.clone()),
            "step: hashes",
        ),
        (
            "c4",
            Some(chip_of(&trusted, &c, |_| {})),
            Some(kiosk_sync::CounterAttestation {
                face_confirmed: false,
                ..clerk.clone()
            }),
            "no clerk who checked the face",
        ),
    ] {
        let out = w.deliver_as(id, &complaint(id, chip, counter));
        assert!(rejected(&out, words), "{words}: {out:?}");
    }
    assert!(w.portal.complaints().unwrap().is_empty());
    let out = w.deliver_as(
        "c5",
        &complaint(
            "c5",
            Some(chip_of(&trusted, &c, |_| {})),
            Some(clerk.clone()),
        ),
    );
    assert_eq!(out, ItemOutcome::Accepted);
    // One made at a kiosk alone is still taken, with no clerk.
    let mut at_kiosk = complaint("c6", None, None);
    at_kiosk.method = "mobile_subscriber".into();
    assert_eq!(w.deliver_as("c6", &at_kiosk), ItemOutcome::Accepted);
    let queue = w.portal.complaints().unwrap();
    let clerks: Vec<Option<&str>> = queue.iter().map(|q| q.clerk_id.as_deref()).collect();
    assert_eq!(queue.len(), 2);
    assert!(
        clerks.contains(&Some("BD-KS-0001")) && clerks.contains(&None),
        "{clerks:?}"
    );
}

#[test]
fn a_password_reset_at_the_counter_sets_the_chip_holders_password_and_tells_their_phone() {
    use kiosk_hal::card::sim::issue::{Citizen, Pki};
    use std::str::FromStr;
    let mut w = world();
    let pkis = tempfile::tempdir().unwrap();
    let trusted = Pki::create(&pkis.path().join("vn"), "Test VN", 365).unwrap();
    let c = Citizen::demo();
    let clerk = kiosk_sync::CounterAttestation {
        clerk_id: "BD-KS-0001".into(),
        signed_in_by: "pin".into(),
        clerk_certificate_sha256: None,
        face_confirmed: true,
    };
    let reset = |id: &str, chip, hash: &str| kiosk_sync::CounterResetPayload {
        schema: kiosk_sync::COUNTER_RESET_SCHEMA.into(),
        registration_id: id.into(),
        reference: format!("MK-7K2M-9XQ{}", &id[1..]),
        created_at: now(),
        identity: format!("cccd:{}", c.cccd),
        chip,
        counter: clerk.clone(),
        password_hash: hash.into(),
    };
    const NEW: &str = "$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdA$bmV3aGFzaA";
    // Before the portal has a CSCA list the kiosk keeps it.
    let out = w.deliver_as("m1", &reset("m1", chip_of(&trusted, &c, |_| {}), NEW));
    assert!(
        matches!(&out, ItemOutcome::Held(r) if r.contains("CSCA")),
        "{out:?}"
    );
    w.portal.trust_cscas(&trusted.csca_dir()).unwrap();
    // No account yet for the card's holder.
    let out = w.deliver_as("m2", &reset("m2", chip_of(&trusted, &c, |_| {}), NEW));
    assert!(rejected(&out, "no account"), "{out:?}");
    // The account, opened by a mobile registration with the chip.
    let opened = edit(mobile(&c.cccd, "+84966123456"), |p| {
        p.full_name = Some(c.full_name.clone());
        p.date_of_birth = Some("2003-03-15".into());
        p.level = 2;
        p.chip = Some(chip_of(&trusted, &c, |_| {}));
    });
    assert_eq!(w.deliver(opened), ItemOutcome::Accepted);
    let identity = kiosk_sync::IdentityRef::from_str(&format!("cccd:{}", c.cccd)).unwrap();
    let before = w.portal.password_hash_of(&identity).unwrap();
    // Another person's genuine chip, a hash that is not Argon2id: refused.
    let mut other = c.clone();
    other.cccd = "001203004568".into();
    let out = w.deliver_as("m3", &reset("m3", chip_of(&trusted, &other, |_| {}), NEW));
    assert!(rejected(&out, "someone other"), "{out:?}");
    let out = w.deliver_as("m4", &reset("m4", chip_of(&trusted, &c, |_| {}), "plain"));
    assert!(rejected(&out, "Argon2id"), "{out:?}");
    assert_eq!(w.portal.password_hash_of(&identity).unwrap(), before);
    let seen = w.portal.messages_since(0).unwrap().len();
    let out = w.deliver_as("m5", &reset("m5", chip_of(&trusted, &c, |_| {}), NEW));
    assert_eq!(out, ItemOutcome::Accepted);
    assert_eq!(
        w.portal.password_hash_of(&identity).unwrap().as_deref(),
        Some(NEW)
    );
    let told = w.portal.messages_since(0).unwrap();
    assert_eq!(told.len(), seen + 1);
    let last = told.last().unwrap();
    assert_eq!(last.recipient, "+84966123456");
    assert!(
        last.text.contains("MK-7K2M-9XQ5") && last.text.contains("quầy"),
        "{}",
        last.text
    );
    // The same envelope again: taken once.
    let out = w.deliver_as("m5", &reset("m5", chip_of(&trusted, &c, |_| {}), NEW));
    assert_eq!(out, ItemOutcome::Accepted);
    assert_eq!(w.portal.messages_since(0).unwrap().len(), seen + 1);
    let looked = w.portal.lookup("MK-7K2M-9XQ5").unwrap();
    assert!(looked.is_some(), "the reference is looked up");
    assert_eq!(
        w.portal.counter_registration("MK-7K2M-9XQ5").unwrap(),
        Some(("BD-KS-0001".to_string(), None))
    );
}
