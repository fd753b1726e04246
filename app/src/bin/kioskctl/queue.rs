//! `kioskctl queue list`, `kioskctl status` and `kioskctl store`: what is
//! queued, the kiosk at a glance, and the database file's health. Never
//! personal data: the queue is sealed.

use time::OffsetDateTime;

use kiosk::store::{RESERVE_BYTES, Store, StoreError};
use kiosk::uplink::Enrolment;

use crate::{CtlError, Kiosk, StoreCommand, environment, invalid};

const MIB: u64 = 1024 * 1024;

/// What to do about a damaged database, said the same way everywhere.
const SALVAGE_ADVICE: &str = "the kiosk takes no registrations; run `kioskctl store salvage`, then restart the kiosk (see README, \"The disk\")";

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
            // A complaint (KN-…) or a counter's password reset (MK-…)
            // opens no account: it has no level.
            if is_complaint(&r.reference) || is_reset(&r.reference) {
                "-".to_string()
            } else {
                r.level.to_string()
            },
            r.status,
            r.attempts,
            if r.pending.is_empty() {
                "-".to_string()
            } else {
                r.pending.join(",")
            }
        );
    }
    let complaints = rows.iter().filter(|r| is_complaint(&r.reference)).count();
    let resets = rows.iter().filter(|r| is_reset(&r.reference)).count();
    let mut counted = format!("{} registration(s)", rows.len() - complaints - resets);
    if complaints > 0 {
        counted.push_str(&format!(", {complaints} complaint(s)"));
    }
    if resets > 0 {
        counted.push_str(&format!(", {resets} password reset(s) at the counter"));
    }
    println!("{counted}");
    Ok(())
}

fn is_complaint(reference: &str) -> bool {
    reference.starts_with(kiosk_sync::COMPLAINT_PREFIX)
}

fn is_reset(reference: &str) -> bool {
    reference.starts_with(kiosk_sync::COUNTER_RESET_PREFIX)
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
    let store = match Store::open(&c.database_path()) {
        Err(StoreError::Damaged(why)) => {
            println!("database         DAMAGED: {why}");
            println!("                 {SALVAGE_ADVICE}");
            return Err(environment("the database file is damaged"));
        }
        _ => kiosk.store()?,
    };
    match store.free_bytes() {
        Some(free) => println!(
            "storage          {} MiB free on the data partition{}",
            free / MIB,
            if free < RESERVE_BYTES {
                format!(
                    ": FULL, new registrations stop below {} MiB",
                    RESERVE_BYTES / MIB
                )
            } else {
                String::new()
            }
        ),
        None => println!("storage          free space unknown"),
    }
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

pub(crate) fn store(kiosk: &Kiosk, command: &StoreCommand) -> Result<(), CtlError> {
    let path = kiosk.config.database_path();
    let opened = Store::open(&path);
    match (command, opened) {
        (StoreCommand::Check, Ok(_)) => {
            println!("{}: quick_check OK", path.display());
            Ok(())
        }
        (StoreCommand::Check, Err(StoreError::Damaged(why))) => Err(invalid(format!(
            "{}: DAMAGED: {why}\n{SALVAGE_ADVICE}",
            path.display()
        ))),
        (StoreCommand::Salvage { force: false }, Ok(_)) => Err(usage_sound(&path)),
        (StoreCommand::Salvage { .. }, Ok(_) | Err(StoreError::Damaged(_))) => {
            let keys = kiosk.keys()?;
            let now = OffsetDateTime::now_utc().unix_timestamp();
            let r = kiosk::store::salvage::salvage(&path, &keys.audit_key(), now)
                .map_err(environment)?;
            println!("damaged file kept as {}", r.damaged_copy.display());
            println!(
                "registrations    {} salvaged ({} still to deliver, {} outbox rows rebuilt)",
                r.registrations, r.queued, r.outbox_rebuilt
            );
            println!(
                "unreadable       {} row(s) found but not readable; highest row number seen {}",
                r.unreadable, r.highest_row
            );
            println!(
                "audit log        {} entries kept as they were, {} completion entries rewritten as salvaged",
                r.audit_kept, r.audit_rewritten
            );
            println!("restart the kiosk to take registrations again");
            Ok(())
        }
        (_, Err(e)) => Err(environment(format!("{}: {e}", path.display()))),
    }
}

fn usage_sound(path: &std::path::Path) -> CtlError {
    crate::usage(format!(
        "{}: quick_check OK, nothing to salvage (--force to rebuild it anyway)",
        path.display()
    ))
}
