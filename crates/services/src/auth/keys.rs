//! Each tenant's token-signing keys and access policy, cached in the process.
//!
//! - **Keys.** A tenant's first token creates its signing key (ES256), stored in the
//!   database so that every process of the deployment signs and verifies with it. A bearer
//!   token is checked against the cached public keys ([`auth::TokenVerifier`], which also
//!   remembers tokens it has verified): no database round trip. A token signed by a key
//!   this process has not seen (another process rotated) reloads the keys, at most once a
//!   second per tenant, so random `kid`s cannot make every request query the database.
//!   Rotation keeps the old key in the JWK Set until every token it signed has expired.
//! - **Policy.** Whether anonymous callers may read; re-read after [`POLICY_TTL`], so a
//!   change made through another process applies within that time (at once in this one).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use store::TenantName;

use crate::ctx::{Client, Principal};
use crate::error::{Error, Result};
use crate::App;

/// How long a cached access policy is trusted.
pub const POLICY_TTL: Duration = Duration::from_secs(5);

/// See [`AuthCache::may_store_refusal`].
pub const STORED_REFUSALS_PER_SECOND: u32 = 100;

/// How often expired assertion ids are forgotten.
const JTI_SWEEP_EVERY: Duration = Duration::from_secs(60);

/// A key retired before this instant (epoch microseconds) signed no token that is still
/// valid.
fn retired_horizon() -> i64 {
    chrono::Utc::now().timestamp_micros()
        - (super::TOKEN_LIFETIME_SECS + super::LEEWAY_SECS) * 1_000_000
}

/// The fewest time between two reloads of a tenant's keys for an unknown `kid`.
const RELOAD_AT_MOST_EVERY: Duration = Duration::from_secs(1);

/// A tenant's keys: the one that signs, and every one whose tokens may still be valid.
pub struct TenantKeys {
    pub signer: auth::SigningKey,
    pub verifier: auth::TokenVerifier,
    /// The public keys, for the JWK Set.
    pub public: Vec<serde_json::Value>,
    loaded: Instant,
}

/// The process's cache (see the module documentation).
#[derive(Default)]
pub struct AuthCache {
    keys: RwLock<HashMap<TenantName, Arc<TenantKeys>>>,
    policies: RwLock<HashMap<TenantName, (bool, Instant)>>,
    /// When this process last forgot expired assertion ids ([`App::sweep_expired_jtis`]).
    last_jti_sweep: std::sync::Mutex<Option<Instant>>,
    /// Refusals stored in the current second ([`AuthCache::may_store_refusal`]).
    refusals: std::sync::Mutex<(u64, u32)>,
}

impl AuthCache {
    /// Forgets a tenant (deleted, or its keys or policy changed here).
    pub fn forget(&self, tenant: &TenantName) {
        self.keys
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(tenant);
        self.policies
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(tenant);
    }

    /// Whether one more refusal may be written to the store this second: at most
    /// [`STORED_REFUSALS_PER_SECOND`] per process, so that a flood of refused requests (anonymous
    /// writes, bad tokens) is not also a flood of database writes. The rest are logged only.
    pub(crate) fn may_store_refusal(&self) -> bool {
        let second = chrono::Utc::now().timestamp() as u64;
        let mut window = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
        if window.0 != second {
            *window = (second, 0);
        }
        window.1 += 1;
        window.1 <= STORED_REFUSALS_PER_SECOND
    }

    fn cached_keys(&self, tenant: &TenantName) -> Option<Arc<TenantKeys>> {
        self.keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(tenant)
            .cloned()
    }
}

impl App {
    /// Whether anonymous callers may read `tenant` (cached for [`POLICY_TTL`]).
    pub async fn anonymous_read(&self, tenant: &TenantName) -> Result<bool> {
        let cached = self
            .auth
            .policies
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(tenant)
            .copied();
        if let Some((allowed, at)) = cached {
            if at.elapsed() < POLICY_TTL {
                return Ok(allowed);
            }
        }
        let allowed = self.store.anonymous_read(tenant).await?.unwrap_or(true);
        self.auth
            .policies
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(tenant.clone(), (allowed, Instant::now()));
        Ok(allowed)
    }

    /// The tenant's keys, loaded (and the first one created) when needed.
    pub async fn tenant_keys(&self, tenant: &TenantName) -> Result<Arc<TenantKeys>> {
        match self.auth.cached_keys(tenant) {
            Some(keys) => Ok(keys),
            None => self.load_keys(tenant).await,
        }
    }

    /// Replaces the tenant's signing key; the old one verifies until its tokens expire.
    /// Keys retired before that horizon are forgotten now.
    pub async fn rotate_keys(&self, tenant: &TenantName) -> Result<String> {
        let key = auth::SigningKey::generate();
        let private = STANDARD.encode(key.pkcs8_der());
        self.store
            .add_signing_key(tenant, key.kid(), &private, false)
            .await?;
        self.store
            .drop_retired_keys(tenant, retired_horizon())
            .await?;
        self.auth.forget(tenant);
        Ok(key.kid().to_owned())
    }

