//! What `$find-providers` reads: the candidate rows from the index
//! ([`store::Store::find_roles`], the query's criteria parsed as this server's search
//! criteria of the role and provider types), and the bodies of the resources a page shows,
//! read by id through the search path. Both run as the caller, so scopes and restricted
//! content apply exactly as in a search the caller made.

use std::collections::{BTreeMap, BTreeSet};

use finder::{FindQuery, ProviderType, RoleSite, SpecialtyWanted, NUCC_SYSTEM};
use search::{Filter, SearchLimits, SearchQuery};
use serde_json::Value;

use crate::auth::access::Interaction;
use crate::ctx::RequestCtx;
use crate::error::{Error, Result};
use crate::tenant_conformance::TenantConformance;

/// Most candidate rows one kind of role may give: a query this wide is not a "near me"
/// question, and is refused (400, `too-costly`) rather than answered from an arbitrary part.
pub(crate) const MAX_ROWS: usize = 20_000;
/// Ids read per body search (the search grammar's limit of values per criterion).
const IDS_PER_SEARCH: usize = search::query::MAX_VALUES_PER_CRITERION;
/// The store's box is a little wider than the circle; `finder::prerank` measures exactly.
const BOX_MARGIN: f64 = 1.02;

/// The kinds of role searched: practitioners through PractitionerRole, facilities and
/// pharmacies through OrganizationAffiliation.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Practitioner,
    Facility { pharmacy_only: bool },
}

impl Kind {
    fn role_type(self) -> &'static str {
        match self {
            Kind::Practitioner => "PractitionerRole",
            Kind::Facility { .. } => "OrganizationAffiliation",
        }
    }

    /// The reference parameter from the role to its provider.
    fn provider_param(self) -> &'static str {
        match self {
            Kind::Practitioner => "practitioner",
            Kind::Facility { .. } => "participating-organization",
        }
    }

    fn provider_type(self) -> &'static str {
        match self {
            Kind::Practitioner => "Practitioner",
            Kind::Facility { .. } => "Organization",
        }
    }

    /// Every resource type the searches read (each needs the caller's search access).
    fn types(self) -> &'static [&'static str] {
        match self {
            Kind::Practitioner => &["PractitionerRole", "Practitioner", "Location"],
            Kind::Facility { .. } => &[
                "OrganizationAffiliation",
                "Organization",
                "Location",
                "HealthcareService",
            ],
        }
    }
}

fn kinds(query: &FindQuery) -> Vec<Kind> {
    match query.provider_type {
        None => vec![
            Kind::Practitioner,
            Kind::Facility {
                pharmacy_only: false,
            },
        ],
        Some(ProviderType::Individual) => vec![Kind::Practitioner],
        Some(ProviderType::Facility) => vec![Kind::Facility {
            pharmacy_only: false,
        }],
        Some(ProviderType::Pharmacy) => vec![Kind::Facility {
            pharmacy_only: true,
        }],
    }
}

/// Refuses a caller who may not search every type the query reads (as a chained search
/// would be refused).
pub(crate) fn authorize(ctx: &RequestCtx, query: &FindQuery) -> Result<()> {
    for kind in kinds(query) {
        for t in kind.types() {
            ctx.authorize(t, Interaction::Search)?;
        }
    }
    if !query.networks.is_empty() {
        ctx.authorize("Organization", Interaction::Search)?;
    }
    if !query.plans.is_empty() {
        ctx.authorize("InsurancePlan", Interaction::Search)?;
    }
    Ok(())
}

