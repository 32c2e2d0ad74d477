//! Search (<https://hl7.org/fhir/R4/search.html>): parse the query, run it in the store, and
//! build the `searchset` Bundle with absolute paging links.

use std::collections::BTreeMap;

use fhir::shape::{select_elements, summarize, SummaryMode};
use fhir::{BundleBuilder, BundleEntry, IssueSeverity, IssueType, OperationOutcome};
use search::{Filter, SearchLimits, SearchQuery, Summary};
use serde_json::{json, Value};
use store::VersionRecord;

use crate::auth::access::Interaction;
use crate::ctx::RequestCtx;
use crate::error::{Error, Result};
use crate::request::Prefer;

/// Parameters the server handles itself and never passes to the query parser.
const CURSOR: &str = "_cursor";

/// Runs a type-level search and returns the Bundle as JSON text.
pub async fn search(
    ctx: &RequestCtx,
    rtype: &str,
    mut pairs: Vec<(String, String)>,
    prefer: Prefer,
) -> Result<String> {
    if rtype == crate::audit::AUDIT_EVENT {
        return crate::audit::search(ctx, pairs, prefer).await;
    }
    if rtype == "Basic" {
        if let Some(topics) = crate::subscriptions::topic_search(ctx, &pairs) {
            return topics;
        }
    }
    ctx.authorize(rtype, Interaction::Search)?;
    let (app, tenant) = (ctx.app(), ctx.tenant());
    let token = pairs
        .iter()
        .rev()
        .find(|(k, _)| k == CURSOR)
        .map(|(_, v)| v.clone());
    pairs.retain(|(k, _)| k != CURSOR && k != "_format" && k != "_pretty");

    let limits = SearchLimits {
        default_count: app.settings.default_count,
        max_count: app.settings.max_count,
    };
    let conf = app.conformance(tenant).await?;
    let query = SearchQuery::parse_with_limits(rtype, &pairs, &conf.registry, limits)
        .map_err(Error::from)?;
    for c in &query.criteria {
        authorize_filter(ctx, &c.filter)?;
    }
    if prefer.strict {
        query
            .require_all_understood()
            .map_err(|e| Error::bad_request(IssueType::NotSupported, e.to_string()))?;
    }
    let canonical = query.canonical_query();
    let cursor = token
        .as_deref()
        .map(|t| {
            let payload = app.cursors.open(t, tenant, rtype, &canonical)?;
            store::PageCursor::decode(&payload)
                .map_err(|_| Error::invalid("the paging cursor is not valid here"))
        })
        .transpose()?;

    let page = app
        .store
        .search(ctx.scope(), &query, &conf.registry, cursor.as_ref())
        .await?;

    let base = app.tenant_base(tenant);
    let link = |token: Option<String>| match token {
        Some(t) => format!("{base}/{rtype}?{canonical}&{CURSOR}={t}"),
        None => format!("{base}/{rtype}?{canonical}"),
    };
    let seal = |c: &store::PageCursor| app.cursors.seal(tenant, rtype, &canonical, &c.encode());
    let mut bundle = BundleBuilder::new("searchset")
        .total(page.total)
        .timestamp(fhir::meta::format_instant(chrono::Utc::now()))
        .link("self", link(token.clone()))
        .link("first", link(None));
    if let Some(prev) = &page.previous {
        bundle = bundle.link("previous", link(Some(seal(prev))));
    }
    if let Some(next) = &page.next {
        bundle = bundle.link("next", link(Some(seal(next))));
    }
    // Included resources of types the caller may not read are left out, and said so
    // (SMART scopes apply to `_include`/`_revinclude` targets as to reads).
    let mut withheld = BTreeMap::<String, usize>::new();
    for r in &page.included {
        if !ctx.may(&r.resource_type, Interaction::Read) {
            *withheld.entry(r.resource_type.clone()).or_default() += 1;
        }
    }
    let outcome = search_outcome(&query, &conf.pending, &conf.registry, &withheld);
    if query.summary == Some(Summary::Count) {
        if let Some(outcome) = outcome {
            bundle.entry(outcome);
        }
        return Ok(bundle.to_json_string());
    }
    // The page's records are consumed: their stored bodies move into the Bundle uncopied.
    for r in page.matches {
        bundle.entry(entry(&base, r, &query, "match")?);
    }
    for r in page.included {
        if !withheld.contains_key(&r.resource_type) {
            bundle.entry(entry(&base, r, &query, "include")?);
        }
    }
    if let Some(outcome) = outcome {
        bundle.entry(outcome);
    }
    Ok(bundle.to_json_string())
}

/// Chains and `_has` search other types: each needs search access to those too, or the
/// criterion would tell the caller what it may not search (which Practitioners are named X).
pub(crate) fn authorize_filter(ctx: &RequestCtx, filter: &Filter) -> Result<()> {
    match filter {
        Filter::Param { .. } => Ok(()),
        Filter::Chain { targets, .. } => targets.iter().try_for_each(|t| {
            ctx.authorize(&t.resource_type, Interaction::Search)?;
            authorize_filter(ctx, &t.filter)
        }),
        Filter::Has {
            source_type,
            filter,
            ..
        } => {
            ctx.authorize(source_type, Interaction::Search)?;
            authorize_filter(ctx, filter)
        }
    }
}

