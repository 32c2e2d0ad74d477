//! Clients of a tenant's token endpoint: registered by the operator for SMART Backend
//! Services (`POST /admin/tenants/{t}/clients`, `fhirdir client add`) with a JWK Set or a
//! `jwks_uri`, or by UDAP dynamic registration ([`super::registration`]) with a certificate.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use store::TenantName;

use crate::error::{Error, Result};
use crate::App;

/// How a client was registered, and so how it authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    /// By the operator: a `private_key_jwt` assertion checked with its JWK Set.
    Smart,
    /// By UDAP registration: an assertion with an `x5c` chain to its community.
    Udap,
}

/// A client as the store keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientRecord {
    pub client_id: String,
    pub kind: ClientKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The most the client may be granted.
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// `Organization/{id}` the client acts for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// The operator lets the client see all restricted content (its own tools); never set by
    /// UDAP registration.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub see_restricted: bool,
    /// UDAP: the community it registered in, its issuer URI (a SAN of its certificate), its
    /// certificate (base64 DER) and the statement it registered with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_statement: Option<String>,
}

/// What the operator sends to register a client.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    #[serde(default)]
    pub jwks: Option<Value>,
    #[serde(default)]
    pub jwks_uri: Option<String>,
    pub scope: String,
    #[serde(default)]
    pub organization: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub see_restricted: bool,
}

/// The client as the admin API shows it.
pub fn view(record: &ClientRecord, created_at: i64) -> Value {
    let mut v = serde_json::to_value(record).unwrap_or_default();
    if let Some(m) = v.as_object_mut() {
        m.remove("software_statement");
        m.remove("certificate");
        if let Some(at) = chrono::DateTime::from_timestamp_micros(created_at) {
            m.insert("created".into(), json!(fhir::meta::format_instant(at)));
        }
    }
    v
}

fn parse_body(body: &[u8]) -> Result<NewClient> {
    serde_json::from_slice(body).map_err(|e| {
        Error::invalid(format!(
            "expected {{\"jwks\": {{...}} or \"jwks_uri\": \"https://...\", \"scope\": \
             \"system/...\", \"organization\"?: \"Organization/id\", \"name\"?: \"...\"}}: {e}"
        ))
    })
}

/// Checks a JWK Set a client registers: public keys only, of a type the token endpoint
/// verifies (RSA, or EC on P-256/P-384).
fn check_jwks(jwks: &Value) -> Result<()> {
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            Error::invalid("jwks must be a JWK Set: {\"keys\": [ ... ]} with at least one key")
        })?;
    for (i, key) in keys.iter().enumerate() {
        let kty = key.get("kty").and_then(Value::as_str).unwrap_or_default();
        if !matches!(kty, "RSA" | "EC") {
            return Err(Error::invalid(format!(
                "jwks.keys[{i}]: kty {kty:?} is not supported (RSA or EC)"
            )));
        }
        if ["d", "p", "q", "dp", "dq", "qi", "k"]
            .iter()
            .any(|m| key.get(*m).is_some())
        {
            return Err(Error::invalid(format!(
                "jwks.keys[{i}] holds private key material: register the public key only"
            )));
        }
    }
    Ok(())
}

fn check_scope(scope: &str) -> Result<()> {
    let scopes = auth::Scopes::parse(scope).map_err(|e| Error::invalid(format!("scope: {e}")))?;
    if scopes.is_empty() {
        return Err(Error::invalid(
            "scope: at least one system scope is required",
        ));
    }
    for word in scope.split_whitespace() {
        let rtype = word
            .strip_prefix("system/")
            .and_then(|r| r.split('.').next())
            .unwrap_or_default();
        if rtype != "*" && !fhir::resource_types::is_resource_type(rtype) {
            return Err(Error::invalid(format!(
                "scope {word:?}: {rtype:?} is not a FHIR R4 resource type"
            )));
        }
    }
    Ok(())
}

/// `POST /admin/tenants/{t}/clients`: registers a client; answers it with its `client_id`.
pub async fn add(app: &App, tenant: &TenantName, body: &[u8]) -> Result<Value> {
    let new = parse_body(body)?;
    match (&new.jwks, &new.jwks_uri) {
        (Some(jwks), None) => check_jwks(jwks)?,
        (None, Some(uri)) => app
            .outbound
            .check_url(uri)
            .map_err(|e| Error::invalid(format!("jwks_uri: {e}")))?,
        _ => return Err(Error::invalid("give exactly one of jwks and jwks_uri")),
    }
    check_scope(&new.scope)?;
    if let Some(org) = &new.organization {
        let ok = org
            .strip_prefix("Organization/")
            .is_some_and(fhir::is_valid_id);
        if !ok {
            return Err(Error::invalid(format!(
                "organization {org:?} must be a reference Organization/{{id}}"
            )));
        }
    }
    let record = ClientRecord {
        client_id: uuid::Uuid::new_v4().to_string(),
        kind: ClientKind::Smart,
        name: new.name,
        scope: new.scope,
        jwks: new.jwks,
        jwks_uri: new.jwks_uri,
        organization: new.organization,
        see_restricted: new.see_restricted,
        community: None,
        iss: None,
        certificate: None,
        software_statement: None,
    };
    let value = serde_json::to_value(&record).map_err(|e| Error::internal(e.to_string()))?;
    app.store
        .put_client(tenant, &record.client_id, None, &value)
        .await?;
    app.record_auth_event(
        tenant,
        "client-added",
        Some(record.client_id.clone()),
        true,
        "by the operator",
    )
    .await;
    Ok(view(&record, chrono::Utc::now().timestamp_micros()))
}

/// A client of the tenant, as the store keeps it.
pub async fn find(
    app: &App,
    tenant: &TenantName,
    client_id: &str,
) -> Result<Option<(ClientRecord, i64)>> {
    let Some(row) = app.store.client(tenant, client_id).await? else {
        return Ok(None);
    };
    let record = serde_json::from_value(row.record)
        .map_err(|e| Error::internal(format!("client {client_id}: {e}")))?;
    Ok(Some((record, row.created_at)))
}

pub async fn get(app: &App, tenant: &TenantName, client_id: &str) -> Result<Value> {
    match find(app, tenant, client_id).await? {
        Some((record, created)) => Ok(view(&record, created)),
        None => Err(Error::not_found(format!(
            "client {client_id:?} is not registered"
        ))),
    }
}

pub async fn list(app: &App, tenant: &TenantName) -> Result<Vec<Value>> {
    let rows = app.store.clients(tenant).await?;
    rows.into_iter()
        .map(|row| {
            let record: ClientRecord = serde_json::from_value(row.record)
                .map_err(|e| Error::internal(format!("client {}: {e}", row.key)))?;
            Ok(view(&record, row.created_at))
        })
        .collect()
}

pub async fn remove(app: &App, tenant: &TenantName, client_id: &str) -> Result<()> {
    if app.store.delete_client(tenant, client_id).await? {
        app.record_auth_event(
            tenant,
            "client-removed",
            Some(client_id.to_owned()),
            true,
            "",
        )
        .await;
        Ok(())
    } else {
        Err(Error::not_found(format!(
            "client {client_id:?} is not registered"
        )))
    }
}
