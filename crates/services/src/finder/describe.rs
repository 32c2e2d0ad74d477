//! Describing ranked providers: the bodies of their qualifying roles, the roles' sites and
//! services, read by id as the caller may see them, and `finder::assemble` over them (the
//! networks, sites, distances and new-patient status the response states).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use finder::{FindQuery, Found, Ranked, RoleHit, RoleSite, SpecialtyMatch};

use super::gather;
use crate::ctx::RequestCtx;
use crate::error::Result;
use crate::tenant_conformance::TenantConformance;

/// What the candidate rows say about each role.
pub(crate) struct RowFacts<'a> {
    /// The role itself has the specialty (on any of its rows).
    role_specialty: HashMap<&'a str, bool>,
    /// The role's sites in the area.
    sites: HashMap<&'a str, Vec<&'a str>>,
}

impl<'a> RowFacts<'a> {
    pub(crate) fn of(rows: &'a [RoleSite]) -> RowFacts<'a> {
        let mut facts = RowFacts {
            role_specialty: HashMap::new(),
            sites: HashMap::new(),
        };
        for r in rows {
            *facts.role_specialty.entry(r.role.as_str()).or_default() |= r.role_specialty;
            if let Some((site, _)) = &r.site {
                facts
                    .sites
                    .entry(r.role.as_str())
                    .or_default()
                    .push(site.as_str());
            }
        }
        facts
    }
}

/// The described providers and the bodies read for them.
pub(crate) struct Described {
    pub found: BTreeMap<String, Found>,
    /// Every body read, by `Type/id`: providers, roles, sites, services.
    pub resources: finder::Resources,
}

/// Describes `providers` (ranked candidates), whose qualifying roles are `roles_of`.
pub(crate) async fn describe(
    ctx: &RequestCtx,
    conf: &TenantConformance,
    query: &FindQuery,
    networks: Option<&BTreeSet<String>>,
    facts: &RowFacts<'_>,
    roles_of: &BTreeMap<String, Vec<String>>,
    providers: &[Ranked],
) -> Result<Described> {
    let mut resources = finder::Resources::new();
    let roles: BTreeSet<String> = providers
        .iter()
        .filter_map(|r| roles_of.get(&r.candidate.provider_ref))
        .flatten()
        .cloned()
        .collect();
    let provider_keys = providers.iter().map(|r| r.candidate.provider_ref.clone());
    gather::bodies(
        ctx,
        conf,
        roles.iter().cloned().chain(provider_keys),
        &mut resources,
    )
    .await?;
    // The roles' sites (those in the area, with a centre; all of them without) and services.
    let mut more = Vec::new();
    for role in &roles {
        let body = resources.get(role);
        match (&query.centre, body) {
            (Some(_), _) => more.extend(
                facts
                    .sites
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
        if let Some(body) = body {
            more.extend(
                finder::plan_net::services_of(body)
                    .into_iter()
                    .map(|c| c.reference),
            );
        }
    }
    gather::bodies(ctx, conf, more, &mut resources).await?;
    let hits: Vec<RoleHit> = roles
        .iter()
        .filter_map(|key| {
            let role = resources.get(key)?.clone();
            let specialty = query.specialty.as_ref().map(|_| {
                if facts
                    .role_specialty
                    .get(key.as_str())
                    .copied()
                    .unwrap_or(false)
                {
                    SpecialtyMatch::Role
                } else {
                    SpecialtyMatch::Qualification
                }
            });
            Some(RoleHit { role, specialty })
        })
        .collect();
    let found = finder::assemble(query, networks, &hits, &resources)
        .into_iter()
        .map(|f| (f.provider.clone(), f))
        .collect();
    Ok(Described { found, resources })
}
