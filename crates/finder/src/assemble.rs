//! From the roles the store found to the providers `$find-providers` answers (issue 20,
//! "Filtering"): each role is checked against the whole query (networks, the radius measured
//! exactly, new patients per network, language, name) and the roles that qualify are grouped
//! by provider, with the provider's networks, sites and closest distance.
//!
//! The store's searches narrow the candidates (`network`, `location.near` over a slightly
//! wider box, `specialty`, the name's words); this is where the answer is decided, so that a
//! looser store pre-filter never widens it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use crate::distance::miles_between;
use crate::language::language_matches;
use crate::names::{name_match, NameMatch};
use crate::plan_net::{self, Cited};
use crate::query::FindQuery;
use crate::rank::{best_specialty, closer, Candidate, SpecialtyMatch};

/// A role the store found, with how it met `specialty` (`None` when none was asked).
#[derive(Debug, Clone)]
pub struct RoleHit {
    /// The PractitionerRole or OrganizationAffiliation.
    pub role: Value,
    pub specialty: Option<SpecialtyMatch>,
}

/// One site of a provider: a Location of a qualifying role.
#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    /// `Location/id`.
    pub location: String,
    /// Miles from the centre; `None` without a centre or a position.
    pub distance_miles: Option<f64>,
    /// Whether the role accepts new patients here (in this network, for a network's site).
    pub accepting: bool,
}

/// One network a provider qualifies through.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FoundNetwork {
    pub display: Option<String>,
    /// Sites by `Location/id`.
    pub sites: BTreeMap<String, Site>,
}

/// A provider that qualifies, with what the response says about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// `Practitioner/id` or `Organization/id`.
    pub provider: String,
    pub name_match: Option<NameMatch>,
    pub specialty_match: Option<SpecialtyMatch>,
    /// The closest qualifying site.
    pub distance_miles: Option<f64>,
    /// Networks by `Organization/id`: the requested ones it is in, or all of its roles'.
    pub networks: BTreeMap<String, FoundNetwork>,
    /// Its sites across those networks (and of roles with no network), each once.
    pub sites: BTreeMap<String, Site>,
    /// The qualifying roles (`Type/id`), for the Bundle's include entries.
    pub roles: BTreeSet<String>,
}

impl Found {
    /// The ranking's view of this provider.
    #[must_use]
    pub fn candidate(&self) -> Candidate {
        Candidate {
            provider_ref: self.provider.clone(),
            name_match: self.name_match,
            specialty_match: self.specialty_match,
            distance_miles: self.distance_miles,
        }
    }
}

/// Resources the roles point at, by `Type/id` (providers, locations, services), as the
/// caller may see them.
pub type Resources = HashMap<String, Value>;

