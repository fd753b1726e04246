//! The admin's read-only views of the portal: enrolment failures, kiosks,
//! accounts, revocation lists, what the simulated gateway sent, a lookup
//! by reference and a hand-off code. Never an identity beyond what the
//! clerk or admin asked for.

use kiosk_portal::Portal;

use super::{Failure, environment, now, refused};

/// The latest failed enrolments: when, from where, why.
pub fn enrolment_failures(portal: &Portal, limit: i64) -> Result<(), Failure> {
    println!("seconds ago  source           reason");
    for f in portal.enrolment_failures(limit).map_err(environment)? {
        println!(
            "{:>11}  {:<15}  {}",
            (now() - f.at).max(0),
            f.source.as_deref().unwrap_or("-"),
            f.reason
        );
    }
    Ok(())
}

/// Kiosks: id, state, registrations, last heartbeat, key.
pub fn kiosks(portal: &Portal) -> Result<(), Failure> {
    println!("id  state    registrations  last heartbeat  key");
    for k in portal.kiosks().map_err(environment)? {
        let state = if k.revoked_at.is_some() {
            "revoked"
        } else {
            "active"
        };
        let seen = k
            .last_heartbeat_at
            .map(|at| format!("{} s ago", (now() - at).max(0)))
            .unwrap_or_else(|| "never".into());
        println!(
            "{:<3} {:<8} {:>13}  {:<14}  {}",
            k.id, state, k.registrations, seen, k.public_key
        );
    }
    Ok(())
}

/// Accounts by level and pending checks, never identities.
pub fn accounts(portal: &Portal) -> Result<(), Failure> {
    println!("level  pending checks             accounts");
    for (level, pending, count) in portal.account_summary().map_err(environment)? {
        let pending = if pending.is_empty() { "none" } else { &pending };
        println!("{level:<6} {pending:<26} {count}");
    }
    println!("total  {}", portal.account_count().map_err(environment)?);
    Ok(())
}

/// What the simulated SMS and e-mail gateway sent after `after`.
pub fn messages(portal: &Portal, after: i64) -> Result<(), Failure> {
    println!("seq     sent at (UTC)         channel  to                   text");
    for m in portal.messages_since(after).map_err(environment)? {
        println!(
            "{:<7} {:<21} {:<8} {:<20} {}",
            m.seq,
            utc(m.at),
            m.channel,
            m.recipient,
            m.text
        );
    }
    Ok(())
}

/// What a citizen's lookup shows of `reference`.
pub fn lookup(portal: &Portal, reference: &str) -> Result<(), Failure> {
    if kiosk_sync::normalise_reference(reference).is_none() {
        return Err(refused(format!(
            "{reference:?} is not a reference number (DK-XXXX-XXXX or KN-XXXX-XXXX)"
        )));
    }
    match portal.lookup(reference).map_err(environment)? {
        Some(r) => {
            println!("status      {}", r.status);
            if let Some(kind) = r.rejection {
                println!("rejection   {kind:?}");
            }
            println!("method      {}", r.method);
            println!("level       {}", r.level);
            println!("made        {}", utc(r.created_at));
            println!("decided     {}", utc(r.decided_at));
            Ok(())
        }
        None => Err(refused(
            "the portal has no registration under that reference",
        )),
    }
}

/// The account a hand-off code points at.
pub fn handoff(portal: &Portal, code: &str) -> Result<(), Failure> {
    match portal.handoff(code, now()).map_err(environment)? {
        Some(h) => {
            println!("account     {}", h.identity);
            println!("level       {}", h.level);
            println!("opened      {}", utc(h.account_created_at));
            println!("code until  {}", utc(h.expires_at));
            Ok(())
        }
        None => Err(refused("no account has that code, or it has expired")),
    }
}

/// The complaints queue, newest first.
pub fn complaints(portal: &Portal) -> Result<(), Failure> {
    println!(
        "reference     received (UTC)        status    reason            identity      account  method             proof"
    );
    for c in portal.complaints().map_err(environment)? {
        let proof = match &c.clerk_id {
            Some(clerk) => format!("identity proven by chip at counter ({clerk})"),
            None => "contact proven by OTP at a kiosk".to_string(),
        };
        println!(
            "{:<13} {:<21} {:<9} {:<17} {:<13} {:<8} {:<18} {proof}",
            c.reference,
            utc(c.received_at),
            c.status,
            c.reason,
            c.identity_masked,
            if c.account_exists { "yes" } else { "no" },
            c.method
        );
    }
    Ok(())
}

/// The token CAs' revocation lists in use.
pub fn crls(portal: &mut Portal) -> Result<(), Failure> {
    let at = now();
    println!("issuer                               made (s ago)  next due (s)  revoked");
    for l in portal.revocation_lists() {
        let due = l
            .next_update
            .map_or("never".to_string(), |n| (n - at).to_string());
        let stale = if l.next_update.is_none_or(|n| n < at) {
            "  (out of date: token registrations refused)"
        } else {
            ""
        };
        println!(
            "{:<36} {:>12}  {:>12}  {:>7}{stale}",
            l.issuer.as_deref().unwrap_or("(no name)"),
            (at - l.this_update).max(0),
            due,
            l.revoked,
        );
    }
    Ok(())
}

/// Unix seconds as `2026-12-05 08:41:04`, UTC.
fn utc(at: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second]"
            ))
            .ok()
        })
        .unwrap_or_else(|| at.to_string())
}
