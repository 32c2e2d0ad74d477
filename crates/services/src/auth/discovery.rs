//! Discovery documents of a tenant, public whatever the tenant's read policy:
//! `.well-known/smart-configuration` (SMART App Launch 2.2 §Conformance), `.well-known/udap`
//! (FAST Security STU2 §2, UDAP Server Metadata) and the JWK Set of its token-signing keys.

use serde_json::{json, Map, Value};
use store::TenantName;

use super::communities;
use crate::error::Result;
use crate::App;

const SIGNING_ALGS: &[&str] = &["RS256", "RS384", "ES256", "ES384"];

pub fn smart_configuration(app: &App, tenant: &TenantName) -> Value {
    let base = app.tenant_base(tenant);
    json!({
        "token_endpoint": super::token_url(&base),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384", "RS256", "ES256"],
        "scopes_supported": super::SCOPES_SUPPORTED,
        "capabilities": ["client-confidential-asymmetric", "permission-v1", "permission-v2"],
        "code_challenge_methods_supported": ["S256"],
        "registration_endpoint": super::registration_url(&base),
        "jwks_uri": super::jwks_url(&base),
    })
}

/// The tenant's JWK Set (public keys only).
pub async fn jwks(app: &App, tenant: &TenantName) -> Result<Value> {
    let keys = app.tenant_keys(tenant).await?;
    Ok(auth::jwks(&keys.public))
}

/// What `.well-known/udap` answers.
#[derive(Debug)]
pub enum UdapMetadata {
    /// The document.
    Found(Value),
    /// The tenant takes part in no community (404).
    NoCommunity,
    /// `?community=` names one the tenant is not in (204, FAST Security STU2 §2.3).
    UnknownCommunity,
}

/// The UDAP metadata, signed with the certificate of `community` (a community URI), or of
/// the default community (else the first configured) when none is asked for.
pub async fn udap_metadata(
    app: &App,
    tenant: &TenantName,
    community: Option<&str>,
) -> Result<UdapMetadata> {
    let configured = communities::load_all(app, tenant).await?;
    if configured.is_empty() {
        return Ok(UdapMetadata::NoCommunity);
    }
    let chosen = match community {
        Some(uri) => configured.iter().find(|(_, c)| c.uri == uri),
        None => configured.first(),
    };
    let Some((_, chosen)) = chosen else {
        return Ok(UdapMetadata::UnknownCommunity);
    };
    let base = app.tenant_base(tenant);
    let mut endpoints = Map::new();
    endpoints.insert("token_endpoint".into(), json!(super::token_url(&base)));
    endpoints.insert(
        "registration_endpoint".into(),
        json!(super::registration_url(&base)),
    );
    let signed = chosen
        .signed_metadata(&endpoints, super::now())
        .map_err(|e| crate::Error::internal(format!("signing UDAP metadata: {e}")))?;
    Ok(UdapMetadata::Found(json!({
        "udap_versions_supported": ["1"],
        "udap_profiles_supported": ["udap_dcr", "udap_authn", "udap_authz"],
        "udap_authorization_extensions_supported": ["hl7-b2b"],
        "udap_authorization_extensions_required": ["hl7-b2b"],
        "udap_certifications_supported": [],
        "udap_certifications_required": [],
        "grant_types_supported": ["client_credentials"],
        "scopes_supported": super::SCOPES_SUPPORTED,
        "token_endpoint": super::token_url(&base),
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": SIGNING_ALGS,
        "registration_endpoint": super::registration_url(&base),
        "registration_endpoint_jwt_signing_alg_values_supported": SIGNING_ALGS,
        "signed_metadata": signed,
    })))
}