/// One Bundle entry, subsetted when `_summary`/`_elements` ask for it.
fn entry(base: &str, r: VersionRecord, query: &SearchQuery, mode: &str) -> Result<BundleEntry> {
    let full_url = format!("{base}/{}/{}", r.resource_type, r.id);
    let body = r.body.unwrap_or_default();
    let mode_summary = match query.summary {
        Some(Summary::True) => Some(SummaryMode::True),
        Some(Summary::Text) => Some(SummaryMode::Text),
        Some(Summary::Data) => Some(SummaryMode::Data),
        _ => None,
    };
    // Only a subsetting request pays for parsing the stored body; the default path embeds
    // the stored bytes as they are.
    let body = if mode_summary.is_some() || !query.elements.is_empty() {
        let mut v: serde_json::Map<String, Value> = serde_json::from_str(&body)
            .map_err(|e| Error::internal(format!("stored body of {full_url} is not JSON: {e}")))?;
        match mode_summary {
            Some(m) => summarize(&mut v, m),
            None => select_elements(&mut v, &query.elements),
        }
        Value::Object(v).to_string()
    } else {
        body
    };
    let resource = serde_json::value::RawValue::from_string(body)
        .map_err(|e| Error::internal(format!("stored body of {full_url} is not JSON: {e}")))?;
    Ok(BundleEntry {
        full_url: Some(full_url),
        resource: Some(resource),
        request: None,
        response: None,
        search: Some(json!({ "mode": mode })),
    })
}

/// The `search.mode = outcome` entry, when there is something to say: parameters that were
/// ignored (lenient handling), and parameters whose reindex has not finished, so that matches
/// or included resources may be missing (`pending`: parameter URL -> reindex job id).
fn search_outcome(
    query: &SearchQuery,
    pending: &BTreeMap<String, String>,
    registry: &conformance::Registry,
    withheld: &BTreeMap<String, usize>,
) -> Option<BundleEntry> {
    let mut oo = OperationOutcome::default();
    for (rtype, n) in withheld {
        oo.push(
            IssueSeverity::Warning,
            IssueType::Suppressed,
            format!(
                "{n} included {rtype} resource(s) left out: the access token's scopes do not \
                 allow reading {rtype}"
            ),
        );
    }
    for u in &query.unknown {
        oo.push(
            IssueSeverity::Warning,
            IssueType::NotSupported,
            format!("parameter {:?} was ignored: {}", u.name, u.reason),
        );
    }
    if let Some(job) = pending.get(search::INDEX_FORMAT_URL) {
        oo.push(
            IssueSeverity::Warning,
            IssueType::Incomplete,
            format!(
                "the tenant's search index is being rebuilt for this version of fhirdir (job \
                 {job}): results may be incomplete until the reindex finishes"
            ),
        );
    } else if !pending.is_empty() {
        let mut used = BTreeMap::new();
        for c in &query.criteria {
            params_of(&c.filter, &mut used);
        }
        for k in &query.sort {
            used.insert(k.param.url.clone(), k.param.code.clone());
        }
        for inc in query.include.iter().chain(&query.revinclude) {
            include_params(inc, pending, registry, &mut used);
        }
        for (url, code) in used {
            if let Some(job) = pending.get(&url) {
                oo.push(
                    IssueSeverity::Warning,
                    IssueType::Incomplete,
                    format!(
                        "search parameter {code:?} ({url}) is being reindexed (job {job}): \
                         results may be incomplete until the reindex finishes"
                    ),
                );
            }
        }
    }
    if oo.issues.is_empty() {
        return None;
    }
    Some(BundleEntry {
        full_url: None,
        resource: serde_json::value::RawValue::from_string(oo.to_json().to_string()).ok(),
        request: None,
        response: None,
        search: Some(json!({ "mode": "outcome" })),
    })
}

/// The reference parameters an `_include` / `_revinclude` follows (url -> code): its own, or
/// for `*` every pending reference parameter of the source type (of any type for a bare `*`),
/// since an unfinished reindex of any of them may leave included resources out.
fn include_params(
    inc: &search::Include,
    pending: &BTreeMap<String, String>,
    registry: &conformance::Registry,
    out: &mut BTreeMap<String, String>,
) {
    if let Some(p) = &inc.param {
        out.insert(p.url.clone(), p.code.clone());
        return;
    }
    for url in pending.keys() {
        let Some(p) = registry.by_url(url) else {
            continue;
        };
        let applies = inc.source_type.as_ref().is_none_or(|t| {
            p.base
                .iter()
                .any(|b| b == t || b == "Resource" || b == "DomainResource")
        });
        if p.kind == conformance::SearchParamType::Reference && applies {
            out.insert(p.url.clone(), p.code.clone());
        }
    }
}

/// Every parameter a filter uses (url -> code), chains and `_has` included.
fn params_of(filter: &Filter, out: &mut BTreeMap<String, String>) {
    match filter {
        Filter::Param { param, .. } => {
            out.insert(param.url.clone(), param.code.clone());
        }
        Filter::Chain { param, targets } => {
            out.insert(param.url.clone(), param.code.clone());
            for t in targets {
                params_of(&t.filter, out);
            }
        }
        Filter::Has {
            reference, filter, ..
        } => {
            out.insert(reference.url.clone(), reference.code.clone());
            params_of(filter, out);
        }
    }
}
