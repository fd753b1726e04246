//! The counter's pages: the clerk's sign-in (staff code and PIN, or their
//! USB signing token), the counter's home while a clerk is on duty, the
//! clerk's check of the citizen's face against the card, and today's
//! registrations. A kiosk without a [`Desk`] never shows any of them.

use std::time::Duration;

use kiosk_ui::i18n::{Text, tr};
use kiosk_ui::{KeyboardKind, Page};

use super::session::{Session, Stage};
use super::view::{MethodView, View};
use super::{Controller, Focus};
use crate::counter::{Desk, SignInError};
use crate::domain::clock::local_date;
use crate::domain::{Method, Pin, SubjectKind};
use crate::flow::{Effect, Event, Field, FieldError, Screen, TokenOutcome};
use crate::worker::Job;

/// Audit events of the counter: the staff code and outcomes only.
pub const EVENT_CLERK_SIGNED_IN: &str = "clerk.signed_in";
pub const EVENT_CLERK_REFUSED: &str = "clerk.sign_in_refused";
pub const EVENT_CLERK_LOCKED: &str = "clerk.locked";
pub const EVENT_FACE_CHECKED: &str = "counter.face_checked";

impl Controller {
    /// Puts the kiosk on a counter: from now on it opens on the clerk's
    /// sign-in, and a clerk on duty registers citizens with their card.
    pub fn set_desk(&mut self, desk: Desk) {
        self.desk = Some(desk);
        self.end_session();
        self.ensure_signin();
    }

    /// The clerk on duty, if any (`None` off a counter too).
    pub fn clerk_on_duty(&self) -> Option<&crate::counter::OnDuty> {
        self.desk.as_ref()?.on_duty()
    }

    /// At a locked counter, the sign-in page is always there to type into.
    pub(super) fn ensure_signin(&mut self) {
        let locked = self.desk.as_ref().is_some_and(|d| d.on_duty().is_none());
        if !locked || self.session.is_some() || self.first_boot() {
            return;
        }
        let mut session = self.begin_visit("clerk_sign_in");
        session.signin = true;
        session.stage = Stage::Flow(Screen::ClerkSignIn);
        session.focus = session.first_open_input();
        self.session = Some(session);
    }

    fn note(&self, event: &'static str, detail: String) {
        self.effects.submit(Job::Audit { event, detail });
    }

    /// "Khóa quầy", or the clerk's idle time ran out.
    pub fn on_counter_lock(&mut self) {
        self.lock_desk("clerk");
    }

    fn lock_desk(&mut self, reason: &str) {
        if self.is_storing() {
            return;
        }
        let Some(clerk) = self.desk.as_mut().and_then(Desk::lock) else {
            return;
        };
        tracing::info!(clerk = %clerk.id, reason, "counter locked");
        self.note(
            EVENT_CLERK_LOCKED,
            format!("clerk={} reason={reason}", clerk.id),
        );
        // A registration not yet acknowledged goes with the clerk; every
        // acknowledged one is already stored.
        self.cancel_flow();
        self.leave();
    }

    /// The clerk's idle time, checked on the timer.
    pub(super) fn desk_tick(&mut self) {
        let now = self.clock.monotonic();
        if self.desk.as_ref().is_some_and(|d| d.idle_expired(now))
            && self.session.as_ref().is_none_or(|s| s.in_flight == 0)
        {
            self.lock_desk("idle");
        }
        self.ensure_signin();
    }

    /// Any touch while a clerk is on duty keeps the counter open.
    pub(super) fn desk_touch(&mut self) {
        let now = self.clock.monotonic();
        if let Some(desk) = self.desk.as_mut() {
            desk.touch(now);
        }
    }

