//! Paging cursors: the store's keyset position, sealed with an HMAC so that a client can
//! neither forge nor alter one, and bound to the tenant, resource type and query it came
//! from (a cursor used anywhere else is a 400, not a silent wrong page).
//!
//! The key comes from `cursor_secret` in the configuration. Without one, each process draws a
//! random key at start: cursors then do not survive a restart, and servers behind a load
//! balancer need the same configured secret.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use store::TenantName;

use crate::error::Error;

type HmacSha256 = Hmac<Sha256>;

pub struct CursorKey {
    key: Vec<u8>,
}

impl CursorKey {
    /// A key from the configured secret, or a random one.
    pub fn new(secret: Option<&str>) -> CursorKey {
        let key = match secret {
            Some(s) if !s.is_empty() => s.as_bytes().to_vec(),
            _ => format!("{}{}", uuid::Uuid::new_v4(), uuid::Uuid::new_v4()).into_bytes(),
        };
        CursorKey { key }
    }

    fn mac(&self, scope: &[&str], payload: &str) -> HmacSha256 {
        // `new_from_slice` accepts keys of any length for HMAC.
        let mut mac = HmacSha256::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        for part in scope {
            mac.update(part.as_bytes());
            mac.update(&[0]);
        }
        mac.update(payload.as_bytes());
        mac
    }

    /// An opaque token carrying `payload`, valid only for this tenant, scope (e.g. the
    /// resource type or history level) and query.
    pub fn seal(&self, tenant: &TenantName, scope: &str, query: &str, payload: &str) -> String {
        let tag = self
            .mac(&[tenant.as_str(), scope, query], payload)
            .finalize()
            .into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The payload inside `token`, after checking it was sealed for this tenant, scope and
    /// query.
    pub fn open(
        &self,
        token: &str,
        tenant: &TenantName,
        scope: &str,
        query: &str,
    ) -> Result<String, Error> {
        let bad = || {
            Error::invalid(
                "the paging cursor is not valid here (altered, from before a server restart, or from another query or tenant); start again from the first page",
            )
        };
        let (payload, tag) = token.split_once('.').ok_or_else(bad)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| bad())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| bad())?;
        let payload = String::from_utf8(payload).map_err(|_| bad())?;
        self.mac(&[tenant.as_str(), scope, query], &payload)
            .verify_slice(&tag)
            .map_err(|_| bad())?;
        Ok(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_cursors_open_only_where_they_were_made() {
        let key = CursorKey::new(Some("secret"));
        let t = TenantName::parse("default").unwrap();
        let other = TenantName::parse("other").unwrap();
        let token = key.seal(&t, "history", "_count=2", "42");
        assert_eq!(key.open(&token, &t, "history", "_count=2").unwrap(), "42");
        assert!(key.open(&token, &other, "history", "_count=2").is_err());
        assert!(key.open(&token, &t, "history", "_count=3").is_err());
        assert!(key.open(&token, &t, "Practitioner", "_count=2").is_err());
        assert!(CursorKey::new(Some("else"))
            .open(&token, &t, "history", "_count=2")
            .is_err());
        let (p, tag) = token.split_once('.').unwrap();
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode("41"));
        assert_ne!(p, URL_SAFE_NO_PAD.encode("41"));
        assert!(key.open(&forged, &t, "history", "_count=2").is_err());
        for junk in ["", ".", "abc", "a.b", "%%%.%%%"] {
            assert!(key.open(junk, &t, "history", "_count=2").is_err(), "{junk}");
        }
    }
}
