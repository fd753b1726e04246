//! Registration with a USB signing token, end to end: SoftHSM through real
//! PKCS#11 calls, certificates from a test CA, the real state machine, and
//! the sealed store. Every token is made before SoftHSM is first loaded in
//! this process (it reads its token directory once).

mod support;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use kiosk::domain::{Level, Method, Pin, SubjectKind};
use kiosk::flow::{
    self, DuplicateOutcome, Effect, Event, Failure, PendingCheck, Screen, TokenProblem,
};
use kiosk::policy::Policy;
use kiosk_hal::token::cert::TrustAnchors;
use kiosk_hal::token::pkcs11::{TokenRef, list_tokens};
use kiosk_hal::token::testpki::{KeyType, TestCa, TestPki, TestToken, TokenSpec};
use kiosk_sync::{Envelope, RegistrationPayload};
use rand::SeedableRng;
use support::Fixture;
use time::OffsetDateTime;
use zeroize::Zeroizing;

struct Pki {
    _dir: tempfile::TempDir,
    anchors: PathBuf,
    citizen: TestToken,
    business: TestToken,
    untrusted: TestToken,
    wrong_usage: TestToken,
    no_key: TestToken,
}

fn unique(name: &str) -> String {
    format!("app-{name}-{}", std::process::id())
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let TestPki {
            ca,
            stranger,
            anchors,
        } = TestPki::create(dir.path()).unwrap();
        let issue = |ca: &TestCa,
                     name: &str,
                     subject: &str,
                     key: KeyType,
                     usage: Option<&str>,
                     without_key: bool| {
            let label = unique(name);
            let mut spec = TokenSpec::new(&label, subject, key);
            if let Some(u) = usage {
                spec.key_usage = u;
            }
            spec.without_key = without_key;
            ca.issue_token(&spec).unwrap()
        };
        Pki {
            citizen: issue(
                &ca,
                "citizen",
                "/C=VN/CN=Trần Thị Thuỷ/UID=CCCD:051303000111",
                KeyType::P256,
                None,
                false,
            ),
            business: issue(
                &ca,
                "business",
                "/C=VN/O=CÔNG TY TNHH AN PHÚ/CN=CÔNG TY TNHH AN PHÚ/UID=MST:0100047516",
                KeyType::Rsa2048,
                None,
                false,
            ),
            untrusted: issue(
                &stranger,
                "untrusted",
                "/C=VN/CN=Hồ Thị Lan/UID=CCCD:051199000777",
                KeyType::P256,
                None,
                false,
            ),
            wrong_usage: issue(
                &ca,
                "usage",
                "/C=VN/CN=Hồ Thị Lan/UID=CCCD:051199000777",
                KeyType::P256,
                Some("critical,keyEncipherment"),
                false,
            ),
            no_key: issue(
                &ca,
                "nokey",
                "/C=VN/CN=Hồ Thị Lan/UID=CCCD:051199000777",
                KeyType::P256,
                None,
                true,
            ),
            anchors,
            _dir: dir,
        }
    })
}

fn token_ref(t: &TestToken) -> TokenRef {
    list_tokens(std::slice::from_ref(&t.module))
        .unwrap()
        .into_iter()
        .find(|r| r.label == t.label)
        .unwrap()
}

struct Kiosk {
    fixture: Fixture,
    policy: Arc<Policy>,
    anchors: TrustAnchors,
    rng: rand::rngs::StdRng,
    now: OffsetDateTime,
}

impl Kiosk {
    fn new() -> Kiosk {
        Kiosk {
            anchors: TrustAnchors::load(&pki().anchors).unwrap(),
            fixture: Fixture::new(),
            policy: Arc::new(Policy::built_in().clone()),
            rng: rand::rngs::StdRng::seed_from_u64(4),
            now: OffsetDateTime::now_utc(),
        }
    }

