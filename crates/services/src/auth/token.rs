//! The token endpoint (`POST {base}/auth/token`): the `client_credentials` grant with a
//! `private_key_jwt` client assertion (RFC 7523; SMART App Launch 2.2 Backend Services
//! "Obtaining an access token"; FAST Security STU2 §4.2 and B2B §5.2 for `udap=1`).
//!
//! A client registered by the operator proves itself with a key of its JWK Set; a UDAP
//! client with the certificate it registered (or another of the same SAN from its
//! community). Either way the assertion's `jti` is accepted once until it expires, the
//! granted scope is what was asked for within what was registered, and the token is a JWT
//! signed by the tenant's key, valid only at this tenant and for at most five minutes.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Serialize;
use store::TenantName;

use super::clients::{self, ClientKind, ClientRecord};
use super::oauth::OAuthError;
use super::{now, TOKEN_LIFETIME_SECS};
use crate::App;

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The successful response (RFC 6749 §5.1).
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
}

/// What a verified assertion says of the caller.
struct Authenticated {
    jti: String,
    exp: i64,
    organization: Option<String>,
    purpose_of_use: Vec<String>,
}

/// The form's parameters; each at most once (RFC 6749 §3.2: "parameters MUST NOT be
/// included more than once").
fn single(form: &[(String, String)]) -> Result<HashMap<&str, &str>, OAuthError> {
    let mut out = HashMap::new();
    for (k, v) in form {
        if out.insert(k.as_str(), v.as_str()).is_some() {
            return Err(OAuthError::invalid_request(format!(
                "parameter {k} is repeated"
            )));
        }
    }
    Ok(out)
}

/// Handles one token request of `tenant`; every outcome is recorded.
pub async fn token(
    app: &App,
    tenant: &TenantName,
    form: &[(String, String)],
) -> Result<TokenResponse, OAuthError> {
    let mut client_id = None;
    let result = issue(app, tenant, form, &mut client_id).await;
    let reason = match &result {
        Ok(t) => format!("granted {}", t.scope),
        Err(e) => e.to_string(),
    };
    app.record_auth_event(tenant, "token", client_id, result.is_ok(), &reason)
        .await;
    result
}

async fn issue(
    app: &App,
    tenant: &TenantName,
    form: &[(String, String)],
    client_id_seen: &mut Option<String>,
) -> Result<TokenResponse, OAuthError> {
    let form = single(form)?;
    match form.get("grant_type") {
        None => return Err(OAuthError::invalid_request("grant_type is required")),
        Some(&"client_credentials") => {}
        Some(other) => {
            return Err(OAuthError::unsupported_grant_type(format!(
                "grant_type {other:?} is not supported: use client_credentials"
            )))
        }
    }
    match form.get("client_assertion_type") {
        Some(&JWT_BEARER) => {}
        Some(other) => {
            return Err(OAuthError::invalid_request(format!(
                "client_assertion_type {other:?} is not supported: use {JWT_BEARER}"
            )))
        }
        None => {
            return Err(OAuthError::invalid_request(
                "client_assertion_type is required",
            ))
        }
    }
    let assertion = form
        .get("client_assertion")
        .ok_or_else(|| OAuthError::invalid_request("client_assertion is required"))?;
    let requested = form
        .get("scope")
        .ok_or_else(|| OAuthError::invalid_request("scope is required"))?;
    let udap = match form.get("udap") {
        None => false,
        Some(&"1") => true,
        Some(v) => {
            return Err(OAuthError::invalid_request(format!(
                "udap={v:?}: only udap=1 is known"
            )))
        }
    };

    let client_id = auth::unverified_issuer(assertion)
        .ok_or_else(|| OAuthError::invalid_client("client_assertion is not a JWT with an iss"))?;
    *client_id_seen = Some(client_id.clone());
    let base = app.tenant_base(tenant);
    let token_url = super::token_url(&base);
    let (client, _) = clients::find(app, tenant, &client_id)
        .await?
        .ok_or_else(|| {
            OAuthError::invalid_client(format!("client {client_id:?} is not registered"))
        })?;
    let who = match (client.kind, udap) {
        (ClientKind::Smart, false) => smart(app, &client, assertion, &token_url).await?,
        (ClientKind::Udap, true) => {
            udap_client(app, tenant, &client, assertion, &token_url).await?
        }
        (ClientKind::Udap, false) => {
            return Err(OAuthError::invalid_client(
                "this client registered through UDAP: send udap=1 and a UDAP assertion",
            ))
        }
        (ClientKind::Smart, true) => {
            return Err(OAuthError::invalid_client(
                "udap=1, but this client was not registered through UDAP",
            ))
        }
    };
    // RFC 7523 §3 item 7: the same assertion is not accepted twice before it expires.
    let fresh = app
        .store
        .record_jti(
            tenant,
            &client_id,
            &who.jti,
            who.exp.saturating_mul(1_000_000),
        )
        .await?;
    if !fresh {
        return Err(OAuthError::invalid_client(format!(
            "the assertion's jti {:?} was already used",
            who.jti
        )));
    }
    app.sweep_expired_jtis().await;

    let registered = auth::Scopes::parse_lenient(&client.scope);
    let granted = auth::Scopes::parse_lenient(requested).intersect(&registered);
    if granted.is_empty() {
        return Err(OAuthError::invalid_scope(format!(
            "none of the requested scope ({requested}) is within the client's ({})",
            client.scope
        )));
    }
    let keys = app.tenant_keys(tenant).await?;
    let iat = now();
    let claims = auth::AccessClaims {
        iss: base.clone(),
        aud: base,
        sub: client_id,
        exp: iat + TOKEN_LIFETIME_SECS,
        iat,
        jti: uuid::Uuid::new_v4().to_string(),
        scope: granted.to_string(),
        organization: who.organization.or(client.organization),
        purpose_of_use: who.purpose_of_use,
        see_restricted: client.see_restricted,
    };
    let access_token = auth::issue(&keys.signer, &claims)
        .map_err(|e| OAuthError::from(crate::Error::internal(format!("signing a token: {e}"))))?;
    Ok(TokenResponse {
        access_token,
        token_type: "bearer",
        expires_in: TOKEN_LIFETIME_SECS,
        scope: claims.scope,
    })
}