    /// A card of the counter's home, or of the face check. Answers whether
    /// it was the counter's.
    pub(super) fn counter_choose(&mut self, id: &str) -> bool {
        if self.clerk_on_duty().is_none() {
            return false;
        }
        match (id, self.session.as_ref().map(|s| &s.stage)) {
            ("counter-register", None) => self.counter_register(),
            ("counter-lookup", None) => self.on_lookup(),
            ("counter-today", None) => self.counter_today(),
            ("counter-lock", None) => self.on_counter_lock(),
            ("face-ok" | "face-no", Some(Stage::Flow(Screen::FaceCheck { .. }))) => {
                let ok = id == "face-ok";
                let clerk = self
                    .clerk_on_duty()
                    .map(|c| c.id.clone())
                    .unwrap_or_default();
                self.note(
                    EVENT_FACE_CHECKED,
                    format!(
                        "clerk={clerk} outcome={}",
                        if ok { "confirmed" } else { "mismatch" }
                    ),
                );
                self.feed(if ok {
                    Event::FaceConfirmed
                } else {
                    Event::FaceMismatch
                });
            }
            _ => return false,
        }
        true
    }

    /// "Đăng ký cho công dân": a counter registration, straight to the card.
    fn counter_register(&mut self) {
        self.end_session();
        if self.status.storage != crate::store::Storage::Ready {
            self.effects.submit(Job::Status);
            return;
        }
        let mut session = self.begin_visit("counter_registration");
        session.subject = Some(SubjectKind::Citizen);
        self.session = Some(session);
        self.start(Method::Counter, SubjectKind::Citizen);
        if self.status.card_reader {
            self.feed(Event::UseCard);
        }
    }

    /// "Hồ sơ hôm nay": the counter's registrations since midnight.
    fn counter_today(&mut self) {
        self.end_session();
        let mut session = self.begin_visit("counter_today");
        session.stage = Stage::Flow(Screen::CounterToday { rows: Vec::new() });
        self.session = Some(session);
        let now = self.clock.wall();
        let midnight = local_date(now)
            .midnight()
            .assume_offset(crate::domain::clock::VIETNAM)
            .unix_timestamp();
        self.apply(vec![Effect::ListToday(midnight)]);
    }

    /// Đăng nhập on the sign-in page: the staff code and PIN.
    pub(super) fn signin_submit(&mut self) {
        let now = self.clock.monotonic();
        let Some(session) = self.session.as_mut() else {
            return;
        };
        let Some(desk) = self.desk.as_mut() else {
            return;
        };
        let result = desk
            .sign_in_pin(&session.clerk_id, &session.pin, now)
            .map(|c| c.id.clone());
        session.pin.clear();
        match result {
            Ok(id) => {
                tracing::info!(clerk = %id, "clerk signed in with a PIN");
                self.note(EVENT_CLERK_SIGNED_IN, format!("clerk={id} by=pin"));
                self.end_session();
            }
            Err(e) => {
                tracing::info!(error = %e, "clerk sign-in refused");
                session.errors = vec![FieldError::new(Field::Pin, e.message(), e)];
                session.focus = Some(Focus::Field(Field::Pin));
                self.note(EVENT_CLERK_REFUSED, format!("by=pin reason={}", reason(&e)));
            }
        }
    }

    /// "Đăng nhập bằng USB ký số" on the sign-in page.
    pub(super) fn signin_by_token(&mut self) {
        let Some(session) = self.session.as_mut().filter(|s| s.signin) else {
            return;
        };
        if !self.status.token_reader {
            return;
        }
        session.pin.clear();
        self.apply(vec![Effect::Show(Screen::WaitingForToken)]);
    }

