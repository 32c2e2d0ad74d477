//! A tenant's restriction settings (`/admin/tenants/{t}/restrictions`): which `meta.security`
//! confidentiality labels (v3 Confidentiality, <http://hl7.org/fhir/R4/security-labels.html>)
//! restrict a resource. The default is `R` and `V`. A change recomputes, in one transaction,
//! the policy of every resource carrying such a label, so it applies at once.

use serde_json::{json, Value};
use store::TenantName;

use crate::error::{Error, Result};
use crate::App;

/// The codes of v3 Confidentiality (<http://terminology.hl7.org/CodeSystem/v3-Confidentiality>).
const CODES: &[&str] = &["U", "L", "M", "N", "R", "V"];

pub async fn get(app: &App, tenant: &TenantName) -> Result<Value> {
    let mut tx = app.store.begin(tenant).await?;
    let settings = tx.restriction_settings().await?;
    tx.rollback().await?;
    Ok(view(&settings))
}

/// `PUT` with `{"restricting_labels": ["R", "V", ...]}`.
pub async fn set(app: &App, tenant: &TenantName, body: &[u8]) -> Result<Value> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        restricting_labels: Vec<String>,
    }
    let Body {
        mut restricting_labels,
    } = serde_json::from_slice(body).map_err(|e| {
        Error::invalid(format!(
            "expected {{\"restricting_labels\": [codes of v3 Confidentiality]}}: {e}"
        ))
    })?;
    if let Some(bad) = restricting_labels
        .iter()
        .find(|c| !CODES.contains(&c.as_str()))
    {
        return Err(Error::invalid(format!(
            "{bad:?} is not a v3 Confidentiality code (one of {})",
            CODES.join(", ")
        )));
    }
    restricting_labels.sort();
    restricting_labels.dedup();
    let settings = restrict::Settings { restricting_labels };
    // Loaded before the transaction (loading may write; see `resources::delete`).
    let conf = app.conformance(tenant).await?;
    let mut tx = app.store.begin(tenant).await?;
    let recomputed =
        writes::restriction::change_settings(&mut tx, &conf.extractor, &settings).await?;
    tx.commit().await?;
    let mut out = view(&settings);
    out["recomputed"] = json!(recomputed);
    Ok(out)
}

fn view(settings: &restrict::Settings) -> Value {
    json!({ "restricting_labels": settings.restricting_labels })
}
