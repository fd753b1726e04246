//! `kioskctl queue list` and `kioskctl status`: what is queued, and the
//! kiosk at a glance. Never personal data: the queue is sealed.

use time::OffsetDateTime;

use kiosk::uplink::Enrolment;

use crate::{CtlError, Kiosk, environment, invalid};

pub(crate) fn queue_list(kiosk: &Kiosk) -> Result<(), CtlError> {
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

pub(crate) fn status(kiosk: &Kiosk) -> Result<(), CtlError> {
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
