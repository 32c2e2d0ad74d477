//! A tenant's access policy (`/admin/tenants/{t}/access`): whether anonymous callers may
//! read and search. Writes always need a token while authorization is enforced.

use serde_json::{json, Value};
use store::TenantName;

use crate::error::{Error, Result};
use crate::App;

pub async fn get(app: &App, tenant: &TenantName) -> Result<Value> {
    if !app.store.tenant_exists(tenant).await? {
        return Err(Error::unknown_tenant(tenant));
    }
    let anonymous_read = app.store.anonymous_read(tenant).await?.unwrap_or(true);
    Ok(json!({ "anonymous_read": anonymous_read }))
}

/// `PUT` with `{"anonymous_read": true|false}`.
pub async fn set(app: &App, tenant: &TenantName, body: &[u8]) -> Result<Value> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Access {
        anonymous_read: bool,
    }
    let Access { anonymous_read } = serde_json::from_slice(body)
        .map_err(|e| Error::invalid(format!("expected {{\"anonymous_read\": true|false}}: {e}")))?;
    app.store.set_anonymous_read(tenant, anonymous_read).await?;
    app.auth.forget(tenant);
    Ok(json!({ "anonymous_read": anonymous_read }))
}
