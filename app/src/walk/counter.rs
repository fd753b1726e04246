//! A day at a post-office counter, in pictures: the clerk signs in (a
//! wrong PIN first), registers the citizen holding the demo CCCD card
//! (the chip read, the face confirmed, the OTP and password typed by the
//! citizen), opens today's list, locks the counter, signs in again with
//! the demo USB token, and the counter locks itself when left alone.

use std::time::Duration;

use kiosk_ui::Page;

use super::{WalkError, Walker};
use crate::demo::{DEMO_CLERK_ID, DEMO_CLERK_PIN, DEMO_TOKEN_PIN, demo_desk};

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
        self.screen().invoke_choose("counter-register".into());
        self.snap("counter-card-key", Page::CardKey)?;
        let c = card.holder().clone();
        let digits = |d: &str| d.replace('/', "");
        self.fill("personal_id", &c.cccd);
        self.fill("date_of_birth", &digits(&c.birth));
        self.fill("card_expiry", &digits(&c.expires));
        self.screen().invoke_submit();
        card.place().map_err(WalkError::Setup)?;
        self.until_page(Page::Form)?;
        self.snap("counter-card-filled", Page::Form)?;
        card.remove().map_err(WalkError::Setup)?;
        self.fill("phone", "0966123456");
        self.screen().invoke_submit();
        self.snap("counter-face-check", Page::Choice)?;
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
        let reference = self.screen().get_reference().to_string();
        self.screen().invoke_submit();
        self.own_language();
        self.snap("counter-home-again", Page::CounterHome)?;

        // Delivered: the portal checked the chip itself and kept the clerk.
        self.wait_until_delivered();
        match self.demo.counter_registration(&reference) {
            Some((clerk, 3)) if clerk == DEMO_CLERK_ID => {}
            other => {
                return Err(WalkError::Setup(format!(
                    "the portal's record of {reference}: {other:?}, not {DEMO_CLERK_ID} at level 3"
                )));
            }
        }
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
}
