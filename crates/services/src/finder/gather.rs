//! The searches behind `$find-providers`: the query turned into ordinary FHIR searches of
//! this server (PractitionerRole for practitioners, OrganizationAffiliation for facilities and
//! pharmacies) with `_include`s of the providers, sites and services. They run through the
//! one search path, as the caller, so scopes and restricted content apply exactly as in a
//! search the caller made; `finder::assemble` then decides.

use std::collections::{BTreeSet, HashMap};

use finder::{FindQuery, ProviderType, RoleHit, SpecialtyMatch, SpecialtyWanted, NUCC_SYSTEM};
use search::{SearchLimits, SearchQuery};
use serde_json::Value;
use store::VersionRecord;

use crate::auth::access::Interaction;
use crate::ctx::RequestCtx;
use crate::error::{Error, Result};
use crate::tenant_conformance::TenantConformance;

/// Roles read per store page.
const PAGE: u32 = 1000;
/// Most roles one search may contribute: past this the answer is built from the first ones
/// and says so (a query this wide is not a "near me" question).
pub(crate) const MAX_ROLES_PER_SEARCH: usize = 5000;
/// The store's `near` uses a flat-Earth box (within about 1% of the great-circle distance);
/// it is asked a little wider and `finder::assemble` measures exactly.
const NEAR_MARGIN: f64 = 1.02;

