//! A day at a post-office counter, in pictures: the clerk signs in (a
//! wrong PIN first) and serves the citizen holding the demo CCCD card three
//! times: registers them (the chip read, the face confirmed, the OTP and
//! password typed by the citizen); then, the account found, sets a new
//! password for them; then takes their complaint. The clerk opens today's
//! list, locks the counter, signs in again with the demo USB token, and
//! the counter locks itself when left alone. The demo portal must have
//! verified each and kept the clerk.

use std::sync::Arc;
use std::time::Duration;

use kiosk_ui::Page;

use super::{WalkError, Walker};
use crate::demo::{DEMO_CLERK_ID, DEMO_CLERK_PIN, DEMO_TOKEN_PIN, DemoCard, demo_desk};

impl Walker {
    pub(super) fn counter_day(&mut self) -> Result<(), WalkError> {
        let Some(card) = self.demo.card() else {
            return Err(WalkError::Setup(
                "the counter registers with the CCCD card: no virtual card reader here (pcscd with vsmartcard-vpcd)".into(),
            ));
        };
        {
            let mut c = self.binding.controller().borrow_mut();
            let desk = demo_desk(c.policy()).map_err(WalkError::Setup)?;
            c.set_desk(desk);
        }
        self.own_language();
        self.snap("counter-sign-in", Page::Form)?;
        self.fill("clerk_id", &DEMO_CLERK_ID.to_lowercase());
        self.fill("pin", "111111");
        self.screen().invoke_submit();
        self.snap("counter-sign-in-wrong", Page::Form)?;
        self.fill("pin", DEMO_CLERK_PIN);
        self.screen().invoke_submit();
        self.snap("counter-home", Page::CounterHome)?;

        // A citizen with their card: straight to the card's pages.
        self.counter_card(&card, true)?;
        self.screen().invoke_choose("face-ok".into());
        self.snap("counter-otp", Page::Otp)?;
        let code = self.read_code();
        self.type_keys(&code);
        self.snap("counter-otp-typed", Page::Otp)?;
        self.screen().invoke_submit();
        self.snap("counter-password", Page::Password)?;
        self.type_keys("Matkhau@2026⏎Matkhau@2026");
        self.screen().invoke_submit();
        self.snap("counter-done", Page::Done)?;
        let registered = self.screen().get_reference().to_string();
        self.screen().invoke_submit();
        self.own_language();
        self.snap("counter-home-again", Page::CounterHome)?;
        // Delivered: the portal checked the chip itself and kept the clerk.
        self.wait_until_delivered();
        self.portal_kept(&registered, Some(3))?;

        // The same citizen back: they forgot the password. The chip
        // proves them; no code to the account's phone is needed.
        self.counter_card(&card, false)?;
        self.screen().invoke_choose("face-ok".into());
        self.snap("counter-exists", Page::Exists)?;
        self.screen().invoke_choose("forgot".into());
        self.snap("counter-reset-password", Page::Password)?;
        self.type_keys("MoiMoi@2026x⏎MoiMoi@2026x");
        self.screen().invoke_submit();
        self.snap("counter-reset-queued", Page::Done)?;
        let reset = self.screen().get_reference().to_string();
        self.screen().invoke_submit();

        // And a complaint: the chip proves whose identity it is about.
        self.counter_card(&card, false)?;
        self.screen().invoke_choose("face-ok".into());
        self.until_page(Page::Exists)?;
        self.screen().invoke_choose("complaint".into());
        self.screen().invoke_choose("identity_misused".into());
        self.screen().invoke_submit();
        self.until_page(Page::Otp)?;
        let code = self.read_code();
        self.type_keys(&code);
        self.screen().invoke_submit();
        self.snap("counter-complaint-filed", Page::Done)?;
        let complaint = self.screen().get_reference().to_string();
        self.screen().invoke_submit();
        self.wait_until_delivered();
        self.portal_kept(&reset, None)?;
        match self.demo.complaint_clerk(&complaint) {
            Some(Some(clerk)) if clerk == DEMO_CLERK_ID => {}
            other => {
                return Err(WalkError::Setup(format!(
                    "the portal's complaints queue has {complaint} as {other:?}, not by {DEMO_CLERK_ID}"
                )));
            }
        }

        self.own_language();
        self.screen().invoke_choose("counter-today".into());
        self.snap("counter-today", Page::Info)?;
        self.screen().invoke_submit();
        self.own_language();
        self.screen().invoke_choose("counter-lock".into());
        self.own_language();
        self.snap("counter-locked", Page::Form)?;

        // The demo USB token as a clerk's token.
        if self.demo.has_token() {
            self.screen().invoke_use_card();
            self.until_page(Page::Pin)?;
            self.snap("counter-token-pin", Page::Pin)?;
            self.type_keys(DEMO_TOKEN_PIN);
            self.screen().invoke_submit();
            self.until_page(Page::CounterHome)?;
            self.snap("counter-token-home", Page::CounterHome)?;
        } else {
            self.fill("clerk_id", DEMO_CLERK_ID);
            self.fill("pin", DEMO_CLERK_PIN);
            self.screen().invoke_submit();
        }
        // Left alone past the policy's idle time: locked.
        let idle = self.binding.controller().borrow().clerk_idle_lock();
        self.advance(idle.as_secs() + 1);
        self.binding.controller().borrow_mut().on_tick();
        self.binding
            .controller()
            .borrow_mut()
            .settle(Duration::from_secs(5));
        // The lock ended the visit in Vietnamese; the screen shows it now.
        self.binding.refresh(&self.ui);
        self.own_language();
        self.snap("counter-idle-locked", Page::Form)?;
        Ok(())
    }

    /// From the counter's home: a counter visit, the card's key typed, the
    /// card on the reader and off again, the phone typed: the face check.
    fn counter_card(&mut self, card: &Arc<DemoCard>, pictures: bool) -> Result<(), WalkError> {
        self.own_language();
        self.screen().invoke_choose("counter-register".into());
        if pictures {
            self.snap("counter-card-key", Page::CardKey)?;
        }
        let c = card.holder().clone();
        let digits = |d: &str| d.replace('/', "");
        self.fill("personal_id", &c.cccd);
        self.fill("date_of_birth", &digits(&c.birth));
        self.fill("card_expiry", &digits(&c.expires));
        self.screen().invoke_submit();
        card.place().map_err(WalkError::Setup)?;
        self.until_page(Page::Form)?;
        if pictures {
            self.snap("counter-card-filled", Page::Form)?;
        }
        card.remove().map_err(WalkError::Setup)?;
        self.fill("phone", "0966123456");
        self.screen().invoke_submit();
        if pictures {
            self.snap("counter-face-check", Page::Choice)?;
        }
        Ok(())
    }

    /// The demo portal accepted `reference` from the demo clerk, at `level`.
    fn portal_kept(&self, reference: &str, level: Option<u8>) -> Result<(), WalkError> {
        match self.demo.counter_registration(reference) {
            Some((clerk, kept)) if clerk == DEMO_CLERK_ID && kept == level => Ok(()),
            other => Err(WalkError::Setup(format!(
                "the portal's record of {reference}: {other:?}, not {DEMO_CLERK_ID} at {level:?}"
            ))),
        }
    }
}
