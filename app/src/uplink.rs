//! The outbox relay, driven: on tokio, in the background, it delivers the
//! store's sealed registrations to the portal, reads the status feed back,
//! reports the kiosk's health and deletes sealed payloads whose retention
//! has passed.
//!
//! The decisions (batching, backoff with jitter, `Retry-After`) are
//! [`kiosk_sync::relay`]'s; this module only carries them out. Every
//! decision is committed to the store before the next request, so a kill
//! at any point loses nothing: the next start finds each registration
//! either still in the outbox (and sends it again; the portal answers the
//! recorded outcome) or settled.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kiosk_sync::api::{Heartbeat, Peripherals};
use kiosk_sync::client::{ClientConfig, PortalClient};
use kiosk_sync::relay::{RelayConfig, RelayStatus, UploadResult, next_batch, settle};
use kiosk_sync::{DeviceKey, Envelope, IdentityRef};
use rand::SeedableRng as _;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::keys::Keyring;
use crate::policy::Policy;
use crate::store::{StatusChange, Store, StoreError};

/// What the kiosk keeps of its enrolment with a portal
/// (`<data_dir>/enrolment.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enrolment {
    pub portal_url: String,
    /// SHA-256 of the portal's TLS certificate, hex; needed for https.
    pub tls_pin: Option<String>,
    pub kiosk_id: i64,
    /// What registrations are sealed to from now on.
    pub portal_public_key: String,
    /// What the portal's policy must be signed with.
    pub policy_public_key: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EnrolmentError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("tls_pin must be 64 hexadecimal digits (the certificate's SHA-256)")]
    Pin,
}

impl Enrolment {
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("enrolment.json")
    }

    /// The enrolment, or `None` for a kiosk never enrolled.
    pub fn load(data_dir: &Path) -> Result<Option<Enrolment>, EnrolmentError> {
        let path = Self::path(data_dir);
        let file_error = |message: String| EnrolmentError::File {
            path: path.clone(),
            message,
        };
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| file_error(e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(file_error(e.to_string())),
        }
    }

    /// Writes the file whole or not at all.
    pub fn save(&self, data_dir: &Path) -> Result<(), EnrolmentError> {
        use std::io::Write as _;
        let path = Self::path(data_dir);
        let file_error = |e: std::io::Error| EnrolmentError::File {
            path: path.clone(),
            message: e.to_string(),
        };
        let mut tmp = tempfile::NamedTempFile::new_in(data_dir).map_err(file_error)?;
        tmp.write_all(&serde_json::to_vec_pretty(self).expect("an enrolment serialises"))
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(file_error)?;
        tmp.persist(&path).map_err(|e| file_error(e.error))?;
        Ok(())
    }

    pub fn client_config(&self) -> Result<ClientConfig, EnrolmentError> {
        let mut config = ClientConfig::new(&self.portal_url);
        config.tls_pin = self.tls_pin.as_deref().map(parse_pin).transpose()?;
        Ok(config)
    }
}

/// A certificate pin as 64 hex digits (colons allowed, as `openssl x509
/// -fingerprint -sha256` prints them).
pub fn parse_pin(text: &str) -> Result<[u8; 32], EnrolmentError> {
    let hex: String = text.chars().filter(|c| *c != ':').collect();
    if hex.len() != 64 {
        return Err(EnrolmentError::Pin);
    }
    let mut pin = [0u8; 32];
    for (i, byte) in pin.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| EnrolmentError::Pin)?;
    }
    Ok(pin)
}

/// What the status bar and `kioskctl sync status` show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UplinkStatus {
    pub relay: RelayStatus,
    pub queue_depth: usize,
    /// Portal time minus kiosk time, seconds.
    pub clock_skew: i64,
}

/// Shared between the uplink task and the rest of the kiosk.
#[derive(Debug, Clone, Default)]
pub struct UplinkHandle {
    status: Arc<Mutex<UplinkStatus>>,
    peripherals: Arc<Mutex<Peripherals>>,
    wake: Arc<tokio::sync::Notify>,
}