/// The candidate rows of `query` within `networks` (`None`: any network); a 400 when a
/// kind gives more than [`MAX_ROWS`].
pub(crate) async fn candidate_rows(
    ctx: &RequestCtx,
    conf: &TenantConformance,
    query: &FindQuery,
    networks: Option<&BTreeSet<String>>,
) -> Result<Vec<RoleSite>> {
    let mut out = Vec::new();
    for kind in kinds(query) {
        let (role_type, provider_type) = (kind.role_type(), kind.provider_type());
        // The most selective criterion first: each is a lookup per row, tested in order.
        let mut role_pairs = Vec::new();
        if let Some(networks) = networks {
            let list: Vec<String> = networks.iter().map(|n| search::text::escape(n)).collect();
            role_pairs.push(pair("network", &list.join(",")));
        }
        // Not marked inactive (a role without `active` counts as active, as in
        // `finder::assemble`): the few inactive roles make a small anti-join, where
        // `active=true` would have the database gather every active role first.
        role_pairs.push(pair("active:not", "false"));
        if kind
            == (Kind::Facility {
                pharmacy_only: true,
            })
        {
            role_pairs.push(pair("role", finder::plan_net::PHARMACY_ROLE));
        }
        let role_filters = filters(conf, role_type, role_pairs)?;
        let (specialty, qualification) = match &query.specialty {
            None => (None, None),
            Some(wanted) => {
                let (modifier, value) = match wanted {
                    SpecialtyWanted::Code(code) => ("", format!("{NUCC_SYSTEM}|{code}")),
                    SpecialtyWanted::Text(text) => (":text", search::text::escape(text)),
                };
                let role = one(
                    conf,
                    role_type,
                    pair(&format!("specialty{modifier}"), &value),
                )?;
                // Practitioners also match through their qualification (ranked lower).
                let qualification = (kind == Kind::Practitioner)
                    .then(|| {
                        let name = format!("qualification-code{modifier}");
                        one(conf, provider_type, pair(&name, &value))
                    })
                    .transpose()?;
                (Some(role), qualification)
            }
        };
        let provider_all = filters(conf, provider_type, vec![pair("active:not", "false")])?;
        let provider_any = name_filters(conf, provider_type, query)?;
        let area = query
            .centre
            .as_ref()
            .map(|c| finder::bbox((c.lat, c.lon), query.radius_miles * BOX_MARGIN));
        let q = store::RoleQuery {
            role_type,
            provider_type,
            provider_param: kind.provider_param(),
            location_param: "location",
            role_filters: &role_filters,
            specialty: specialty.as_ref(),
            qualification: qualification.as_ref(),
            provider_all: &provider_all,
            provider_any: &provider_any,
            area,
            limit: MAX_ROWS + 1,
        };
        let rows = ctx.app().store.find_roles(ctx.scope(), &q).await?;
        if rows.len() > MAX_ROWS {
            return Err(Error::bad_request(
                fhir::IssueType::TooCostly,
                format!(
                    "more than {MAX_ROWS} {role_type} resources match this request: narrow it \
                     (a centre and radius, a network, a specialty, a name)"
                ),
            ));
        }
        out.extend(rows.into_iter().map(|r| {
            RoleSite {
                role: format!("{role_type}/{}", r.role_id),
                provider: r.provider,
                site: r
                    .site
                    .map(|(id, lat, lon)| (format!("Location/{id}"), (lat, lon))),
                role_specialty: r.role_specialty,
            }
        }));
    }
    Ok(out)
}

fn pair(name: &str, value: &str) -> (String, String) {
    (name.to_owned(), value.to_owned())
}

/// `pairs` parsed as criteria of `rtype` with the tenant's parameters. A tenant without the
/// Plan-Net parameters would have a criterion dropped silently: that is a 501.
fn filters(
    conf: &TenantConformance,
    rtype: &str,
    pairs: Vec<(String, String)>,
) -> Result<Vec<Filter>> {
    let query = SearchQuery::parse(rtype, &pairs, &conf.registry).map_err(Error::from)?;
    query.require_all_understood().map_err(|e| {
        Error::not_implemented(format!(
            "$find-providers needs the Plan-Net search parameters in this tenant: {e}"
        ))
    })?;
    Ok(query.criteria.into_iter().map(|c| c.filter).collect())
}

fn one(conf: &TenantConformance, rtype: &str, p: (String, String)) -> Result<Filter> {
    filters(conf, rtype, vec![p])?
        .pop()
        .ok_or_else(|| Error::internal("a criterion parsed to nothing"))
}

