//! kioskctl: diagnostics and administration of a registration kiosk, for
//! technicians and scripts. English output; exit status 0 when all is well,
//! 1 when the thing checked is invalid, 2 on a usage error, 3 when the kiosk's
//! own files cannot be read.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};
use kiosk::config::{Config, DEFAULT_CONFIG};
use kiosk::domain::{
    BhxhCode, BusinessName, Cccd, Cmnd, DateOfBirth, Email, Mst, PasswordCheck, PasswordRule,
    PersonName, PersonalId, PhoneNumber, Sex, SubjectKind,
};
use kiosk::keys::Keyring;
use kiosk::policy::{ActivePolicy, Policy};
use kiosk::register::Completer;
use kiosk::selftest::{SyntheticPerson, walk_offline_mobile};
use kiosk::store::Store;
use kiosk::uplink::{Enrolment, Uplink, parse_pin};
use kiosk_ui::i18n::Lang;
use time::OffsetDateTime;

#[derive(Parser)]
#[command(
    name = "kioskctl",
    version,
    about = "Diagnostics and administration of the registration kiosk"
)]
struct Cli {
    /// Configuration file.
    #[arg(long, env = "KIOSK_CONFIG", default_value = DEFAULT_CONFIG, global = true)]
    config: PathBuf,
    /// Data directory (overrides the configuration file).
    #[arg(long, env = "KIOSK_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate an identifier, phone number, name or date as the kiosk would.
    Check {
        kind: CheckKind,
        /// The value; for `password`, two lines are read from standard input instead.
        value: Option<String>,
        /// Date of birth (dd/mm/yyyy) to cross-check a CCCD against.
        #[arg(long)]
        dob: Option<String>,
    },
    /// Show or verify the policy.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// The registration queue.
    Queue {
        #[command(subcommand)]
        command: QueueCommand,
    },
    /// The hash-chained audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The GSM modem that sends OTP codes.
    Modem {
        #[command(subcommand)]
        command: ModemCommand,
        /// Device path (overrides the configuration's [modem] section).
        #[arg(long, global = true)]
        device: Option<PathBuf>,
    },
    /// USB signing tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
        /// PKCS#11 module to load (repeatable; overrides [token] modules).
        #[arg(long = "module", global = true)]
        modules: Vec<PathBuf>,
        /// Trust-anchor directory (overrides [token] trust_anchors).
        #[arg(long, global = true)]
        anchors: Option<PathBuf>,
    },
    /// The relay to the portal.
    Sync {
        #[command(subcommand)]
        command: SyncCommand,
    },
    /// Write the sealed queue to a file (a USB stick) for the portal to import.
    Export {
        /// Where to write; the file appears complete or not at all.
        #[arg(long)]
        to: PathBuf,
    },
    /// Enrol this kiosk with the portal using a one-time code.
    Enrol {
        /// The portal's address, e.g. https://portal.example.gov.vn/
        #[arg(long)]
        portal: String,
        /// The one-time code from the portal's administrator.
        #[arg(long)]
        code: String,
        /// SHA-256 of the portal's TLS certificate (hex), required for https.
        #[arg(long)]
        pin: Option<String>,
    },
    /// Print the device's Ed25519 public key (created on first use).
    DeviceKey,
    /// One-screen summary: configuration, policy, keys, queue, audit.
    Status,
    /// Complete one synthetic registration in a scratch directory and open it
    /// again with a throw-away portal key; prints timings.
    Selftest,
}

#[derive(Clone, Copy, ValueEnum)]
enum CheckKind {
    Cccd,
    Cmnd,
    /// CCCD (12 digits) or CMND (9 digits).
    Id,
    Mst,
    Bhxh,
    Phone,
    Email,
    Name,
    BusinessName,
    Dob,
    Password,
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Print the effective policy as TOML.
    Show {
        /// Print the built-in policy instead.
        #[arg(long)]
        built_in: bool,
    },
    /// Check a policy file; lists every problem.
    Verify { file: PathBuf },
    /// Which methods are offered to whom, online and offline.
    Methods,
}