    /// The token's steps of the sign-in: it came, its PIN, its proof.
    pub(super) fn signin_event(&mut self, event: Event) {
        let now = self.clock.monotonic();
        let pin_page = |count_low, final_try, wrong| {
            Effect::Show(Screen::EnterPin {
                count_low,
                final_try,
                wrong,
            })
        };
        let effects = match event {
            Event::TokenInserted => vec![pin_page(false, false, false)],
            Event::TokenRemoved => vec![Effect::Show(Screen::WaitingForToken)],
            Event::PinEntered(pin) => {
                vec![Effect::Show(Screen::ProvingToken), Effect::ProveToken(pin)]
            }
            Event::TokenAnswered(TokenOutcome::Proven(identity)) => {
                let Some(desk) = self.desk.as_mut() else {
                    return;
                };
                match desk.sign_in_token(&identity.certificate, now) {
                    Ok(clerk) => {
                        let id = clerk.id.clone();
                        tracing::info!(clerk = %id, "clerk signed in with a token");
                        self.note(EVENT_CLERK_SIGNED_IN, format!("clerk={id} by=token"));
                        self.end_session();
                        return;
                    }
                    Err(e) => self.signin_refused(e.message(), reason(&e)),
                }
            }
            Event::TokenAnswered(TokenOutcome::WrongPin {
                count_low,
                final_try,
            }) => vec![pin_page(count_low, final_try, true)],
            Event::TokenAnswered(TokenOutcome::Removed) => {
                vec![Effect::Show(Screen::WaitingForToken)]
            }
            Event::TokenAnswered(TokenOutcome::Problem(problem)) => {
                self.signin_refused(Text::new(problem.message()), "token_problem")
            }
            _ => return,
        };
        self.apply(effects);
    }

    /// Back on the sign-in page, with why.
    fn signin_refused(&mut self, message: Text, why: &str) -> Vec<Effect> {
        self.note(EVENT_CLERK_REFUSED, format!("by=token reason={why}"));
        vec![
            Effect::Show(Screen::ClerkSignIn),
            Effect::FieldErrors(vec![FieldError::new(Field::Pin, message, why)]),
        ]
    }

    /// `effect` with the clerk on duty (and, for a complaint or a reset,
    /// what the chip proved) when it stores something made at the counter;
    /// `None` when there is no clerk, or a reset has no chip. Any other
    /// effect as it is.
    pub(super) fn stamped(&self, effect: Effect) -> Option<Effect> {
        let at_counter = match &effect {
            Effect::Store(d) => d.method == Method::Counter,
            Effect::FileComplaint(d) => d.method == Method::Counter,
            Effect::FileCounterReset(_) => true,
            _ => false,
        };
        if !at_counter {
            return Some(effect);
        }
        let clerk = self.clerk_on_duty().map(crate::counter::OnDuty::stamp);
        let chip = self
            .session
            .as_ref()
            .and_then(|s| s.registration.as_ref())
            .and_then(|r| r.chip())
            .map(|c| Box::new(c.clone()));
        if clerk.is_none() {
            tracing::warn!("something made at the counter with no clerk on duty: not stored");
        }
        Some(match effect {
            Effect::Store(mut draft) => {
                draft.clerk = Some(clerk?);
                Effect::Store(draft)
            }
            Effect::FileComplaint(mut draft) => {
                draft.clerk = Some(clerk?);
                draft.chip = chip;
                Effect::FileComplaint(draft)
            }
            Effect::FileCounterReset(mut draft) => {
                draft.clerk = Some(clerk?);
                draft.chip = Some(chip?);
                Effect::FileCounterReset(draft)
            }
            other => other,
        })
    }

    /// The counter's home, while a clerk is on duty and no one is served.
    pub(super) fn describe_counter_home(&self, view: &mut View) {
        let Some(clerk) = self.clerk_on_duty() else {
            return;
        };
        let lang = self.lang;
        let t = |vietnamese: &str| tr(lang, vietnamese).to_string();
        view.page = Page::CounterHome;
        view.title = t("Quầy đang mở");
        view.message = Text::with(
            "Cán bộ {} ({}) đang làm việc. Chọn việc cần làm:",
            [clerk.name.as_str(), clerk.id.as_str()],
        )
        .render(lang);
        let storing = self.status.storage == crate::store::Storage::Ready;
        let card = |id: &str, title: &str, detail: &str, enabled: bool, reason: &str| MethodView {
            id: id.into(),
            title: t(title),
            detail: t(detail),
            enabled,
            reason: if enabled { String::new() } else { t(reason) },
        };
        view.methods = vec![
            card(
                "counter-register",
                "Đăng ký tài khoản cho công dân",
                "Đọc chip thẻ CCCD, đối chiếu khuôn mặt; công dân tự nhập mã OTP và mật khẩu. Tài khoản mức 3.",
                storing && self.status.card_reader,
                if storing {
                    "Máy chưa thấy đầu đọc thẻ CCCD. Kiểm tra đầu đọc hoặc liên hệ kỹ thuật viên."
                } else {
                    "Máy tạm ngừng nhận hồ sơ; các hồ sơ đã nhận vẫn được giữ an toàn."
                },
            ),
            card(
                "counter-lookup",
                "Tra cứu hồ sơ",
                "Theo mã hồ sơ công dân mang đến (DK-… hoặc KN-…)",
                true,
                "",
            ),
            card(
                "counter-today",
                "Hồ sơ hôm nay",
                "Các hồ sơ đã nhận tại máy này hôm nay: đã gửi, còn chờ gửi và lý do",
                true,
                "",
            ),
            card(
                "counter-lock",
                "Khóa quầy",
                "Khi rời quầy. Quầy cũng tự khóa khi không dùng một thời gian.",
                true,
                "",
            ),
        ];
    }

