//! Policy publishing: signed policy documents, versions only going up.

use rusqlite::{OptionalExtension, params};

use kiosk_sync::api::SignedPolicy;

use crate::{Portal, PortalError};

impl Portal {
    /// Publishes a signed policy. Versions only go up.
    pub fn publish_policy(&mut self, policy: &SignedPolicy, now: i64) -> Result<(), PortalError> {
        let latest: Option<i64> =
            self.conn
                .query_row("SELECT MAX(version) FROM policies", [], |r| r.get(0))?;
        let version = i64::try_from(policy.version).map_err(|_| PortalError::StalePolicy)?;
        if latest.is_some_and(|l| l >= version) {
            return Err(PortalError::StalePolicy);
        }
        self.conn.execute(
            "INSERT INTO policies (version, document, signature, published_at) VALUES (?1, ?2, ?3, ?4)",
            params![version, policy.document, policy.signature, now],
        )?;
        self.follow_policy(&policy.document);
        Ok(())
    }

    /// Intake offers the methods at the levels this policy says; a policy
    /// without readable methods leaves the manual's.
    pub(crate) fn follow_policy(&mut self, document: &str) {
        self.methods = crate::evidence::methods_of_policy(document)
            .unwrap_or_else(crate::evidence::built_in_methods);
    }

    /// The newest published policy.
    pub fn current_policy(&self) -> Result<Option<SignedPolicy>, PortalError> {
        Ok(self
            .conn
            .query_row(
                "SELECT version, document, signature FROM policies ORDER BY version DESC LIMIT 1",
                [],
                |r| {
                    Ok(SignedPolicy {
                        version: r.get::<_, i64>(0)? as u64,
                        document: r.get(1)?,
                        signature: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }
}
