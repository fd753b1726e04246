//! The outbox relay, driven: on tokio, in the background, it delivers the
//! store's sealed registrations to the portal, reads the status feed back,
//! reports the kiosk's health and deletes sealed payloads whose retention
//! has passed.
//!
//! A registration leaves the outbox only when the portal's answer about it
//! is committed, so a kill at any point loses nothing: the next start finds
//! each registration either still in the outbox (and sends it again; the
//! portal answers the recorded outcome) or settled.

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kiosk_sync::api::{Heartbeat, Peripherals};
use kiosk_sync::client::{ClientConfig, PortalClient};
use kiosk_sync::relay::{Queued, RelayConfig, RelayStatus, UploadResult, next_batch, settle};
use kiosk_sync::{DeviceKey, Envelope};
use rand::SeedableRng as _;
use rand::rngs::StdRng;
use zeroize::Zeroizing;

use super::policy_file::{note_version, save_signed_policy};
use super::{Enrolment, UplinkError};
use crate::keys::Keyring;
use crate::policy::Policy;
use crate::store::{StatusChange, Store, StoreError};

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
    client: Arc<PortalClient>,
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

/// A batch on the line, waiting for the portal's answer.
struct InFlight {
    batch: Vec<Queued>,
    upload: tokio::task::JoinHandle<UploadResult>,
}

