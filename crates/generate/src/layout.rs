//! How many resources of each kind a run has, and the index arithmetic that ties them together.
//!
//! Nothing here is random: the *shape* of the directory (how many payers, networks, organisations,
//! locations per organisation, roles per practitioner) depends only on `size`, and every id is a
//! function of an index. That is what lets any resource name any other without a lookup table, and
//! what keeps memory flat at any size.

/// Networks each payer runs (one per [`crate::names::NETWORK_STYLES`] entry).
pub const NETWORKS_PER_PAYER: u64 = 4;
/// Insurance products each payer sells.
pub const PLANS_PER_PAYER: u64 = 6;
/// One payer per this many resources. With 6 products per payer this gives the reference
/// directory's share of InsurancePlans (30 in 5,215 resources), at every size.
const RESOURCES_PER_PAYER: u64 = 1000;
/// Provider organisations per 1,000 resources (the sample has ~31).
const ORGS_PER_THOUSAND: u64 = 30;

/// What a provider organisation is. Organisations come in blocks of ten with a fixed mix, so the
/// kind and the number of locations of organisation `o` are arithmetic in `o`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrgKind {
    /// A provider group (Plan-Net OrgTypeCS `prvgrp`).
    Group,
    /// A general acute care hospital (`fac`).
    Hospital,
    /// A primary care clinic (`fac`).
    Clinic,
    /// A retail pharmacy (`fac`).
    Pharmacy,
    /// A clinical laboratory (`fac`).
    Lab,
    /// An urgent care centre (`fac`).
    UrgentCare,
}

/// Organisations come in blocks of this many, with the mix of [`org_kind`].
pub const BLOCK: u64 = 10;
const KINDS: [OrgKind; 10] = [
    OrgKind::Group,
    OrgKind::Group,
    OrgKind::Group,
    OrgKind::Group,
    OrgKind::Hospital,
    OrgKind::Clinic,
    OrgKind::Pharmacy,
    OrgKind::Pharmacy,
    OrgKind::Lab,
    OrgKind::UrgentCare,
];
/// Locations per organisation within a block: groups and pharmacy chains have several sites,
/// hospitals a few campuses, the rest one or two. 3.2 locations per organisation on average, close
/// to the ~4 of the sample directory.
const LOCATIONS: [u64; 10] = [3, 5, 2, 8, 3, 1, 6, 1, 2, 1];
const LOCATIONS_PER_BLOCK: u64 = prefix(&LOCATIONS)[10];
const LOCATION_PREFIX: [u64; 11] = prefix(&LOCATIONS);
/// Groups and hospitals publish an endpoint (Direct address or FHIR API); the others do not.
const HAS_ENDPOINT: [u64; 10] = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
const ENDPOINT_PREFIX: [u64; 11] = prefix(&HAS_ENDPOINT);

const fn prefix(counts: &[u64; 10]) -> [u64; 11] {
    let mut out = [0; 11];
    let mut i = 0;
    while i < 10 {
        out[i + 1] = out[i] + counts[i];
        i += 1;
    }
    out
}

/// Kind of provider organisation `o`.
#[must_use]
pub const fn org_kind(o: u64) -> OrgKind {
    KINDS[(o % BLOCK) as usize]
}

/// Number of locations of provider organisation `o`.
#[must_use]
pub const fn org_location_count(o: u64) -> u64 {
    LOCATIONS[(o % BLOCK) as usize]
}

/// Index of the first location of organisation `o` (locations are numbered org by org).
#[must_use]
pub const fn org_location_start(o: u64) -> u64 {
    (o / BLOCK) * LOCATIONS_PER_BLOCK + LOCATION_PREFIX[(o % BLOCK) as usize]
}

/// Does provider organisation `o` have an endpoint?
#[must_use]
pub const fn org_has_endpoint(o: u64) -> bool {
    HAS_ENDPOINT[(o % BLOCK) as usize] == 1
}

/// The parent organisation of `o`, if any: the third and fourth group of a block belong to the
/// block's first group (a medical group with practices), and the clinic belongs to the hospital.
/// Parents always have a smaller index, so they are emitted first.
#[must_use]
pub const fn org_parent(o: u64) -> Option<u64> {
    match o % BLOCK {
        2 | 3 => Some(o - o % BLOCK),
        5 => Some(o - 1),
        _ => None,
    }
}

/// Roles held by practitioner `p`: one, or two for every fourth practitioner (1.25 on average).
#[must_use]
pub const fn role_count(p: u64) -> u64 {
    if p % 4 == 3 {
        2
    } else {
        1
    }
}

