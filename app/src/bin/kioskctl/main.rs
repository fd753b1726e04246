//! kioskctl: diagnostics and administration of a registration kiosk, for
//! technicians and scripts. English output; exit status 0 when all is well,
//! 1 when the thing checked is invalid, 2 on a usage error, 3 when the kiosk's
//! own files cannot be read.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use kiosk::config::{Config, DEFAULT_CONFIG};
use kiosk::keys::Keyring;
use kiosk::policy::ActivePolicy;
use kiosk::store::Store;
use kiosk::uplink::Enrolment;

mod appliance;
mod check;
mod devices;
mod policy;
mod queue;
mod selftest;
mod sync;

use appliance::{audit, clerk, update};
use check::check;
use devices::{card, modem, token};
use policy::policy;
use queue::{queue_list, status, store};
use selftest::selftest;
use sync::{enrol, export, sync_now, sync_status};

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
    /// The database file: check it, and salvage a damaged one.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
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
    /// The smartcard reader and the chip in a CCCD card.
    Card {
        #[command(subcommand)]
        command: CardCommand,
        /// CSCA directory (overrides [card] csca).
        #[arg(long, global = true)]
        csca: Option<PathBuf>,
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
    /// Signed A/B updates of the appliance (see app/src/update.rs).
    Update {
        #[command(subcommand)]
        command: UpdateCommand,
    },
    /// A post-office counter's clerks: what `[[counter.clerks]]` needs.
    Clerk {
        #[command(subcommand)]
        command: ClerkCommand,
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
enum CardCommand {
    /// Readers, whether a card is on each, and its ATR.
    Status,
    /// Open the chip with what is printed on the card, read it, and verify
    /// it step by step (personal data masked).
    Read {
        /// The 12-digit personal number printed on the card.
        #[arg(long)]
        number: String,
        /// Date of birth, dd/mm/yyyy.
        #[arg(long)]
        birth: String,
        /// Date of expiry, dd/mm/yyyy ("Có giá trị đến").
        #[arg(long)]
        expiry: String,
        /// The reader to use (default: the first with a card).
        #[arg(long)]
        reader: Option<String>,
        /// Read DG2 (the face) too, and say what it holds.
        #[arg(long)]
        photo: bool,
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
enum StoreCommand {
    /// Run SQLite's quick_check on the database file.
    Check,
    /// Set a damaged database file aside and build a new one from every
    /// registration, outbox row and audit entry that can still be read.
    Salvage {
        /// Salvage even a database that checks out sound.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand, Clone)]
pub(crate) enum UpdateCommand {
    /// On the build host: a new update key pair, `update-key.secret` (keep
    /// it off the kiosks) and `update-key.pub` (into the image).
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// On the build host: sign a bundle directory holding rootfs.img,
    /// vmlinuz and initrd.img.
    Sign {
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        version: String,
        bundle: PathBuf,
    },
    /// On the kiosk (root): verify a bundle and write it to the slot not
    /// booted, with a boot entry tried once. With --from-stick, BUNDLE is
    /// a USB stick's mount point holding `kiosk-update/`; a stick without
    /// one, or with the version running or one that failed its try, is
    /// left alone (exit 0 with nothing done, 4 once written).
    Apply {
        bundle: PathBuf,
        #[arg(long)]
        from_stick: bool,
        #[arg(long, default_value = "/etc/kiosk-release")]
        release: PathBuf,
        #[arg(long, default_value = "/etc/kiosk/update-key.pub")]
        key: PathBuf,
        #[arg(long, default_value = "/dev/disk/by-partlabel")]
        partitions: PathBuf,
        #[arg(long, default_value = "/efi")]
        esp: PathBuf,
        #[arg(long, default_value = "/proc/cmdline")]
        cmdline: PathBuf,
    },
}

#[derive(Subcommand)]
pub(crate) enum ClerkCommand {
    /// Read a clerk's PIN (4 to 16 letters or digits) from standard input
    /// and print its Argon2id hash for `pin_hash`.
    HashPin,
    /// Print the SHA-256 of a clerk's token certificate (PEM or DER) for
    /// `token_sha256`.
    Fingerprint { certificate: PathBuf },
}

#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    /// Verify the chain and cross-check it against registrations and outbox.
    Verify,
    /// Print every entry: time, event, detail (staff codes and outcomes,
    /// never a citizen's data).
    List,
}

/// An error worth a message and an exit status (named apart from the
/// flows' `Failure`, which is a citizen's).
pub(crate) struct CtlError {
    code: u8,
    message: String,
}

pub(crate) fn invalid(message: impl Into<String>) -> CtlError {
    CtlError {
        code: 1,
        message: message.into(),
    }
}

pub(crate) fn usage(message: impl std::fmt::Display) -> CtlError {
    CtlError {
        code: 2,
        message: message.to_string(),
    }
}

pub(crate) fn environment(message: impl std::fmt::Display) -> CtlError {
    CtlError {
        code: 3,
        message: message.to_string(),
    }
}

pub(crate) struct Kiosk {
    pub(crate) config: Config,
    pub(crate) policy: ActivePolicy,
    pub(crate) policy_warning: Option<String>,
}

impl Kiosk {
    pub(crate) fn load(cli: &Cli) -> Result<Kiosk, CtlError> {
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
        // An enrolled kiosk has its data directory, and in it the store
        // that knows the newest policy version seen.
        if let Ok(Some(enrolment)) = Enrolment::load(&config.data_dir)
            && let Err(e) = Store::open(&config.database_path())
                .map_err(kiosk::uplink::UplinkError::from)
                .and_then(|mut store| {
                    kiosk::uplink::load_portal_policy(
                        &config.data_dir,
                        &enrolment,
                        &mut policy,
                        &mut store,
                    )
                })
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

    pub(crate) fn keys(&self) -> Result<Keyring, CtlError> {
        Keyring::open_or_create(&self.config.keys_dir()).map_err(environment)
    }

    pub(crate) fn store(&self) -> Result<Store, CtlError> {
        std::fs::create_dir_all(&self.config.data_dir)
            .map_err(|e| environment(format!("{}: {e}", self.config.data_dir.display())))?;
        Store::open(&self.config.database_path())
            .map_err(|e| environment(format!("{}: {e}", self.config.database_path().display())))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The console speaks for itself; the library's warnings show too.
    kiosk::logging::init("kioskctl", Some("warn"));
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn run(cli: &Cli) -> Result<(), CtlError> {
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
        Command::Store { command } => store(&Kiosk::load(cli)?, command),
        Command::Audit { command } => audit(&Kiosk::load(cli)?, command),
        Command::Update { command } => update(command.clone()),
        Command::Clerk { command } => clerk(command),
        Command::DeviceKey => {
            let keys = Kiosk::load(cli)?.keys()?;
            if keys.was_created() {
                eprintln!("created a new device key");
            }
            println!("{}", keys.device().public_key().to_base64());
            // What the setup page shows, for the portal's administrator.
            eprintln!(
                "fingerprint {}",
                kiosk::controller::device_fingerprint(&keys.device().public_key().to_bytes())
            );
            Ok(())
        }
        Command::Modem { command, device } => modem(&Kiosk::load(cli)?, command, device.as_deref()),
        Command::Token {
            command,
            modules,
            anchors,
        } => token(&Kiosk::load(cli)?, command, modules, anchors.as_deref()),
        Command::Card { command, csca } => card(&Kiosk::load(cli)?, command, csca.as_deref()),
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