impl UplinkHandle {
    pub fn status(&self) -> UplinkStatus {
        self.status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Something was queued, or a technician asked: try now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The devices' state, for the next heartbeat.
    pub fn set_peripherals(&self, p: Peripherals) {
        *self
            .peripherals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = p;
    }
}

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Round {
    pub uploads: usize,
    pub settled: usize,
    pub retried: usize,
    pub status_changes: usize,
    pub purged: usize,
    pub heartbeat: bool,
    /// A newer policy from the portal, verified and saved.
    pub policy_applied: Option<u64>,
}

/// The relay with its own store connection and portal client.
pub struct Uplink {
    store: Store,
    client: PortalClient,
    audit_key: Zeroizing<[u8; 32]>,
    policy: Arc<Policy>,
    config: RelayConfig,
    relay: RelayStatus,
    rng: StdRng,
    last_heartbeat: Option<i64>,
    last_status_pull: Option<i64>,
    handle: UplinkHandle,
    policy_updates: Option<PolicyUpdates>,
}

/// Where a policy from the portal is checked against and kept.
#[derive(Debug, Clone)]
struct PolicyUpdates {
    key: kiosk_sync::DevicePublicKey,
    file: PathBuf,
    /// A version refused once is not fetched again.
    refused: Option<u64>,
}

impl std::fmt::Debug for Uplink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uplink")
            .field("relay", &self.relay)
            .finish_non_exhaustive()
    }
}

/// Keys of the relay's state in the store.
const LAST_SUCCESS: &str = "relay.last_success";
const LAST_ERROR: &str = "relay.last_error";
const LAST_ATTEMPT: &str = "relay.last_attempt";
const CLOCK_SKEW: &str = "relay.clock_skew";

impl Uplink {
    pub fn new(
        database: &Path,
        keys: &Keyring,
        client_config: &ClientConfig,
        policy: Arc<Policy>,
    ) -> Result<Uplink, String> {
        let store = Store::open(database).map_err(|e| e.to_string())?;
        let key = DeviceKey::from_secret_bytes(&*keys.device().secret_bytes())
            .map_err(|e| e.to_string())?;
        let client = PortalClient::new(client_config, key).map_err(|e| e.to_string())?;
        let relay = RelayStatus {
            last_success: store
                .sync_value(LAST_SUCCESS)
                .ok()
                .flatten()
                .and_then(|v| v.parse().ok()),
            ..RelayStatus::default()
        };
        Ok(Uplink {
            store,
            client,
            audit_key: keys.audit_key(),
            policy,
            config: RelayConfig::default(),
            relay,
            rng: StdRng::from_rng(&mut rand::rng()),
            last_heartbeat: None,
            last_status_pull: None,
            handle: UplinkHandle::default(),
            policy_updates: None,
        })
    }

