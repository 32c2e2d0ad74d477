//! `$find-providers` (issue 20): ranked in-network provider search over a tenant's Plan-Net
//! data, in one call.
//!
//! 1. the parameters are checked by `finder::FindQuery` (a 400 names the parameter);
//! 2. `network` and `plan` become the set of networks ([`networks::requested`]);
//! 3. the store finds the candidate roles from the index alone ([`gather`],
//!    `store::Store::find_roles`: sites in the area, their roles, each role's provider, the
//!    criteria tested per row), as the caller: scopes and restricted content apply exactly as
//!    in the caller's own searches;
//! 4. `finder::prerank` ranks the providers from those rows (and, for a name, the providers'
//!    names from the index);
//! 5. the page's providers are described from their bodies, read by id ([`describe`]:
//!    networks, sites, new-patient status, through `finder::assemble`); when new patients or
//!    languages are asked, which only the bodies tell, every candidate is, and ranked again;
//! 6. the page is a `searchset` Bundle ([`response`]) with `_offset` paging links, and each
//!    network's "last imported" date and stale flag.
//!
//! The ranking is computed over every qualifying provider on each request, so pages are
//! consistent with each other while the data does not change (the order is total).

mod definition;
mod describe;
mod gather;
mod networks;
mod response;

use std::collections::BTreeSet;

use fhir::{BundleBuilder, IssueSeverity, IssueType};
use finder::{Criteria, FindQuery};
use serde_json::Value;

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
    let rows = match &networks {
        Some(n) if n.is_empty() => Vec::new(),
        n => gather::candidate_rows(ctx, &conf, &query, n.as_ref()).await?,
    };
    // A name ranks by the providers' names: read every candidate's from the index.
    let names = match query.name {
        Some(_) => Some(gather::names(ctx, &rows).await?),
        None => None,
    };
    let (ranked, roles_of) = finder::prerank(&query, &rows, names.as_ref());
    let facts = describe::RowFacts::of(&rows);
    // New patients and languages are read from the bodies, so then every candidate is
    // described and ranked again from what qualified; otherwise only the page is described.
    let on_bodies = query.accepting_new_patients == Some(true) || !query.languages.is_empty();
    let (start, end) = page_bounds(&query, ranked.len());
    let to_describe = if on_bodies {
        &ranked[..]
    } else {
        &ranked[start..end]
    };
    // The name was decided by `prerank` from the name index; the bodies are not asked again.
    let unnamed = FindQuery {
        name: None,
        ..query.clone()
    };
    let mut described = describe::describe(
        ctx,
        &conf,
        &unnamed,
        networks.as_ref(),
        &facts,
        &roles_of,
        to_describe,
    )
    .await?;
    for r in &ranked {
        if let Some(f) = described.found.get_mut(&r.candidate.provider_ref) {
            f.name_match = r.candidate.name_match;
        }
    }
    let ranked = if on_bodies {
        let candidates = ranked
            .iter()
            .filter_map(|r| {
                let mut c = described.found.get(&r.candidate.provider_ref)?.candidate();
                c.name_match = r.candidate.name_match;
                Some(c)
            })
            .collect();
        finder::rank(candidates, &Criteria::of(&query), query.sort)
    } else {
        ranked
    };
    let (start, end) = page_bounds(&query, ranked.len());
    let page = &ranked[start..end];
    let page_networks: BTreeSet<String> = page
        .iter()
        .filter_map(|r| described.found.get(&r.candidate.provider_ref))
        .flat_map(|f| f.networks.keys().cloned())
        .collect();
    let freshness = networks::freshness(ctx, &page_networks).await?;

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
    let total = ranked.len();
    let mut bundle = BundleBuilder::new("searchset")
        .total(Some(total as u64))
        .timestamp(fhir::meta::format_instant(chrono::Utc::now()))
        .link("self", link(query.offset as usize))
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
    for e in response::entries(&tenant_base, page, &described, &freshness)? {
        bundle.entry(e);
    }
    Ok(bundle.to_json_string())
}

/// `[start, end)` of the page `query` asks for among `n` results.
fn page_bounds(query: &FindQuery, n: usize) -> (usize, usize) {
    let start = (query.offset as usize).min(n);
    (start, start.saturating_add(query.count as usize).min(n))
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