#[derive(Subcommand)]
enum ModemCommand {
    /// Bring the modem up and report SIM, network, signal and operator.
    Probe,
    /// Send a test SMS.
    Send {
        /// Destination, any written form of a Vietnamese mobile number.
        #[arg(long)]
        to: String,
        #[arg(
            long,
            default_value = "Tin nhan thu tu kiosk dang ky tai khoan Cong DVC."
        )]
        text: String,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Tokens present, and the certificates on them with their chain verdict.
    List,
    /// Log in (PIN from standard input), prove possession, check the certificate.
    Verify {
        /// The token's label.
        #[arg(long)]
        token: String,
    },
}

#[derive(Subcommand)]
enum SyncCommand {
    /// Queue depth, oldest waiting registration, attempts and the last error.
    Status,
    /// Deliver what is due and read the portal's status feed, now.
    Now,
}

#[derive(Subcommand)]
enum QueueCommand {
    /// List queued registrations (metadata only, never personal data).
    List,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify the chain and cross-check it against registrations and outbox.
    Verify,
}

/// An error worth a message and an exit status.
struct Failure {
    code: u8,
    message: String,
}

fn invalid(message: impl Into<String>) -> Failure {
    Failure {
        code: 1,
        message: message.into(),
    }
}

fn usage(message: impl std::fmt::Display) -> Failure {
    Failure {
        code: 2,
        message: message.to_string(),
    }
}

fn environment(message: impl std::fmt::Display) -> Failure {
    Failure {
        code: 3,
        message: message.to_string(),
    }
}

struct Kiosk {
    config: Config,
    policy: ActivePolicy,
    policy_warning: Option<String>,
}

impl Kiosk {
    fn load(cli: &Cli) -> Result<Kiosk, Failure> {
        let mut config = Config::load(&cli.config).map_err(environment)?;
        if let Some(dir) = &cli.data_dir {
            config.data_dir = dir.clone();
        }
        let mut policy = ActivePolicy::default();
        let mut policy_warning = match &config.policy_file {
            Some(path) => policy
                .load_file(path)
                .err()
                .map(|e| format!("{}: {e}; using the built-in policy", path.display())),
            None => None,
        };
        if let Ok(Some(enrolment)) = Enrolment::load(&config.data_dir)
            && let Err(e) =
                kiosk::uplink::load_portal_policy(&config.data_dir, &enrolment, &mut policy)
        {
            policy_warning = Some(format!(
                "the portal's policy: {e}; keeping the one in force"
            ));
        }
        Ok(Kiosk {
            config,
            policy,
            policy_warning,
        })
    }

    fn keys(&self) -> Result<Keyring, Failure> {
        Keyring::open_or_create(&self.config.keys_dir()).map_err(environment)
    }