    /// The counter's own screens while a session shows them.
    pub(super) fn describe_counter(&self, screen: &Screen, session: &Session, view: &mut View) {
        let lang = self.lang;
        let t = |vietnamese: &str| tr(lang, vietnamese).to_string();
        match screen {
            Screen::ClerkSignIn => {
                view.page = Page::Form;
                view.method_title = t("Đăng nhập cán bộ quầy giao dịch");
                view.submit_label = t("Đăng nhập");
                view.submit_enabled =
                    !session.clerk_id.trim().is_empty() && Pin::new(&session.pin).is_some();
                view.card_label = t("Đăng nhập bằng USB ký số của cán bộ");
                view.card_enabled = self.status.token_reader;
                view.card_detail = t(if self.status.token_reader {
                    "Cắm USB ký số rồi nhập mã PIN của USB"
                } else {
                    "Máy này chưa sẵn sàng đọc USB ký số; đăng nhập bằng mã cán bộ và mã PIN."
                });
            }
            Screen::FaceCheck {
                full_name,
                number,
                date_of_birth,
                expires,
            } => {
                view.page = Page::Choice;
                view.title = t("Đối chiếu người đăng ký với thẻ CCCD");
                view.message = t(
                    "Chip thẻ đã được xác thực. Cán bộ so khuôn mặt người đăng ký với ảnh trên thẻ, và thông tin dưới đây với thẻ:",
                );
                let details = [
                    Text::with("Họ và tên: {}", [full_name]).render(lang),
                    Text::with("Số định danh: {}", [number]).render(lang),
                    Text::with("Ngày sinh: {}", [date_of_birth]).render(lang),
                    Text::with("Có giá trị đến: {}", [expires]).render(lang),
                ]
                .join("\n");
                view.methods = vec![
                    MethodView {
                        id: "face-ok".into(),
                        title: t("Đúng người trên thẻ: xác nhận"),
                        detail: details,
                        enabled: true,
                        reason: String::new(),
                    },
                    MethodView {
                        id: "face-no".into(),
                        title: t("Không phải người trên thẻ"),
                        detail: t("Dừng đăng ký; không có thông tin nào được lưu."),
                        enabled: true,
                        reason: String::new(),
                    },
                ];
            }
            Screen::CounterResetQueued { reference } => {
                view.page = Page::Done;
                view.keyboard = KeyboardKind::None;
                view.title = t("Đã nhận yêu cầu đặt lại mật khẩu");
                view.reference = reference.clone();
                view.message = t(
                    "Mật khẩu mới có hiệu lực khi Cổng Dịch vụ công nhận yêu cầu này; Cổng nhắn tin báo đến số điện thoại của tài khoản.",
                );
                view.lines = vec![
                    t("Giữ mã này để tra cứu tại máy đăng ký hoặc hỏi tại quầy."),
                    t(if self.status.online {
                        "Máy đang gửi yêu cầu về Cổng."
                    } else {
                        "Máy đang mất kết nối: yêu cầu được giữ an toàn và tự gửi khi có mạng."
                    }),
                ];
                view.submit_label = t("Hoàn tất");
                view.submit_enabled = true;
            }
            Screen::CounterToday { rows } => {
                view.page = Page::Info;
                view.keyboard = KeyboardKind::None;
                view.title = t("Hồ sơ hôm nay tại máy này");
                let queued = rows.iter().filter(|r| r.status == "queued").count();
                view.message = Text::with(
                    "{} hồ sơ hôm nay; {} hồ sơ còn chờ gửi về Cổng.",
                    [rows.len(), queued],
                )
                .render(lang);
                view.lines = rows.iter().map(|r| today_line(r, lang)).collect();
                if queued > 0 && !self.status.online {
                    view.lines.push(t(
                        "Máy đang mất kết nối: hồ sơ chờ gửi được giữ an toàn và tự gửi khi có mạng. Kỹ thuật viên có thể xuất ra USB bằng “kioskctl export”.",
                    ));
                }
                view.submit_label = t("Về quầy");
                view.submit_enabled = true;
            }
            _ => {}
        }
    }

