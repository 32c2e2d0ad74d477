//! A tenant's validation setting (`PUT|GET /admin/tenants/{t}/validation`), kept among the
//! tenant's settings in the store so that every server of a deployment applies the same.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use store::TenantName;

use crate::error::{Error, Result};
use crate::App;

/// The name of this setting among the tenant's settings.
const SETTING: &str = "validation";

/// What validation does to an API write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Not validated.
    Off,
    /// Validated and stored whatever the verdict; the findings come back as warnings
    /// (`Prefer: return=OperationOutcome`). The default, so that existing data and clients
    /// keep working.
    #[default]
    Warn,
    /// An invalid resource is refused (422) with what is wrong; `fhirdir import` and bulk
    /// `$import` skip or stop at it.
    Enforce,
}

/// The setting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setting {
    #[serde(default)]
    pub mode: Mode,
    /// FHIR packages (`name#version`) whose profiles apply.
    #[serde(default)]
    pub packages: Vec<String>,
    /// Resource type -> profiles every resource of that type is validated against.
    #[serde(default)]
    pub require_profiles: BTreeMap<String, Vec<String>>,
    /// References to the tenant's own resources must resolve, and a referenced resource is
    /// not deleted ([`super::integrity`]).
    #[serde(default)]
    pub referential_integrity: bool,
    /// With `referential_integrity`: a referenced resource may be deleted all the same.
    #[serde(default)]
    pub delete_referenced: bool,
}

/// `tenant`'s setting (the default when it has none).
pub async fn get(app: &App, tenant: &TenantName) -> Result<Setting> {
    read(&app.store, tenant).await
}

/// [`get`], from a store (`fhirdir import`, which has no server).
pub async fn read(store: &store::Store, tenant: &TenantName) -> Result<Setting> {
    match store.tenant_setting(tenant, SETTING).await? {
        None => Ok(Setting::default()),
        Some(text) => serde_json::from_str(&text).map_err(|e| {
            Error::internal(format!("the stored validation setting of {tenant}: {e}"))
        }),
    }
}

/// Replaces `tenant`'s setting with `body` (JSON); answers what is now in force.
pub async fn put(app: &App, tenant: &TenantName, body: &[u8]) -> Result<Setting> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Error::invalid(format!("the validation setting is not JSON: {e}")))?;
    let setting: Setting = serde_json::from_value(value)
        .map_err(|e| Error::invalid(format!("validation setting: {e}")))?;
    app.profiles.check(&setting)?;
    let text = serde_json::to_string(&setting).map_err(|e| Error::internal(e.to_string()))?;
    app.store.set_tenant_setting(tenant, SETTING, &text).await?;
    Ok(setting)
}
