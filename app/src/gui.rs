//! The Slint binding: the window's callbacks call the [`Controller`], and
//! after each one the controller's [`View`] is copied into the window's
//! globals (`KioskStatus`, `KioskScreen`, `KioskKeys`). This is the only module that knows both sides.

use std::cell::RefCell;
use std::rc::Rc;

use kiosk_ui::{
    FieldItem, KioskKeys, KioskScreen, KioskStatus, KioskWindow, MethodItem, Page, RuleItem,
};
use slint::{ComponentHandle, ModelRc, SharedString, VecModel};

use crate::controller::{Controller, View};

fn model<T: Clone + 'static>(items: Vec<T>) -> ModelRc<T> {
    ModelRc::new(VecModel::from(items))
}

/// Copies `view` into the window.
pub fn show(ui: &KioskWindow, view: &View, clock: &str) {
    let bar = ui.global::<KioskStatus>();
    if bar.get_language() != view.lang.code() {
        if let Err(e) = kiosk_ui::i18n::select(view.lang) {
            tracing::warn!(lang = view.lang.code(), error = %e, "the screens cannot switch language");
        }
        bar.set_language(view.lang.code().into());
    }
    bar.set_online(view.status.online);
    bar.set_queue_depth(i32::try_from(view.status.queue_depth).unwrap_or(i32::MAX));
    bar.set_signal_bars(i32::from(view.status.signal_bars));
    bar.set_modem_ready(view.status.modem_ready);
    bar.set_token_reader(view.status.token_reader);
    bar.set_card_reader(view.status.card_reader);
    bar.set_clock(clock.into());

    let keys = ui.global::<KioskKeys>();
    keys.set_keyboard(view.keyboard);
    keys.set_telex(view.telex);
    keys.set_respell(view.respell.as_str().into());

    let k = ui.global::<KioskScreen>();
    k.set_subject_title(view.subject_title.as_str().into());
    k.set_method_title(view.method_title.as_str().into());
    k.set_methods(model(
        view.methods
            .iter()
            .map(|m| MethodItem {
                id: m.id.as_str().into(),
                title: m.title.as_str().into(),
                detail: m.detail.as_str().into(),
                enabled: m.enabled,
                reason: m.reason.as_str().into(),
            })
            .collect(),
    ));
    k.set_fields(model(
        view.fields
            .iter()
            .map(|f| FieldItem {
                id: f.id.as_str().into(),
                label: f.label.as_str().into(),
                value: f.value.as_str().into(),
                hint: f.hint.as_str().into(),
                required: f.required,
                error: f.error.as_str().into(),
                focused: f.focused,
                locked: f.locked,
            })
            .collect(),
    ));
    k.set_title(view.title.as_str().into());
    k.set_message(view.message.as_str().into());
    k.set_lines(model(
        view.lines
            .iter()
            .map(|l| SharedString::from(l.as_str()))
            .collect(),
    ));
    k.set_submit_label(view.submit_label.as_str().into());
    k.set_submit_enabled(view.submit_enabled);
    k.set_resend_label(view.resend_label.as_str().into());
    k.set_resend_enabled(view.resend_enabled);
    k.set_countdown(view.countdown.as_str().into());
    k.set_rules(model(
        view.rules
            .iter()
            .map(|r| RuleItem {
                text: r.text.as_str().into(),
                ok: r.ok,
            })
            .collect(),
    ));
    k.set_reference(view.reference.as_str().into());
    k.set_verification_code(view.verification_code.as_str().into());
    k.set_step(view.step.as_str().into());
    k.set_card_label(view.card_label.as_str().into());
    k.set_card_enabled(view.card_enabled);
    k.set_card_detail(view.card_detail.as_str().into());
    k.set_idle_left(view.idle_left.map_or(-1, |s| i32::try_from(s).unwrap_or(0)));
    // The page last, once everything it shows is in place.
    k.set_page(view.page);
}

use crate::domain::clock::clock_text;

/// The screen the appliance shows when the kiosk has failed too often to
/// be restarted (`kiosk --maintenance`, started by systemd's `OnFailure=`):
/// nothing to touch, where to go instead, and for the technician where to
/// look. Both languages at once: there is no switch to press.
pub fn show_maintenance(ui: &KioskWindow) {
    let k = ui.global::<KioskScreen>();
    k.set_title("Máy tạm ngừng hoạt động để bảo trì".into());
    k.set_message(
        "Vui lòng dùng máy khác hoặc đến quầy giao dịch gần nhất. Hồ sơ đã nộp tại máy này vẫn được lưu an toàn và sẽ được gửi khi máy hoạt động lại."
            .into(),
    );
    k.set_lines(model(vec![
        "Out of service for maintenance. Please use another kiosk or a service counter; registrations made here are kept safe."
            .into(),
        "Kỹ thuật viên / Technician: journalctl -u kiosk -b; kioskctl status".into(),
    ]));
    k.set_page(Page::Maintenance);
}

