//! The kiosk's configuration file, `/etc/kiosk/kiosk.toml` by default
//! (`KIOSK_CONFIG` or `--config` elsewhere). Every key is optional.
//!
//! ```toml
//! data_dir = "/var/lib/kiosk"
//! # Until enrolment (sync issue), registrations are sealed to this key.
//! portal_public_key = "base64 of the portal's X25519 public key"
//! policy_file = "/etc/kiosk/policy.toml"
//!
//! [modem]           # one of: a device path (a by-id link survives replugging)
//! device = "/dev/serial/by-id/usb-HUAWEI_Mobile-if02-port0"
//! # usb = "12d1:1506"   # vendor:product, with the AT interface number
//! # interface = 2
//!
//! [token]           # USB signing tokens
//! modules = ["/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"]   # the CAs' PKCS#11 drivers
//! trust_anchors = "/etc/kiosk/trust"   # National Root CA and licensed CAs, PEM or DER
//!
//! [card]          # the smartcard reader for the chip in CCCD cards
//! csca = "/etc/kiosk/csca"   # Country Signing CA certificates, PEM or DER
//!
//! [counter]       # a post-office counter: the office's clerks sign in
//! [[counter.clerks]]
//! id = "BD-KS-0001"                 # staff code, what the audit records
//! name = "Nguyễn Thị Lan"
//! pin_hash = "$argon2id$v=19$…"     # kioskctl clerk hash-pin
//! token_sha256 = "…"                # kioskctl clerk fingerprint CERT (optional)
//!
//! [technician]    # five taps on the clock, then this PIN: the technician's page
//! pin_hash = "$argon2id$v=19$…"     # kioskctl clerk hash-pin
//! usb_dirs = ["/media"]             # where USB sticks are mounted (kiosk-enrol.toml)
//!
//! [password_hash]   # Argon2id cost; defaults follow OWASP's minimum
//! memory_kib = 19456
//! iterations = 2
//! parallelism = 1
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub const DEFAULT_CONFIG: &str = "/etc/kiosk/kiosk.toml";
pub const DEFAULT_DATA_DIR: &str = "/var/lib/kiosk";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Argon2id cost parameters for the account password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordHashCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for PasswordHashCost {
    fn default() -> Self {
        PasswordHashCost {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    pub portal_public_key: Option<String>,
    pub policy_file: Option<PathBuf>,
    #[serde(default)]
    pub password_hash: PasswordHashCost,
    pub modem: Option<ModemSection>,
    #[serde(default)]
    pub token: TokenSection,
    #[serde(default)]
    pub card: CardSection,
    /// Which log events are kept, as `RUST_LOG` takes them (`"info"`,
    /// `"warn,kiosk::uplink=debug"`); `RUST_LOG` itself wins.
    pub log: Option<String>,
    /// Present on a post-office counter: the clerks who may sign in.
    pub counter: Option<CounterSection>,
    #[serde(default)]
    pub technician: TechnicianSection,
}

/// The technician's pages: their PIN, and where a USB stick appears.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TechnicianSection {
    /// Argon2id of the technician's PIN; without it the technician's pages
    /// show only on a kiosk never enrolled.
    pub pin_hash: Option<String>,
    #[serde(default = "default_usb_dirs")]
    pub usb_dirs: Vec<PathBuf>,
}

fn default_usb_dirs() -> Vec<PathBuf> {
    ["/media", "/run/media", "/mnt"]
        .into_iter()
        .map(PathBuf::from)
        .collect()
}

impl Default for TechnicianSection {
    fn default() -> Self {
        TechnicianSection {
            pin_hash: None,
            usb_dirs: default_usb_dirs(),
        }
    }
}

/// The counter's clerks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterSection {
    pub clerks: Vec<crate::counter::Clerk>,
}

impl CounterSection {
    pub fn roster(&self) -> Result<crate::counter::Roster, String> {
        crate::counter::Roster::new(self.clerks.clone()).map_err(|p| p.join("; "))
    }
}

/// The PKCS#11 modules to load and the CAs to trust.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSection {
    #[serde(default)]
    pub modules: Vec<PathBuf>,
    #[serde(default = "default_trust_anchors")]
    pub trust_anchors: PathBuf,
}

fn default_trust_anchors() -> PathBuf {
    PathBuf::from("/etc/kiosk/trust")
}

impl Default for TokenSection {
    fn default() -> Self {
        TokenSection {
            modules: Vec::new(),
            trust_anchors: default_trust_anchors(),
        }
    }
}

/// The chip in the citizen's CCCD card: whose signatures prove it genuine.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardSection {
    /// The CSCA list: every certificate in the directory is a Country
    /// Signing CA whose Document Signers the kiosk believes.
    #[serde(default = "default_csca")]
    pub csca: PathBuf,
}

fn default_csca() -> PathBuf {
    PathBuf::from("/etc/kiosk/csca")
}

impl Default for CardSection {
    fn default() -> Self {
        CardSection {
            csca: default_csca(),
        }
    }
}

/// Where the GSM modem is.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModemSection {
    pub device: Option<PathBuf>,
    /// `vendor:product` in hex, e.g. `12d1:1506`.
    pub usb: Option<String>,
    /// The USB interface that speaks AT commands.
    pub interface: Option<u8>,
}

