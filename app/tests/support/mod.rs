//! Helpers shared by the integration tests: drive a real registration flow
//! to its Store effect, and complete it with real keys and a real store.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use kiosk::config::PasswordHashCost;
use kiosk::domain::{Method, SubjectKind};
use kiosk::flow::{self, Draft, DuplicateOutcome, Effect, Event, Form, SubscriberOutcome};
use kiosk::policy::Policy;
use rand::SeedableRng;
use rand::rngs::StdRng;
use time::OffsetDateTime;
use zeroize::Zeroizing;

/// Cheap Argon2 for tests that are not about the hash.
pub const FAST_HASH: PasswordHashCost = PasswordHashCost {
    memory_kib: 64,
    iterations: 1,
    parallelism: 1,
};

pub struct Person<'a> {
    pub full_name: &'a str,
    pub personal_id: &'a str,
    pub date_of_birth: &'a str,
    pub phone: &'a str,
    pub email: &'a str,
    pub password: &'a str,
}

/// A mobile-subscriber registration, offline, walked from the form to the
/// Store effect through the real state machine.
pub fn mobile_draft(person: &Person<'_>, now: OffsetDateTime, seed: u64) -> Draft {
    let policy = Arc::new(Policy::built_in().clone());
    let (mut reg, _) = flow::start(
        Method::MobileSubscriber,
        SubjectKind::Citizen,
        policy,
        false,
    )
    .unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut form = Form::default();
    form.full_name = person.full_name.into();
    form.personal_id = person.personal_id.into();
    form.date_of_birth = person.date_of_birth.into();
    form.phone = person.phone.into();
    form.email = person.email.into();
    let mut send = |event: Event| reg.handle(now, event, &mut rng).unwrap();
    let effects = send(Event::Submit(form));
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::CheckDuplicate(_))),
        "{effects:?}"
    );
    send(Event::DuplicateChecked(
        DuplicateOutcome::CheckedLocallyOnly,
    ));
    let effects = send(Event::SubscriberChecked(SubscriberOutcome::Unavailable));
    let code = effects
        .iter()
        .find_map(|e| match e {
            Effect::SendOtp { text, .. } => text
                .split(|c: char| !c.is_ascii_digit())
                .find(|w| w.len() == 6)
                .map(String::from),
            _ => None,
        })
        .expect("an OTP SMS");
    send(Event::OtpDelivered);
    send(Event::OtpEntered(Zeroizing::new(code)));
    let effects = send(Event::PasswordSubmitted {
        first: Zeroizing::new(person.password.into()),
        confirm: Zeroizing::new(person.password.into()),
    });
    effects
        .into_iter()
        .find_map(|e| match e {
            Effect::Store(d) => Some(*d),
            _ => None,
        })
        .expect("a Store effect")
}

/// All bytes of every file under `dir`.
pub fn all_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(all_bytes(&path));
        } else {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    out
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