/// A SMART Backend Services client: the assertion is checked with its JWK Set.
async fn smart(
    app: &App,
    client: &ClientRecord,
    assertion: &str,
    token_url: &str,
) -> Result<Authenticated, OAuthError> {
    let jwks = match (&client.jwks, &client.jwks_uri) {
        (Some(jwks), _) => jwks.clone(),
        (None, Some(uri)) => app.outbound.get_json(uri).await.map_err(|e| {
            OAuthError::invalid_client(format!("the client's jwks_uri could not be read: {e}"))
        })?,
        (None, None) => return Err(OAuthError::invalid_client("the client has no keys")),
    };
    let claims = auth::verify_client_assertion(
        assertion,
        &jwks,
        &client.client_id,
        token_url,
        client.jwks_uri.as_deref(),
        now(),
    )
    .map_err(|e| OAuthError::invalid_client(e.to_string()))?;
    Ok(Authenticated {
        jti: claims.jti,
        exp: claims.exp,
        organization: None,
        purpose_of_use: Vec::new(),
    })
}

/// A UDAP client: the assertion's certificate must be the registered one (or share its SAN
/// in the same community), and the `hl7-b2b` extension is required.
async fn udap_client(
    app: &App,
    tenant: &TenantName,
    client: &ClientRecord,
    assertion: &str,
    token_url: &str,
) -> Result<Authenticated, OAuthError> {
    let (Some(community_name), Some(iss), Some(cert)) =
        (&client.community, &client.iss, &client.certificate)
    else {
        return Err(OAuthError::invalid_client(
            "the UDAP registration is incomplete",
        ));
    };
    let leaf = STANDARD.decode(cert).map_err(|e| {
        OAuthError::from(crate::Error::internal(format!("client certificate: {e}")))
    })?;
    let community = super::communities::load(app, tenant, community_name)
        .await?
        .ok_or_else(|| {
            OAuthError::invalid_client(format!(
                "the client's trust community {community_name:?} is no longer configured"
            ))
        })?;
    let crls = super::registration::fetch_crls(app, assertion).await;
    let verified = udap::verify_udap_assertion(
        assertion,
        &client.client_id,
        iss,
        &leaf,
        &community,
        token_url,
        &crls,
        now(),
    )
    .map_err(|e| OAuthError::invalid_client(e.to_string()))?;
    Ok(Authenticated {
        jti: verified.jti,
        exp: verified.exp,
        organization: Some(verified.organization_id),
        purpose_of_use: verified.purpose_of_use,
    })
}
