//! portal: the reference portal of the kiosk API, and its admin CLI.
//!
//! Everything lives in one data directory: the SQLite database, the X25519
//! key that opens sealed registrations and the Ed25519 key that signs the
//! policy (both owner-only). English output; exit status 0 on success,
//! 1 when the portal refuses, 2 on a usage error, 3 when its files cannot
//! be read or written.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use clap::{Parser, Subcommand};
use kiosk_portal::Portal;
use kiosk_portal::server::{self, ServerConfig, Shared};
use kiosk_sync::api::SignedPolicy;
use kiosk_sync::{DeviceKey, PortalSecretKey};

mod report;

#[derive(Parser)]
#[command(
    name = "portal",
    version,
    about = "Reference portal of the registration kiosk API"
)]
struct Cli {
    /// Data directory: database and keys.
    #[arg(
        long,
        env = "PORTAL_DATA",
        default_value = "portal-data",
        global = true
    )]
    data: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the keys, the TLS certificate and the database (once);
    /// prints what kiosks are configured with.
    Init {
        /// Names the certificate is for (DNS names or IP addresses).
        #[arg(long = "tls-name", default_values_t = ["localhost".to_string(), "127.0.0.1".to_string()])]
        tls_names: Vec<String>,
    },
    /// Print the public keys kiosks are configured with.
    Keys,
    /// Serve the kiosk API.
    Serve {
        /// Address to listen on; port 0 picks a free one (printed).
        #[arg(long, default_value = "127.0.0.1:8470")]
        listen: SocketAddr,
        /// Largest accepted distance between a kiosk's clock and ours.
        #[arg(long, default_value_t = 300)]
        max_skew_secs: i64,
        /// Serve https with the certificate from `portal init` (kiosks pin it).
        #[arg(long)]
        tls: bool,
        /// Requests per second one kiosk may keep sending (429 beyond).
        #[arg(long, default_value_t = 5.0)]
        kiosk_rate: f64,
        /// Requests one kiosk may send at once above that rate.
        #[arg(long, default_value_t = 100.0)]
        kiosk_burst: f64,
    },
    /// Issue a one-time enrolment code for a technician
    /// (XXXX-XXXX-XXXX-XXXX-XXXX-XXXX; burnt after a few wrong tries).
    EnrolCode {
        /// How long the code stays valid, in minutes.
        #[arg(long, default_value_t = 60)]
        valid_minutes: i64,
        /// A replacement code: the kiosk with this id (see `portal kiosks`)
        /// takes a new device key, and what its old key sealed stays its own.
        #[arg(long, value_name = "KIOSK_ID")]
        replaces: Option<i64>,
    },
    /// List kiosks: id, key, enrolment, revocation, last heartbeat.
    Kiosks,
    /// The latest failed enrolments: when, from where, why.
    EnrolmentFailures {
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Revoke a kiosk: its requests are refused from now on.
    Revoke { kiosk_id: i64 },
    /// Count accounts by level and pending checks (never identities).
    Accounts,
    /// The token CAs' revocation lists in use (`crl/`): issuer, when made,
    /// when the next is due, how many certificates each names.
    Crls,
    /// Load reference data for the live checks (JSON: `bhxh` records and
    /// `subscribers`); see `sync/portal/fixtures/demo.json`.
    LoadFixtures { file: PathBuf },
    /// Import a kiosk's export file (from a USB stick).
    Import { file: PathBuf },
    /// The simulated SMS and e-mail gateway: what the portal told
    /// applicants when it decided on their registrations, oldest first.
    Messages {
        /// Only messages after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: i64,
    },
    /// What became of a registration, by the reference number its
    /// applicant was given (as a kiosk's lookup shows it).
    Lookup { reference: String },
    /// The account a kiosk's hand-off code (HD-XXXX-XXXX) points at, for a
    /// counter clerk, who then checks the person against it.
    Handoff { code: String },
    /// The complaints queue: people who say an account made with their
    /// identity is not theirs (identities masked), newest first.
    Complaints,
    /// Mark a complaint (KN-XXXX-XXXX) settled: the kiosk that took it
    /// and the contact number are told.
    ResolveComplaint { reference: String },
    /// The simulated phone of mobile-signature subscribers: list the
    /// requests waiting on a phone, and answer one as its holder would.
    Phone {
        #[command(subcommand)]
        command: PhoneCommand,
    },
    /// Sign and publish a policy document (TOML) as the next version.
    PublishPolicy {
        file: PathBuf,
        /// The version; must be above every published one.
        #[arg(long)]
        version: u64,
    },
}