impl ModemSection {
    pub fn locator(&self) -> Result<kiosk_hal::modem::Locator, String> {
        match (&self.device, &self.usb) {
            (Some(path), None) => Ok(kiosk_hal::modem::Locator::Path(path.clone())),
            (None, Some(usb)) => {
                let (v, p) = usb
                    .split_once(':')
                    .ok_or("modem.usb must be vendor:product in hex, e.g. 12d1:1506")?;
                let hex = |t: &str| {
                    u16::from_str_radix(t, 16)
                        .map_err(|_| format!("modem.usb: {t:?} is not a hex number"))
                };
                Ok(kiosk_hal::modem::Locator::Usb {
                    vendor: hex(v)?,
                    product: hex(p)?,
                    interface: self.interface,
                })
            }
            _ => Err("modem: set exactly one of device or usb".into()),
        }
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from(DEFAULT_DATA_DIR)
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: default_data_dir(),
            portal_public_key: None,
            policy_file: None,
            password_hash: PasswordHashCost::default(),
            modem: None,
            token: TokenSection::default(),
            card: CardSection::default(),
            log: None,
            counter: None,
            technician: TechnicianSection::default(),
        }
    }
}

impl Config {
    /// Reads `path`; a missing file gives the defaults (a kiosk that was
    /// never configured still starts and says what it lacks).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                });
            }
        };
        let config: Config = toml::from_str(&text).map_err(|e| ConfigError::Invalid {
            path: path.to_path_buf(),
            message: e.message().to_string(),
        })?;
        if let Some(key) = &config.portal_public_key {
            kiosk_sync::PortalPublicKey::from_base64(key).map_err(|_| ConfigError::Invalid {
                path: path.to_path_buf(),
                message: "portal_public_key is not a base64 X25519 public key (32 bytes)".into(),
            })?;
        }
        if let Some(modem) = &config.modem {
            modem.locator().map_err(|message| ConfigError::Invalid {
                path: path.to_path_buf(),
                message,
            })?;
        }
        if let Some(counter) = &config.counter {
            let roster = counter.roster().map_err(|message| ConfigError::Invalid {
                path: path.to_path_buf(),
                message,
            })?;
            if roster.is_empty() {
                return Err(ConfigError::Invalid {
                    path: path.to_path_buf(),
                    message: "counter: no clerks listed (remove [counter] on a self-service kiosk)"
                        .into(),
                });
            }
        }
        if let Some(hash) = &config.technician.pin_hash
            && !argon2::PasswordHash::new(hash).is_ok_and(|h| h.algorithm.as_str() == "argon2id")
        {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                message:
                    "technician.pin_hash is not an Argon2id PHC string (kioskctl clerk hash-pin)"
                        .into(),
            });
        }
        let cost = config.password_hash;
        if argon2::Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None).is_err() {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                message: "password_hash: Argon2 parameters out of range".into(),
            });
        }
        Ok(config)
    }

    pub fn keys_dir(&self) -> PathBuf {
        self.data_dir.join("keys")
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("kiosk.sqlite3")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_gives_defaults() {
        let c = Config::load(Path::new("/nonexistent/kiosk.toml")).unwrap();
        assert_eq!(c.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert_eq!(c.password_hash, PasswordHashCost::default());
    }

    #[test]
    fn the_modem_is_a_path_or_a_usb_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kiosk.toml");
        std::fs::write(&path, "[modem]\nusb = \"12d1:1506\"\ninterface = 2\n").unwrap();
        let locator = Config::load(&path)
            .unwrap()
            .modem
            .unwrap()
            .locator()
            .unwrap();
        assert_eq!(
            locator,
            kiosk_hal::modem::Locator::Usb {
                vendor: 0x12d1,
                product: 0x1506,
                interface: Some(2)
            }
        );
        std::fs::write(&path, "[modem]\nusb = \"12d1\"\n").unwrap();
        assert!(
            Config::load(&path)
                .unwrap_err()
                .to_string()
                .contains("vendor:product")
        );
        std::fs::write(
            &path,
            "[modem]\ndevice = \"/dev/ttyUSB2\"\nusb = \"12d1:1506\"\n",
        )
        .unwrap();
        assert!(
            Config::load(&path)
                .unwrap_err()
                .to_string()
                .contains("exactly one")
        );
    }

    #[test]
    fn a_counters_clerks_are_read_and_every_problem_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kiosk.toml");
        let hash = crate::register::hash_password(
            "246810",
            PasswordHashCost {
                memory_kib: 64,
                iterations: 1,
                parallelism: 1,
            },
        )
        .unwrap();
        std::fs::write(
            &path,
            format!(
                "[counter]\n[[counter.clerks]]\nid = \"BD-KS-0001\"\nname = \"Nguyễn Thị Lan\"\npin_hash = \"{}\"\n",
                hash.as_str()
            ),
        )
        .unwrap();
        let config = Config::load(&path).unwrap();
        assert!(!config.counter.unwrap().roster().unwrap().is_empty());
        std::fs::write(
            &path,
            "[counter]\n[[counter.clerks]]\nid = \"BD-KS-0001\"\nname = \"Lan\"\n",
        )
        .unwrap();
        let e = Config::load(&path).unwrap_err().to_string();
        assert!(e.contains("needs pin_hash or token_sha256"), "{e}");
        std::fs::write(&path, "[counter]\nclerks = []\n").unwrap();
        let e = Config::load(&path).unwrap_err().to_string();
        assert!(e.contains("no clerks"), "{e}");
    }

    #[test]
    fn bad_values_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kiosk.toml");
        std::fs::write(&path, "portal_public_key = \"nope\"\n").unwrap();
        assert!(
            Config::load(&path)
                .unwrap_err()
                .to_string()
                .contains("portal_public_key")
        );
        std::fs::write(&path, "data_dirr = \"/x\"\n").unwrap();
        assert!(
            Config::load(&path)
                .unwrap_err()
                .to_string()
                .contains("data_dirr")
        );
        std::fs::write(
            &path,
            "[password_hash]\nmemory_kib = 1\niterations = 1\nparallelism = 1\n",
        )
        .unwrap();
        assert!(
            Config::load(&path)
                .unwrap_err()
                .to_string()
                .contains("Argon2")
        );
    }
}