    /// The new password's page of a reset at the counter.
    pub(super) fn describe_counter_reset(&self, view: &mut View) {
        let t = |vietnamese: &str| tr(self.lang, vietnamese).to_string();
        view.title = t("Đặt mật khẩu mới");
        view.message = t(
            "Chip thẻ CCCD đã chứng minh người yêu cầu là chủ tài khoản. Mật khẩu mới thay mật khẩu cũ khi Cổng nhận yêu cầu.",
        );
        view.submit_label = t("Đặt lại mật khẩu");
    }

    /// The counter's OTP and password pages are the citizen's to type.
    pub(super) fn describe_citizen_turn(&self, view: &mut View) {
        let turn = tr(
            self.lang,
            "Mời công dân tự nhập. Cán bộ không nhìn và không nhập thay.",
        );
        view.message = format!("{}\n{turn}", view.message);
    }

    /// How long the clerk's idle lock waits, for the tests.
    pub fn clerk_idle_lock(&self) -> Duration {
        Duration::from_secs(u64::from(self.policy.counter.clerk_idle_lock_seconds))
    }
}

fn reason(e: &SignInError) -> &'static str {
    match e {
        SignInError::Wrong { .. } => "wrong",
        SignInError::LockedOut { .. } => "locked_out",
        SignInError::NotAClerk => "not_a_clerk",
    }
}

/// One line of today's list: the reference, method, level and where it is.
fn today_line(r: &crate::flow::TodayRow, lang: kiosk_ui::i18n::Lang) -> String {
    let reset = r.reference.starts_with(kiosk_sync::COUNTER_RESET_PREFIX);
    let method = if reset {
        tr(lang, "Đặt lại mật khẩu").to_string()
    } else if r.reference.starts_with(kiosk_sync::COMPLAINT_PREFIX) {
        tr(lang, "Khiếu nại").to_string()
    } else {
        Method::parse(&r.method)
            .map(|m| tr(lang, m.label()).to_string())
            .unwrap_or_else(|| r.method.clone())
    };
    let status = match r.status.as_str() {
        "activated" if reset => Text::new("mật khẩu mới đã có hiệu lực"),
        "queued" if r.attempts > 0 => Text::with("chờ gửi, đã thử {} lần", [r.attempts]),
        "queued" => Text::new("chờ gửi"),
        "delivered" if !r.pending.is_empty() => Text::new("Cổng đã nhận, đang kiểm tra"),
        "delivered" => Text::new("Cổng đã nhận"),
        "activated" => Text::new("tài khoản đã kích hoạt"),
        "duplicate" => Text::new("trùng tài khoản đã có"),
        "rejected" => Text::new("Cổng từ chối"),
        "received" => Text::new("Cổng đã nhận khiếu nại"),
        "resolved" => Text::new("khiếu nại đã giải quyết"),
        other => Text::with("{}", [other]),
    }
    .render(lang);
    if r.level == 0 {
        format!("{} · {} · {}", r.reference, method, status)
    } else {
        Text::with(
            "{} · {} · mức {} · {}",
            [r.reference.clone(), method, r.level.to_string(), status],
        )
        .render(lang)
    }
}