/// What the searches found.
#[derive(Default)]
pub(crate) struct Gathered {
    pub roles: Vec<RoleHit>,
    pub resources: finder::Resources,
    /// Some search stopped at [`MAX_ROLES_PER_SEARCH`].
    pub truncated: bool,
}

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

    /// The reference parameter from the role to its provider, for chains.
    fn provider_param(self) -> &'static str {
        match self {
            Kind::Practitioner => "practitioner",
            Kind::Facility { .. } => "participating-organization",
        }
    }

    fn includes(self) -> &'static [&'static str] {
        match self {
            Kind::Practitioner => &["PractitionerRole:practitioner", "PractitionerRole:location"],
            Kind::Facility { .. } => &[
                "OrganizationAffiliation:participating-organization",
                "OrganizationAffiliation:location",
                "OrganizationAffiliation:service",
            ],
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

/// Runs the searches for `query` within `networks` (`None`: any network).
pub(crate) async fn gather(
    ctx: &RequestCtx,
    conf: &TenantConformance,
    query: &FindQuery,
    networks: Option<&BTreeSet<String>>,
) -> Result<Gathered> {
    let mut out = Gathered::default();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for kind in kinds(query) {
        let base = base_pairs(kind, query, networks);
        for (specialty, specialty_pair) in specialty_variants(kind, query) {
            for name_pair in name_variants(kind, query) {
                let mut pairs = base.clone();
                pairs.extend(specialty_pair.clone());
                pairs.extend(name_pair);
                let (roles, included, truncated) =
                    search_all(ctx, conf, kind.role_type(), pairs).await?;
                out.truncated |= truncated;
                for r in included {
                    let key = format!("{}/{}", r.resource_type, r.id);
                    if !out.resources.contains_key(&key) {
                        out.resources.insert(key, parse(&r)?);
                    }
                }
                for r in roles {
                    let key = format!("{}/{}", r.resource_type, r.id);
                    match seen.get(&key) {
                        // Found again: keep the better specialty match.
                        Some(&i) => {
                            if specialty == Some(SpecialtyMatch::Role) {
                                out.roles[i].specialty = specialty;
                            }
                        }
                        None => {
                            seen.insert(key, out.roles.len());
                            out.roles.push(RoleHit {
                                role: parse(&r)?,
                                specialty,
                            });
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

fn parse(r: &VersionRecord) -> Result<Value> {
    serde_json::from_str(r.body.as_deref().unwrap_or("null")).map_err(|e| {
        Error::internal(format!(
            "stored body of {}/{} is not JSON: {e}",
            r.resource_type, r.id
        ))
    })
}

/// The criteria every search of `kind` shares.
fn base_pairs(
    kind: Kind,
    query: &FindQuery,
    networks: Option<&BTreeSet<String>>,
) -> Vec<(String, String)> {
    let mut pairs = vec![("active".to_owned(), "true".to_owned())];
    if let Some(networks) = networks {
        let list: Vec<String> = networks.iter().map(|n| search::text::escape(n)).collect();
        pairs.push(("network".to_owned(), list.join(",")));
    }
    if let Some(c) = &query.centre {
        let radius = query.radius_miles * NEAR_MARGIN;
        pairs.push((
            "location.near".to_owned(),
            format!("{}|{}|{radius}|mi", c.lat, c.lon),
        ));
    }
    // `accepting-new-patients` is decided by `finder::assemble` alone: the registry's
    // `new-patient` parameter is NDH's (its `base-ext-newpatients` extension), which
    // Plan-Net's `newpatients` extension does not feed.
    if kind
        == (Kind::Facility {
            pharmacy_only: true,
        })
    {
        pairs.push((
            "role".to_owned(),
            finder::plan_net::PHARMACY_ROLE.to_owned(),
        ));
    }
    for inc in kind.includes() {
        pairs.push(("_include".to_owned(), (*inc).to_owned()));
    }
    pairs.push(("_count".to_owned(), PAGE.to_string()));
    pairs
}

/// One search per way the specialty may match: through the role (the network's own
/// statement) and, for practitioners, through the practitioner's qualification.
fn specialty_variants(
    kind: Kind,
    query: &FindQuery,
) -> Vec<(Option<SpecialtyMatch>, Vec<(String, String)>)> {
    let Some(wanted) = &query.specialty else {
        return vec![(None, Vec::new())];
    };
    let (modifier, value) = match wanted {
        SpecialtyWanted::Code(code) => ("", format!("{NUCC_SYSTEM}|{code}")),
        SpecialtyWanted::Text(text) => (":text", search::text::escape(text)),
    };
    let mut out = vec![(
        Some(SpecialtyMatch::Role),
        vec![(format!("specialty{modifier}"), value.clone())],
    )];
    if kind == Kind::Practitioner {
        out.push((
            Some(SpecialtyMatch::Qualification),
            vec![(format!("practitioner.qualification-code{modifier}"), value)],
        ));
    }
    out
}

/// One search per way a name may be found, on its longest word: as a prefix of a name part
/// (exact and prefix matches), by Soundex (phonetic), and by any of its trigrams (similar
/// spellings); `finder::assemble` then rates every word of it.
fn name_variants(kind: Kind, query: &FindQuery) -> Vec<Vec<(String, String)>> {
    let Some(name) = &query.name else {
        return vec![Vec::new()];
    };
    let normalized = finder::normalize_name(name);
    let Some(word) = normalized.split(' ').max_by_key(|w| w.chars().count()) else {
        return vec![Vec::new()];
    };
    let chain = kind.provider_param();
    let chars: Vec<char> = word.chars().collect();
    let mut out = vec![
        vec![(format!("{chain}.name"), search::text::escape(word))],
        vec![(format!("{chain}.phonetic"), search::text::escape(word))],
    ];
    if chars.len() > 3 {
        let trigrams: BTreeSet<String> = chars.windows(3).map(|w| w.iter().collect()).collect();
        let list: Vec<String> = trigrams.iter().map(|t| search::text::escape(t)).collect();
        out.push(vec![(format!("{chain}.name:contains"), list.join(","))]);
    }
    out
}

/// Every page of one search, up to [`MAX_ROLES_PER_SEARCH`] matches: `(matches, included,
/// truncated)`.
async fn search_all(
    ctx: &RequestCtx,
    conf: &TenantConformance,
    rtype: &str,
    pairs: Vec<(String, String)>,
) -> Result<(Vec<VersionRecord>, Vec<VersionRecord>, bool)> {
    let limits = SearchLimits {
        default_count: PAGE,
        max_count: PAGE,
    };
    let query = SearchQuery::parse_with_limits(rtype, &pairs, &conf.registry, limits)
        .map_err(Error::from)?;
    // A tenant without the Plan-Net parameters would have a criterion silently dropped.
    query.require_all_understood().map_err(|e| {
        Error::not_implemented(format!(
            "$find-providers needs the Plan-Net search parameters in this tenant: {e}"
        ))
    })?;
    let store = &ctx.app().store;
    let (mut matches, mut included) = (Vec::new(), Vec::new());
    let mut cursor = None;
    loop {
        let page = store
            .search(ctx.scope(), &query, &conf.registry, cursor.as_ref())
            .await?;
        matches.extend(page.matches);
        included.extend(page.included);
        match page.next {
            Some(next) if matches.len() < MAX_ROLES_PER_SEARCH => cursor = Some(next),
            Some(_) => return Ok((matches, included, true)),
            None => return Ok((matches, included, false)),
        }
    }
}
