//! Gates: the rule of [`crate::visibility`] in a form a database can evaluate inside a query.
//!
//! A search must leave out what a viewer may not see *before* it pages and counts (NDH STU1
//! restricted content; a hidden resource must never take a place in a page or a total), so the
//! store evaluates the rule in SQL. It keeps, for each restricted resource, two gates:
//! one for the whole resource and one for all its restricted elements together (a viewer
//! who may not see every restricted element cannot match on any of them: more hidden, never
//! less). A gate is an [`Access`] class and, for [`Access::Provisions`], one row per
//! (provision, actor, purpose), so that "some permit of every rule matches and no deny does"
//! becomes two indexed lookups. [`Gate::admits`] is the same test in Rust; the store's tests
//! check that its SQL agrees with [`crate::visibility`] viewer by viewer.

use crate::policy::{Effect, Restrictions, Rule};
use crate::visibility::{relative, Viewer};

/// Who a gate lets through (anonymous callers never; `see_restricted` clients and fhirdir
/// itself always). The numbers are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Nothing restricted: everyone.
    Open = 0,
    /// Any authenticated client.
    Authenticated = 1,
    /// A client matched by a permit of every provision rule and by no deny.
    Provisions = 2,
    /// No client but `see_restricted` ones.
    Privileged = 3,
}

impl Access {
    /// The stored number.
    pub fn code(self) -> i64 {
        self as i64
    }
}

/// One gate; see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gate {
    pub access: Access,
    /// For [`Access::Provisions`]: how many provision rules must each have a matching permit.
    pub rules: i64,
    /// For [`Access::Provisions`]: every (provision, actor, purpose) combination.
    pub provisions: Vec<ProvisionRow>,
}

/// One row of a gate's provisions: provision `rule` (numbered from 0) permits or denies
/// `actor` (a reference as written), for `purpose` (a code) or for any purpose (`None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionRow {
    pub rule: i64,
    pub permit: bool,
    pub actor: String,
    pub purpose: Option<String>,
}

impl Restrictions {
    /// The gate of the whole resource.
    pub fn whole_gate(&self) -> Gate {
        gate(self.whole().iter())
    }

    /// The gate of all restricted elements together.
    pub fn element_gate(&self) -> Gate {
        gate(self.elements().iter().flat_map(|e| e.rules.iter()))
    }
}

fn gate<'r>(rules: impl Iterator<Item = &'r Rule>) -> Gate {
    let mut out = Gate {
        access: Access::Open,
        rules: 0,
        provisions: Vec::new(),
    };
    for rule in rules {
        match rule {
            Rule::Authenticated => out.access = out.access.max(Access::Authenticated),
            Rule::Privileged => out.access = Access::Privileged,
            Rule::Provisions { provisions } => {
                out.access = out.access.max(Access::Provisions);
                let n = out.rules;
                out.rules += 1;
                for p in provisions {
                    // An actor given by display or identifier only names no one: no row.
                    for actor in &p.actors {
                        let permit = p.effect == Effect::Permit;
                        if p.purposes.is_empty() {
                            push(&mut out.provisions, n, permit, actor, None);
                        }
                        for purpose in &p.purposes {
                            push(&mut out.provisions, n, permit, actor, Some(&purpose.code));
                        }
                    }
                }
            }
        }
    }
    if out.access != Access::Provisions {
        out.rules = 0;
        out.provisions.clear();
    }
    out
}

fn push(rows: &mut Vec<ProvisionRow>, rule: i64, permit: bool, actor: &str, purpose: Option<&str>) {
    let row = ProvisionRow {
        rule,
        permit,
        actor: actor.to_owned(),
        purpose: purpose.map(str::to_owned),
    };
    if !rows.contains(&row) {
        rows.push(row);
    }
}

/// A viewer as the store's queries see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seer {
    /// fhirdir itself and `see_restricted` clients: no filter at all.
    Everything,
    /// Anonymous callers: every gate other than [`Access::Open`] is closed.
    Nothing,
    /// A client: `organizations` are the forms its organization's reference may take in a
    /// provision (relative, and absolute under the tenant base), empty when it has none;
    /// `purposes` its token's purpose codes.
    Client {
        organizations: Vec<String>,
        purposes: Vec<String>,
    },
}

impl Seer {
    /// How the store sees `viewer`.
    pub fn of(viewer: &Viewer) -> Seer {
        if viewer.sees_everything() {
            return Seer::Everything;
        }
        match *viewer {
            Viewer::System => Seer::Everything,
            Viewer::Anonymous => Seer::Nothing,
            Viewer::Client {
                organization,
                purpose_of_use,
                tenant_base,
                ..
            } => {
                // A provision's actor matches when it is the organization relative to the
                // tenant base or absolute under it (visibility's rule): both forms are asked.
                let mut organizations = Vec::new();
                if let Some(org) = organization.filter(|o| !o.is_empty()) {
                    let rel = relative(org, tenant_base).to_owned();
                    let base = tenant_base.trim_end_matches('/');
                    if !base.is_empty() {
                        organizations.push(format!("{base}/{rel}"));
                    }
                    organizations.insert(0, rel);
                }
                let mut purposes: Vec<String> = purpose_of_use
                    .iter()
                    .map(|t| t.rsplit_once('#').map_or(t.as_str(), |(_, c)| c))
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
                    .collect();
                purposes.sort();
                purposes.dedup();
                Seer::Client {
                    organizations,
                    purposes,
                }
            }
        }
    }
}

impl Gate {
    /// Whether the gate lets `seer` through: what the store's SQL computes.
    pub fn admits(&self, seer: &Seer) -> bool {
        match (self.access, seer) {
            (Access::Open, _) | (_, Seer::Everything) => true,
            (_, Seer::Nothing) => false,
            (Access::Authenticated, Seer::Client { .. }) => true,
            (Access::Privileged, Seer::Client { .. }) => false,
            (
                Access::Provisions,
                Seer::Client {
                    organizations,
                    purposes,
                },
            ) => {
                let matching = |r: &&ProvisionRow| {
                    organizations.contains(&r.actor)
                        && r.purpose.as_ref().is_none_or(|p| purposes.contains(p))
                };
                let rows = || self.provisions.iter().filter(matching);
                if rows().any(|r| !r.permit) {
                    return false;
                }
                let mut permitted: Vec<i64> = rows().filter(|r| r.permit).map(|r| r.rule).collect();
                permitted.sort();
                permitted.dedup();
                permitted.len() as i64 == self.rules
            }
        }
    }
}
