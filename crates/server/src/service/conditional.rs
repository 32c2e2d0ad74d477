//! Finding the resources that conditional interactions name by search criteria
//! (`If-None-Exist`, conditional update/delete, conditional references in Bundles).

use store::{TenantName, VersionRecord};

use crate::error::{AppError, AppResult};
use crate::state::App;

/// The current resources of `rtype` matching `criteria` (a query string such as
/// `identifier=http://hl7.org/fhir/sid/us-npi|1234567893`). At most two are returned: the
/// callers only distinguish none, one and many.
pub async fn find(
    app: &App,
    tenant: &TenantName,
    rtype: &str,
    criteria: &str,
) -> AppResult<Vec<VersionRecord>> {
    let _ = (app, tenant);
    Err(AppError::NotImplemented(format!(
        "conditional interactions ({rtype}?{criteria}) need search, which is not available yet"
    )))
}