#[derive(Subcommand)]
enum PhoneCommand {
    /// Requests waiting on a phone: id, number, text shown, seconds left.
    List,
    /// The holder confirms with their SIM PIN: the text is signed.
    Confirm { id: String },
    /// The holder refuses.
    Refuse { id: String },
    /// The holder never answers: the request times out now.
    Expire { id: String },
}

struct Failure {
    code: u8,
    message: String,
}

fn refused(message: impl std::fmt::Display) -> Failure {
    Failure {
        code: 1,
        message: message.to_string(),
    }
}

fn environment(message: impl std::fmt::Display) -> Failure {
    Failure {
        code: 3,
        message: message.to_string(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Requests are logged at info; RUST_LOG chooses otherwise.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("warn,kiosk_portal=info,portal=info")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("portal: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn now() -> i64 {
    server::now()
}

fn write_secret(path: &Path, text: &str) -> Result<(), Failure> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| environment(format!("{}: {e}", path.display())))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| environment(format!("{}: {e}", path.display())))
}

fn read_secret(path: &Path) -> Result<zeroize::Zeroizing<Vec<u8>>, Failure> {
    let text =
        zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            environment(format!("{}: {e} (run `portal init` first)", path.display()))
        })?);
    B64.decode(text.trim())
        .map(zeroize::Zeroizing::new)
        .map_err(|e| environment(format!("{}: {e}", path.display())))
}

struct Keys {
    portal: PortalSecretKey,
    policy: DeviceKey,
}

fn keys(data: &Path) -> Result<Keys, Failure> {
    let portal = PortalSecretKey::from_bytes(&read_secret(&data.join("portal.key"))?)
        .map_err(environment)?;
    let policy = DeviceKey::from_secret_bytes(&read_secret(&data.join("policy.key"))?)
        .map_err(environment)?;
    Ok(Keys { portal, policy })
}

/// The portal on `data`, trusting its own signing service's CA, the token
/// CAs in `token-ca/` with their revocation lists in `crl/`, and the CSCA
/// list in `csca/` for the chips of CCCD cards.
fn open(data: &Path) -> Result<(Portal, DeviceKey), Failure> {
    let keys = keys(data)?;
    let mut portal =
        Portal::open(&data.join("portal.sqlite3"), keys.portal).map_err(environment)?;
    let mssp_ca = data.join("mssp-ca.crt");
    if mssp_ca.exists() {
        let pem = std::fs::read(&mssp_ca)
            .map_err(|e| environment(format!("{}: {e}", mssp_ca.display())))?;
        portal.trust_signature_ca(&pem).map_err(environment)?;
    }
    let token_cas = data.join("token-ca");
    if token_cas.is_dir() {
        // A list that cannot be used is logged (a warning, with its file
        // and why) here and whenever the directory changes.
        portal
            .trust_token_cas(&token_cas, &data.join("crl"))
            .map_err(environment)?;
    }
    let cscas = data.join("csca");
    if cscas.is_dir() {
        let n = portal.trust_cscas(&cscas).map_err(environment)?;
        tracing::info!(certificates = n, "CSCA list for ID card chips");
    }
    Ok((portal, keys.policy))
}

fn print_keys(data: &Path, keys: &Keys) -> Result<(), Failure> {
    println!(
        "portal_public_key = \"{}\"",
        keys.portal.public_key().to_base64()
    );
    println!(
        "policy_public_key = \"{}\"",
        keys.policy.public_key().to_base64()
    );
    let cert = read_text(&data.join("tls.crt"))?;
    let pin = kiosk_portal::tls::pin_of_pem(&cert).map_err(environment)?;
    let hex: String = pin.iter().map(|b| format!("{b:02x}")).collect();
    println!("tls_pin = \"{hex}\"");
    Ok(())
}

fn read_text(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .map_err(|e| environment(format!("{}: {e} (run `portal init` first)", path.display())))
}