    /// Fetches a newer policy when the portal announces one, verifies it
    /// with the enrolment's policy key and keeps it (signed) in `file`,
    /// where the kiosk reads it at its next start.
    pub fn with_policy_updates(
        mut self,
        enrolment: &Enrolment,
        file: PathBuf,
    ) -> Result<Self, String> {
        let key = kiosk_sync::DevicePublicKey::from_base64(&enrolment.policy_public_key)
            .map_err(|e| format!("policy_public_key: {e}"))?;
        self.policy_updates = Some(PolicyUpdates {
            key,
            file,
            refused: None,
        });
        Ok(self)
    }

    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }

    /// For tests: batch limits and retry timings.
    pub fn with_relay_config(mut self, config: RelayConfig) -> Self {
        self.config = config;
        self
    }

    /// For tests of a kiosk whose clock is wrong.
    pub fn with_client_clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.client = self.client.with_clock(clock);
        self
    }

    pub fn handle(&self) -> UplinkHandle {
        self.handle.clone()
    }

    fn publish(&mut self) -> Result<(), StoreError> {
        let queue_depth = self.store.outbox_len()?;
        *self
            .handle
            .status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = UplinkStatus {
            relay: self.relay.clone(),
            queue_depth,
            clock_skew: self.client.clock_skew(),
        };
        let success = self.relay.last_success.map(|t| t.to_string());
        self.store
            .set_sync_value(LAST_SUCCESS, success.as_deref())?;
        self.store
            .set_sync_value(LAST_ERROR, self.relay.last_error.as_deref())?;
        self.store
            .set_sync_value(CLOCK_SKEW, Some(&self.client.clock_skew().to_string()))?;
        Ok(())
    }

    /// Uploads every due registration, batch after batch, until none is
    /// due or the portal cannot be reached; then, while online, reads the
    /// status feed, sends a heartbeat when one is due, and deletes sealed
    /// payloads past their retention. `now` is the kiosk's clock.
    pub async fn round(&mut self, now: i64) -> Result<Round, StoreError> {
        let mut round = Round::default();
        let mut sent: HashSet<String> = HashSet::new();
        self.store
            .set_sync_value(LAST_ATTEMPT, Some(&now.to_string()))?;
        loop {
            let outbox = self.store.outbox()?;
            let fresh: Vec<_> = outbox
                .into_iter()
                .filter(|q| !sent.contains(&q.registration_id))
                .collect();
            let batch = next_batch(&fresh, now, &self.config);
            if batch.is_empty() {
                break;
            }
            let mut envelopes = Vec::with_capacity(batch.len());
            for q in &batch {
                sent.insert(q.registration_id.clone());
                let bytes = self.store.envelope(&q.registration_id)?.unwrap_or_default();
                match Envelope::from_bytes(&bytes) {
                    Ok(e) => envelopes.push(e),
                    // Unreadable: the upload leaves it out and the relay's
                    // rules retry it, with the error kept for the technician.
                    Err(_) => continue,
                }
            }
            let result = self.client.upload(envelopes).await;
            round.uploads += 1;
            let decided = settle(
                &batch,
                &result,
                now,
                &self.config,
                &mut self.relay,
                &mut self.rng,
            );
            for d in &decided {
                match d {
                    kiosk_sync::relay::Disposition::Settled { .. } => round.settled += 1,
                    kiosk_sync::relay::Disposition::Retry { .. } => round.retried += 1,
                }
            }
            self.store
                .apply_dispositions(&decided, &self.audit_key, now)?;
            self.publish()?;
            if !matches!(result, UploadResult::Answered(_)) {
                return Ok(round);
            }
        }
        let poll = i64::from(self.policy.sync.status_poll_seconds);
        if self.last_status_pull.is_none_or(|t| now - t >= poll) || round.settled > 0 {
            match self.pull_status(now).await {
                Ok(n) => {
                    round.status_changes = n;
                    self.last_status_pull = Some(now);
                    self.relay.online = true;
                }
                Err(e) => {
                    self.relay.online = false;
                    self.relay.last_error = Some(e);
                    self.publish()?;
                    return Ok(round);
                }
            }
        }
        let every = i64::from(self.policy.sync.heartbeat_seconds);
        if self.last_heartbeat.is_none_or(|t| now - t >= every) {
            let report = self.heartbeat_report(now)?;
            match self.client.heartbeat(&report).await {
                Ok(answer) => {
                    self.last_heartbeat = Some(now);
                    self.relay.online = true;
                    round.heartbeat = true;
                    if let Some(version) = answer.policy_version
                        && version > self.policy.version
                    {
                        round.policy_applied = self.update_policy(version).await;
                    }
                }
                Err(e) => {
                    self.relay.online = false;
                    self.relay.last_error = Some(e.to_string());
                }
            }
        }
        let retention = i64::from(self.policy.sync.retention_days) * 86_400;
        round.purged = self.store.purge_sealed(now - retention)?;
        self.publish()?;
        Ok(round)
    }

    /// Fetches, verifies and keeps the portal's policy; on any problem the
    /// policy in force stays and the error is reported.
    async fn update_policy(&mut self, announced: u64) -> Option<u64> {
        let updates = self.policy_updates.as_mut()?;
        if updates.refused == Some(announced) {
            return None;
        }
        let signed = match self.client.policy().await {
            Ok(Some(signed)) => signed,
            Ok(None) => return None,
            Err(e) => {
                self.relay.last_error = Some(format!("policy: {e}"));
                return None;
            }
        };
        match crate::policy::accept_signed(&signed, &updates.key, &self.policy)
            .map_err(|e| e.to_string())
            .and_then(|policy| {
                save_signed_policy(&updates.file, &signed)?;
                Ok(policy)
            }) {
            Ok(policy) => {
                self.policy = Arc::new(policy);
                Some(signed.version)
            }
            Err(e) => {
                updates.refused = Some(announced);
                self.relay.last_error = Some(format!(
                    "the portal's policy version {} was refused: {e}",
                    signed.version
                ));
                None
            }
        }
    }

    async fn pull_status(&mut self, now: i64) -> Result<usize, String> {
        let mut applied = 0;
        loop {
            let cursor = self.store.status_cursor().map_err(|e| e.to_string())?;
            let page = self
                .client
                .status_since(cursor, 500)
                .await
                .map_err(|e| e.to_string())?;
            // An empty page, or one that would not move the cursor, ends it.
            if page.changes.iter().all(|c| c.cursor <= cursor) {
                return Ok(applied);
            }
            let changes: Vec<StatusChange> = page
                .changes
                .into_iter()
                .map(|c| StatusChange {
                    cursor: c.cursor,
                    registration_id: c.registration_id,
                    status: c.status,
                    terminal: c.terminal,
                })
                .collect();
            applied += self
                .store
                .apply_status_changes(&changes, &self.audit_key, now)
                .map_err(|e| e.to_string())?;
        }
    }

    fn heartbeat_report(&self, now: i64) -> Result<Heartbeat, StoreError> {
        let outbox = self.store.outbox()?;
        let peripherals = self
            .handle
            .peripherals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        Ok(Heartbeat {
            software_version: env!("CARGO_PKG_VERSION").into(),
            queue_depth: outbox.len() as u64,
            oldest_pending_secs: outbox.iter().map(|q| (now - q.created_at).max(0)).max(),
            policy_version: Some(self.policy.version),
            peripherals,
            clock_skew_secs: self.client.clock_skew(),
        })
    }

    /// How long to sleep before the next round: until the next row is due,
    /// capped by the status poll.
    pub fn next_round_in(&self, now: i64) -> Duration {
        let poll = i64::from(self.policy.sync.status_poll_seconds);
        let next_due = self
            .store
            .outbox()
            .ok()
            .and_then(|o| o.iter().map(|q| q.next_attempt_at).min());
        let wait = next_due.map_or(poll, |t| (t - now).clamp(1, poll));
        Duration::from_secs(wait as u64)
    }

    /// Rounds until `stop` resolves: after each, sleeps until the next is
    /// due or the handle is woken.
    pub async fn run(mut self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        let wake = Arc::clone(&self.handle.wake);
        loop {
            let now = kiosk_now();
            if let Err(e) = self.round(now).await {
                self.relay.last_error = Some(format!("local store: {e}"));
            }
            let sleep = tokio::time::sleep(self.next_round_in(kiosk_now()));
            tokio::select! {
                () = &mut stop => return,
                () = sleep => {}
                () = wake.notified() => {}
            }
        }
    }
}

