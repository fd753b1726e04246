//! `kioskctl modem`, `kioskctl token` and `kioskctl card`: the kiosk's
//! devices, checked by hand.

use std::path::{Path, PathBuf};
use std::time::Instant;

use time::OffsetDateTime;

use kiosk::domain::{PhoneNumber, mask_middle};

use crate::{CardCommand, CtlError, Kiosk, ModemCommand, TokenCommand, environment, invalid};

pub(crate) fn modem(
    kiosk: &Kiosk,
    command: &ModemCommand,
    device: Option<&Path>,
) -> Result<(), CtlError> {
    use kiosk_hal::modem::{Locator, Registration, SimStatus, Timeouts};
    let locator = match (device, &kiosk.config.modem) {
        (Some(path), _) => Locator::Path(path.to_path_buf()),
        (None, Some(section)) => section.locator().map_err(environment)?,
        (None, None) => {
            return Err(environment(
                "no modem configured: add a [modem] section or pass --device",
            ));
        }
    };
    let mut modem = kiosk_hal::modem::connect(&locator, Path::new("/sys"), Timeouts::default())
        .map_err(|e| environment(format!("modem at {locator}: {e}")))?;
    match command {
        ModemCommand::Probe => {
            let h = modem
                .health()
                .map_err(|e| environment(format!("modem at {locator}: {e}")))?;
            let sim = match h.sim {
                Some(SimStatus::Ready) => "ready",
                Some(SimStatus::Missing) => "MISSING",
                Some(SimStatus::PinRequired) => "asks for a PIN",
                Some(SimStatus::PukRequired) => "blocked (PUK)",
                Some(SimStatus::Failure) | None => "failed",
            };
            let network = match h.registration {
                Some(Registration::Home) => "registered (home)",
                Some(Registration::Roaming) => "registered (roaming)",
                Some(Registration::Searching) => "searching",
                Some(Registration::Denied) => "registration denied",
                Some(Registration::NotRegistered) | None => "not registered",
            };
            println!("modem    {locator}");
            println!("SIM      {sim}");
            println!(
                "network  {network}{}",
                h.operator
                    .as_deref()
                    .map(|o| format!(", {o}"))
                    .unwrap_or_default()
            );
            match h.signal {
                Some(s) => println!("signal   {} dBm ({}/4 bars)", s.dbm, s.bars),
                None => println!("signal   none"),
            }
            println!("AT round trips: {}", modem.round_trips());
            match h.problem {
                None => {
                    println!("ready to send SMS");
                    Ok(())
                }
                Some(problem) => Err(invalid(format!("modem not ready: {problem}"))),
            }
        }
        ModemCommand::Send { to, text } => {
            let policy = kiosk.policy.current();
            let to = PhoneNumber::parse(to, &policy.identifiers)
                .map_err(|e| invalid(format!("--to: {e}")))?;
            let validity = std::time::Duration::from_secs(u64::from(policy.otp.ttl_seconds));
            let refs = modem
                .send_sms(to.e164(), text, validity)
                .map_err(|e| invalid(format!("not sent: {e}")))?;
            println!(
                "sent to {} in {} segment(s), message reference(s) {refs:?}",
                to.masked(),
                refs.len()
            );
            Ok(())
        }
    }
}

pub(crate) fn describe_certificate(cert: &kiosk_hal::token::cert::CertInfo) -> String {
    use kiosk_hal::token::cert::{Holder, SubjectId};
    let mask = |v: &str| mask_middle(v, 3, 2);
    let ids: Vec<String> = cert
        .identifiers
        .iter()
        .map(|i| match i {
            SubjectId::Cccd(v) => format!("CCCD {}", mask(v)),
            SubjectId::Cmnd(v) => format!("CMND {}", mask(v)),
            SubjectId::Passport(v) => format!("HC {}", mask(v)),
            SubjectId::Mst(v) => format!("MST {v}"),
            SubjectId::Mns(v) => format!("MNS {v}"),
            SubjectId::Bare(v) => format!("UID {}", mask(v)),
        })
        .collect();
    let date = |t: i64| {
        OffsetDateTime::from_unix_timestamp(t)
            .map(|d| d.date().to_string())
            .unwrap_or_default()
    };
    let holder = match cert.holder {
        Holder::Person => "person",
        Holder::Organization => "organisation",
    };
    format!(
        "{holder}; {}; issuer {}; valid {} to {}{}",
        if ids.is_empty() {
            "no identifier".to_string()
        } else {
            ids.join(", ")
        },
        cert.issuer_common_name.as_deref().unwrap_or("?"),
        date(cert.not_before),
        date(cert.not_after),
        if cert.signing_usage {
            ""
        } else {
            "; key not for signatures"
        }
    )
}

