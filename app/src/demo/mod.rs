//! The kiosk with simulated devices, for a newcomer to try and for the
//! headless walk: the modem simulator on a pseudo-terminal (the kiosk talks
//! AT commands to it over a real serial device), a real store and keys in a
//! data directory, and the reference portal on loopback, to which the demo
//! kiosk enrols at every start and delivers what it registers, over HTTP,
//! signed, exactly as in the field. The portal's keys and database stay in
//! the demo directory (`portal/`), so what the kiosk sealed can be opened.
//!
//! What the simulated phone received is readable through [`Demo::sms`]: the
//! demo phone panel and the walk read the OTP from it, as a citizen reads it
//! off their phone.

use crate::domain::clock::Clock;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kiosk_hal::modem::sim::Simulator;
use kiosk_hal::modem::{Locator, ModemConfig, ModemService};
use kiosk_hal::token::cert::TrustAnchors;
use kiosk_portal::mssp::Mssp;
use kiosk_portal::server::{self, ServerConfig, Shared};
use kiosk_portal::{PhoneAnswer, Portal};
use kiosk_sync::client::{ClientConfig, PortalClient};
use kiosk_sync::{DeviceKey, PortalSecretKey};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::config::PasswordHashCost;
use crate::controller::Controller;
use crate::keys::{self, Keyring};
use crate::policy::Policy;
use crate::store::Store;
use crate::token::TokenService;
use crate::uplink::{AsyncRuntime, Enrolment, LiveChecks, Uplink};
use crate::worker::{Backend, Worker};

mod card;
mod phone;

pub use card::DemoCard;
use phone::Inbox;
pub use phone::{DemoSms, attach_phone};

/// The manual's policy with the demo province's service counters
/// (`demo/counters.toml`), as its portal would publish them.
fn demo_policy() -> Result<Policy, String> {
    #[derive(serde::Deserialize)]
    struct Counters {
        counters: Vec<crate::policy::Counter>,
    }
    let listed: Counters =
        toml::from_str(include_str!("counters.toml")).map_err(|e| format!("demo counters: {e}"))?;
    let mut policy = Policy::built_in().clone();
    policy.counters = listed.counters;
    Ok(policy)
}

/// A running demo kiosk's devices and portal.
#[derive(Debug)]
pub struct Demo {
    sim: Simulator,
    /// The demo phone's inbox in the order messages reached it: the
    /// kiosk's codes through its modem, the portal's word on decisions
    /// through its gateway.
    inbox: std::sync::Mutex<Inbox>,
    portal: Arc<Shared>,
    mssp: Mssp,
    token: bool,
    card: Option<Arc<DemoCard>>,
    // Dropped before the pseudo-terminal's directory: it stops the portal.
    _background: AsyncRuntime,
    _tty: tempfile::TempDir,
}

