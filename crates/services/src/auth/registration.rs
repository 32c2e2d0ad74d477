//! UDAP dynamic client registration (`POST {base}/auth/register`; FAST Security STU2 §3,
//! UDAP Dynamic Client Registration).
//!
//! The software statement is verified by the `udap` crate against the tenant's communities
//! (chain to an anchor, signature by the leaf, `iss` a SAN of the leaf, `aud` this URL, a
//! five-minute life, the required metadata); here the tenant's rules apply:
//!
//! - its `jti` is accepted once until it expires;
//! - `grant_types` must be exactly `["client_credentials"]` (the authorization-code flow
//!   is not offered); an empty list cancels the issuer's registration in that community;
//! - the granted `scope` is what the statement asks for within the tenant's scopes (all
//!   system scopes), `system/*.rs` when it asks for none;
//! - the same `iss` registering again in the same community keeps its `client_id` (200),
//!   and its registration is replaced; in another community it is a separate client (201).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use store::{TenantName, UdapIdentity};

use super::clients::{ClientKind, ClientRecord};
use super::oauth::OAuthError;
use super::{communities, now};
use crate::App;

/// The scope a statement that asks for none is granted.
const DEFAULT_SCOPE: &str = "system/*.rs";

/// The answer: 201 for a new client, 200 for a replaced or cancelled registration.
#[derive(Debug)]
pub struct Registered {
    pub created: bool,
    pub body: Value,
}

/// The CRLs the certificates of `jwt` name, fetched through the guarded client; one that
/// cannot be fetched is skipped (the chain is then checked without it).
pub async fn fetch_crls(app: &App, jwt: &str) -> Vec<Vec<u8>> {
    let mut crls = Vec::new();
    for url in udap::crl_urls(jwt) {
        match app.outbound.get(&url).await {
            Ok(body) => crls.push(body.to_vec()),
            Err(e) => tracing::info!(%url, error = %e, "CRL not fetched"),
        }
    }
    crls
}

/// Handles one registration request of `tenant`; every outcome is recorded.
pub async fn register(
    app: &App,
    tenant: &TenantName,
    body: &[u8],
) -> Result<Registered, OAuthError> {
    let result = run(app, tenant, body).await;
    let (client, reason) = match &result {
        Ok(r) => (
            r.body
                .get("client_id")
                .and_then(Value::as_str)
                .map(str::to_owned),
            if r.created {
                "registered"
            } else {
                "registration replaced or cancelled"
            }
            .to_owned(),
        ),
        Err(e) => (None, e.to_string()),
    };
    app.record_auth_event(tenant, "registration", client, result.is_ok(), &reason)
        .await;
    result
}

async fn run(app: &App, tenant: &TenantName, body: &[u8]) -> Result<Registered, OAuthError> {
    let request: Value = serde_json::from_slice(body)
        .map_err(|e| OAuthError::invalid_client_metadata(format!("the body is not JSON: {e}")))?;
    let statement = request
        .get("software_statement")
        .and_then(Value::as_str)
        .ok_or_else(|| OAuthError::invalid_software_statement("software_statement is required"))?;
    match request.get("udap").and_then(Value::as_str) {
        Some("1") => {}
        _ => return Err(OAuthError::invalid_client_metadata("udap must be \"1\"")),
    }
    let configured = communities::load_all(app, tenant).await?;
    if configured.is_empty() {
        return Err(OAuthError::registration(udap::RegistrationError {
            code: udap::RegistrationErrorCode::UnapprovedSoftwareStatement,
            description: "this tenant trusts no UDAP community".into(),
        }));
    }
    let base = app.tenant_base(tenant);
    let crls = fetch_crls(app, statement).await;
    let refs: Vec<&udap::Community> = configured.iter().map(|(_, c)| c).collect();
    let verified = udap::verify_software_statement(
        statement,
        &refs,
        &super::registration_url(&base),
        &crls,
        now(),
    )
    .map_err(OAuthError::registration)?;
    let community = configured
        .iter()
        .find(|(_, c)| c.uri == verified.community_uri)
        .map(|(n, _)| n.clone())
        .ok_or_else(|| {
            OAuthError::from(crate::Error::internal("verified by an unknown community"))
        })?;

    let jti = verified
        .claims
        .get("jti")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let exp = verified
        .claims
        .get("exp")
        .and_then(Value::as_i64)
        .unwrap_or_default();
    if !app
        .store
        .record_jti(tenant, &verified.iss, jti, exp.saturating_mul(1_000_000))
        .await?
    {
        return Err(OAuthError::invalid_software_statement(format!(
            "the software statement's jti {jti:?} was already used"
        )));
    }

    let identity = UdapIdentity {
        community: &community,
        iss: &verified.iss,
    };
    let existing = app.store.udap_client(tenant, identity).await?;
    if verified.grant_types.is_empty() {
        // FAST Security STU2 §3.4: an empty grant_types cancels the registration.
        let Some(existing) = existing else {
            return Err(OAuthError::invalid_client_metadata(
                "grant_types is empty, which cancels a registration, but this issuer has none \
                 in this community",
            ));
        };
        app.store.delete_client(tenant, &existing.key).await?;
        return Ok(Registered {
            created: false,
            body: json!({
                "software_statement": statement,
                "client_name": verified.client_name,
                "grant_types": [],
            }),
        });
    }
    if verified.grant_types != ["client_credentials"] {
        return Err(OAuthError::invalid_client_metadata(format!(
            "grant_types {:?} is not offered: register with [\"client_credentials\"] \
             (the authorization_code flow is not supported)",
            verified.grant_types
        )));
    }
    let offered = auth::Scopes::parse_lenient(&super::SCOPES_SUPPORTED.join(" "));
    let asked = verified.scope.as_deref().unwrap_or(DEFAULT_SCOPE);
    let granted = auth::Scopes::parse_lenient(asked).intersect(&offered);
    if granted.is_empty() {
        return Err(OAuthError::invalid_client_metadata(format!(
            "none of the scope {asked:?} is offered: ask for system scopes such as system/*.rs"
        )));
    }
    let client_id = existing
        .as_ref()
        .map(|e| e.key.clone())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let record = ClientRecord {
        client_id: client_id.clone(),
        kind: ClientKind::Udap,
        name: Some(verified.client_name.clone()),
        scope: granted.to_string(),
        jwks: None,
        jwks_uri: None,
        organization: None,
        see_restricted: false,
        community: Some(community.clone()),
        iss: Some(verified.iss.clone()),
        certificate: Some(STANDARD.encode(&verified.leaf_der)),
        software_statement: Some(statement.to_owned()),
    };
    let value = serde_json::to_value(&record)
        .map_err(|e| OAuthError::from(crate::Error::internal(e.to_string())))?;
    app.store
        .put_client(tenant, &client_id, Some(identity), &value)
        .await?;
    Ok(Registered {
        created: existing.is_none(),
        body: json!({
            "client_id": client_id,
            "software_statement": statement,
            "client_name": verified.client_name,
            "scope": record.scope,
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt",
        }),
    })
}