fn run(cli: &Cli) -> Result<(), Failure> {
    let data = &cli.data;
    match &cli.command {
        Command::Init { tls_names } => {
            std::fs::create_dir_all(data)
                .map_err(|e| environment(format!("{}: {e}", data.display())))?;
            if !data.join("portal.key").exists() {
                write_secret(
                    &data.join("portal.key"),
                    &zeroize::Zeroizing::new(
                        B64.encode(PortalSecretKey::generate().secret_bytes().as_slice()),
                    ),
                )?;
            }
            if !data.join("policy.key").exists() {
                write_secret(
                    &data.join("policy.key"),
                    &zeroize::Zeroizing::new(
                        B64.encode(DeviceKey::generate().secret_bytes().as_slice()),
                    ),
                )?;
            }
            if !data.join("mssp.key").exists() {
                let mssp = kiosk_portal::mssp::Mssp::generate().map_err(environment)?;
                write_secret(&data.join("mssp.key"), &mssp.key_pem())?;
                std::fs::write(data.join("mssp-ca.crt"), mssp.ca_pem())
                    .map_err(|e| environment(format!("{}: {e}", data.display())))?;
            }
            for dir in ["token-ca", "crl"] {
                std::fs::create_dir_all(data.join(dir))
                    .map_err(|e| environment(format!("{}: {e}", data.display())))?;
            }
            if !data.join("tls.crt").exists() {
                let (cert, key, _) =
                    kiosk_portal::tls::self_signed(tls_names).map_err(environment)?;
                write_secret(&data.join("tls.key"), &zeroize::Zeroizing::new(key))?;
                std::fs::write(data.join("tls.crt"), cert)
                    .map_err(|e| environment(format!("{}: {e}", data.display())))?;
            }
            open(data)?;
            print_keys(data, &keys(data)?)
        }
        Command::Keys => print_keys(data, &keys(data)?),
        Command::Serve {
            listen,
            max_skew_secs,
            tls,
            kiosk_rate,
            kiosk_burst,
        } => {
            let (portal, policy) = open(data)?;
            let tls_config = if *tls {
                let key = zeroize::Zeroizing::new(read_text(&data.join("tls.key"))?);
                Some(
                    kiosk_portal::tls::server_config(&read_text(&data.join("tls.crt"))?, &key)
                        .map_err(environment)?,
                )
            } else {
                None
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(environment)?;
            runtime.block_on(async {
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .map_err(|e| environment(format!("listen on {listen}: {e}")))?;
                let address = listener.local_addr().map_err(environment)?;
                let scheme = if tls_config.is_some() {
                    "https"
                } else {
                    "http"
                };
                println!("portal: serving the kiosk API on {scheme}://{address}");
                std::io::stdout().flush().ok();
                let shared = Shared::new(
                    portal,
                    policy,
                    ServerConfig {
                        max_skew_secs: *max_skew_secs,
                        kiosk_rate: server::Rate {
                            per_sec: *kiosk_rate,
                            burst: *kiosk_burst,
                        },
                        ..ServerConfig::default()
                    },
                );
                let shutdown = async {
                    let mut term =
                        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                            .expect("SIGTERM handler");
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = term.recv() => {}
                    }
                };
                match tls_config {
                    Some(config) => server::serve(
                        kiosk_portal::tls::TlsListener::new(listener, config),
                        shared,
                        shutdown,
                    )
                    .await
                    .map_err(environment),
                    None => server::serve(listener, shared, shutdown)
                        .await
                        .map_err(environment),
                }
            })
        }
        Command::EnrolCode {
            valid_minutes,
            replaces,
        } => {
            let (mut portal, _) = open(data)?;
            let code = match replaces {
                None => portal
                    .issue_enrolment_code(now(), valid_minutes * 60)
                    .map_err(environment)?,
                Some(kiosk) => portal
                    .issue_replacement_code(*kiosk, now(), valid_minutes * 60)
                    .map_err(|e| match e {
                        kiosk_portal::PortalError::UnknownKiosk => {
                            environment(format!("no kiosk has id {kiosk} (see `portal kiosks`)"))
                        }
                        other => environment(format!("kiosk {kiosk}: {other}")),
                    })?,
            };
            println!("{code}");
            Ok(())
        }
        Command::EnrolmentFailures { limit } => report::enrolment_failures(&open(data)?.0, *limit),
        Command::Kiosks => report::kiosks(&open(data)?.0),
        Command::Revoke { kiosk_id } => {
            let (mut portal, _) = open(data)?;
            if !portal
                .kiosks()
                .map_err(environment)?
                .iter()
                .any(|k| k.id == *kiosk_id)
            {
                return Err(refused(format!("no kiosk has id {kiosk_id}")));
            }
            portal.revoke(*kiosk_id, now()).map_err(environment)?;
            println!("kiosk {kiosk_id} revoked");
            Ok(())
        }
        Command::Accounts => report::accounts(&open(data)?.0),
        Command::Messages { after } => report::messages(&open(data)?.0, *after),
        Command::Lookup { reference } => report::lookup(&open(data)?.0, reference),
        Command::Handoff { code } => report::handoff(&open(data)?.0, code),
        Command::Complaints => report::complaints(&open(data)?.0),
        Command::ResolveComplaint { reference } => {
            if open(data)?
                .0
                .resolve_complaint(reference, now())
                .map_err(environment)?
            {
                println!("{reference}: resolved; the kiosk and the contact number are told");
                Ok(())
            } else {
                Err(refused("no open complaint has that reference"))
            }
        }
        Command::Crls => report::crls(&mut open(data)?.0),
        Command::Import { file } => {
            let (mut portal, _) = open(data)?;
            let bytes =
                std::fs::read(file).map_err(|e| environment(format!("{}: {e}", file.display())))?;
            let outcomes = portal.import(&bytes, now()).map_err(refused)?;
            let count = |f: fn(&kiosk_sync::relay::ItemOutcome) -> bool| {
                outcomes.iter().filter(|(_, o)| f(o)).count()
            };
            use kiosk_sync::relay::ItemOutcome as O;
            println!(
                "imported {} registration(s): {} accepted, {} duplicate, {} rejected",
                outcomes.len(),
                count(|o| matches!(o, O::Accepted)),
                count(|o| matches!(o, O::Duplicate)),
                count(|o| matches!(o, O::Rejected(_)))
            );
            Ok(())
        }
        Command::LoadFixtures { file } => {
            let (mut portal, _) = open(data)?;
            let text =
                std::fs::read(file).map_err(|e| environment(format!("{}: {e}", file.display())))?;
            let fixtures: kiosk_portal::Fixtures = serde_json::from_slice(&text)
                .map_err(|e| refused(format!("{}: {e}", file.display())))?;
            let (bhxh, subscribers) = portal.load_fixtures(&fixtures).map_err(environment)?;
            println!("loaded {bhxh} BHXH record(s) and {subscribers} subscriber(s)");
            Ok(())
        }
        Command::Phone { command } => {
            let (mut portal, _) = open(data)?;
            let answer = match command {
                PhoneCommand::List => {
                    println!("id                                seconds  number        text");
                    for p in portal.pending_signatures(now()).map_err(environment)? {
                        println!(
                            "{}  {:>7}  {:<12}  {}",
                            p.id,
                            (p.expires_at - now()).max(0),
                            p.phone,
                            p.display_text
                        );
                    }
                    return Ok(());
                }
                PhoneCommand::Confirm { id } => (id, kiosk_portal::PhoneAnswer::Confirm),
                PhoneCommand::Refuse { id } => (id, kiosk_portal::PhoneAnswer::Refuse),
                PhoneCommand::Expire { id } => (id, kiosk_portal::PhoneAnswer::Expire),
            };
            let mssp = kiosk_portal::mssp::Mssp::from_key_pem(&zeroize::Zeroizing::new(read_text(
                &data.join("mssp.key"),
            )?))
            .map_err(environment)?;
            match portal
                .answer_signature(answer.0, answer.1, &mssp, now())
                .map_err(environment)?
            {
                Some(s) => {
                    println!("session {}: {}", s.id, s.state.as_str());
                    Ok(())
                }
                None => Err(refused(format!("no session has id {}", answer.0))),
            }
        }
        Command::PublishPolicy { file, version } => {
            let (mut portal, policy_key) = open(data)?;
            let document = std::fs::read_to_string(file)
                .map_err(|e| environment(format!("{}: {e}", file.display())))?;
            let signed = SignedPolicy::sign(*version, document, &policy_key);
            portal.publish_policy(&signed, now()).map_err(refused)?;
            println!("policy version {version} published");
            Ok(())
        }
    }
}
