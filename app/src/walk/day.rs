//! A long day at the kiosk, for the memory benchmark and the tests: visits
//! of every kind, without pictures, each ending back home.

use std::time::Duration;

use kiosk_portal::PhoneAnswer;
use kiosk_ui::Page;

use super::{WalkError, Walker};

impl Walker {
    /// Home → mobile-subscriber form, with the name typed and the letter
    /// keyboard up: the busiest screen there is.
    pub fn open_form(&mut self) -> Result<(), WalkError> {
        self.citizen_chooses("mobile_subscriber");
        self.fill("full_name", "nguyeenx thij thury");
        self.snap("form", Page::Form)
    }

    /// `n` complete mobile registrations through the screens, each with its
    /// own citizen (never one registered before), back home after each.
    /// No pictures: this is the kiosk at work, not the walk.
    pub fn register(&mut self, n: u32) -> Result<(), WalkError> {
        let pictures = std::mem::replace(&mut self.pictures, false);
        let done = self.register_each(n);
        self.pictures = pictures;
        done
    }

    /// Visit number `i` of a long day at the kiosk, with no pictures: in
    /// every twenty, fifteen complete mobile registrations (each its own
    /// citizen), one BHXH, one mobile-signature and one USB-token visit
    /// (the first of each completes; the demo has one such citizen, so the
    /// rest end on the account-exists page), one citizen who presses Hủy
    /// half-way and one who walks away until the idle timeout. Each visit
    /// ends back home; answers the last page before it.
    pub fn visit(&mut self, i: u32) -> Result<Page, WalkError> {
        let pictures = std::mem::replace(&mut self.pictures, false);
        let end = self.visit_by_kind(i);
        self.pictures = pictures;
        // The demo phone's inbox and the walk's own record of what it
        // typed are the test's, not the kiosk's: emptied after each visit.
        self.demo.clear_sms();
        self.typed.borrow_mut().clear();
        end
    }

    fn visit_by_kind(&mut self, i: u32) -> Result<Page, WalkError> {
        match i % 20 {
            4 => {
                self.citizen_chooses("bhxh");
                self.fill("bhxh_code", "0101234569");
                self.fill("full_name", "ddawngj quoocs uwng");
                self.fill("date_of_birth", "30071978");
                self.fill("phone", "0901234567");
                self.screen().invoke_submit();
                self.finish_visit()
            }
            9 => {
                self.citizen_chooses("sim_signature");
                self.snap("sim-form", Page::Form)?;
                let request = self.sign_with_phone("0987654321")?;
                self.demo
                    .answer_signature(&request, PhoneAnswer::Confirm)
                    .map_err(WalkError::Setup)?;
                self.finish_visit()
            }
            14 if self.demo.has_token() => {
                self.citizen_chooses("usb_token");
                self.finish_visit()
            }
            7 => {
                self.citizen_chooses("mobile_subscriber");
                self.fill("full_name", "hoang thij mai");
                self.fill("personal_id", "079190");
                self.screen().invoke_cancel();
                self.snap("cancelled", Page::Home)?;
                Ok(Page::Form)
            }
            17 => {
                self.citizen_chooses("mobile_subscriber");
                self.fill("phone", "0912");
                let rules = self.binding.controller().borrow().policy().session.clone();
                self.advance(u64::from(rules.idle_timeout_seconds));
                self.binding.controller().borrow_mut().on_tick();
                self.snap("walked-away", Page::Home)?;
                Ok(Page::Form)
            }
            _ => {
                self.register(1)?;
                Ok(Page::Done)
            }
        }
    }

    /// Answers whatever the method asks next until its last page, then
    /// goes home from it; answers that last page.
    fn finish_visit(&mut self) -> Result<Page, WalkError> {
        for _ in 0..12 {
            {
                let mut controller = self.binding.controller().borrow_mut();
                controller.settle(Duration::from_secs(30));
                // A token in the reader is seen with the status.
                controller.wait_for_status(Duration::from_secs(10));
                controller.settle(Duration::from_secs(30));
            }
            self.binding.refresh(&self.ui);
            let page = self.screen().get_page();
            match page {
                Page::Otp => self.type_keys(&self.read_code()),
                Page::Password => self.type_keys("Matkhau@2026⏎Matkhau@2026"),
                Page::Pin => self.type_keys(crate::demo::DEMO_TOKEN_PIN),
                Page::Confirm | Page::TokenWait | Page::Busy | Page::PhoneWait => {}
                Page::Done | Page::Exists | Page::Failed => {
                    self.screen().invoke_submit();
                    self.snap("home-again", Page::Home)?;
                    return Ok(page);
                }
                _ => {
                    return Err(WalkError::WrongPage {
                        step: "finish the visit".into(),
                        expected: Page::Done,
                        shown: page,
                    });
                }
            }
            if !matches!(page, Page::TokenWait | Page::Busy | Page::PhoneWait) {
                self.screen().invoke_submit();
            }
        }
        Err(WalkError::Setup(
            "a visit did not reach its last page in twelve steps".into(),
        ))
    }

    fn register_each(&mut self, n: u32) -> Result<(), WalkError> {
        for _ in 0..n {
            let i = self.registered;
            self.registered += 1;
            self.citizen_chooses("mobile_subscriber");
            self.fill("full_name", "tran vawn an");
            self.fill("personal_id", &format!("0790900{i:05}"));
            self.fill("date_of_birth", "01011990");
            self.fill("phone", &format!("09123{i:05}"));
            self.otp_and_password(&format!("registration-{i}"))?;
        }
        Ok(())
    }
}