    /// Runs the runtime's side of each effect, as the kiosk would, until
    /// the flow waits for the citizen. Answers the last screen shown.
    fn run(&mut self, reg: &mut flow::AnyRegistration, token: &TokenRef, first: Event) -> Screen {
        let mut queue = vec![first];
        let mut screen = None;
        while let Some(event) = queue.pop() {
            for effect in reg.handle(self.now, event, &mut self.rng).unwrap() {
                match effect {
                    Effect::Show(s) => screen = Some(s),
                    Effect::ProveToken(pin) => queue.push(Event::TokenAnswered(
                        kiosk::token::prove(token, &pin, &self.anchors, &self.policy, self.now),
                    )),
                    Effect::CheckDuplicate(keys) => {
                        let exists = keys.iter().any(|key| {
                            self.fixture
                                .store
                                .has_identity(&self.fixture.keys.identity_tag(key))
                                .unwrap()
                        });
                        queue.push(Event::DuplicateChecked(if exists {
                            DuplicateOutcome::AccountExists
                        } else {
                            DuplicateOutcome::CheckedLocallyOnly
                        }));
                    }
                    Effect::Store(draft) => {
                        let portal = self.fixture.portal.public_key();
                        let completer = kiosk::register::Completer {
                            keys: &self.fixture.keys,
                            portal: &portal,
                            cost: support::FAST_HASH,
                        };
                        let receipt = completer
                            .complete(&mut self.fixture.store, &draft, self.now)
                            .unwrap();
                        queue.push(Event::Stored {
                            reference: receipt.reference,
                        });
                    }
                    // No portal here: no code for the counter.
                    Effect::RequestHandoff(_) => queue.push(Event::HandoffIssued(None)),
                    Effect::FieldErrors(errors) => panic!("{errors:?}"),
                    other => panic!("unexpected effect {other:?}"),
                }
            }
        }
        screen.expect("a screen")
    }

    fn start(
        &mut self,
        subject: SubjectKind,
        token: &TestToken,
        pin: &str,
    ) -> (flow::AnyRegistration, TokenRef, Screen) {
        let (mut reg, _) =
            flow::start(Method::UsbToken, subject, Arc::clone(&self.policy), false).unwrap();
        let token = token_ref(token);
        self.run(&mut reg, &token, Event::TokenInserted);
        let screen = self.run(&mut reg, &token, Event::PinEntered(Pin::new(pin).unwrap()));
        (reg, token, screen)
    }
}

fn complete(
    kiosk: &mut Kiosk,
    reg: &mut flow::AnyRegistration,
    token: &TokenRef,
    email: &str,
) -> Screen {
    // As the manual has it, "Đăng ký" after the details ends it: the
    // token is the login, no password.
    kiosk.run(
        reg,
        token,
        Event::DetailsConfirmed {
            email: Zeroizing::new(email.to_string()),
        },
    )
}

fn only_payload(kiosk: &Kiosk) -> RegistrationPayload {
    let queue = kiosk.fixture.store.queue().unwrap();
    assert_eq!(queue.len(), 1);
    let envelope =
        Envelope::from_bytes(&kiosk.fixture.store.envelope(&queue[0].id).unwrap().unwrap())
            .unwrap();
    serde_json::from_slice(&envelope.open(&kiosk.fixture.portal).unwrap()).unwrap()
}

#[test]
fn a_citizen_registers_at_level_3_with_the_certificate_sealed_in() {
    let mut kiosk = Kiosk::new();
    let (mut reg, token, screen) = kiosk.start(SubjectKind::Citizen, &pki().citizen, "123456");
    let Screen::ConfirmDetails {
        email_required: false,
        details,
    } = &screen
    else {
        panic!("{screen:?}")
    };
    // The certificate's own words, from the real token.
    assert!(
        details
            .0
            .iter()
            .any(|(l, v)| *l == "Cấp bởi" && v == "CA Thử Nghiệm Kiosk"),
        "{:?}",
        details.0.iter().map(|(l, _)| l).collect::<Vec<_>>()
    );
    let done = complete(&mut kiosk, &mut reg, &token, "");
    let Screen::Done { level, pending, .. } = done else {
        panic!("{done:?}")
    };
    assert_eq!(level, Level::THREE);
    assert_eq!(
        pending,
        vec![
            PendingCheck::GlobalDuplicate,
            PendingCheck::CertificateRevocation
        ]
    );
    let payload = only_payload(&kiosk);
    assert_eq!(
        (
            payload.method.as_str(),
            payload.subject.as_str(),
            payload.level
        ),
        ("usb_token", "citizen", 3)
    );
    assert_eq!(payload.full_name.as_deref(), Some("Trần Thị Thuỷ"));
    assert_eq!(payload.personal_id.as_deref(), Some("051303000111"));
    assert!(payload.certificate.is_some());
}

