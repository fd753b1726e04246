//! `kioskctl enrol`, `sync status`, `sync now` and `export`: the kiosk's
//! link to the portal, and the USB stick when there is none.

use std::path::Path;

use kiosk::uplink::{Enrolment, EnrolmentError, Uplink};
use time::OffsetDateTime;

use crate::{CtlError, Kiosk, environment, invalid, usage};

pub(crate) fn sync_status(kiosk: &Kiosk) -> Result<(), CtlError> {
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

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, CtlError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(environment)
}

pub(crate) fn enrol(
    kiosk: &Kiosk,
    portal: &str,
    code: &str,
    pin: Option<&str>,
) -> Result<(), CtlError> {
    let keys = kiosk.keys()?;
    let enrolment = kiosk::uplink::enrol(&keys, &kiosk.config.data_dir, portal, code, pin)
        .map_err(|e| match e {
            EnrolmentError::Pin | EnrolmentError::Address(_) => usage(e),
            EnrolmentError::File { .. } => environment(e),
            EnrolmentError::Portal(_) => invalid(e.to_string()),
        })?;
    println!(
        "enrolled as kiosk {} with {portal}; registrations are sealed to the portal's key from now on",
        enrolment.kiosk_id
    );
    Ok(())
}

pub(crate) fn enrolment(kiosk: &Kiosk) -> Result<Enrolment, CtlError> {
    Enrolment::load(&kiosk.config.data_dir)
        .map_err(environment)?
        .ok_or_else(|| {
            invalid("this kiosk is not enrolled: run `kioskctl enrol --portal URL --code CODE`")
        })
}

pub(crate) fn sync_now(kiosk: &Kiosk) -> Result<(), CtlError> {
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

pub(crate) fn export(kiosk: &Kiosk, to: &Path) -> Result<(), CtlError> {
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
    // Sealed envelopes only, yet nobody else's business on a shared stick.
    kiosk::atomic::write(to, &file.to_bytes(), 0o600)
        .map_err(|e| environment(format!("{}: {e}", to.display())))?;
    println!(
        "exported {count} sealed registration(s) to {}",
        to.display()
    );
    println!(
        "they stay queued here until the portal confirms them; importing the file twice creates nothing twice"
    );
    Ok(())
}
