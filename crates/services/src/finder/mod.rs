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

use std::collections::{BTreeMap, BTreeSet, HashMap};

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
    let (rows, truncated) = match &networks {
        Some(n) if n.is_empty() => (Vec::new(), false),
        n => gather::candidate_rows(ctx, &conf, &query, n.as_ref()).await?,
    };
    let mut resources = finder::Resources::new();
    // A name ranks by the providers' names: read every candidate's from the index.
    let names = match query.name {
        Some(_) => Some(gather::names(ctx, &rows).await?),
        None => None,
    };
    let (pre, roles_of) = finder::prerank(&query, &rows, names.as_ref());
    let role_specialty: HashMap<&str, bool> = rows
        .iter()
        .map(|r| (r.role.as_str(), r.role_specialty))
        .fold(HashMap::new(), |mut m, (k, v)| {
            *m.entry(k).or_insert(false) |= v;
            m
        });
    let sites_of: HashMap<&str, Vec<&str>> =
        rows.iter()
            .fold(HashMap::new(), |mut m: HashMap<&str, Vec<&str>>, r| {
                if let Some((site, _)) = &r.site {
                    m.entry(r.role.as_str()).or_default().push(site.as_str());
                }
                m
            });
    // New patients and languages are read from the bodies, so every candidate is described
    // before ranking; otherwise only the page is.
    let filters_on_bodies =
        query.accepting_new_patients == Some(true) || !query.languages.is_empty();
    let (start, end) = page_bounds(&query, pre.len());
    let described: Vec<&finder::Ranked> = if filters_on_bodies {
        pre.iter().collect()
    } else {
        pre[start..end].iter().collect()
    };
    let wanted_roles: Vec<String> = described
        .iter()
        .flat_map(|r| {
            roles_of
                .get(&r.candidate.provider_ref)
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    let providers: Vec<String> = described
        .iter()
        .map(|r| r.candidate.provider_ref.clone())
        .collect();
    gather::bodies(
        ctx,
        &conf,
        wanted_roles.iter().cloned().chain(providers),
        &mut resources,
    )
    .await?;
    // The roles' sites (in the area, with a centre; all of them without) and services.
    let mut more = Vec::new();
    for role in &wanted_roles {
        match (&query.centre, resources.get(role)) {
            (Some(_), _) => more.extend(
                sites_of
                    .get(role.as_str())
                    .into_iter()
                    .flatten()
                    .map(|s| (*s).to_owned()),
            ),
            (None, Some(body)) => more.extend(
                finder::plan_net::locations_of(body)
                    .into_iter()
                    .map(|c| c.reference),
            ),
            (None, None) => {}
        }
        if let Some(body) = resources.get(role) {
            more.extend(
                finder::plan_net::services_of(body)
                    .into_iter()
                    .map(|c| c.reference),
            );
        }
    }
    gather::bodies(ctx, &conf, more, &mut resources).await?;
    let hits: Vec<finder::RoleHit> = wanted_roles
        .iter()
        .filter_map(|key| {
            let role = resources.get(key)?.clone();
            let specialty = query.specialty.as_ref().map(|_| {
                if role_specialty.get(key.as_str()).copied().unwrap_or(false) {
                    finder::SpecialtyMatch::Role
                } else {
                    finder::SpecialtyMatch::Qualification
                }
            });
            Some(finder::RoleHit { role, specialty })
        })
        .collect();
    let found = finder::assemble(&query, networks.as_ref(), &hits, &resources);
    let found: BTreeMap<String, finder::Found> =
        found.into_iter().map(|f| (f.provider.clone(), f)).collect();
    // Described in full, the candidates are ranked again from what qualified.
    let (ranked, start, end) = if filters_on_bodies {
        let mut candidates: Vec<finder::Candidate> = Vec::new();
        for r in &pre {
            if let Some(f) = found.get(&r.candidate.provider_ref) {
                let mut c = f.candidate();
                c.name_match = r.candidate.name_match;
                candidates.push(c);
            }
        }
        let ranked = finder::rank(candidates, &Criteria::of(&query), query.sort);
        let (start, end) = page_bounds(&query, ranked.len());
        (ranked, start, end)
    } else {
        (pre, start, end)
    };
    let total = ranked.len();
    let page = &ranked[start..end];

    let page_networks: BTreeSet<String> = page
        .iter()
        .filter_map(|r| found.get(&r.candidate.provider_ref))
        .flat_map(|f| f.networks.keys().cloned())
        .collect();
    let freshness = networks::freshness(ctx, &page_networks).await?;
    let roles: BTreeMap<String, &Value> = wanted_roles
        .iter()
        .filter_map(|k| Some((k.clone(), resources.get(k)?)))
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
    for e in response::entries(&tenant_base, page, &found, &roles, &resources, &freshness)? {
        bundle.entry(e);
    }
    if truncated {
        let mut oo = OperationOutcome::default();
        oo.push(
            IssueSeverity::Warning,
            IssueType::TooCostly,
            format!(
                "more than {} roles of one kind matched this request; the providers found are \
                 from the first {} of them: narrow the search (a centre and radius, a \
                 network, a specialty)",
                gather::MAX_ROWS,
                gather::MAX_ROWS
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
