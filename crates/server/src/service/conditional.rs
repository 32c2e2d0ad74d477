//! Finding the resources that conditional interactions name by search criteria
//! (`If-None-Exist`, conditional update/delete, conditional references in Bundles).

use store::{TenantName, VersionRecord};

use crate::error::{AppError, AppResult};
use crate::state::App;

/// The current resources of `rtype` matching `criteria` (a query string such as
/// `identifier=http://hl7.org/fhir/sid/us-npi|1234567893`). At most two are returned: the
/// callers only distinguish none, one and many. Criteria the server does not understand are
/// an error here, never silently ignored (ignoring one would widen the match).
pub async fn find(
    app: &App,
    tenant: &TenantName,
    rtype: &str,
    criteria: &str,
) -> AppResult<Vec<VersionRecord>> {
    let mut pairs: Vec<(String, String)> = serde_urlencoded::from_str(criteria)
        .map_err(|e| AppError::invalid(format!("malformed search criteria {criteria:?}: {e}")))?;
    pairs.retain(|(k, _)| k != "_count");
    if pairs.is_empty() {
        return Err(AppError::invalid(format!(
            "conditional criteria for {rtype} are empty"
        )));
    }
    pairs.push(("_count".into(), "2".into()));
    let conf = app.conformance(tenant).await?;
    let query = search::SearchQuery::parse(rtype, &pairs, &conf.registry)
        .map_err(|e| AppError::invalid(e.to_string()))?;
    query
        .require_all_understood()
        .map_err(|e| AppError::BadRequest(fhir::IssueType::NotSupported, e.to_string()))?;
    let page = app
        .store
        .search(tenant, &query, &conf.registry, None)
        .await?;
    Ok(page.matches)
}
