//! The walk itself: every method the demo kiosk offers, in order, with a
//! picture of each step (what `app/run` shows without a display).

use kiosk_portal::PhoneAnswer;
use kiosk_ui::Page;
use kiosk_ui::i18n::Lang;

use super::{WalkError, Walker};

impl Walker {
    pub(super) fn walk(&mut self) -> Result<(), WalkError> {
        if self.lang != Lang::Vi {
            self.bar().invoke_toggle_language();
        }
        self.snap("home", Page::Home)?;
        self.register_visit();
        self.snap("subject", Page::Subject)?;
        self.screen().invoke_choose_subject("citizen".into());
        self.snap("method", Page::Method)?;

        // Thuê bao di động, with a mistake the citizen then fixes. The
        // demo portal's carrier register knows this number and this person
        // (sync/portal/fixtures/demo.json), so the subscriber check passes live.
        self.screen()
            .invoke_choose_method("mobile_subscriber".into());
        self.snap("mobile-form", Page::Form)?;
        self.fill("full_name", "nguyeenx vawn an");
        self.snap("mobile-telex", Page::Form)?;
        self.fill("personal_id", "051085001234");
        self.fill("date_of_birth", "14031985");
        self.fill("phone", "0101234567");
        self.screen().invoke_focus("email".into());
        self.snap("mobile-field-error", Page::Form)?;
        self.fill("phone", &"⌫".repeat(10));
        self.type_keys("0912345678");
        self.fill("email", "thuy.nguyen@gmail.com");
        self.snap("mobile-email", Page::Form)?;
        let reference = self.otp_and_password("mobile")?;

        // Tra cứu hồ sơ: the number on the slip, typed without its "DK-".
        self.own_language();
        self.screen().invoke_look_up();
        self.snap("lookup", Page::Lookup)?;
        self.type_keys(&reference[3..].replace('-', "").to_lowercase());
        self.snap("lookup-typed", Page::Lookup)?;
        self.screen().invoke_submit();
        self.snap("lookup-answer", Page::LookupAnswer)?;
        self.screen().invoke_submit();

        // Where to be served in person: the demo province's counters.
        self.own_language();
        self.screen().invoke_counters();
        self.snap("counters", Page::Info)?;
        self.screen().invoke_submit();

        // The same citizen again, once the first registration reached the
        // portal: the manual's three ways out.
        self.wait_until_delivered();
        self.same_citizen_again();
        self.snap("mobile-account-exists", Page::Exists)?;
        // Quên mật khẩu: the portal's code to the account's phone, then a
        // new password.
        self.screen().invoke_choose("forgot".into());
        self.snap("reset-code", Page::Otp)?;
        let code = self.demo.last_reset_code().unwrap_or_default();
        self.type_keys(&code);
        self.screen().invoke_submit();
        self.snap("reset-password", Page::Password)?;
        self.type_keys("Doimoi@2026⏎Doimoi@2026");
        self.screen().invoke_submit();
        self.snap("reset-done", Page::Info)?;
        self.screen().invoke_submit();

        // Someone else made it: a complaint, the contact proven by SMS.
        self.same_citizen_again();
        self.snap("mobile-account-exists-again", Page::Exists)?;
        self.screen().invoke_choose("complaint".into());
        self.snap("complaint-reason", Page::Choice)?;
        self.screen().invoke_choose("identity_misused".into());
        self.snap("complaint-contact", Page::Lookup)?;
        self.screen().invoke_submit();
        self.snap("complaint-otp", Page::Otp)?;
        let code = self.read_code();
        self.type_keys(&code);
        self.screen().invoke_submit();
        self.snap("complaint-filed", Page::Done)?;
        self.screen().invoke_submit();

        // Mã số BHXH, matched live against the demo portal's records.
        self.citizen_chooses("bhxh");
        self.fill("bhxh_code", "0101234569");
        self.fill("full_name", "ddawngj quoocs uwng");
        self.fill("date_of_birth", "30071978");
        self.fill("phone", "0901234567");
        self.snap("bhxh-form", Page::Form)?;
        // The network refuses the first SMS: the kiosk says so and offers
        // to try again, which works once the network takes it.
        self.demo.refuse_sms(Some(500));
        self.screen().invoke_submit();
        self.snap("bhxh-otp-not-sent", Page::OtpNotSent)?;
        self.demo.refuse_sms(None);
        self.otp_and_password("bhxh")?;

        // Thuê bao di động with the CCCD card: the chip, proven genuine,
        // fills the person's fields; a wrong date first.
        if let Some(card) = self.demo.card() {
            self.citizen_chooses("mobile_subscriber");
            self.snap("card-form", Page::Form)?;
            self.screen().invoke_use_card();
            self.snap("card-key", Page::CardKey)?;
            // A card that prints a CAN opens with its six digits alone.
            self.screen().invoke_card_key_other();
            self.snap("card-key-can", Page::CardKey)?;
            self.screen().invoke_card_key_other();
            let c = card.holder().clone();
            let digits = |d: &str| d.replace('/', "");
            self.fill("personal_id", &c.cccd);
            self.fill("date_of_birth", &digits(&c.birth));
            self.fill("card_expiry", "15032029");
            self.screen().invoke_submit();
            self.snap("card-place", Page::CardPlace)?;
            card.place().map_err(WalkError::Setup)?;
            self.until_page(Page::CardKey)?;
            self.snap("card-wrong-key", Page::CardKey)?;
            self.fill(
                "card_expiry",
                &format!("{}{}", "⌫".repeat(10), digits(&c.expires)),
            );
            self.screen().invoke_submit();
            self.until_page(Page::Form)?;
            self.snap("card-filled", Page::Form)?;
            card.remove().map_err(WalkError::Setup)?;
            self.fill("phone", "0966123456");
            self.otp_and_password("card")?;
        }

        // Sim ký số: the request goes to the phone through the portal; the
        // demo phone confirms it, and the certificate's details come back.
        self.citizen_chooses("sim_signature");
        let first = self.sign_with_phone("0987654321")?;
        self.picture("sim-waiting", Page::PhoneWait)?;
        // Back: the request is withdrawn from the phone, the number stays.
        self.screen().invoke_back();
        self.snap("sim-back", Page::Form)?;
        self.wait_until_withdrawn(&first)?;
        self.screen().invoke_submit();
        let request = self.wait_for_phone()?;
        self.demo
            .answer_signature(&request, PhoneAnswer::Confirm)
            .map_err(WalkError::Setup)?;
        self.snap("sim-confirm", Page::Confirm)?;
        self.fill("email", "thuy.tran@gmail.com");
        // "Đăng ký" ends it, as in the manual: the SIM is the login.
        self.screen().invoke_submit();
        self.snap("sim-done", Page::Done)?;
        self.screen().invoke_submit();

        // Another citizen refuses the request on the phone.
        self.citizen_chooses("sim_signature");
        let request = self.sign_with_phone("0987654321")?;
        self.demo
            .answer_signature(&request, PhoneAnswer::Refuse)
            .map_err(WalkError::Setup)?;
        self.snap("sim-refused", Page::Failed)?;
        self.screen().invoke_submit();

        // USB ký số, with the demo token in the reader: a wrong PIN first.
        if self.demo.has_token() {
            self.citizen_chooses("usb_token");
            self.snap("token-pin", Page::Pin)?;
            self.type_keys("111111");
            self.screen().invoke_submit();
            self.snap("token-wrong-pin", Page::Pin)?;
            self.type_keys(crate::demo::DEMO_TOKEN_PIN);
            self.screen().invoke_submit();
            self.snap("token-confirm", Page::Confirm)?;
            self.screen().invoke_submit();
            self.snap("token-done", Page::Done)?;
            self.screen().invoke_submit();
        }

        // A business sees only what is offered to businesses, and signs
        // with the company's SIM: an organisation certificate, its tax
        // code, and the company's e-mail.
        self.register_visit();
        self.screen().invoke_choose_subject("business".into());
        self.snap("business-methods", Page::Method)?;
        self.screen().invoke_choose_method("sim_signature".into());
        let request = self.sign_with_phone("0977100200")?;
        self.demo
            .answer_signature(&request, PhoneAnswer::Confirm)
            .map_err(WalkError::Setup)?;
        self.snap("business-sim-confirm", Page::Confirm)?;
        self.fill("email", "ketoan@anphu.com.vn");
        self.screen().invoke_submit();
        self.snap("business-sim-done", Page::Done)?;
        self.screen().invoke_submit();

        // Walking away: the warning, then a wiped kiosk.
        self.citizen_chooses("mobile_subscriber");
        self.fill("full_name", "lee thij hoaf");
        // Hòa or Hoà, as on the citizen's card: the key offers the other.
        self.snap("name-respell", Page::Form)?;
        let rules = self.binding.controller().borrow().policy().session.clone();
        self.advance(u64::from(rules.idle_timeout_seconds - rules.idle_warning_seconds) + 5);
        self.binding.controller().borrow_mut().on_tick();
        self.snap("idle-warning", Page::Form)?;
        self.advance(u64::from(rules.idle_warning_seconds));
        self.binding.controller().borrow_mut().on_tick();
        self.snap("idle-timeout-home", Page::Home)
    }
}

impl Walker {
    /// The first citizen registers by mobile again, and is told that the
    /// account exists.
    fn same_citizen_again(&mut self) {
        self.citizen_chooses("mobile_subscriber");
        self.fill("full_name", "nguyeenx vawn an");
        self.fill("personal_id", "051085001234");
        self.fill("date_of_birth", "14031985");
        self.fill("phone", "0912345678");
        self.screen().invoke_submit();
    }
}