    /// Forgets assertion ids that have expired (they may be used again anyway), at most once
    /// a minute per process; called after the token endpoint records one, so the table stays
    /// the size of five minutes of token requests.
    pub async fn sweep_expired_jtis(&self) {
        {
            let mut last = self
                .auth
                .last_jti_sweep
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|at| at.elapsed() < JTI_SWEEP_EVERY) {
                return;
            }
            *last = Some(Instant::now());
        }
        let now = chrono::Utc::now().timestamp_micros();
        if let Err(e) = self.store.drop_expired_jtis(now).await {
            tracing::warn!(error = %e, "could not forget expired assertion ids");
        }
    }

    async fn load_keys(&self, tenant: &TenantName) -> Result<Arc<TenantKeys>> {
        let mut rows = self.store.signing_keys(tenant).await?;
        if !rows.iter().any(|r| r.retired_at.is_none()) {
            let key = auth::SigningKey::generate();
            let private = STANDARD.encode(key.pkcs8_der());
            // Only if none: two processes creating the first key at once keep one of them.
            self.store
                .add_signing_key(tenant, key.kid(), &private, true)
                .await?;
            rows = self.store.signing_keys(tenant).await?;
        }
        let horizon = retired_horizon();
        let mut signer = None;
        let mut public = Vec::new();
        for row in &rows {
            if row.retired_at.is_some_and(|at| at < horizon) {
                continue;
            }
            let der = STANDARD
                .decode(&row.private_key)
                .map_err(|e| Error::internal(format!("signing key {}: {e}", row.kid)))?;
            let key = auth::SigningKey::from_pkcs8(&row.kid, &der)
                .map_err(|e| Error::internal(format!("signing key {}: {e}", row.kid)))?;
            public.push(key.public_jwk());
            if row.retired_at.is_none() && signer.is_none() {
                signer = Some(key);
            }
        }
        let signer = signer.ok_or_else(|| {
            Error::unavailable(format!(
                "tenant {tenant} has no signing key after creating one"
            ))
        })?;
        let verifier = auth::TokenVerifier::new(self.tenant_base(tenant), public.clone())
            .map_err(|e| Error::internal(format!("signing keys of {tenant}: {e}")))?;
        let keys = Arc::new(TenantKeys {
            signer,
            verifier,
            public,
            loaded: Instant::now(),
        });
        self.auth
            .keys
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(tenant.clone(), keys.clone());
        Ok(keys)
    }

    /// The principal a bearer token stands for; 401 `invalid_token` when it is not a valid
    /// access token of this tenant (RFC 6750 §3.1).
    pub async fn authenticate(&self, tenant: &TenantName, token: &str) -> Result<Principal> {
        let mut keys = self.tenant_keys(tenant).await?;
        let mut verified = keys.verifier.verify(token);
        if matches!(verified, Err(auth::TokenError::UnknownKey { .. }))
            && keys.loaded.elapsed() >= RELOAD_AT_MOST_EVERY
        {
            keys = self.load_keys(tenant).await?;
            verified = keys.verifier.verify(token);
        }
        match verified {
            Ok(claims) => Ok(Principal::Client(Arc::new(Client {
                client_id: claims.sub.clone(),
                scopes: auth::Scopes::parse_lenient(&claims.scope),
                organization: claims.organization.clone(),
                purpose_of_use: claims.purpose_of_use.clone(),
                see_restricted: claims.see_restricted,
                token_id: claims.jti.clone(),
            }))),
            Err(e) => {
                let why = match e {
                    auth::TokenError::UnknownKey { .. } => {
                        "the access token was not issued by this tenant".to_owned()
                    }
                    auth::TokenError::Invalid(why) => why,
                };
                Err(invalid_token(&why))
            }
        }
    }
}

/// 401 with `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 §3.1).
pub fn invalid_token(why: &str) -> Error {
    // The description goes into a quoted header value: keep it to safe characters.
    let safe: String = why
        .chars()
        .filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\' || *c == ' ')
        .collect();
    let challenge = format!("Bearer error=\"invalid_token\", error_description=\"{safe}\"");
    let value = http::HeaderValue::from_str(&challenge)
        .unwrap_or_else(|_| http::HeaderValue::from_static("Bearer error=\"invalid_token\""));
    Error::unauthorized(format!("the bearer token is not valid here: {why}"))
        .with_header(http::header::WWW_AUTHENTICATE, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_so_many_refusals_a_second_are_stored() {
        let cache = AuthCache::default();
        // Unless the second changes between the calls, the last one is refused; retry once
        // if it did.
        for _ in 0..2 {
            let second = chrono::Utc::now().timestamp();
            let allowed = (0..STORED_REFUSALS_PER_SECOND + 20)
                .filter(|_| cache.may_store_refusal())
                .count();
            if chrono::Utc::now().timestamp() == second {
                assert_eq!(allowed, STORED_REFUSALS_PER_SECOND as usize);
                return;
            }
        }
    }
}
