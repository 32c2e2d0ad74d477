//! The UDAP trust communities of a tenant (`/admin/tenants/{t}/udap/communities/{name}`):
//! each names the anchors whose chains the tenant trusts, and the certificate and key the
//! tenant signs its UDAP metadata with for that community (FAST Security STU2 §2.2).
//!
//! A configuration is checked in full when it is set ([`udap::Community::new`]: the server
//! certificate has an RSA key, the tenant's FHIR base as a SAN URI, the key matches, the
//! chain reaches an anchor), so discovery never serves metadata a client would refuse. The
//! private key is stored, never shown.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use store::TenantName;

use crate::error::{Error, Result};
use crate::App;

/// A community as the operator configures it and the store keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommunityConfig {
    pub uri: String,
    pub anchors: Vec<String>,
    pub server_certificate_chain: Vec<String>,
    pub server_private_key: String,
    #[serde(default)]
    pub default: bool,
}

fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "community name {name:?}: use 1-64 letters, digits, '-', '_' or '.'"
        )))
    }
}

fn parse(app: &App, tenant: &TenantName, config: &CommunityConfig) -> Result<udap::Community> {
    udap::Community::new(
        &config.uri,
        &config.anchors,
        &config.server_certificate_chain,
        &config.server_private_key,
        &app.tenant_base(tenant),
        super::now(),
    )
    .map_err(|e| Error::invalid(format!("community {:?}: {e}", config.uri)))
}

/// The community as the admin API shows it: never the private key.
fn view(name: &str, config: &CommunityConfig) -> Value {
    json!({
        "name": name,
        "uri": config.uri,
        "anchors": config.anchors,
        "server_certificate_chain": config.server_certificate_chain,
        "default": config.default,
    })
}

/// `PUT …/udap/communities/{name}`: creates or replaces a community; `true` when new.
pub async fn put(app: &App, tenant: &TenantName, name: &str, body: &[u8]) -> Result<(bool, Value)> {
    check_name(name)?;
    let config: CommunityConfig = serde_json::from_slice(body).map_err(|e| {
        Error::invalid(format!(
            "expected {{\"uri\", \"anchors\": [PEM], \"server_certificate_chain\": [PEM leaf, \
             ...], \"server_private_key\": PEM, \"default\"?: bool}}: {e}"
        ))
    })?;
    parse(app, tenant, &config)?;
    let existing = all(app, tenant).await?;
    if let Some((other, _)) = existing
        .iter()
        .find(|(n, c)| n != name && c.uri == config.uri)
    {
        return Err(Error::conflict(format!(
            "community {other:?} of this tenant already has the uri {:?}",
            config.uri
        )));
    }
    let is_new = !existing.iter().any(|(n, _)| n == name);
    // One default community: setting one clears the others.
    if config.default {
        for (other, mut c) in existing.into_iter().filter(|(n, c)| n != name && c.default) {
            c.default = false;
            store_config(app, tenant, &other, &c).await?;
        }
    }
    store_config(app, tenant, name, &config).await?;
    Ok((is_new, view(name, &config)))
}

async fn store_config(
    app: &App,
    tenant: &TenantName,
    name: &str,
    c: &CommunityConfig,
) -> Result<()> {
    let value = serde_json::to_value(c).map_err(|e| Error::internal(e.to_string()))?;
    Ok(app.store.put_community(tenant, name, &value).await?)
}

/// Every community of the tenant (name, configuration), oldest first.
pub async fn all(app: &App, tenant: &TenantName) -> Result<Vec<(String, CommunityConfig)>> {
    let rows = app.store.communities(tenant).await?;
    rows.into_iter()
        .map(|row| {
            let config = serde_json::from_value(row.record)
                .map_err(|e| Error::internal(format!("community {}: {e}", row.key)))?;
            Ok((row.key, config))
        })
        .collect()
}

pub async fn list(app: &App, tenant: &TenantName) -> Result<Vec<Value>> {
    Ok(all(app, tenant)
        .await?
        .iter()
        .map(|(n, c)| view(n, c))
        .collect())
}

pub async fn delete(app: &App, tenant: &TenantName, name: &str) -> Result<()> {
    if app.store.delete_community(tenant, name).await? {
        Ok(())
    } else {
        Err(Error::not_found(format!(
            "community {name:?} is not configured"
        )))
    }
}

/// Community `name`, ready to verify with; `None` when not configured.
pub async fn load(app: &App, tenant: &TenantName, name: &str) -> Result<Option<udap::Community>> {
    let found = all(app, tenant).await?.into_iter().find(|(n, _)| n == name);
    found.map(|(_, c)| parse(app, tenant, &c)).transpose()
}

/// Every community, ready to verify with, by name (the default first).
pub async fn load_all(app: &App, tenant: &TenantName) -> Result<Vec<(String, udap::Community)>> {
    let mut all = all(app, tenant).await?;
    all.sort_by_key(|(_, c)| !c.default);
    all.into_iter()
        .map(|(n, c)| Ok((n, parse(app, tenant, &c)?)))
        .collect()
}