/// The ways a provider may be found by its name's longest word: a name part beginning with
/// its first three letters (exact, prefix and similar spellings), or by Soundex (phonetic);
/// `finder::prerank` then rates every word of the name.
fn name_filters(
    conf: &TenantConformance,
    provider_type: &str,
    query: &FindQuery,
) -> Result<Vec<Filter>> {
    let Some(name) = &query.name else {
        return Ok(Vec::new());
    };
    let normalized = finder::normalize_name(name);
    let Some(word) = normalized.split(' ').max_by_key(|w| w.chars().count()) else {
        return Ok(Vec::new());
    };
    // A name part beginning with the word (exact and prefix matches) or, for a longer word,
    // with its first three letters, which also finds misspellings after them (`Smiht`,
    // `Smitz`) and includes the former. A name part's prefix is a range of the name index,
    // where `:contains` would read every name.
    let chars: Vec<char> = word.chars().collect();
    let prefix: String = chars.iter().take(3).collect();
    Ok(vec![
        one(
            conf,
            provider_type,
            pair("name", &search::text::escape(&prefix)),
        )?,
        one(
            conf,
            provider_type,
            pair("phonetic", &search::text::escape(word)),
        )?,
    ])
}

/// The bodies of `keys` (`Type/id`) as the caller may see them, read by id through the
/// search path; ids it may not see are simply absent.
pub(crate) async fn bodies(
    ctx: &RequestCtx,
    conf: &TenantConformance,
    keys: impl IntoIterator<Item = String>,
    into: &mut finder::Resources,
) -> Result<()> {
    let mut by_type: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for key in keys {
        if into.contains_key(&key) {
            continue;
        }
        if let Some((t, id)) = key.split_once('/') {
            by_type.entry(t.to_owned()).or_default().push(id.to_owned());
        }
    }
    for (rtype, mut ids) in by_type {
        ids.sort();
        ids.dedup();
        for chunk in ids.chunks(IDS_PER_SEARCH) {
            let list: Vec<String> = chunk.iter().map(|i| search::text::escape(i)).collect();
            let pairs = vec![pair("_id", &list.join(","))];
            into.extend(search_bodies(ctx, conf, &rtype, &pairs, IDS_PER_SEARCH).await?);
        }
    }
    Ok(())
}

/// Every candidate provider's name words (the normalized values of its `name` index rows,
/// as the caller may see them), by `Type/id`.
pub(crate) async fn names(
    ctx: &RequestCtx,
    rows: &[RoleSite],
) -> Result<std::collections::HashMap<String, Vec<String>>> {
    let mut by_type: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for r in rows {
        if let Some((t, id)) = r.provider.split_once('/') {
            by_type.entry(t).or_default().insert(id);
        }
    }
    let mut words: std::collections::HashMap<String, Vec<String>> =
        std::collections::HashMap::new();
    for (rtype, ids) in by_type {
        let ids: Vec<&str> = ids.into_iter().collect();
        let values = ctx
            .app()
            .store
            .index_strings(ctx.scope(), rtype, "name", &ids)
            .await?;
        for (id, value) in values {
            words
                .entry(format!("{rtype}/{id}"))
                .or_default()
                .push(value);
        }
    }
    // One name of all the words: every wanted word may be found in any part.
    Ok(words
        .into_iter()
        .map(|(k, v)| (k, vec![v.join(" ")]))
        .collect())
}

/// The first `limit` matches of `rtype?pairs` as the caller may see them, parsed, by
/// `Type/id`.
pub(crate) async fn search_bodies(
    ctx: &RequestCtx,
    conf: &TenantConformance,
    rtype: &str,
    pairs: &[(String, String)],
    limit: usize,
) -> Result<Vec<(String, Value)>> {
    // A type the caller may not read is left out, as search leaves out such includes.
    if !ctx.may(rtype, Interaction::Read) {
        return Ok(Vec::new());
    }
    let limit = u32::try_from(limit).unwrap_or(u32::MAX);
    let limits = SearchLimits {
        default_count: limit,
        max_count: limit,
    };
    let query = SearchQuery::parse_with_limits(rtype, pairs, &conf.registry, limits)
        .map_err(Error::from)?;
    let page = ctx
        .app()
        .store
        .search(ctx.scope(), &query, &conf.registry, None)
        .await?;
    page.matches
        .into_iter()
        .map(|r| {
            let key = format!("{}/{}", r.resource_type, r.id);
            let body = serde_json::from_str(r.body.as_deref().unwrap_or("null"))
                .map_err(|e| Error::internal(format!("stored body of {key} is not JSON: {e}")))?;
            Ok((key, body))
        })
        .collect()
}
