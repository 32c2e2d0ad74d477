//! Batch and transaction Bundles (<https://hl7.org/fhir/R4/http.html#transaction>):
//! `POST [base]` with a Bundle of type `batch` or `transaction`.
//!
//! A transaction runs in one store transaction: entries in the order DELETE, POST,
//! PUT/PATCH, then GET/HEAD after the commit; every link to a `fullUrl` rewritten; the
//! writes all or nothing, and the error names the entry that failed. A GET/HEAD that fails
//! after the commit gets its own status in the response. A batch runs each entry on its
//! own and reports each status.

mod entry;
mod execute;
mod references;

use fhir::BundleBuilder;
use serde_json::{Map, Value};

use crate::ctx::RequestCtx;
use crate::error::{Error, Result};
use crate::request::Prefer;

pub use entry::{Entry, EntryMethod, Target};

/// Processes a `batch` or `transaction` Bundle and returns the response Bundle as JSON text.
pub async fn process(
    ctx: &RequestCtx,
    bundle: Map<String, Value>,
    prefer: Prefer,
) -> Result<String> {
    let (app, tenant) = (ctx.app(), ctx.tenant());
    if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err(Error::invalid(
            "POST to the base takes a Bundle of type batch or transaction",
        ));
    }
    let kind = bundle
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let raw_entries = match bundle.get("entry") {
        None => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(Error::invalid("Bundle.entry must be an array")),
    };
    let limit = app.settings.max_bundle_entries;
    if raw_entries.len() > limit {
        return Err(Error::bad_request(
            fhir::IssueType::TooCostly,
            format!(
                "the Bundle has {} entries; this server accepts at most {limit} (max_bundle_entries)",
                raw_entries.len()
            ),
        ));
    }
    let base = app.tenant_base(tenant);
    let (response_kind, responses) = match kind {
        "transaction" => {
            let entries = raw_entries
                .iter()
                .enumerate()
                .map(|(i, e)| entry::parse_entry(i, e, &base))
                .collect::<Result<Vec<_>>>()?;
            (
                "transaction-response",
                execute::transaction(ctx, entries, prefer).await?,
            )
        }
        "batch" => (
            "batch-response",
            execute::batch(ctx, &raw_entries, prefer).await,
        ),
        other => {
            return Err(Error::invalid(format!(
                "Bundle.type {other:?} cannot be processed: POST a batch or a transaction"
            )))
        }
    };
    let mut out =
        BundleBuilder::new(response_kind).timestamp(fhir::meta::format_instant(chrono::Utc::now()));
    for r in responses {
        out.entry(r.into_bundle_entry());
    }
    Ok(out.to_json_string())
}