pub(crate) fn token(
    kiosk: &Kiosk,
    command: &TokenCommand,
    modules: &[PathBuf],
    anchors: Option<&Path>,
) -> Result<(), CtlError> {
    use kiosk_hal::token::pkcs11;
    let modules = if modules.is_empty() {
        kiosk.config.token.modules.clone()
    } else {
        modules.to_vec()
    };
    if modules.is_empty() {
        return Err(environment(
            "no PKCS#11 module configured: add [token] modules or pass --module",
        ));
    }
    let anchors_dir = anchors
        .map(Path::to_path_buf)
        .unwrap_or_else(|| kiosk.config.token.trust_anchors.clone());
    let anchors = kiosk_hal::token::cert::TrustAnchors::load(&anchors_dir);
    let tokens = pkcs11::list_tokens(&modules).map_err(environment)?;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let verdict = |cert: &kiosk_hal::token::cert::CertInfo,
                   others: &[kiosk_hal::token::cert::CertInfo]| match &anchors {
        Ok(a) => match a.verify(cert, others, now) {
            Ok(chain) => format!("trusted: {}", chain.len()),
            Err(problem) => format!("NOT usable: {problem}"),
        },
        Err(e) => format!("not checked ({e})"),
    };
    match command {
        TokenCommand::List => {
            if tokens.is_empty() {
                println!("no token present");
            }
            for t in &tokens {
                let pin = match (t.pin.locked, t.pin.final_try, t.pin.count_low) {
                    (true, _, _) => " PIN LOCKED",
                    (_, true, _) => " PIN: final try",
                    (_, _, true) => " PIN: a wrong PIN was entered",
                    _ => "",
                };
                println!(
                    "token \"{}\" serial {} ({} {}){pin}",
                    t.label, t.serial, t.manufacturer, t.model
                );
                let certs = pkcs11::list_certificates(t).map_err(environment)?;
                let all: Vec<_> = certs.iter().map(|(_, c)| c.clone()).collect();
                for (id, cert) in &certs {
                    println!("  certificate id {id}: {}", describe_certificate(cert));
                    println!(
                        "    chain: {}",
                        verdict(cert, &all).replace("trusted: ", "trusted, length ")
                    );
                }
            }
            Ok(())
        }
        TokenCommand::Verify { token: label } => {
            let t = tokens
                .iter()
                .find(|t| &t.label == label)
                .ok_or_else(|| invalid(format!("no token labelled {label:?} is present")))?;
            let mut line = zeroize::Zeroizing::new(String::new());
            std::io::stdin().read_line(&mut line).map_err(environment)?;
            let pin = secrecy::SecretString::from(line.trim().to_string());
            let mut challenge = [0u8; 32];
            rand::Rng::fill_bytes(&mut rand::rng(), &mut challenge);
            let started = Instant::now();
            let proof = pkcs11::prove_possession(
                t,
                &pin,
                &challenge,
                kiosk_hal::token::cert::Scheme::RsaPkcs1Sha256,
            )
            .map_err(|e| invalid(format!("proof of possession failed: {e}")))?;
            println!(
                "proof of possession: OK ({:?}, {:.0} ms)",
                proof.scheme,
                started.elapsed().as_secs_f64() * 1000.0
            );
            println!("certificate: {}", describe_certificate(&proof.certificate));
            let v = verdict(&proof.certificate, &proof.others);
            println!("chain: {v}");
            if v.starts_with("trusted") {
                println!(
                    "revocation: not checked here (the portal checks it when the registration arrives)"
                );
                Ok(())
            } else {
                Err(invalid(format!(
                    "certificate not usable for registration: {v}"
                )))
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// dd/mm/yyyy as the card prints it → YYMMDD as the MRZ holds it.
fn mrz_date(text: &str, what: &str) -> Result<String, CtlError> {
    kiosk_hal::card::bac::printed_date(text)
        .ok_or_else(|| invalid(format!("{what}: expected dd/mm/yyyy, got {text:?}")))
}

/// What DG2 holds, said rather than shown: the kiosk carries no JPEG 2000
/// decoder, so the face stays on the chip.
fn photo_on_chip(dg2: &[u8]) -> String {
    const JP2: &[u8] = b"\x00\x00\x00\x0cjP  \r\n\x87\n";
    const J2K: &[u8] = &[0xFF, 0x4F, 0xFF, 0x51];
    let format = if dg2.windows(JP2.len()).any(|w| w == JP2) {
        "JPEG 2000"
    } else if dg2.windows(J2K.len()).any(|w| w == J2K) {
        "JPEG 2000 codestream"
    } else if dg2.windows(3).any(|w| w == [0xFF, 0xD8, 0xFF]) {
        "JPEG"
    } else {
        "an unknown format"
    };
    format!(
        "photo on chip: DG2, {} bytes, {format} (verified with the rest; not shown: no decoder here)",
        dg2.len()
    )
}

/// A name as initials: enough for a technician to tell two cards apart.
fn initials(name: &str) -> String {
    name.split_whitespace()
        .filter_map(|w| w.chars().next())
        .map(|c| format!("{c}."))
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn card(
    kiosk: &Kiosk,
    command: &CardCommand,
    csca: Option<&Path>,
) -> Result<(), CtlError> {
    use kiosk_hal::card::{bac::MrzKey, chip, reader};
    let ctx = reader::establish().map_err(environment)?;
    let readers = reader::list(&ctx).map_err(environment)?;
    match command {
        CardCommand::Status => {
            if readers.is_empty() {
                println!("no card reader");
            }
            for r in &readers {
                match &r.card {
                    Some(atr) => println!("reader \"{}\": card present, ATR {}", r.name, hex(atr)),
                    None => println!("reader \"{}\": no card", r.name),
                }
            }
            Ok(())
        }
        CardCommand::Read {
            number,
            birth,
            expiry,
            reader: wanted,
            photo,
        } => {
            let key = MrzKey::from_cccd(
                number,
                &mrz_date(birth, "--birth")?,
                &mrz_date(expiry, "--expiry")?,
            )
            .map_err(|e| invalid(format!("--number: {e}")))?;
            let on = readers
                .iter()
                .find(|r| wanted.as_ref().map_or(r.card.is_some(), |w| &r.name == w))
                .ok_or_else(|| environment("no card on any reader (or no such reader)"))?;
            let dir = csca
                .map(Path::to_path_buf)
                .unwrap_or_else(|| kiosk.config.card.csca.clone());
            let cscas = kiosk_hal::token::cert::TrustAnchors::load(&dir)
                .map_err(|e| environment(format!("CSCA list: {e}")))?;
            println!(
                "reader \"{}\", CSCA list {} ({} certificates)",
                on.name,
                dir.display(),
                cscas.len()
            );
            let started = Instant::now();
            let mut card = reader::Connected::open(&ctx, &on.name).map_err(environment)?;
            let opts = chip::ReadOptions {
                max_read: card.max_read(),
                photo: *photo,
                ..chip::ReadOptions::default()
            };
            let files = chip::read(&mut card, &key, opts).map_err(|e| {
                println!("access and read: FAILED: {e}");
                invalid(e.to_string())
            })?;
            println!(
                "access ({}) and read: ok, {} APDUs in {} ms, data groups on the chip: {:?}",
                files.access.name(),
                files.apdus,
                started.elapsed().as_millis(),
                files.listed
            );
            let now = OffsetDateTime::now_utc().unix_timestamp();
            match chip::verify(&files, &cscas, now) {
                Ok(v) => {
                    println!(
                        "passive authentication: ok ({} signed by \"{}\", data groups {:?})",
                        v.hash.name(),
                        v.signer,
                        v.checked
                    );
                    println!(
                        "active authentication: {}",
                        match v.active_auth {
                            chip::ActiveAuth::Passed =>
                                "ok (the chip signed a fresh challenge with DG15's key)",
                            chip::ActiveAuth::NotOffered => "not offered (no DG15)",
                            chip::ActiveAuth::Unsupported => "not checked (an RSA key in DG15)",
                            chip::ActiveAuth::NotChecked => "not checked",
                        }
                    );
                    let dg13 = v.dg13.as_ref();
                    let number = dg13.and_then(|d| d.id_number()).unwrap_or(&v.mrz.optional);
                    println!("  personal number {}", mask_middle(number, 3, 2));
                    println!(
                        "  name {}",
                        initials(dg13.and_then(|d| d.full_name()).unwrap_or(&v.mrz.name))
                    );
                    println!(
                        "  old CMND number: {}",
                        dg13.and_then(|d| d.old_id())
                            .map_or("none".into(), |o| mask_middle(o, 2, 2))
                    );
                    println!("  expires {}", v.mrz.expiry);
                    if let Some(dg2) = files.dgs.get(&2) {
                        println!("  {}", photo_on_chip(dg2));
                    }
                    let today = kiosk::domain::clock::local_date(OffsetDateTime::now_utc());
                    match kiosk::domain::chip::ChipIdentity::from_verified(
                        &v,
                        &kiosk.policy.current(),
                        today,
                    ) {
                        Ok(id) => {
                            println!(
                                "identity for registration: ok ({} number(s) for the duplicate check)",
                                id.personal_ids().len()
                            );
                            Ok(())
                        }
                        Err(e) => {
                            println!("identity for registration: NOT usable: {e}");
                            Err(invalid(e.to_string()))
                        }
                    }
                }
                Err(f) => {
                    println!("passive authentication: FAILED at step {}: {f}", f.step());
                    Err(invalid(f.to_string()))
                }
            }
        }
    }
}