    fn store(&self) -> Result<Store, Failure> {
        std::fs::create_dir_all(&self.config.data_dir)
            .map_err(|e| environment(format!("{}: {e}", self.config.data_dir.display())))?;
        Store::open(&self.config.database_path())
            .map_err(|e| environment(format!("{}: {e}", self.config.database_path().display())))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn run(cli: &Cli) -> Result<(), Failure> {
    match &cli.command {
        Command::Check { kind, value, dob } => {
            let kiosk = Kiosk::load(cli)?;
            check(
                &kiosk.policy.current(),
                *kind,
                value.as_deref(),
                dob.as_deref(),
            )
        }
        Command::Policy { command } => policy(cli, command),
        Command::Queue {
            command: QueueCommand::List,
        } => queue_list(&Kiosk::load(cli)?),
        Command::Audit {
            command: AuditCommand::Verify,
        } => {
            let kiosk = Kiosk::load(cli)?;
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
        Command::DeviceKey => {
            let keys = Kiosk::load(cli)?.keys()?;
            if keys.was_created() {
                eprintln!("created a new device key");
            }
            println!("{}", keys.device().public_key().to_base64());
            Ok(())
        }
        Command::Modem { command, device } => modem(&Kiosk::load(cli)?, command, device.as_deref()),
        Command::Token {
            command,
            modules,
            anchors,
        } => token(&Kiosk::load(cli)?, command, modules, anchors.as_deref()),
        Command::Sync {
            command: SyncCommand::Status,
        } => sync_status(&Kiosk::load(cli)?),
        Command::Sync {
            command: SyncCommand::Now,
        } => sync_now(&Kiosk::load(cli)?),
        Command::Enrol { portal, code, pin } => {
            enrol(&Kiosk::load(cli)?, portal, code, pin.as_deref())
        }
        Command::Export { to } => export(&Kiosk::load(cli)?, to),
        Command::Status => status(&Kiosk::load(cli)?),
        Command::Selftest => selftest(&Kiosk::load(cli)?),
    }
}

fn today() -> time::Date {
    kiosk::domain::clock::local_date(OffsetDateTime::now_utc())
}

fn check(
    policy: &Policy,
    kind: CheckKind,
    value: Option<&str>,
    dob: Option<&str>,
) -> Result<(), Failure> {
    let today = today();
    let year = today.year();
    if let CheckKind::Password = kind {
        return check_password(policy);
    }
    let value = value.ok_or_else(|| Failure {
        code: 2,
        message: "a value to check is required".into(),
    })?;
    let ids = &policy.identifiers;
    let say = |label: &str, e: &dyn std::fmt::Display| invalid(format!("{label}: {e}"));
    let describe_cccd = |id: &Cccd| {
        let sex = match id.sex() {
            Sex::Male => "male",
            Sex::Female => "female",
        };
        let province = ids.province_name(id.birth_code()).unwrap_or("country code");
        format!(
            "born {}, {sex}, birth registered in {province} ({})",
            id.birth_year(),
            id.birth_code()
        )
    };
    let line = match kind {
        CheckKind::Cccd | CheckKind::Id => {
            let id = if let CheckKind::Cccd = kind {
                PersonalId::Cccd(Cccd::parse(value, ids, year).map_err(|e| say("cccd", &e))?)
            } else {
                PersonalId::parse(value, ids, year).map_err(|e| say("id", &e))?
            };
            if let Some(dob) = dob {
                let dob =
                    DateOfBirth::parse(dob, today, &policy.person).map_err(|e| say("dob", &e))?;
                id.check_birth_date(dob.date())
                    .map_err(|e| say("cccd", &e))?;
            }
            match &id {
                PersonalId::Cccd(c) => format!("cccd {}: valid; {}", c.as_str(), describe_cccd(c)),
                PersonalId::Cmnd(c) => format!("cmnd {}: valid (old identity card)", c.as_str()),
            }
        }
        CheckKind::Cmnd => {
            let c = Cmnd::parse(value).map_err(|e| say("cmnd", &e))?;
            format!("cmnd {}: valid", c.as_str())
        }
        CheckKind::Mst => {
            let m = Mst::parse(value).map_err(|e| say("mst", &e))?;
            let kind = if m.is_branch() {
                "branch"
            } else {
                "enterprise"
            };
            format!("mst {}: valid ({kind}, check digit correct)", m.as_str())
        }
        CheckKind::Bhxh => format!(
            "bhxh {}: valid",
            BhxhCode::parse(value)
                .map_err(|e| say("bhxh", &e))?
                .as_str()
        ),
        CheckKind::Phone => {
            let p = PhoneNumber::parse(value, ids).map_err(|e| say("phone", &e))?;
            format!(
                "phone {}: valid ({}, national form {})",
                p.e164(),
                p.carrier(),
                p.national()
            )
        }
        CheckKind::Email => format!(
            "email {}: valid",
            Email::parse(value).map_err(|e| say("email", &e))?.as_str()
        ),
        CheckKind::Name => {
            let n = PersonName::parse(value, &policy.person).map_err(|e| say("name", &e))?;
            format!(
                "name \"{}\": valid ({} characters, NFC)",
                n.as_str(),
                n.as_str().chars().count()
            )
        }
        CheckKind::BusinessName => {
            let n =
                BusinessName::parse(value, &policy.person).map_err(|e| say("business name", &e))?;
            format!("business name \"{}\": valid", n.as_str())
        }
        CheckKind::Dob => {
            let d = DateOfBirth::parse(value, today, &policy.person).map_err(|e| say("dob", &e))?;
            format!(
                "dob {}: valid, age {}",
                d.to_vietnamese(),
                kiosk::domain::age_on(d.date(), today)
            )
        }
        CheckKind::Password => unreachable!("handled above"),
    };
    println!("{line}");
    Ok(())
}

/// Reads the password and its confirmation from standard input, so neither
/// lands in shell history or the process list.
fn check_password(policy: &Policy) -> Result<(), Failure> {
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut next =
        || zeroize::Zeroizing::new(lines.next().and_then(Result::ok).unwrap_or_default());
    let first = next();
    let confirm = next();
    let check = PasswordCheck::evaluate(&first, &confirm, &policy.password);
    for rule in PasswordRule::ALL {
        let mark = if check.holds(rule) { "ok  " } else { "FAIL" };
        println!("{mark} {}", rule.label(&policy.password).render(Lang::En));
    }
    if check.is_ok() {
        Ok(())
    } else {
        Err(invalid(format!(
            "password: {} rule(s) not met",
            check.failing.len()
        )))
    }
}

fn policy(cli: &Cli, command: &PolicyCommand) -> Result<(), Failure> {
    match command {
        PolicyCommand::Show { built_in: true } => {
            print!("{}", Policy::built_in_text());
            Ok(())
        }
        PolicyCommand::Show { built_in: false } => {
            let kiosk = Kiosk::load(cli)?;
            if let Some(w) = &kiosk.policy_warning {
                eprintln!("warning: {w}");
            }
            print!("{}", kiosk.policy.current().to_toml());
            Ok(())
        }
        PolicyCommand::Verify { file } => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| environment(format!("{}: {e}", file.display())))?;
            let p = Policy::from_toml(&text)
                .map_err(|e| invalid(format!("{}: {e}", file.display())))?;
            println!(
                "{}: valid policy, version {} ({})",
                file.display(),
                p.version,
                p.name
            );
            Ok(())
        }
        PolicyCommand::Methods => {
            let kiosk = Kiosk::load(cli)?;
            let p = kiosk.policy.current();
            for subject in SubjectKind::ALL {
                println!("{}:", subject.as_str());
                for (method, online) in p.methods_for(subject, true) {
                    let offline = p.check_offered(method, subject, false);
                    let show = |r: &Result<_, kiosk::policy::Unavailable>| match r {
                        Ok(level) => format!("level {}", kiosk::domain::Level::get(*level)),
                        Err(why) => format!("unavailable: {why}"),
                    };
                    println!(
                        "  {:<18} online: {:<22} offline: {}",
                        method.as_str(),
                        show(&online),
                        show(&offline.map(|m| m.level))
                    );
                }
            }
            Ok(())
        }
    }
}

fn modem(kiosk: &Kiosk, command: &ModemCommand, device: Option<&Path>) -> Result<(), Failure> {
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

fn describe_certificate(cert: &kiosk_hal::token::cert::CertInfo) -> String {
    use kiosk_hal::token::cert::{Holder, SubjectId};
    let mask = |v: &str| -> String {
        let n = v.chars().count();
        v.chars()
            .enumerate()
            .map(|(i, c)| if i < 3 || i + 2 >= n { c } else { '*' })
            .collect()
    };
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

fn token(
    kiosk: &Kiosk,
    command: &TokenCommand,
    modules: &[PathBuf],
    anchors: Option<&Path>,
) -> Result<(), Failure> {
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

fn sync_status(kiosk: &Kiosk) -> Result<(), Failure> {
    let store = kiosk.store()?;
    let outbox = store.outbox().map_err(environment)?;
    let all = store.queue().map_err(environment)?;
    let count = |status: &str| all.iter().filter(|r| r.status == status).count();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    println!("waiting    {} registration(s) in the outbox", outbox.len());
    if let Some(oldest) = outbox.iter().map(|q| q.created_at).min() {
        let hours = (now - oldest).max(0) as f64 / 3600.0;
        println!("oldest     waiting for {hours:.1} h");
        let tries = outbox.iter().map(|q| q.attempts).max().unwrap_or(0);
        println!("attempts   up to {tries} per registration");
    }
    match store.last_relay_error().map_err(environment)? {
        Some(e) => println!("last error {e}"),
        None => println!("last error none"),
    }
    println!(
        "settled    {} activated, {} delivered (awaiting the portal's checks), {} duplicate, {} rejected",
        count("activated"),
        count("delivered"),
        count("duplicate"),
        count("rejected")
    );
    let state = kiosk::uplink::stored_state(&store).map_err(environment)?;
    let ago = |t: Option<i64>| {
        t.map(|t| format!("{} s ago", (now - t).max(0)))
            .unwrap_or_else(|| "never".into())
    };
    println!("delivered  last success {}", ago(state.last_success));
    println!("tried      last attempt {}", ago(state.last_attempt));
    if let Some(e) = &state.last_error {
        println!("relay      {e}");
    }
    if state.clock_skew.abs() > 60 {
        println!(
            "clock      {} s off the portal's clock (corrected when signing)",
            state.clock_skew
        );
    }
    match Enrolment::load(&kiosk.config.data_dir).map_err(environment)? {
        Some(e) => println!("portal     {} (kiosk {})", e.portal_url, e.kiosk_id),
        None if kiosk.config.portal_public_key.is_some() => println!(
            "portal     not enrolled: registrations are sealed to the configured key and wait; `kioskctl enrol` connects the kiosk, `kioskctl export` carries the queue by hand"
        ),
        None => println!(
            "portal     not configured: nothing can be sealed or sent; `kioskctl export` still works for what is queued"
        ),
    }
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(environment)
}

fn enrol(kiosk: &Kiosk, portal: &str, code: &str, pin: Option<&str>) -> Result<(), Failure> {
    let keys = kiosk.keys()?;
    let mut config = kiosk_sync::client::ClientConfig::new(portal);
    config.tls_pin = pin.map(parse_pin).transpose().map_err(usage)?;
    let key = kiosk_sync::DeviceKey::from_secret_bytes(&*keys.device().secret_bytes())
        .map_err(environment)?;
    let client = kiosk_sync::client::PortalClient::new(&config, key).map_err(usage)?;
    let answer = runtime()?
        .block_on(client.enrol(code.trim()))
        .map_err(|e| invalid(e.to_string()))?;
    kiosk_sync::PortalPublicKey::from_base64(&answer.portal_public_key)
        .map_err(|e| invalid(format!("the portal sent an invalid key: {e}")))?;
    let enrolment = Enrolment {
        portal_url: portal.to_string(),
        tls_pin: pin.map(str::to_string),
        kiosk_id: answer.kiosk_id,
        portal_public_key: answer.portal_public_key,
        policy_public_key: answer.policy_public_key,
    };
    std::fs::create_dir_all(&kiosk.config.data_dir)
        .map_err(|e| environment(format!("{}: {e}", kiosk.config.data_dir.display())))?;
    enrolment
        .save(&kiosk.config.data_dir)
        .map_err(environment)?;
    println!(
        "enrolled as kiosk {} with {portal}; registrations are sealed to the portal's key from now on",
        answer.kiosk_id
    );
    Ok(())
}

fn enrolment(kiosk: &Kiosk) -> Result<Enrolment, Failure> {
    Enrolment::load(&kiosk.config.data_dir)
        .map_err(environment)?
        .ok_or_else(|| {
            invalid("this kiosk is not enrolled: run `kioskctl enrol --portal URL --code CODE`")
        })
}

fn sync_now(kiosk: &Kiosk) -> Result<(), Failure> {
    let enrolment = enrolment(kiosk)?;
    let keys = kiosk.keys()?;
    kiosk.store()?;
    let client_config = enrolment.client_config().map_err(environment)?;
    let mut uplink = Uplink::new(
        &kiosk.config.database_path(),
        &keys,
        &client_config,
        kiosk.policy.current(),
    )
    .map_err(environment)?
    .with_policy_updates(
        &enrolment,
        kiosk::uplink::portal_policy_path(&kiosk.config.data_dir),
    )
    .map_err(environment)?;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let round = runtime()?
        .block_on(uplink.round(now))
        .map_err(environment)?;
    let status = uplink.handle().status();
    println!(
        "sent       {} upload(s): {} settled, {} to retry",
        round.uploads, round.settled, round.retried
    );
    println!(
        "statuses   {} change(s) from the portal",
        round.status_changes
    );
    if let Some(v) = round.policy_applied {
        println!(
            "policy     version {v} from the portal, verified; the kiosk applies it at its next start"
        );
    }
    if round.purged > 0 {
        println!("retention  {} sealed payload(s) deleted", round.purged);
    }
    println!("waiting    {} registration(s)", status.queue_depth);
    if status.clock_skew.abs() > 60 {
        println!(
            "clock      this kiosk's clock is {} s {} the portal's",
            status.clock_skew.abs(),
            if status.clock_skew > 0 {
                "behind"
            } else {
                "ahead of"
            }
        );
    }
    if status.relay.online {
        println!("portal     reachable");
        Ok(())
    } else {
        Err(invalid(format!(
            "the portal could not be reached: {}",
            status.relay.last_error.as_deref().unwrap_or("no answer")
        )))
    }
}

fn export(kiosk: &Kiosk, to: &Path) -> Result<(), Failure> {
    use std::io::Write;
    let store = kiosk.store()?;
    let keys = kiosk.keys()?;
    let mut envelopes = Vec::new();
    for q in store.outbox().map_err(environment)? {
        let bytes = store
            .envelope(&q.registration_id)
            .map_err(environment)?
            .unwrap_or_default();
        envelopes.push(
            kiosk_sync::Envelope::from_bytes(&bytes)
                .map_err(|e| environment(format!("registration {}: {e}", q.registration_id)))?,
        );
    }
    let count = envelopes.len();
    let file = kiosk_sync::ExportFile::new(
        &keys.device().public_key(),
        OffsetDateTime::now_utc().unix_timestamp(),
        envelopes,
    );
    let tmp = to.with_extension("partial");
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&file.to_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, to)
    };
    write().map_err(|e| environment(format!("{}: {e}", to.display())))?;
    println!(
        "exported {count} sealed registration(s) to {}",
        to.display()
    );
    println!(
        "they stay queued here until the portal confirms them; importing the file twice creates nothing twice"
    );
    Ok(())
}

fn queue_list(kiosk: &Kiosk) -> Result<(), Failure> {
    let rows = kiosk.store()?.queue().map_err(environment)?;
    if rows.is_empty() {
        println!("queue is empty");
        return Ok(());
    }
    println!(
        "{:<12}  {:<20}  {:<17}  {:<8}  {:<5}  {:<7}  {:<8}  pending",
        "reference", "created (UTC)", "method", "subject", "level", "status", "attempts"
    );
    for r in &rows {
        let created = OffsetDateTime::from_unix_timestamp(r.created_at)
            .map(|t| {
                format!(
                    "{} {:02}:{:02}:{:02}",
                    t.date(),
                    t.hour(),
                    t.minute(),
                    t.second()
                )
            })
            .unwrap_or_else(|_| r.created_at.to_string());
        println!(
            "{:<12}  {:<20}  {:<17}  {:<8}  {:<5}  {:<7}  {:<8}  {}",
            r.reference,
            created,
            r.method,
            r.subject,
            r.level,
            r.status,
            r.attempts,
            if r.pending.is_empty() {
                "-".to_string()
            } else {
                r.pending.join(",")
            }
        );
    }
    println!("{} registration(s)", rows.len());
    Ok(())
}

fn status(kiosk: &Kiosk) -> Result<(), Failure> {
    let c = &kiosk.config;
    println!("data directory   {}", c.data_dir.display());
    match (
        Enrolment::load(&c.data_dir).map_err(environment)?,
        &c.portal_public_key,
    ) {
        (Some(e), _) => println!(
            "portal key       from enrolment as kiosk {} with {}",
            e.kiosk_id, e.portal_url
        ),
        (None, Some(_)) => println!("portal key       configured (not enrolled yet)"),
        (None, None) => println!(
            "portal key       NOT configured: registrations cannot be sealed until the kiosk is enrolled or portal_public_key is set"
        ),
    }
    let p = kiosk.policy.current();
    println!(
        "policy           version {} ({}): {}",
        p.version,
        kiosk.policy.origin(),
        p.name
    );
    if let Some(w) = &kiosk.policy_warning {
        println!("policy warning   {w}");
    }
    let keys = kiosk.keys()?;
    println!(
        "device key       {}{}",
        keys.device().public_key().to_base64(),
        if keys.was_created() {
            " (created now)"
        } else {
            ""
        }
    );
    let store = kiosk.store()?;
    let queue = store.queue().map_err(environment)?;
    let queued = queue.iter().filter(|r| r.status == "queued").count();
    println!(
        "queue            {queued} waiting for the portal, {} in all",
        queue.len()
    );
    match store.verify_audit(&keys.audit_key()) {
        Ok(r) => println!("audit log        OK ({} entries)", r.entries),
        Err(e) => return Err(invalid(format!("audit log: {e}"))),
    }
    Ok(())
}

fn selftest(kiosk: &Kiosk) -> Result<(), Failure> {
    let scratch = tempdir_in(&std::env::temp_dir())?;
    let result = selftest_in(kiosk, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn tempdir_in(base: &Path) -> Result<PathBuf, Failure> {
    let dir = base.join(format!("kioskctl-selftest-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).map_err(|e| environment(format!("{}: {e}", dir.display())))?;
    Ok(dir)
}

fn selftest_in(kiosk: &Kiosk, dir: &Path) -> Result<(), Failure> {
    let policy = kiosk.policy.current();
    let step = |name: &str, ok: bool| -> Result<(), Failure> {
        println!("{} {name}", if ok { "ok  " } else { "FAIL" });
        if ok {
            Ok(())
        } else {
            Err(invalid(format!("selftest: {name}")))
        }
    };
    let keys = Keyring::open_or_create(&dir.join("keys")).map_err(environment)?;
    step(
        "keys created with owner-only permissions",
        keys.was_created(),
    )?;
    let mut store = Store::open(&dir.join("kiosk.sqlite3")).map_err(environment)?;
    step("store opened in WAL mode with full sync", true)?;

    let now = OffsetDateTime::now_utc();
    let person = SyntheticPerson {
        full_name: "Kiểm Tra Thiết Bị",
        personal_id: "051090000001",
        date_of_birth: "01/01/1990",
        phone: "0912000001",
        email: "",
        password: "Kiemtra@2026",
    };
    let draft = walk_offline_mobile(Arc::clone(&policy), &person, now, &mut rand::rng())
        .map_err(|e| invalid(format!("selftest: {e}")))?;
    step(
        "mobile-subscriber flow reached completion through OTP and password",
        true,
    )?;

    let portal = kiosk_sync::PortalSecretKey::generate();
    let portal_public = portal.public_key();
    let completer = Completer {
        keys: &keys,
        portal: &portal_public,
        cost: kiosk.config.password_hash,
    };
    let started = Instant::now();
    let hashed = kiosk::register::hash_password(person.password, kiosk.config.password_hash)
        .map_err(environment)?;
    let hash_ms = started.elapsed().as_secs_f64() * 1000.0;
    drop(hashed);
    let started = Instant::now();
    let receipt = completer
        .complete(&mut store, &draft, now)
        .map_err(environment)?;
    let complete_ms = started.elapsed().as_secs_f64() * 1000.0;
    step("sealed and committed in one transaction", true)?;
    drop(store);

    let store = Store::open(&dir.join("kiosk.sqlite3")).map_err(environment)?;
    let report = store
        .verify_audit(&keys.audit_key())
        .map_err(|e| invalid(format!("selftest: {e}")))?;
    step(
        "reopened: registration, outbox and audit chain consistent",
        report.registrations == 1,
    )?;
    let bytes = store
        .envelope(&receipt.registration_id)
        .map_err(environment)?
        .unwrap_or_default();
    let opened = kiosk_sync::Envelope::from_bytes(&bytes)
        .and_then(|e| e.open(&portal))
        .map(|plain| String::from_utf8_lossy(&plain).contains(&receipt.reference))
        .unwrap_or(false);
    step(
        "envelope opens with the portal key and carries the reference",
        opened,
    )?;
    println!(
        "password hash (Argon2id m={} KiB t={} p={}): {hash_ms:.1} ms; validate+hash+seal+commit: {complete_ms:.1} ms",
        kiosk.config.password_hash.memory_kib,
        kiosk.config.password_hash.iterations,
        kiosk.config.password_hash.parallelism
    );
    println!("selftest passed");
    Ok(())
}
