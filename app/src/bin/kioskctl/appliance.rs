//! The appliance's own commands: signed updates (`update`), the counter's
//! clerks (`clerk`), and the audit log (`audit`).

use crate::{AuditCommand, ClerkCommand, CtlError, Kiosk, UpdateCommand, environment, invalid};

pub(crate) fn audit(kiosk: &Kiosk, command: &AuditCommand) -> Result<(), CtlError> {
    match command {
        AuditCommand::Verify => {
            let keys = kiosk.keys()?;
            let report = kiosk
                .store()?
                .verify_audit(&keys.audit_key())
                .map_err(|e| invalid(format!("audit log: {e}")))?;
            println!(
                "audit log OK: {} entries, {} registrations, chain and outbox consistent",
                report.entries, report.registrations
            );
            Ok(())
        }
        AuditCommand::List => {
            let entries = kiosk
                .store()?
                .audit_entries()
                .map_err(|e| invalid(format!("audit log: {e}")))?;
            for (seq, at, event, detail) in entries {
                let when = time::OffsetDateTime::from_unix_timestamp(at)
                    .map(|t| t.to_offset(kiosk::domain::clock::VIETNAM).to_string())
                    .unwrap_or_else(|_| at.to_string());
                println!("{seq:>6}  {when}  {event:<24} {detail}");
            }
            Ok(())
        }
    }
}

pub(crate) fn clerk(command: &ClerkCommand) -> Result<(), CtlError> {
    match command {
        ClerkCommand::HashPin => {
            let mut line = zeroize::Zeroizing::new(String::new());
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| invalid(format!("standard input: {e}")))?;
            let pin = kiosk::domain::Pin::new(line.trim_end_matches(['\r', '\n']))
                .ok_or_else(|| invalid("a PIN is 4 to 16 letters or digits"))?;
            let hash = kiosk::register::hash_password(
                pin.expose(),
                kiosk::config::PasswordHashCost::default(),
            )
            .map_err(|e| invalid(e.to_string()))?;
            println!("{}", hash.as_str());
            Ok(())
        }
        ClerkCommand::Fingerprint { certificate } => {
            let shown = certificate.display().to_string();
            let bytes = std::fs::read(certificate).map_err(|e| invalid(format!("{shown}: {e}")))?;
            let cert = kiosk_hal::token::cert::CertInfo::parse_pem_or_der(&bytes)
                .map_err(|e| invalid(format!("{shown}: {e}")))?;
            println!("{}", kiosk::counter::certificate_sha256(&cert.der));
            Ok(())
        }
    }
}

pub(crate) fn update(command: UpdateCommand) -> Result<(), CtlError> {
    use kiosk::update;
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path).map_err(|e| invalid(format!("{}: {e}", path.display())))
    };
    match command {
        UpdateCommand::Keygen { out } => {
            let key = kiosk_sync::DeviceKey::generate();
            std::fs::create_dir_all(&out)
                .map_err(|e| environment(format!("{}: {e}", out.display())))?;
            use base64::Engine as _;
            let bytes = key.secret_bytes();
            let secret = zeroize::Zeroizing::new(
                base64::engine::general_purpose::STANDARD.encode(bytes.as_slice()),
            );
            kiosk::atomic::write(&out.join("update-key.secret"), secret.as_bytes(), 0o600)
                .map_err(environment)?;
            kiosk::atomic::write(
                &out.join("update-key.pub"),
                format!("{}\n", key.public_key().to_base64()).as_bytes(),
                0o644,
            )
            .map_err(environment)?;
            println!("{}", key.public_key().to_base64());
            Ok(())
        }
        UpdateCommand::Sign {
            key,
            version,
            bundle,
        } => {
            use base64::Engine as _;
            let secret = base64::engine::general_purpose::STANDARD
                .decode(read(&key)?.trim())
                .map_err(|_| invalid("the update key is not base64"))?;
            let key = kiosk_sync::DeviceKey::from_secret_bytes(&secret)
                .map_err(|e| invalid(e.to_string()))?;
            let manifest =
                update::sign(&bundle, &version, &key).map_err(|e| invalid(e.to_string()))?;
            println!("signed {} version {}", bundle.display(), manifest.version);
            Ok(())
        }
        UpdateCommand::Apply {
            bundle,
            from_stick,
            release,
            key,
            partitions,
            esp,
            cmdline,
        } => {
            let bundle = if from_stick {
                let found = bundle.join("kiosk-update");
                if !found.join("manifest.toml").is_file() {
                    println!("no update on {}", bundle.display());
                    return Ok(());
                }
                found
            } else {
                bundle
            };
            let key = kiosk_sync::DevicePublicKey::from_base64(read(&key)?.trim())
                .map_err(|e| invalid(format!("update key: {e}")))?;
            let started = std::time::Instant::now();
            let manifest = update::verify(&bundle, &key).map_err(|e| invalid(e.to_string()))?;
            let booted = update::Layout::booted_from(&read(&cmdline)?)
                .map_err(|e| invalid(e.to_string()))?;
            let layout = update::Layout {
                partitions,
                esp,
                booted,
            };
            if from_stick {
                let running = std::fs::read_to_string(&release)
                    .ok()
                    .and_then(|r| update::booted_version(&r));
                if let Some(why) = update::skip_reason(&manifest, &layout, running.as_deref()) {
                    println!("update left alone: {why}");
                    return Ok(());
                }
            }
            let slot = update::apply(&bundle, &manifest, &layout)
                .map_err(|e| environment(e.to_string()))?;
            println!(
                "update {} written to slot {slot} in {:.1} s; it is tried once at the next boot and kept only if the kiosk reports ready",
                manifest.version,
                started.elapsed().as_secs_f64()
            );
            if from_stick {
                // For the unit that started it: reboot into the trial.
                return Err(CtlError {
                    code: 4,
                    message: "written: reboot to try it".into(),
                });
            }
            Ok(())
        }
    }
}
