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
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use kiosk_hal::card::sim::chip::{Faults, VirtualChip};
use kiosk_hal::card::sim::issue::{Citizen, Document, Pki};
use kiosk_hal::card::sim::vpcd::Placed;
use kiosk_hal::modem::sim::Simulator;
use kiosk_hal::modem::{Locator, ModemConfig, ModemService};
use kiosk_hal::token::cert::TrustAnchors;
use kiosk_portal::mssp::Mssp;
use kiosk_portal::server::{self, ServerConfig, Shared};
use kiosk_portal::{PhoneAnswer, Portal};
use kiosk_sync::client::{ClientConfig, PortalClient};
use kiosk_sync::{DeviceKey, PortalSecretKey};
use kiosk_ui::{DemoMessage, DemoPanel, KioskWindow};
use slint::{ComponentHandle, ModelRc, VecModel};
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

/// The manual's policy with the demo province's service counters
/// (`demo_counters.toml`), as its portal would publish them.
fn demo_policy() -> Result<Policy, String> {
    #[derive(serde::Deserialize)]
    struct Counters {
        counters: Vec<crate::policy::Counter>,
    }
    let listed: Counters = toml::from_str(include_str!("demo_counters.toml"))
        .map_err(|e| format!("demo counters: {e}"))?;
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

/// What the demo phone has read from each sender so far.
#[derive(Debug, Default)]
struct Inbox {
    messages: Vec<DemoSms>,
    from_modem: usize,
    from_portal: i64,
}

/// One SMS the simulated phone received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSms {
    pub to: String,
    pub text: String,
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

    /// The demo phone's holder answers a mobile-signature request.
    pub fn answer_signature(&self, id: &str, answer: PhoneAnswer) -> Result<(), String> {
        self.portal
            .portal()
            .answer_signature(id, answer, &self.mssp, server::now())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Every SMS the demo phone received, in the order it received them:
    /// the kiosk's codes (through the simulated modem) and the portal's
    /// word on a registration it decided (through its simulated gateway).
    pub fn sms(&self) -> Vec<DemoSms> {
        let mut inbox = self
            .inbox
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let sent = self.sim.sent();
        let from_modem = inbox.from_modem;
        inbox
            .messages
            .extend(sent.iter().skip(from_modem).map(|s| DemoSms {
                to: s.decoded.destination.clone(),
                text: s.decoded.text.clone(),
            }));
        inbox.from_modem = sent.len();
        if let Ok(told) = self.portal.portal().messages_since(inbox.from_portal) {
            if let Some(last) = told.last() {
                inbox.from_portal = last.seq;
            }
            inbox
                .messages
                .extend(
                    told.into_iter()
                        .filter(|m| m.channel == "sms")
                        .map(|m| DemoSms {
                            to: m.recipient,
                            text: m.text,
                        }),
                );
        }
        inbox.messages.clone()
    }

    /// The simulated network refuses (with this `+CMS ERROR`) every SMS
    /// from now on, or, with `None`, takes them again.
    pub fn refuse_sms(&self, cms_error: Option<u16>) {
        self.sim.set_faults(|f| f.cms_error = cms_error);
    }

    /// Empties the demo phone's inbox.
    pub fn clear_sms(&self) {
        self.sms();
        self.sim.forget_sent();
        let mut inbox = self
            .inbox
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        inbox.messages.clear();
        inbox.from_modem = 0;
    }

    /// The code in the last SMS, as the citizen reads it off the phone.
    pub fn last_code(&self, digits: usize) -> Option<String> {
        let last = self.sim.last_sent()?;
        last.decoded
            .text
            .split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == digits)
            .map(str::to_string)
    }
}

/// The demo citizen's CCCD card, issued by a demo CSCA and Document
/// Signer (made once per data directory by `openssl`), for the virtual
/// reader of `vsmartcard-vpcd` at `KIOSK_VPCD_PORT`. Placing and
/// removing wait on `pcscd` (half a second), so the window does them off
/// its own thread.
#[derive(Debug)]
pub struct DemoCard {
    citizen: Citizen,
    document: Document,
    port: u16,
    /// The CSCA list the kiosk checks the card against.
    csca: PathBuf,
    on_reader: std::sync::Mutex<Option<Placed>>,
}

impl DemoCard {
    /// `None` without a virtual reader to put it on.
    fn issue(dir: &Path) -> Result<Option<Arc<DemoCard>>, String> {
        let Some(port) = std::env::var("KIOSK_VPCD_PORT")
            .ok()
            .and_then(|p| p.parse().ok())
        else {
            return Ok(None);
        };
        let pki = Pki::create(&dir.join("pki"), "Test VN", 3650)
            .map_err(|e| format!("the demo card's CSCA: {e}"))?;
        let citizen = Citizen::demo();
        let document =
            Document::issue(&citizen, &pki).map_err(|e| format!("the demo card: {e}"))?;
        Ok(Some(Arc::new(DemoCard {
            citizen,
            document,
            port,
            csca: pki.csca_dir(),
            on_reader: std::sync::Mutex::new(None),
        })))
    }