impl Demo {
    /// Starts the simulated devices and a controller on `data_dir`.
    pub fn start(data_dir: &Path, clock: Box<dyn Clock>) -> Result<(Demo, Controller), String> {
        std::fs::create_dir_all(data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
        let keys = Keyring::open_or_create(&data_dir.join("keys")).map_err(|e| e.to_string())?;
        let store = Store::open(&data_dir.join("kiosk.sqlite3")).map_err(|e| e.to_string())?;
        let mut background = AsyncRuntime::new().map_err(|e| e.to_string())?;
        let (portal, portal_url) = start_portal(data_dir, &mut background)?;
        let mssp = demo_mssp(data_dir)?;
        // The portal checks mobile signatures against its own signing
        // service's CA, as the kiosk does.
        portal
            .portal()
            .trust_signature_ca(mssp.ca_pem().as_bytes())
            .map_err(|e| e.to_string())?;
        let enrolment = enrol(&portal, &portal_url, &keys, &background)?;
        enrolment.save(data_dir).map_err(|e| e.to_string())?;
        let sealing = kiosk_sync::PortalPublicKey::from_base64(&enrolment.portal_public_key)
            .map_err(|e| e.to_string())?;
        let tty = tempfile::tempdir().map_err(|e| e.to_string())?;
        let link = tty.path().join("ttyDemoModem");
        let sim = Simulator::start(&link).map_err(|e| format!("modem simulator: {e}"))?;
        let modem = ModemService::spawn(ModemConfig::new(Locator::Path(link)));
        modem.wait_for_health(Duration::from_secs(10), |h| h.can_send());
        let policy = Arc::new(demo_policy()?);
        let uplink = Uplink::new(
            &data_dir.join("kiosk.sqlite3"),
            &keys,
            &enrolment.client_config().map_err(|e| e.to_string())?,
            Arc::clone(&policy),
        )
        .and_then(|u| {
            u.with_policy_updates(&enrolment, crate::uplink::portal_policy_path(data_dir))
        })
        .map_err(|e| e.to_string())?;
        let uplink = background.start_uplink(uplink);
        let live = LiveChecks::new(
            &keys,
            &enrolment,
            background.runtime().handle().clone(),
            uplink.clone(),
        )
        .map_err(|e| e.to_string())?
        .with_anchors(demo_anchors(data_dir, &mssp)?);
        let tokens = demo_token(data_dir, &portal)?;
        let token = tokens.is_some();
        let card = DemoCard::issue(&data_dir.join("cccd"))?;
        if let Some(card) = &card {
            // The portal verifies the chip again, with the same CSCA list.
            portal
                .portal()
                .trust_cscas(&card.csca)
                .map_err(|e| e.to_string())?;
        }
        let csca = card
            .as_ref()
            .map_or_else(|| data_dir.join("cccd").join("csca"), |c| c.csca.clone());
        let backend = Backend {
            store,
            keys,
            portal: sealing,
            cost: PasswordHashCost::default(),
            policy: Arc::clone(&policy),
            modem: Some(Box::new(modem)),
            token_reader: tokens.is_some(),
            clock: OffsetDateTime::now_utc,
            uplink: Some(uplink),
            live: Some(live),
            tokens,
            cards: Some(crate::card::CardService::start(csca)),
        };
        let controller = Controller::new(policy, Box::new(Worker::spawn(backend)), clock);
        Ok((
            Demo {
                sim,
                inbox: std::sync::Mutex::new(Inbox::default()),
                portal,
                mssp,
                token,
                card,
                _background: background,
                _tty: tty,
            },
            controller,
        ))
    }

    /// Whether the demo USB token is in the (simulated) reader.
    pub fn has_token(&self) -> bool {
        self.token
    }

    /// The demo citizen's CCCD card for the virtual reader; `None` where
    /// this machine has no virtual reader (no `pcscd` with
    /// vsmartcard-vpcd: `app/run` starts one when it can).
    pub fn card(&self) -> Option<Arc<DemoCard>> {
        self.card.clone()
    }

    /// The mobile-signature request waiting on the demo phone, if any:
    /// its id, the number and the text the phone shows.
    pub fn pending_signature(&self) -> Option<(String, String, String)> {
        self.portal
            .portal()
            .pending_signatures(server::now())
            .ok()?
            .into_iter()
            .next()
            .map(|s| (s.id, s.phone, s.display_text))
    }

    /// The clerk and level the demo portal recorded for a registration
    /// (or a password reset: no level) it accepted from a counter.
    pub fn counter_registration(&self, reference: &str) -> Option<(String, Option<u8>)> {
        self.portal
            .portal()
            .counter_registration(reference)
            .ok()
            .flatten()
    }

    /// The clerk the demo portal's complaints queue shows for a complaint,
    /// `Some(None)` for one made without a clerk.
    pub fn complaint_clerk(&self, reference: &str) -> Option<Option<String>> {
        self.portal
            .portal()
            .complaints()
            .ok()?
            .into_iter()
            .find(|c| c.reference == reference)
            .map(|c| c.clerk_id)
    }

    /// The demo phone's holder answers a mobile-signature request.
    pub fn answer_signature(&self, id: &str, answer: PhoneAnswer) -> Result<(), String> {
        self.portal
            .portal()
            .answer_signature(id, answer, &self.mssp, server::now())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// A demo portal key, created once per data directory (written like the
/// kiosk's own keys: owner-only, atomically). Only a demo keeps the portal's
/// secrets next to the kiosk.
fn demo_key(
    path: &Path,
    generate: impl FnOnce() -> Zeroizing<Vec<u8>>,
) -> Result<Zeroizing<Vec<u8>>, String> {
    if let Some(secret) = keys::read_key(path).map_err(|e| e.to_string())? {
        return Ok(Zeroizing::new(secret.to_vec()));
    }
    let secret = generate();
    keys::write_key(path, &secret).map_err(|e| e.to_string())?;
    Ok(secret)
}

/// The demo portal's mobile-signature service, its CA key kept with the
/// portal's keys.
fn demo_mssp(data_dir: &Path) -> Result<Mssp, String> {
    let path = data_dir.join("portal").join("mssp.key");
    match std::fs::read_to_string(&path) {
        Ok(pem) => Mssp::from_key_pem(&Zeroizing::new(pem)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mssp = Mssp::generate()?;
            keys::write_key(&path, mssp.key_pem().as_bytes()).map_err(|e| e.to_string())?;
            Ok(mssp)
        }
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// The demo kiosk's trust anchors: the demo MSSP's CA, as a technician
/// would install the carriers' CAs.
fn demo_anchors(data_dir: &Path, mssp: &Mssp) -> Result<TrustAnchors, String> {
    let dir = data_dir.join("trust");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    std::fs::write(dir.join("demo-mssp-ca.pem"), mssp.ca_pem())
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    TrustAnchors::load(&dir)
}

/// The demo's USB signing token and its PIN.
pub const DEMO_TOKEN_PIN: &str = "123456";

/// The demo counter's clerk who signs in with a staff code and PIN.
pub const DEMO_CLERK_ID: &str = "BD-DEMO-0001";
pub const DEMO_CLERK_PIN: &str = "246810";
/// The demo counter's clerk who signs in with the demo USB token.
pub const DEMO_TOKEN_CLERK_ID: &str = "BD-DEMO-0002";

/// The demo post office's counter: a clerk with a PIN, and (where the
/// demo token exists) a clerk whose token is the demo USB token.
pub fn demo_desk(policy: &crate::policy::Policy) -> Result<crate::counter::Desk, String> {
    use crate::counter::{Clerk, Desk, Roster, certificate_sha256};
    let pin_hash = crate::register::hash_password(DEMO_CLERK_PIN, PasswordHashCost::default())
        .map_err(|e| e.to_string())?;
    let mut clerks = vec![Clerk {
        id: DEMO_CLERK_ID.into(),
        name: "Nguyễn Thị Lan".into(),
        pin_hash: Some(pin_hash.to_string()),
        token_sha256: None,
    }];
    if let Some(certificate) = demo_token_certificate() {
        clerks.push(Clerk {
            id: DEMO_TOKEN_CLERK_ID.into(),
            name: "Lê Thị Hồng".into(),
            pin_hash: None,
            token_sha256: Some(certificate_sha256(&certificate)),
        });
    }
    let roster = Roster::new(clerks).map_err(|p| p.join("; "))?;
    Ok(Desk::new(roster, policy.counter.clone()))
}

/// The demo USB token's certificate, once the token has been made.
fn demo_token_certificate() -> Option<Vec<u8>> {
    let conf = std::path::PathBuf::from(std::env::var_os("SOFTHSM2_CONF")?);
    let home = conf.parent()?.join("demo-token");
    std::fs::read(home.join("ca").join(DEMO_TOKEN_LABEL).join("cert.der")).ok()
}

const DEMO_TOKEN_LABEL: &str = "DEMO-USB";

/// A SoftHSM token "in the reader" with a demo certificate (Lê Thị Hồng,
/// CCCD 001190000777) from a demo CA the kiosk trusts, when SoftHSM2 is
/// installed and `SOFTHSM2_CONF` is set (`app/run` and `tests/run` set it).
/// Without them the USB method stays greyed out, with its reason, as on a
/// kiosk without a token reader.
///
/// One token and CA serve every demo that shares SoftHSM's token store
/// (they live beside it): SoftHSM sees only the tokens that existed when a
/// process first loaded it, so the token is made, by SoftHSM's own tools,
/// before this process loads the module.
fn demo_token(data_dir: &Path, portal: &Shared) -> Result<Option<TokenService>, String> {
    use kiosk_hal::token::testpki::{
        KeyType, TestCa, TokenSpec, ensure_softhsm_conf, softhsm_module,
    };
    const LABEL: &str = DEMO_TOKEN_LABEL;
    let (Some(_), Some(module)) = (std::env::var_os("SOFTHSM2_CONF"), softhsm_module()) else {
        return Ok(None);
    };
    let conf = ensure_softhsm_conf()?;
    let home = conf.parent().unwrap_or(Path::new(".")).join("demo-token");
    let ca_pem = home.join("ca").join("ca.pem");
    let slots = std::process::Command::new("softhsm2-util")
        .arg("--show-slots")
        .output()
        .map_err(|e| format!("softhsm2-util: {e}"))?;
    let present = String::from_utf8_lossy(&slots.stdout)
        .lines()
        .any(|l| l.split_whitespace().eq(["Label:", LABEL]));
    if !(present && ca_pem.exists()) {
        if present {
            // A token whose CA is gone cannot be trusted: make both anew.
            let _ = std::process::Command::new("softhsm2-util")
                .args(["--delete-token", "--token", LABEL])
                .output();
        }
        let ca = TestCa::create(&home.join("ca"), "CA Thử Nghiệm Kiosk")?;
        let mut spec = TokenSpec::new(
            LABEL,
            "/C=VN/CN=Lê Thị Hồng/UID=CCCD:001190000777",
            KeyType::P256,
        );
        spec.pin = DEMO_TOKEN_PIN;
        ca.issue_token(&spec)?;
    }
    let trust = data_dir.join("trust");
    std::fs::copy(&ca_pem, trust.join("demo-token-ca.pem"))
        .map_err(|e| format!("{}: {e}", ca_pem.display()))?;
    // The portal trusts the same CA, with a fresh revocation list from it
    // (a week's), as a province's portal holds its CAs' lists.
    // Made with the token and again when half its week is gone, beside
    // the CA, so that demos sharing the token do not run `openssl ca` at
    // once.
    let ca = TestCa::open(&home.join("ca"))?;
    let list = home.join("ca").join("demo.crl");
    let fresh = std::fs::metadata(&list)
        .and_then(|m| m.modified())
        .is_ok_and(|t| {
            t.elapsed()
                .is_ok_and(|age| age < Duration::from_secs(3 * 86_400))
        });
    if !fresh {
        crate::atomic::write(&list, &ca.crl(7 * 24, "")?, 0o644).map_err(|e| e.to_string())?;
    }
    let (portal_cas, crls) = (
        data_dir.join("portal").join("token-ca"),
        data_dir.join("portal").join("crl"),
    );
    ca.install_anchor(&portal_cas, "demo-token-ca.pem")?;
    std::fs::create_dir_all(&crls).map_err(|e| format!("{}: {e}", crls.display()))?;
    std::fs::copy(&list, crls.join("demo-token-ca.crl"))
        .map_err(|e| format!("{}: {e}", list.display()))?;
    let problems = portal
        .portal()
        .trust_token_cas(&portal_cas, &crls)
        .map_err(|e| e.to_string())?;
    if let Some(problem) = problems.first() {
        return Err(format!("demo revocation list: {problem}"));
    }
    Ok(Some(TokenService::start(
        vec![module],
        TrustAnchors::load(&trust)?,
        Some(LABEL.into()),
    )))
}

/// The reference portal on a free loopback port, on the background runtime.
fn start_portal(
    data_dir: &Path,
    background: &mut AsyncRuntime,
) -> Result<(Arc<Shared>, String), String> {
    let dir = data_dir.join("portal");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let secret = demo_key(&dir.join("portal.key"), || {
        PortalSecretKey::generate().secret_bytes()
    })?;
    let policy_key = demo_key(&dir.join("policy.key"), || {
        Zeroizing::new(DeviceKey::generate().secret_bytes().to_vec())
    })?;
    let portal = Portal::open(
        &dir.join("portal.sqlite3"),
        PortalSecretKey::from_bytes(&secret).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    // The people the live checks know: see sync/portal/fixtures/demo.json.
    let mut portal = portal;
    portal
        .load_fixtures(&kiosk_portal::demo_fixtures())
        .map_err(|e| e.to_string())?;
    let shared = Shared::new(
        portal,
        DeviceKey::from_secret_bytes(&policy_key).map_err(|e| e.to_string())?,
        ServerConfig::default(),
    );
    let listener = background
        .runtime()
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .map_err(|e| format!("demo portal: {e}"))?;
    let url = format!(
        "http://{}/",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let stop = background.stop_signal();
    background
        .runtime()
        .spawn(server::serve(listener, Arc::clone(&shared), stop));
    Ok((shared, url))
}

/// Enrols the demo kiosk over HTTP with a fresh one-time code, as a
/// technician would with `kioskctl enrol`. The portal keeps the kiosk's id.
fn enrol(
    portal: &Arc<Shared>,
    url: &str,
    keys: &Keyring,
    background: &AsyncRuntime,
) -> Result<Enrolment, String> {
    let code = portal
        .portal()
        .issue_enrolment_code(server::now(), 600)
        .map_err(|e| e.to_string())?;
    let key =
        DeviceKey::from_secret_bytes(&*keys.device().secret_bytes()).map_err(|e| e.to_string())?;
    let client = PortalClient::new(&ClientConfig::new(url), key).map_err(|e| e.to_string())?;
    let answer = background
        .runtime()
        .block_on(client.enrol(&code))
        .map_err(|e| format!("demo enrolment: {e}"))?;
    Ok(Enrolment {
        portal_url: url.to_string(),
        tls_pin: None,
        kiosk_id: answer.kiosk_id,
        portal_public_key: answer.portal_public_key,
        policy_public_key: answer.policy_public_key,
    })
}