/// Index of the first role of practitioner `p`.
#[must_use]
pub const fn role_start(p: u64) -> u64 {
    p + p / 4
}

/// Counts of everything in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Payer organisations.
    pub payers: u64,
    /// Provider organisations (groups and facilities).
    pub orgs: u64,
    /// Practitioners.
    pub practitioners: u64,
}

impl Layout {
    /// The layout whose total is as close to `size` as possible.
    #[must_use]
    pub fn for_size(size: u64) -> Self {
        if size == 0 {
            return Self {
                payers: 0,
                orgs: 0,
                practitioners: 0,
            };
        }
        let payers = (size / RESOURCES_PER_PAYER).max(1);
        let orgs = ((size * ORGS_PER_THOUSAND + 500) / 1000).max(1);
        let mut layout = Self {
            payers,
            orgs,
            practitioners: 0,
        };
        let fixed = layout.total();
        let rest = size.saturating_sub(fixed);
        // Each practitioner brings 2.25 resources (itself and 1.25 roles): start just below the
        // target and step up to the closest total.
        let mut p = rest * 4 / 9;
        p = p.saturating_sub(2);
        loop {
            let next = Self {
                practitioners: p + 1,
                ..layout
            };
            if next.total() > size {
                break;
            }
            p += 1;
        }
        layout.practitioners = p;
        layout
    }

    /// Network organisations.
    #[must_use]
    pub const fn networks(&self) -> u64 {
        self.payers * NETWORKS_PER_PAYER
    }

    /// Insurance plans (products).
    #[must_use]
    pub const fn plans(&self) -> u64 {
        self.payers * PLANS_PER_PAYER
    }

    /// All Organization resources: payers, networks and provider organisations.
    #[must_use]
    pub const fn organizations(&self) -> u64 {
        self.payers + self.networks() + self.orgs
    }

    /// Endpoints: one per payer plus one per provider organisation that has one.
    #[must_use]
    pub const fn endpoints(&self) -> u64 {
        self.payers
            + (self.orgs / BLOCK) * ENDPOINT_PREFIX[10]
            + ENDPOINT_PREFIX[(self.orgs % BLOCK) as usize]
    }

    /// Provider sites (excluding the payers' service-area locations).
    #[must_use]
    pub const fn sites(&self) -> u64 {
        org_location_start(self.orgs)
    }

    /// All Location resources: one service area per payer plus the provider sites.
    #[must_use]
    pub const fn locations(&self) -> u64 {
        self.payers + self.sites()
    }

    /// PractitionerRoles.
    #[must_use]
    pub const fn roles(&self) -> u64 {
        role_start(self.practitioners)
    }

    /// Total number of resources.
    #[must_use]
    pub const fn total(&self) -> u64 {
        self.organizations()
            + self.endpoints()
            + self.locations()
            + self.plans()
            + self.orgs // HealthcareService, one per provider organisation
            + self.orgs // OrganizationAffiliation, one per provider organisation
            + self.practitioners
            + self.roles()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_start_counts_earlier_roles() {
        let mut start = 0;
        for p in 0..100 {
            assert_eq!(role_start(p), start, "p={p}");
            start += role_count(p);
        }
    }

    #[test]
    fn location_start_counts_earlier_locations() {
        let mut start = 0;
        for o in 0..100 {
            assert_eq!(org_location_start(o), start, "o={o}");
            start += org_location_count(o);
        }
    }

    #[test]
    fn endpoint_count_matches_predicate() {
        for orgs in 0..35 {
            let layout = Layout {
                payers: 1,
                orgs,
                practitioners: 0,
            };
            let expected = 1 + (0..orgs).filter(|o| org_has_endpoint(*o)).count() as u64;
            assert_eq!(layout.endpoints(), expected, "orgs={orgs}");
        }
    }

    #[test]
    fn parents_precede_children() {
        for o in 0..100 {
            if let Some(parent) = org_parent(o) {
                assert!(parent < o);
                assert_eq!(
                    org_kind(o) == OrgKind::Group,
                    org_kind(parent) == OrgKind::Group
                );
            }
        }
    }

    #[test]
    fn totals_are_within_one_percent_of_size() {
        for size in [100, 999, 1000, 5215, 12_345, 100_000, 1_000_000, 10_000_000] {
            let total = Layout::for_size(size).total();
            let diff = total.abs_diff(size) as f64 / size as f64;
            assert!(diff <= 0.01, "size {size} -> {total}");
        }
    }
}
