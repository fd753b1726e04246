//! The demo phone: the SMS it received (the kiosk's codes through the
//! simulated modem, the portal's word through its simulated gateway) and
//! the mobile-signature requests it answers, beside the kiosk's screen.

use std::rc::Rc;
use std::sync::Arc;

use kiosk_portal::PhoneAnswer;
use kiosk_ui::{DemoMessage, DemoPanel, KioskWindow};
use slint::{ComponentHandle, ModelRc, VecModel};

use super::{DEMO_TOKEN_PIN, Demo};

/// What the demo phone has read from each sender so far.
#[derive(Debug, Default)]
pub(super) struct Inbox {
    messages: Vec<DemoSms>,
    from_modem: usize,
    from_portal: i64,
}

/// One SMS the simulated phone received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSms {
    pub to: String,
    pub text: String,
}

impl Demo {
    /// Every SMS the demo phone received, in the order it received them:
    /// the kiosk's codes (through the simulated modem) and the portal's
    /// word on a registration it decided (through its simulated gateway).
    pub fn sms(&self) -> Vec<DemoSms> {
        let mut inbox = self
            .inbox
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let sent = self.sim.sent();
        let from_modem = inbox.from_modem;
        inbox
            .messages
            .extend(sent.iter().skip(from_modem).map(|s| DemoSms {
                to: s.decoded.destination.clone(),
                text: s.decoded.text.clone(),
            }));
        inbox.from_modem = sent.len();
        if let Ok(told) = self.portal.portal().messages_since(inbox.from_portal) {
            if let Some(last) = told.last() {
                inbox.from_portal = last.seq;
            }
            inbox
                .messages
                .extend(
                    told.into_iter()
                        .filter(|m| m.channel == "sms")
                        .map(|m| DemoSms {
                            to: m.recipient,
                            text: m.text,
                        }),
                );
        }
        inbox.messages.clone()
    }

    /// The simulated network refuses (with this `+CMS ERROR`) every SMS
    /// from now on, or, with `None`, takes them again.
    pub fn refuse_sms(&self, cms_error: Option<u16>) {
        self.sim.set_faults(|f| f.cms_error = cms_error);
    }

    /// Empties the demo phone's inbox.
    pub fn clear_sms(&self) {
        self.sms();
        self.sim.forget_sent();
        let mut inbox = self
            .inbox
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        inbox.messages.clear();
        inbox.from_modem = 0;
    }

    /// The code in the last SMS, as the citizen reads it off the phone.
    /// The code of the last password-reset SMS the portal sent (its
    /// gateway, not the kiosk's modem, sends those).
    pub fn last_reset_code(&self) -> Option<String> {
        self.sms()
            .iter()
            .rev()
            .find(|m| m.text.contains("dat lai mat khau"))?
            .text
            .split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .map(str::to_string)
    }

    pub fn last_code(&self, digits: usize) -> Option<String> {
        let last = self.sim.last_sent()?;
        last.decoded
            .text
            .split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == digits)
            .map(str::to_string)
    }
}

/// Wires the demo phone beside the kiosk's screen: its buttons answer a
/// mobile-signature request, and the answer is what the kiosk's timer
/// calls at each tick (every 200 ms) to show the SMS and signature requests
/// the phone received.
pub fn attach_phone(ui: &KioskWindow, demo: Demo) -> impl FnMut(&KioskWindow, u32) + use<> {
    let k = ui.global::<DemoPanel>();
    k.set_shown(true);
    if demo.has_token() {
        k.set_token_pin(DEMO_TOKEN_PIN.into());
    }
    let card = demo.card();
    let card_busy = Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let Some(card) = &card {
        let c = card.holder();
        k.set_card_holder(c.full_name.as_str().into());
        k.set_card_number(c.cccd.as_str().into());
        k.set_card_birth(c.birth.as_str().into());
        k.set_card_expiry(c.expires.as_str().into());
        let (card, busy) = (Arc::clone(card), Arc::clone(&card_busy));
        // Placing waits on pcscd: off the window's thread.
        k.on_card(move |place| {
            use std::sync::atomic::Ordering;
            if busy.swap(true, Ordering::SeqCst) {
                return;
            }
            let (card, busy) = (Arc::clone(&card), Arc::clone(&busy));
            std::thread::spawn(move || {
                let done = if place { card.place() } else { card.remove() };
                if let Err(e) = done {
                    tracing::warn!(error = %e, "the demo card");
                }
                busy.store(false, Ordering::SeqCst);
            });
        });
    }
    let demo = Rc::new(demo);
    {
        // The demo phone's holder answers the mobile-signature request.
        let demo = Rc::clone(&demo);
        k.on_sign(move |confirm| {
            if let Some((id, _, _)) = demo.pending_signature() {
                let answer = if confirm {
                    PhoneAnswer::Confirm
                } else {
                    PhoneAnswer::Refuse
                };
                if let Err(e) = demo.answer_signature(&id, answer) {
                    tracing::warn!(error = %e, "the demo phone could not answer");
                }
            }
        });
    }
    let mut sms_shown = 0;
    move |ui: &KioskWindow, ticks: u32| {
        let k = ui.global::<DemoPanel>();
        if let Some(card) = &card {
            k.set_card_placed(card.is_placed());
            k.set_card_busy(card_busy.load(std::sync::atomic::Ordering::SeqCst));
        }
        // Once a second: the inbox reads the portal's database.
        if !ticks.is_multiple_of(5) {
            return;
        }
        let sms = demo.sms();
        if sms.len() != sms_shown {
            sms_shown = sms.len();
            let sms: Vec<DemoMessage> = sms
                .iter()
                .rev()
                .map(|s| DemoMessage {
                    to: s.to.as_str().into(),
                    text: s.text.as_str().into(),
                })
                .collect();
            k.set_sms(ModelRc::new(VecModel::from(sms)));
        }
        let (to, text) = demo
            .pending_signature()
            .map(|(_, phone, text)| (phone, text))
            .unwrap_or_default();
        if k.get_signature() != text.as_str() {
            k.set_signature_to(to.into());
            k.set_signature(text.into());
        }
    }
}