#[test]
fn a_business_registers_with_its_tax_code_and_a_required_email() {
    let mut kiosk = Kiosk::new();
    let (mut reg, token, screen) = kiosk.start(SubjectKind::Business, &pki().business, "123456");
    assert!(matches!(
        &screen,
        Screen::ConfirmDetails {
            email_required: true,
            details
        } if details.0.iter().any(|(l, v)| *l == "Mã số thuế" && v == "0100047516")
    ));
    let done = complete(&mut kiosk, &mut reg, &token, "ketoan@anphu.com.vn");
    assert!(
        matches!(
            done,
            Screen::Done {
                level: Level::THREE,
                ..
            }
        ),
        "{done:?}"
    );
    let payload = only_payload(&kiosk);
    assert_eq!(payload.tax_code.as_deref(), Some("0100047516"));
    assert_eq!(
        payload.business_name.as_deref(),
        Some("CÔNG TY TNHH AN PHÚ")
    );
    assert_eq!(payload.email.as_deref(), Some("ketoan@anphu.com.vn"));
    // The same business again: a local duplicate, with the ways out.
    let (mut again, token, _) = kiosk.start(SubjectKind::Business, &pki().business, "123456");
    let screen = kiosk.run(
        &mut again,
        &token,
        Event::DetailsConfirmed {
            email: Zeroizing::new("ketoan@anphu.com.vn".to_string()),
        },
    );
    assert!(matches!(screen, Screen::AccountExists { .. }), "{screen:?}");
}

#[test]
fn a_wrong_pin_asks_again_and_the_right_one_goes_on() {
    let mut kiosk = Kiosk::new();
    let (mut reg, token, screen) = kiosk.start(SubjectKind::Citizen, &pki().citizen, "999999");
    assert!(
        matches!(screen, Screen::EnterPin { wrong: true, .. }),
        "{screen:?}"
    );
    let screen = kiosk.run(
        &mut reg,
        &token,
        Event::PinEntered(Pin::new("123456").unwrap()),
    );
    assert!(matches!(
        screen,
        Screen::ConfirmDetails {
            email_required: false,
            ..
        }
    ));
}

#[test]
fn each_unusable_token_ends_with_its_own_vietnamese_message() {
    let cases = [
        (&pki().untrusted, TokenProblem::CertificateUntrusted),
        (&pki().wrong_usage, TokenProblem::CertificateWrongUsage),
        (&pki().no_key, TokenProblem::NoMatchingKey),
    ];
    for (token, expected) in cases {
        let mut kiosk = Kiosk::new();
        let (_, _, screen) = kiosk.start(SubjectKind::Citizen, token, "123456");
        assert_eq!(
            screen,
            Screen::Failed(Failure::Token(expected)),
            "{}",
            token.label
        );
        assert!(!Failure::Token(expected).message().is_empty());
    }
}

#[test]
fn an_expired_or_not_yet_valid_certificate_is_refused_by_the_kiosk_clock() {
    for (shift, expected) in [
        (time::Duration::days(400), TokenProblem::CertificateExpired),
        (
            time::Duration::days(-2),
            TokenProblem::CertificateNotYetValid,
        ),
    ] {
        let mut kiosk = Kiosk::new();
        kiosk.now += shift;
        let (_, _, screen) = kiosk.start(SubjectKind::Citizen, &pki().citizen, "123456");
        assert_eq!(screen, Screen::Failed(Failure::Token(expected)));
    }
}

#[test]
fn a_citizen_cannot_use_a_business_token() {
    let mut kiosk = Kiosk::new();
    let (_, _, screen) = kiosk.start(SubjectKind::Citizen, &pki().business, "123456");
    assert_eq!(screen, Screen::Failed(Failure::CertificateSubjectMismatch));
}
