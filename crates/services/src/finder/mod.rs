//! `$find-providers` (issue 20): ranked in-network provider search over a tenant's Plan-Net
//! data, in one call.
//!
//! 1. the parameters are checked by `finder::FindQuery` (a 400 names the parameter);
//! 2. `network` and `plan` become the set of networks ([`networks::requested`]);
//! 3. ordinary searches of this server find the candidate roles with their providers, sites
//!    and services ([`gather`]), as the caller: scopes and restricted content apply exactly as
//!    in the caller's own searches;
//! 4. `finder::assemble` decides which providers qualify and `finder::rank` orders them;
//! 5. the page is a `searchset` Bundle ([`response`]) with `_offset` paging links, and each
//!    network's "last imported" date and stale flag.
//!
//! The ranking is computed over every qualifying provider on each request, so pages are
//! consistent with each other while the data does not change (the order is total).

mod definition;
mod gather;
mod networks;
mod response;

use std::collections::{BTreeMap, BTreeSet};

use fhir::{BundleBuilder, BundleEntry, IssueSeverity, IssueType, OperationOutcome};
use finder::{Criteria, FindQuery};
use serde_json::{json, Value};

use crate::ctx::RequestCtx;
use crate::error::{Error, Result};

pub use definition::{definition, DEFINITION_URL};
pub use response::MATCH_EXTENSION;

/// `GET|POST [base]/$find-providers`: the Bundle as JSON text. `pairs` are the query's (or
/// the form body's) decoded parameters.
pub async fn find_providers(ctx: &RequestCtx, pairs: Vec<(String, String)>) -> Result<String> {
    let query = FindQuery::parse(&pairs).map_err(|e| {
        Error::with_issues(
            http::StatusCode::BAD_REQUEST,
            vec![fhir::outcome::Issue {
                severity: IssueSeverity::Error,
                code: IssueType::Invalid,
                diagnostics: e.message().to_owned(),
                expression: e.parameter().map(str::to_owned).into_iter().collect(),
            }],
        )
    })?;
    gather::authorize(ctx, &query)?;
    let app = ctx.app();
    let conf = app.conformance(ctx.tenant()).await?;
    let networks = networks::requested(ctx, &conf, &query).await?;
    let gathered = match &networks {
        Some(n) if n.is_empty() => gather::Gathered::default(),
        n => gather::gather(ctx, &conf, &query, n.as_ref()).await?,
    };
    let found = finder::assemble(
        &query,
        networks.as_ref(),
        &gathered.roles,
        &gathered.resources,
    );
    let ranked = finder::rank(
        found.iter().map(finder::Found::candidate).collect(),
        &Criteria::of(&query),
        query.sort,
    );
    let total = ranked.len();
    let start = (query.offset as usize).min(total);
    let end = start.saturating_add(query.count as usize).min(total);
    let page = &ranked[start..end];

    let found: BTreeMap<String, finder::Found> =
        found.into_iter().map(|f| (f.provider.clone(), f)).collect();
    let page_networks: BTreeSet<String> = page
        .iter()
        .filter_map(|r| found.get(&r.candidate.provider_ref))
        .flat_map(|f| f.networks.keys().cloned())
        .collect();
    let freshness = networks::freshness(ctx, &page_networks).await?;
    let roles: BTreeMap<String, &Value> = gathered
        .roles
        .iter()
        .map(|h| {
            let key = format!(
                "{}/{}",
                h.role["resourceType"].as_str().unwrap_or(""),
                h.role["id"].as_str().unwrap_or("")
            );
            (key, &h.role)
        })
        .collect();

    let tenant_base = app.tenant_base(ctx.tenant());
    let link = |offset: usize| {
        let mut pairs = query.link_pairs();
        if offset > 0 {
            pairs.push(("_offset".to_owned(), offset.to_string()));
        }
        let encoded = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        format!("{tenant_base}/$find-providers?{encoded}")
    };
    let count = query.count as usize;
    let mut bundle = BundleBuilder::new("searchset")
        .total(Some(total as u64))
        .timestamp(fhir::meta::format_instant(chrono::Utc::now()))
        .link("self", link(start))
        .link("first", link(0));
    if start > 0 {
        bundle = bundle.link("previous", link(start.saturating_sub(count)));
    }
    if end < total {
        bundle = bundle.link("next", link(end));
    }
    let last = if total == 0 {
        0
    } else {
        (total - 1) / count * count
    };
    bundle = bundle.link("last", link(last));
    for e in response::entries(
        &tenant_base,
        page,
        &found,
        &roles,
        &gathered.resources,
        &freshness,
    )? {
        bundle.entry(e);
    }
    if gathered.truncated {
        let mut oo = OperationOutcome::default();
        oo.push(
            IssueSeverity::Warning,
            IssueType::TooCostly,
            format!(
                "more than {} roles matched one of the searches behind this request; the \
                 providers found are from the first {} of them: narrow the search (a centre \
                 and radius, a network, a specialty)",
                gather::MAX_ROLES_PER_SEARCH,
                gather::MAX_ROLES_PER_SEARCH
            ),
        );
        bundle.entry(BundleEntry {
            full_url: None,
            resource: serde_json::value::RawValue::from_string(oo.to_json().to_string()).ok(),
            request: None,
            response: None,
            search: Some(json!({"mode": "outcome"})),
        });
    }
    Ok(bundle.to_json_string())
}

/// The parameters of a `Parameters` body (`POST [base]/$find-providers` with
/// `application/fhir+json`), as the pairs a query string would give: each `parameter` with
/// its `name` and a primitive `value[x]` rendered as text.
pub fn pairs_from_parameters(body: &Value) -> Result<Vec<(String, String)>> {
    if body.get("resourceType").and_then(Value::as_str) != Some("Parameters") {
        return Err(Error::invalid(
            "POST $find-providers takes a Parameters resource or a form body",
        ));
    }
    let mut out = Vec::new();
    for p in body
        .get("parameter")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = p
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::invalid("each Parameters.parameter needs a name"))?;
        let value = p
            .as_object()
            .into_iter()
            .flatten()
            .find(|(k, _)| k.starts_with("value"))
            .map(|(_, v)| v);
        let text = match value {
            Some(Value::String(s)) => s.clone(),
            Some(v @ (Value::Bool(_) | Value::Number(_))) => v.to_string(),
            _ => {
                return Err(Error::invalid(format!(
                    "Parameters.parameter {name:?} needs a primitive value[x]"
                )))
            }
        };
        out.push((name.to_owned(), text));
    }
    Ok(out)
}