/// Batches on the line at once: one being answered while the next is sent.
/// Each stays in the outbox until its answer is committed, so a kill with
/// both in flight sends both again, and the portal answers what it
/// recorded.
const PIPELINE_DEPTH: usize = 2;

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
    ) -> Result<Uplink, UplinkError> {
        let store = Store::open(database)?;
        let key = DeviceKey::from_secret_bytes(&*keys.device().secret_bytes())
            .map_err(UplinkError::DeviceKey)?;
        let client = Arc::new(PortalClient::new(client_config, key)?);
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
    ) -> Result<Self, UplinkError> {
        let key = kiosk_sync::DevicePublicKey::from_base64(&enrolment.policy_public_key)
            .map_err(UplinkError::PolicyKey)?;
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
        let client = Arc::into_inner(self.client)
            .expect("no upload is in flight while the uplink is being built");
        self.client = Arc::new(client.with_clock(clock));
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
        // The next batch goes on the line while the portal answers the one
        // before: the answer, the round trip and both sides' commits no
        // longer leave the line idle between batches.
        let mut in_flight: VecDeque<InFlight> = VecDeque::with_capacity(PIPELINE_DEPTH);
        loop {
            if in_flight.len() < PIPELINE_DEPTH
                && let Some(next) = self.start_batch(&mut sent, now)?
            {
                in_flight.push_back(next);
                continue;
            }
            let Some(oldest) = in_flight.pop_front() else {
                break;
            };
            if !self.finish_batch(oldest, now, &mut round).await? {
                // The portal could not take it: what is still on the line
                // is settled the same way, and the round ends.
                while let Some(rest) = in_flight.pop_front() {
                    self.finish_batch(rest, now, &mut round).await?;
                }
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
                    self.relay.online = matches!(&e, UplinkError::Client(c) if reachable(c));
                    self.relay.last_error = Some(e.to_string());
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
                    self.relay.online = reachable(&e);
                    self.relay.last_error = Some(e.to_string());
                }
            }
        }
        let retention = i64::from(self.policy.sync.retention_days) * 86_400;
        round.purged = self.store.purge_sealed(now - retention)?;
        self.publish()?;
        Ok(round)
    }

    /// Takes the next due batch not yet sent in this round and puts it on
    /// the line; `None` when nothing more is due.
    fn start_batch(
        &mut self,
        sent: &mut HashSet<String>,
        now: i64,
    ) -> Result<Option<InFlight>, StoreError> {
        let horizon = now.saturating_add(kiosk_sync::relay::LONGEST_WAIT.as_secs() as i64);
        let outbox = self.store.due_outbox(
            now,
            horizon,
            self.config.max_batch_items + sent.len().min(1_000),
        )?;
        let fresh: Vec<_> = outbox
            .into_iter()
            .filter(|q| !sent.contains(&q.registration_id))
            .collect();
        let batch = next_batch(&fresh, now, &self.config);
        if batch.is_empty() {
            return Ok(None);
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
        let client = Arc::clone(&self.client);
        let upload = tokio::spawn(async move { client.upload(envelopes).await });
        Ok(Some(InFlight {
            batch: batch.into_iter().cloned().collect(),
            upload,
        }))
    }

    /// Waits for a batch's answer and commits what the relay decides on it.
    /// Whether the portal answered.
    async fn finish_batch(
        &mut self,
        flight: InFlight,
        now: i64,
        round: &mut Round,
    ) -> Result<bool, StoreError> {
        let result = flight
            .upload
            .await
            .unwrap_or_else(|e| UploadResult::Failed(format!("the upload stopped: {e}")));
        round.uploads += 1;
        let batch: Vec<&Queued> = flight.batch.iter().collect();
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
        Ok(matches!(result, UploadResult::Answered(_)))
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
            .map_err(|source| UplinkError::Policy {
                path: updates.file.clone(),
                source,
            })
            .and_then(|policy| {
                save_signed_policy(&updates.file, &signed)?;
                note_version(&mut self.store, signed.version)?;
                Ok(policy)
            }) {
            Ok(policy) => {
                tracing::info!(
                    version = signed.version,
                    "a newer policy from the portal is kept for the next start"
                );
                self.policy = Arc::new(policy);
                Some(signed.version)
            }
            Err(e) => {
                tracing::warn!(version = signed.version, error = %e, "the portal's policy was refused");
                updates.refused = Some(announced);
                self.relay.last_error = Some(format!(
                    "the portal's policy version {} was refused: {e}",
                    signed.version
                ));
                None
            }
        }
    }

    async fn pull_status(&mut self, now: i64) -> Result<usize, UplinkError> {
        let mut applied = 0;
        loop {
            let cursor = self.store.status_cursor()?;
            let page = self.client.status_since(cursor, 500).await?;
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
                .apply_status_changes(&changes, &self.audit_key, now)?;
        }
    }

    fn heartbeat_report(&self, now: i64) -> Result<Heartbeat, StoreError> {
        let (queued, oldest, _) = self.store.outbox_summary()?;
        let peripherals = self
            .handle
            .peripherals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        Ok(Heartbeat {
            software_version: env!("CARGO_PKG_VERSION").into(),
            queue_depth: queued as u64,
            oldest_pending_secs: oldest.map(|t| (now - t).max(0)),
            policy_version: Some(self.policy.version),
            peripherals,
            clock_skew_secs: self.client.clock_skew(),
        })
    }

    /// How long to sleep before the next round: until the next row is due,
    /// capped by the status poll.
    pub fn next_round_in(&self, now: i64) -> Duration {
        let poll = i64::from(self.policy.sync.status_poll_seconds);
        let next_due = self.store.outbox_summary().ok().and_then(|(_, _, due)| due);
        let wait = next_due.map_or(poll, |t| (t - now).clamp(1, poll));
        Duration::from_secs(wait as u64)
    }

    /// Rounds until `stop` resolves: after each, sleeps until the next is
    /// due or the handle is woken.
    pub async fn run(mut self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        let wake = Arc::clone(&self.handle.wake);
        let mut was_online = None;
        loop {
            let now = kiosk_now();
            match self.round(now).await {
                Ok(round) => {
                    if round.uploads > 0 || round.status_changes > 0 || round.purged > 0 {
                        tracing::info!(
                            uploads = round.uploads,
                            settled = round.settled,
                            retried = round.retried,
                            status_changes = round.status_changes,
                            purged = round.purged,
                            "relay round"
                        );
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "relay round stopped at the local store");
                    self.relay.last_error = Some(format!("local store: {e}"));
                }
            }
            if was_online != Some(self.relay.online) {
                if self.relay.online {
                    tracing::info!("the portal is reachable");
                } else {
                    tracing::warn!(
                        error = self.relay.last_error.as_deref().unwrap_or("none yet"),
                        queued = self.store.outbox_len().unwrap_or(0),
                        "the portal is not reachable; registrations stay queued"
                    );
                }
                was_online = Some(self.relay.online);
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

/// Whether an error still means the portal answered: asked to wait
/// (`429`/`503` with `Retry-After`) is reachable, and the kiosk's online
/// methods stay offered; only a portal that cannot be reached is offline.
fn reachable(e: &kiosk_sync::client::ClientError) -> bool {
    matches!(e, kiosk_sync::client::ClientError::Busy(_))
}

fn kiosk_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
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