/// The providers that qualify through `roles`, in no particular order. `networks` are the
/// requested networks (a plan already turned into its networks), `None` for any.
#[must_use]
pub fn assemble(
    query: &FindQuery,
    networks: Option<&BTreeSet<String>>,
    roles: &[RoleHit],
    resources: &Resources,
) -> Vec<Found> {
    let mut by_provider: BTreeMap<String, Found> = BTreeMap::new();
    let mut names: HashMap<String, Option<NameMatch>> = HashMap::new();
    for hit in roles {
        let role = &hit.role;
        if plan_net::inactive(role) {
            continue;
        }
        let Some(provider) = plan_net::provider_of(role) else {
            continue;
        };
        // A provider the caller may not see (restricted, or deleted) is not found.
        let Some(provider_body) = resources.get(&provider.reference) else {
            continue;
        };
        if plan_net::inactive(provider_body) {
            continue;
        }
        let name = names
            .entry(provider.reference.clone())
            .or_insert_with(|| best_name(query, provider_body));
        if *name == Some(NameMatch::None) {
            continue;
        }
        let services: Vec<&Value> = plan_net::services_of(role)
            .iter()
            .filter_map(|s| resources.get(&s.reference))
            .collect();
        if !speaks(query, provider_body, &services) {
            continue;
        }
        let Some(sites) = sites(query, role, resources) else {
            continue;
        };
        let mut accepting = plan_net::accepting_new_patients(role);
        for s in &services {
            accepting.extend(plan_net::accepting_new_patients(s));
        }
        let role_networks: Vec<Cited> = plan_net::networks_of(role)
            .into_iter()
            .filter(|n| networks.is_none_or(|wanted| wanted.contains(&n.reference)))
            .collect();
        if networks.is_some() && role_networks.is_empty() {
            continue;
        }
        let only_accepting = query.accepting_new_patients == Some(true);
        let in_network = |network: Option<&str>| -> Vec<Site> {
            let accepts = plan_net::accepts_in(&accepting, network);
            if only_accepting && !accepts {
                return Vec::new();
            }
            sites
                .iter()
                .map(|(location, distance)| Site {
                    location: location.clone(),
                    distance_miles: *distance,
                    accepting: accepts,
                })
                .collect()
        };
        let mut qualified: Vec<(Option<&Cited>, Vec<Site>)> = Vec::new();
        if role_networks.is_empty() {
            qualified.push((None, in_network(None)));
        } else {
            for n in &role_networks {
                qualified.push((Some(n), in_network(Some(&n.reference))));
            }
        }
        // With `accepting-new-patients=true` a role qualifies only at sites where it accepts
        // (so a role with no visible site does not); otherwise a role with no visible site
        // still qualifies (without a centre), with no address to show.
        let qualifies = |s: &Vec<Site>| !s.is_empty() || (sites.is_empty() && !only_accepting);
        if !qualified.iter().any(|(_, s)| qualifies(s)) {
            continue;
        }
        let found = by_provider
            .entry(provider.reference.clone())
            .or_insert_with(|| Found {
                provider: provider.reference.clone(),
                name_match: *name,
                specialty_match: None,
                distance_miles: None,
                networks: BTreeMap::new(),
                sites: BTreeMap::new(),
                roles: BTreeSet::new(),
            });
        found.roles.insert(role_key(role));
        found.specialty_match = best_specialty(found.specialty_match, hit.specialty);
        for (network, network_sites) in qualified {
            if !qualifies(&network_sites) {
                continue;
            }
            if let Some(n) = network {
                let entry = found.networks.entry(n.reference.clone()).or_default();
                if entry.display.is_none() {
                    entry.display.clone_from(&n.display);
                }
                for site in &network_sites {
                    merge_site(&mut entry.sites, site);
                }
            }
            for site in &network_sites {
                found.distance_miles = closer(found.distance_miles, site.distance_miles);
                merge_site(&mut found.sites, site);
            }
        }
    }
    by_provider.into_values().collect()
}

/// Adds `site` to `sites`, accepting where any role accepts.
fn merge_site(sites: &mut BTreeMap<String, Site>, site: &Site) {
    sites
        .entry(site.location.clone())
        .and_modify(|s| s.accepting |= site.accepting)
        .or_insert_with(|| site.clone());
}

/// `Type/id` of a role.
fn role_key(role: &Value) -> String {
    format!(
        "{}/{}",
        role.get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or(""),
        role.get("id").and_then(Value::as_str).unwrap_or("")
    )
}

/// The provider's best name level (`None` when no name was asked).
fn best_name(query: &FindQuery, provider: &Value) -> Option<NameMatch> {
    let wanted = query.name.as_deref()?;
    Some(
        plan_net::names_of(provider)
            .iter()
            .map(|n| name_match(wanted, n))
            .min()
            .unwrap_or(NameMatch::None),
    )
}

/// Whether the provider (a Practitioner's `communication`) or one of the role's services
/// speaks a wanted language; true when none is asked.
fn speaks(query: &FindQuery, provider: &Value, services: &[&Value]) -> bool {
    if query.languages.is_empty() {
        return true;
    }
    let have: Vec<String> = std::iter::once(provider)
        .chain(services.iter().copied())
        .flat_map(plan_net::languages_of)
        .collect();
    query
        .languages
        .iter()
        .any(|w| have.iter().any(|h| language_matches(w, h)))
}

/// The role's sites within the area, with their distances: `None` when a centre was asked
/// and no site lies within the radius (the role does not qualify). Sites the caller may not
/// see are left out.
fn sites(
    query: &FindQuery,
    role: &Value,
    resources: &Resources,
) -> Option<Vec<(String, Option<f64>)>> {
    let mut out = Vec::new();
    for location in plan_net::locations_of(role) {
        let Some(body) = resources.get(&location.reference) else {
            continue;
        };
        match &query.centre {
            None => out.push((location.reference, None)),
            Some(c) => {
                let Some(position) = plan_net::position_of(body) else {
                    continue;
                };
                let d = miles_between((c.lat, c.lon), position);
                if d <= query.radius_miles {
                    out.push((location.reference, Some(d)));
                }
            }
        }
    }
    if query.centre.is_some() && out.is_empty() {
        return None;
    }
    Some(out)
}
