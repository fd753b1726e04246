//! Delivering an OTP: the runtime's answer to [`Effect::SendOtp`].
//!
//! The courier checks the policy's per-number daily cap (across sessions,
//! by keyed hash of the number), hands the SMS to the modem, and turns the
//! outcome into the flow's event: [`Event::OtpDelivered`] only when the modem
//! confirmed the message with a reference, otherwise
//! [`Event::OtpNotDelivered`] with a cause the citizen can understand.
//!
//! [`Effect::SendOtp`]: crate::flow::Effect::SendOtp

use std::time::Duration;

use kiosk_hal::modem::at::Cause;
use kiosk_hal::modem::{ModemError, SmsSender};
use time::OffsetDateTime;

use crate::domain::PhoneNumber;
use crate::flow::{DeliveryFailure, Event};
use crate::keys::Keyring;
use crate::policy::Policy;
use crate::store::{Store, StoreError};

/// What the citizen is told when the modem did not send.
pub fn delivery_failure(error: &ModemError) -> DeliveryFailure {
    if error.is_connection_lost() {
        return DeliveryFailure::NoModem;
    }
    if error.is_timeout() || matches!(error, ModemError::NotConfirmed) {
        return DeliveryFailure::Timeout;
    }
    match error.cause() {
        Some(
            Cause::SimMissing
            | Cause::SimPinRequired
            | Cause::SimPukRequired
            | Cause::SimFailure
            | Cause::SimBusy,
        ) => DeliveryFailure::NoSim,
        Some(Cause::NoNetwork) => DeliveryFailure::NoSignal,
        Some(Cause::NetworkTimeout | Cause::NetworkBusy) => DeliveryFailure::Timeout,
        _ => DeliveryFailure::Rejected,
    }
}

/// Sends one OTP SMS and answers the event for the flow.
#[derive(Debug)]
pub struct Courier<'a, S: SmsSender + ?Sized> {
    pub modem: &'a S,
    pub keys: &'a Keyring,
    pub policy: &'a Policy,
}

impl<S: SmsSender + ?Sized> Courier<'_, S> {
    pub fn deliver(
        &self,
        store: &mut Store,
        to: &PhoneNumber,
        text: &str,
        now: OffsetDateTime,
    ) -> Result<Event, StoreError> {
        let tag = self.keys.phone_tag(to.e164());
        let day_ago = (now - time::Duration::days(1)).unix_timestamp();
        if store.otp_sent_since(&tag, day_ago)?
            >= u32::from(self.policy.otp.max_sms_per_number_per_day)
        {
            tracing::info!("OTP refused: this number had its codes for the day");
            return Ok(Event::OtpNotDelivered(DeliveryFailure::DailyLimit));
        }
        let validity = Duration::from_secs(u64::from(self.policy.otp.ttl_seconds));
        match self.modem.send_sms(to.e164(), text, validity) {
            Ok(_) => {
                let sent_at = now.unix_timestamp();
                store.record_otp_sent(
                    &tag,
                    sent_at,
                    sent_at + i64::from(self.policy.otp.ttl_seconds),
                )?;
                tracing::info!("OTP sent");
                Ok(Event::OtpDelivered)
            }
            Err(e) => {
                let failure = delivery_failure(&e);
                tracing::warn!(?failure, error = %e, "OTP not sent");
                Ok(Event::OtpNotDelivered(failure))
            }
        }
    }
}