fn kiosk_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Where the kiosk keeps the portal's signed policy.
pub fn portal_policy_path(data_dir: &Path) -> PathBuf {
    data_dir.join("portal-policy.json")
}

fn save_signed_policy(path: &Path, signed: &kiosk_sync::api::SignedPolicy) -> Result<(), String> {
    use std::io::Write as _;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| e.to_string())?;
    tmp.write_all(&serde_json::to_vec_pretty(signed).expect("a policy serialises"))
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| e.to_string())?;
    tmp.persist(path).map_err(|e| e.error.to_string())?;
    Ok(())
}

/// Applies the portal's policy kept in the data directory, verified again
/// (the file is on a disk that can be tampered with). `Ok(false)` when there
/// is none.
pub fn load_portal_policy(
    data_dir: &Path,
    enrolment: &Enrolment,
    active: &mut crate::policy::ActivePolicy,
) -> Result<bool, String> {
    let path = portal_policy_path(data_dir);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let signed: kiosk_sync::api::SignedPolicy =
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let key = kiosk_sync::DevicePublicKey::from_base64(&enrolment.policy_public_key)
        .map_err(|e| e.to_string())?;
    let policy = crate::policy::accept_signed(&signed, &key, &active.current())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    active
        .apply(policy, crate::policy::PolicyOrigin::Portal)
        .map_err(|e| e.to_string())?;
    Ok(true)
}