/// The window's link to the controller: what was last shown, so a redraw
/// with nothing new (the timer ticks several times a second) rebuilds no
/// models.
pub struct Binding {
    controller: Rc<RefCell<Controller>>,
    shown: RefCell<Option<(View, String)>>,
    /// Whether a citizen's session was open at the last redraw.
    in_session: std::cell::Cell<bool>,
}

impl std::fmt::Debug for Binding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Binding").finish_non_exhaustive()
    }
}

impl Binding {
    pub fn controller(&self) -> &Rc<RefCell<Controller>> {
        &self.controller
    }

    /// Redraws the window from the controller's view, if it changed.
    /// When a citizen's session has just ended, the memory it used goes
    /// back to the system.
    pub fn refresh(&self, ui: &KioskWindow) {
        let (view, clock, in_session) = {
            let c = self.controller.borrow();
            (c.view(), clock_text(c.now()), c.has_session())
        };
        if self.in_session.replace(in_session) && !in_session {
            release_freed_memory();
        }
        let mut shown = self.shown.borrow_mut();
        if shown.as_ref() != Some(&(view.clone(), clock.clone())) {
            show(ui, &view, &clock);
            *shown = Some((view, clock));
        }
    }
}

/// Connects every callback of `ui` to `controller`; each redraws the view.
pub fn bind(ui: &KioskWindow, controller: Rc<RefCell<Controller>>) -> Rc<Binding> {
    let binding = Rc::new(Binding {
        controller,
        shown: RefCell::new(None),
        in_session: std::cell::Cell::new(false),
    });
    macro_rules! on {
        ($global:ident . $setter:ident, |$c:ident $(, $arg:ident)?| $body:expr) => {{
            let binding = Rc::clone(&binding);
            let weak = ui.as_weak();
            ui.global::<$global>().$setter(move |$($arg)?| {
                {
                    let mut $c = binding.controller.borrow_mut();
                    $body;
                }
                if let Some(ui) = weak.upgrade() {
                    binding.refresh(&ui);
                }
            });
        }};
    }
    on!(KioskScreen.on_register, |c| c.on_register());
    on!(KioskScreen.on_look_up, |c| c.on_lookup());
    on!(KioskScreen.on_counters, |c| c.on_counters());
    on!(KioskScreen.on_choose_subject, |c, id| c
        .on_choose_subject(&id));
    on!(KioskScreen.on_choose_method, |c, id| c
        .on_choose_method(&id));
    on!(KioskScreen.on_choose, |c, id| c.on_choose(&id));
    on!(KioskScreen.on_focus, |c, id| c.on_focus(&id));
    on!(KioskKeys.on_key, |c, key| c.on_key(&key));
    on!(KioskKeys.on_toggle_telex, |c| c.on_toggle_telex());
    on!(KioskStatus.on_toggle_language, |c| c.on_toggle_language());
    on!(KioskStatus.on_technician_tap, |c| c.on_technician_tap());
    on!(KioskScreen.on_submit, |c| c.on_submit());
    on!(KioskScreen.on_resend, |c| c.on_resend());
    on!(KioskScreen.on_use_card, |c| c.on_use_card());
    on!(KioskScreen.on_card_key_other, |c| c.on_card_key_other());
    on!(KioskScreen.on_back, |c| c.on_back());
    on!(KioskScreen.on_cancel, |c| c.on_cancel());
    on!(KioskScreen.on_still_here, |c| c.on_still_here());
    binding.refresh(ui);
    binding
}

/// Hands the heap's free pages back to the system. A visit allocates and
/// frees in many sizes (the screens' models, Argon2's buffers, SQLite's
/// pages); glibc keeps what was freed in its arenas, and over a day of
/// visits that retained memory, not anything live, is what grows. Run
/// once per visit, at its end, it costs about a millisecond.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn release_freed_memory() {
    // SAFETY: malloc_trim only walks glibc's own arenas under their locks;
    // it takes no pointer of ours and is safe to call from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_freed_memory() {}