    /// Whose card it is, and what is printed on it.
    pub fn holder(&self) -> &Citizen {
        &self.citizen
    }

    /// Whether the card is on the reader.
    pub fn is_placed(&self) -> bool {
        self.placed().is_some()
    }

    /// Puts the card on the virtual reader and waits until `pcscd` sees it.
    pub fn place(&self) -> Result<(), String> {
        let mut placed = self.placed();
        if placed.is_none() {
            let chip = VirtualChip::new(self.document.clone(), Faults::default());
            let on = Placed::on_reader(self.port, chip, Duration::from_secs(5))
                .and_then(|p| p.seen(Duration::from_secs(5)))
                .map_err(|e| format!("the virtual card reader: {e}"))?;
            *placed = Some(on);
        }
        Ok(())
    }

    /// Takes the card off the reader and waits until `pcscd` has seen it
    /// leave.
    pub fn remove(&self) -> Result<(), String> {
        match self.placed().take() {
            Some(on) => on
                .removed(Duration::from_secs(5))
                .map_err(|e| format!("the virtual card reader: {e}")),
            None => Ok(()),
        }
    }

    fn placed(&self) -> std::sync::MutexGuard<'_, Option<Placed>> {
        self.on_reader.lock().unwrap_or_else(|e| e.into_inner())
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
    const LABEL: &str = "DEMO-USB";
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

/// Wires the demo phone beside the kiosk's screen: its buttons answer a
/// mobile-signature request, and the answer is what the kiosk's timer
/// calls at each tick (every 200 ms) to show the SMS and signature requests
/// the phone received.
pub fn attach_phone(ui: &KioskWindow, demo: Demo) -> impl FnMut(&KioskWindow, u32) + use<> {
    let k = ui.global::<DemoPanel>();
    k.set_shown(true);
    if demo.has_token() {
        k.set_token_pin(DEMO_TOKEN_PIN.into());
    }
    let card = demo.card();
    let card_busy = Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let Some(card) = &card {
        let c = card.holder();
        k.set_card_holder(c.full_name.as_str().into());
        k.set_card_number(c.cccd.as_str().into());
        k.set_card_birth(c.birth.as_str().into());
        k.set_card_expiry(c.expires.as_str().into());
        let (card, busy) = (Arc::clone(card), Arc::clone(&card_busy));
        // Placing waits on pcscd: off the window's thread.
        k.on_card(move |place| {
            use std::sync::atomic::Ordering;
            if busy.swap(true, Ordering::SeqCst) {
                return;
            }
            let (card, busy) = (Arc::clone(&card), Arc::clone(&busy));
            std::thread::spawn(move || {
                let done = if place { card.place() } else { card.remove() };
                if let Err(e) = done {
                    tracing::warn!(error = %e, "the demo card");
                }
                busy.store(false, Ordering::SeqCst);
            });
        });
    }
    let demo = Rc::new(demo);
    {
        // The demo phone's holder answers the mobile-signature request.
        let demo = Rc::clone(&demo);
        k.on_sign(move |confirm| {
            if let Some((id, _, _)) = demo.pending_signature() {
                let answer = if confirm {
                    PhoneAnswer::Confirm
                } else {
                    PhoneAnswer::Refuse
                };
                if let Err(e) = demo.answer_signature(&id, answer) {
                    tracing::warn!(error = %e, "the demo phone could not answer");
                }
            }
        });
    }
    let mut sms_shown = 0;
    move |ui: &KioskWindow, ticks: u32| {
        let k = ui.global::<DemoPanel>();
        if let Some(card) = &card {
            k.set_card_placed(card.is_placed());
            k.set_card_busy(card_busy.load(std::sync::atomic::Ordering::SeqCst));
        }
        let sms = demo.sms();
        if sms.len() != sms_shown {
            sms_shown = sms.len();
            let sms: Vec<DemoMessage> = sms
                .iter()
                .rev()
                .map(|s| DemoMessage {
                    to: s.to.as_str().into(),
                    text: s.text.as_str().into(),
                })
                .collect();
            k.set_sms(ModelRc::new(VecModel::from(sms)));
        }
        // Once a second, off the portal's database.
        if ticks.is_multiple_of(5) {
            let (to, text) = demo
                .pending_signature()
                .map(|(_, phone, text)| (phone, text))
                .unwrap_or_default();
            if k.get_signature() != text.as_str() {
                k.set_signature_to(to.into());
                k.set_signature(text.into());
            }
        }
    }
}