/// The relay's state as stored, for `kioskctl sync status` in another
/// process than the kiosk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredRelayState {
    pub last_success: Option<i64>,
    pub last_attempt: Option<i64>,
    pub last_error: Option<String>,
    pub clock_skew: i64,
}

pub fn stored_state(store: &Store) -> Result<StoredRelayState, StoreError> {
    let int = |k: &str| -> Result<Option<i64>, StoreError> {
        Ok(store.sync_value(k)?.and_then(|v| v.parse().ok()))
    };
    Ok(StoredRelayState {
        last_success: int(LAST_SUCCESS)?,
        last_attempt: int(LAST_ATTEMPT)?,
        last_error: store.sync_value(LAST_ERROR)?,
        clock_skew: int(CLOCK_SKEW)?.unwrap_or(0),
    })
}

/// A tokio runtime for what runs in the background of the kiosk (the
/// uplink; in the demo also the reference portal). Dropping it stops them.
pub struct Background {
    runtime: Option<tokio::runtime::Runtime>,
    stops: Vec<tokio::sync::oneshot::Sender<()>>,
}

impl std::fmt::Debug for Background {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Background")
            .field("tasks", &self.stops.len())
            .finish()
    }
}

impl Background {
    pub fn new() -> std::io::Result<Background> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("kiosk-background")
            .enable_all()
            .build()?;
        Ok(Background {
            runtime: Some(runtime),
            stops: Vec::new(),
        })
    }

    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime.as_ref().expect("present until dropped")
    }

    /// A future that completes when this background is dropped.
    pub fn stop_signal(&mut self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (stop, stopped) = tokio::sync::oneshot::channel();
        self.stops.push(stop);
        async move {
            let _ = stopped.await;
        }
    }

    /// Runs the uplink until this background is dropped.
    pub fn start_uplink(&mut self, uplink: Uplink) -> UplinkHandle {
        let handle = uplink.handle();
        let stop = self.stop_signal();
        self.runtime().spawn(uplink.run(stop));
        handle
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stops.clear();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

/// Live checks on the portal's data (duplicate, BHXH, subscriber), asked
/// from the runtime's worker thread. Each answers `None` when the portal
/// cannot answer in time or is known to be unreachable: the flow then
/// continues offline and leaves the check pending for the portal.
pub struct LiveChecks {
    client: Arc<PortalClient>,
    runtime: tokio::runtime::Handle,
    uplink: UplinkHandle,
    timeout: Duration,
    /// The mobile-signature session being waited on, and its task.
    signature: Arc<Mutex<Option<String>>>,
    signature_task: Mutex<Option<tokio::task::AbortHandle>>,
    anchors: Option<Arc<kiosk_hal::token::cert::TrustAnchors>>,
}

/// How long the kiosk follows a mobile-signature session: the portal's
/// two minutes on the phone, and some margin for a slow line.
const SIGNATURE_FOLLOW: Duration = Duration::from_secs(150);

impl std::fmt::Debug for LiveChecks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveChecks")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl LiveChecks {
    /// A citizen waits for these: a few seconds, not the upload's minute.
    pub const TIMEOUT: Duration = Duration::from_secs(8);

    pub fn new(
        keys: &Keyring,
        enrolment: &Enrolment,
        runtime: tokio::runtime::Handle,
        uplink: UplinkHandle,
    ) -> Result<LiveChecks, String> {
        let mut config = enrolment.client_config().map_err(|e| e.to_string())?;
        config.connect_timeout = Duration::from_secs(3);
        let key = DeviceKey::from_secret_bytes(&*keys.device().secret_bytes())
            .map_err(|e| e.to_string())?;
        // Long-polls wait up to 25 s on the portal: their own timeout.
        config.timeout = Duration::from_secs(40);
        Ok(LiveChecks {
            client: Arc::new(PortalClient::new(&config, key).map_err(|e| e.to_string())?),
            runtime,
            uplink,
            timeout: Self::TIMEOUT,
            signature: Arc::new(Mutex::new(None)),
            signature_task: Mutex::new(None),
            anchors: None,
        })
    }

    /// The CAs a mobile-signature certificate must chain to (the token
    /// section's trust anchors: the carriers' CAs are licensed CAs).
    pub fn with_anchors(mut self, anchors: kiosk_hal::token::cert::TrustAnchors) -> Self {
        self.anchors = Some(Arc::new(anchors));
        self
    }

    pub fn anchors(&self) -> Option<Arc<kiosk_hal::token::cert::TrustAnchors>> {
        self.anchors.clone()
    }

    fn portal_known_down(&self) -> bool {
        let relay = self.uplink.status().relay;
        !relay.online && relay.last_error.is_some()
    }

    /// Asks the holder of `phone` to sign `display_text` and follows the
    /// session in the background until the phone answers, it expires, or
    /// [`LiveChecks::cancel_signature`]; `done` gets the final session, or
    /// `None` when the portal could not be reached. Any earlier session is
    /// cancelled first.
    pub fn start_signature(
        &self,
        phone: String,
        display_text: String,
        done: impl FnOnce(Option<kiosk_sync::api::SignatureSession>) + Send + 'static,
    ) {
        self.cancel_signature();
        if self.portal_known_down() {
            done(None);
            return;
        }
        let client = Arc::clone(&self.client);
        let current = Arc::clone(&self.signature);
        let start = self.timeout;
        let task = self.runtime.spawn(async move {
            let started =
                tokio::time::timeout(start, client.start_signature(&phone, &display_text)).await;
            let Ok(Ok(mut session)) = started else {
                done(None);
                return;
            };
            *current
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(session.id.clone());
            let deadline = tokio::time::Instant::now() + SIGNATURE_FOLLOW;
            while session.state == kiosk_sync::api::SignatureState::Pending {
                if tokio::time::Instant::now() >= deadline {
                    done(None);
                    return;
                }
                match client.signature_session(&session.id, 25).await {
                    Ok(next) => session = next,
                    // A dropped connection while waiting: ask again shortly.
                    Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
                }
            }
            current
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            done(Some(session));
        });
        *self
            .signature_task
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(task.abort_handle());
    }

    /// Stops following the session and cancels it on the portal, so the
    /// phone stops asking.
    pub fn cancel_signature(&self) {
        if let Some(task) = self
            .signature_task
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
        let id = self
            .signature
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(id) = id {
            let client = Arc::clone(&self.client);
            self.runtime.spawn(async move {
                let _ = client.cancel_signature(&id).await;
            });
        }
    }

    fn ask<T>(
        &self,
        question: impl std::future::Future<Output = Result<T, kiosk_sync::client::ClientError>>,
    ) -> Option<T> {
        if self.portal_known_down() {
            return None;
        }
        self.runtime
            .block_on(async { tokio::time::timeout(self.timeout, question).await })
            .ok()?
            .ok()
    }

    /// `Some(true)` when an account exists for `identity` (`cccd:…`).
    pub fn account_exists(&self, identity: &IdentityRef) -> Option<bool> {
        self.ask(self.client.account_exists(identity))
    }

    /// The matched record's personal ID (`cccd:…`), `Some(None)` when the
    /// record does not match.
    pub fn bhxh(
        &self,
        code: &str,
        full_name: &str,
        date_of_birth: &str,
    ) -> Option<Option<IdentityRef>> {
        let check = kiosk_sync::api::BhxhCheck {
            bhxh_code: code.into(),
            full_name: full_name.into(),
            date_of_birth: date_of_birth.into(),
        };
        self.ask(self.client.check_bhxh(&check))
            .map(|a| a.personal_id)
    }

    pub fn subscriber(
        &self,
        phone: &str,
        personal_id: &IdentityRef,
    ) -> Option<kiosk_sync::api::Ownership> {
        let check = kiosk_sync::api::SubscriberCheck {
            phone: phone.into(),
            personal_id: personal_id.clone(),
        };
        self.ask(self.client.check_subscriber(&check))
    }
}
