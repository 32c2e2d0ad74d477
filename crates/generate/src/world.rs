//! The facts several resources must agree on (ids, names, cities, who belongs to which network,
//! where a practitioner works), each computed on demand from `(seed, index)`. A resource module
//! asks the [`World`] instead of remembering what an earlier resource said, which is how references
//! resolve and displays match while nothing is kept in memory.

use serde_json::Value;

use crate::fhir::reference;
use crate::geography::{jitter, state_name, City, CITIES};
use crate::layout::{
    org_kind, org_location_count, org_location_start, Layout, OrgKind, BLOCK, NETWORKS_PER_PAYER,
};
use crate::names::{
    FAMILY, FEMALE_GIVEN, GROUP_WORDS, MALE_GIVEN, NETWORK_STYLES, PAYER_BRANDS, PHARMACY_CHAINS,
};
use crate::rng::{hash, Purpose, Rng};
use crate::taxonomy::{weighted_specialty, Specialty, SPECIALTY_WEIGHT_TOTAL};

/// Resource ids: a readable prefix and the 1-based index, zero-padded to six digits.
pub mod id {
    /// `Organization/payer-000001`
    pub fn payer(p: u64) -> String {
        format!("payer-{:06}", p + 1)
    }
    /// `Organization/network-000001`
    pub fn network(n: u64) -> String {
        format!("network-{:06}", n + 1)
    }
    /// `Organization/org-000001`
    pub fn org(o: u64) -> String {
        format!("org-{:06}", o + 1)
    }
    /// `Endpoint/ep-payer-000001`
    pub fn payer_endpoint(p: u64) -> String {
        format!("ep-payer-{:06}", p + 1)
    }
    /// `Endpoint/ep-org-000001` (keyed by the organisation's index)
    pub fn org_endpoint(o: u64) -> String {
        format!("ep-org-{:06}", o + 1)
    }
    /// `Location/area-000001`, the service area of payer `p`
    pub fn area(p: u64) -> String {
        format!("area-{:06}", p + 1)
    }
    /// `Location/loc-000001`, provider site number `l`
    pub fn site(l: u64) -> String {
        format!("loc-{:06}", l + 1)
    }
    /// `InsurancePlan/plan-000001`
    pub fn plan(q: u64) -> String {
        format!("plan-{:06}", q + 1)
    }
    /// `HealthcareService/hs-000001` (keyed by the organisation's index)
    pub fn service(o: u64) -> String {
        format!("hs-{:06}", o + 1)
    }
    /// `OrganizationAffiliation/affil-000001` (keyed by the organisation's index)
    pub fn affiliation(o: u64) -> String {
        format!("affil-{:06}", o + 1)
    }
    /// `Practitioner/pract-000001`
    pub fn practitioner(p: u64) -> String {
        format!("pract-{:06}", p + 1)
    }
    /// `PractitionerRole/role-000001`
    pub fn role(r: u64) -> String {
        format!("role-{:06}", r + 1)
    }
}

/// Offsets into the NPI index space so that practitioners, provider organisations and payers never
/// share an NPI.
const NPI_ORG_BASE: u64 = 100_000_000;
const NPI_PAYER_BASE: u64 = 150_000_000;

/// A provider site: street line, city and jittered coordinates.
#[derive(Debug)]
pub struct Site {
    pub line: String,
    pub city: &'static City,
    pub lat: f64,
    pub lon: f64,
}

/// A practitioner's identity.
#[derive(Debug)]
pub struct Person {
    pub female: bool,
    pub given: &'static str,
    pub middle_initial: char,
    pub family: &'static str,
    pub specialty: &'static Specialty,
}

impl Person {
    /// "Given Family", as used in reference displays.
    pub fn display(&self) -> String {
        format!("{} {}", self.given, self.family)
    }
}

/// The run: seed plus layout.
#[derive(Clone, Copy, Debug)]
pub struct World {
    pub seed: u64,
    pub layout: Layout,
}

impl World {
    /// Randomness dedicated to one resource.
    pub fn rng(&self, purpose: Purpose, index: u64) -> Rng {
        Rng::new(self.seed, purpose, index)
    }

    fn pick_city(&self, purpose: Purpose, index: u64) -> &'static City {
        &CITIES[(hash(self.seed, purpose, index) % CITIES.len() as u64) as usize]
    }

    // ----- payers and networks -----

    /// Headquarters city of payer `p`; its state is the payer's service area.
    pub fn payer_city(&self, p: u64) -> &'static City {
        self.pick_city(Purpose::Payer, p)
    }

    /// Name of payer `p`, e.g. "Acme Health of Connecticut".
    pub fn payer_name(&self, p: u64) -> String {
        let brands = PAYER_BRANDS.len() as u64;
        let shift = hash(self.seed, Purpose::Payer, u64::MAX) % brands;
        let brand = PAYER_BRANDS[((p + shift) % brands) as usize];
        let state = state_name(self.payer_city(p).state);
        // Past the brand list, payers are told apart by a series number.
        match p / brands {
            0 => format!("{brand} of {state}"),
            n => format!("{brand} of {state} {}", n + 1),
        }
    }

    /// Reference to payer `p`.
    pub fn payer_ref(&self, p: u64) -> Value {
        reference("Organization", &id::payer(p), &self.payer_name(p))
    }

    /// NPI of payer `p`.
    pub fn payer_npi(&self, p: u64) -> String {
        crate::npi::npi(self.seed, NPI_PAYER_BASE + p)
    }

    /// Payer of network `n`.
    pub const fn network_payer(n: u64) -> u64 {
        n / NETWORKS_PER_PAYER
    }

    /// Name of network `n`, e.g. "Acme Health of Connecticut HMO Network".
    pub fn network_name(&self, n: u64) -> String {
        let style = NETWORK_STYLES[(n % NETWORKS_PER_PAYER) as usize].0;
        format!("{} {style}", self.payer_name(Self::network_payer(n)))
    }

    /// Reference to network `n`.
    pub fn network_ref(&self, n: u64) -> Value {
        reference("Organization", &id::network(n), &self.network_name(n))
    }

    // ----- provider organisations -----

    /// The payer provider organisation `o` contracts with.
    pub fn org_payer(&self, o: u64) -> u64 {
        hash(self.seed, Purpose::OrgPayer, o) % self.layout.payers.max(1)
    }

    /// The networks (of [`Self::org_payer`]) organisation `o` participates in, in index order.
    pub fn org_networks(&self, o: u64) -> Vec<u64> {
        let payer = self.org_payer(o);
        // A non-empty subset of the payer's networks, as a 4-bit mask.
        let mask = 1 + hash(self.seed, Purpose::OrgNetworks, o) % ((1 << NETWORKS_PER_PAYER) - 1);
        (0..NETWORKS_PER_PAYER)
            .filter(|bit| mask & (1 << bit) != 0)
            .map(|bit| payer * NETWORKS_PER_PAYER + bit)
            .collect()
    }

    /// Home city of organisation `o`; all its sites are around it. Half the organisations are in
    /// their payer's home city, so a payer's networks are dense in its service area (as regional
    /// networks are) while the directory still spans the country.
    pub fn org_city(&self, o: u64) -> &'static City {
        if hash(self.seed, Purpose::OrgCity, o) >> 63 == 0 {
            self.payer_city(self.org_payer(o))
        } else {
            self.pick_city(Purpose::OrgCity, o)
        }
    }

    /// Name of organisation `o`.
    pub fn org_name(&self, o: u64) -> String {
        let h = hash(self.seed, Purpose::ProviderOrg, o);
        let city = self.org_city(o).name;
        let family = FAMILY[(h % FAMILY.len() as u64) as usize];
        let word = GROUP_WORDS[((h >> 20) % GROUP_WORDS.len() as u64) as usize];
        match org_kind(o) {
            OrgKind::Group if (h >> 40) & 1 == 0 => format!("{city} {word}"),
            OrgKind::Group => format!("{family} {word}"),
            OrgKind::Hospital if (h >> 40) & 1 == 0 => format!("{city} General Hospital"),
            OrgKind::Hospital => format!("{family} Memorial Hospital"),
            OrgKind::Clinic => format!("{city} Community Health Center"),
            OrgKind::Pharmacy => {
                let chain = PHARMACY_CHAINS[((h >> 20) % PHARMACY_CHAINS.len() as u64) as usize];
                format!("{chain} #{}", 100 + o % 9000)
            }
            OrgKind::Lab => format!("{city} Diagnostic Laboratory"),
            OrgKind::UrgentCare => format!("{family} Urgent Care"),
        }
    }

    /// Reference to organisation `o`.
    pub fn org_ref(&self, o: u64) -> Value {
        reference("Organization", &id::org(o), &self.org_name(o))
    }

    /// NPI of organisation `o`.
    pub fn org_npi(&self, o: u64) -> String {
        crate::npi::npi(self.seed, NPI_ORG_BASE + o)
    }

    /// Site `j` of organisation `o`.
    pub fn site(&self, o: u64, j: u64) -> Site {
        let city = self.org_city(o);
        let mut rng = self.rng(Purpose::Location, org_location_start(o) + j);
        let line = crate::fhir::street_line(&mut rng);
        let (lat, lon) = jitter(&mut rng, city.lat, city.lon);
        Site {
            line,
            city,
            lat,
            lon,
        }
    }

    /// Display name of site `j` of organisation `o`.
    pub fn site_name(&self, o: u64, j: u64) -> String {
        let name = self.org_name(o);
        match (org_location_count(o), j) {
            (1, _) => name,
            (_, 0) => format!("{name} - Main"),
            (_, j) => format!("{name} - Site {}", j + 1),
        }
    }

    /// Reference to site `j` of organisation `o`.
    pub fn site_ref(&self, o: u64, j: u64) -> Value {
        reference(
            "Location",
            &id::site(org_location_start(o) + j),
            &self.site_name(o, j),
        )
    }

    // ----- practitioners -----

    /// Who practitioner `p` is.
    pub fn person(&self, p: u64) -> Person {
        let mut rng = self.rng(Purpose::Practitioner, p);
        let female = rng.percent(48);
        let given = if female {
            *rng.pick(FEMALE_GIVEN)
        } else {
            *rng.pick(MALE_GIVEN)
        };
        let middle_initial = char::from(b'A' + rng.below(26) as u8);
        let family = *rng.pick(FAMILY);
        let specialty = weighted_specialty(rng.below(SPECIALTY_WEIGHT_TOTAL));
        Person {
            female,
            given,
            middle_initial,
            family,
            specialty,
        }
    }

    /// NPI of practitioner `p`.
    pub fn practitioner_npi(&self, p: u64) -> String {
        crate::npi::npi(self.seed, p)
    }

    /// Organisation where role `k` of practitioner `p` is held. Pharmacists work at pharmacies,
    /// everybody else at groups (twice as likely), hospitals, clinics and urgent care centres.
    pub fn role_org(&self, p: u64, k: u64, specialty: &Specialty) -> u64 {
        let pharmacist = specialty.role == "rx";
        let weight = |kind: OrgKind| -> u64 {
            match kind {
                OrgKind::Pharmacy if pharmacist => 1,
                _ if pharmacist => 0,
                OrgKind::Group => 2,
                OrgKind::Hospital | OrgKind::Clinic | OrgKind::UrgentCare => 1,
                OrgKind::Pharmacy | OrgKind::Lab => 0,
            }
        };
        let orgs = self.layout.orgs;
        let h = hash(self.seed, Purpose::RoleOrg, p * 2 + k);
        // Pick a block of organisations, then a suitable slot in it by weight.
        let block = (h % orgs.max(1)) / BLOCK * BLOCK;
        let total: u64 = (0..BLOCK).map(|i| weight(org_kind(i))).sum();
        let mut ticket = (h >> 32) % total;
        let mut slot = 0;
        for i in 0..BLOCK {
            let w = weight(org_kind(i));
            if ticket < w {
                slot = i;
                break;
            }
            ticket -= w;
        }
        // The last block may be partial; its first organisation (a group) always exists.
        if block + slot < orgs {
            block + slot
        } else {
            block
        }
    }

    /// Which site of the organisation role `k` of practitioner `p` works at.
    pub fn role_site(&self, p: u64, k: u64, o: u64) -> u64 {
        hash(self.seed, Purpose::Role, p * 2 + k) % org_location_count(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world() -> World {
        World {
            seed: 9,
            layout: Layout::for_size(10_000),
        }
    }

    #[test]
    fn org_networks_are_a_nonempty_subset_of_the_payers() {
        let w = world();
        for o in 0..w.layout.orgs {
            let nets = w.org_networks(o);
            assert!(!nets.is_empty());
            for n in nets {
                assert_eq!(World::network_payer(n), w.org_payer(o));
                assert!(n < w.layout.networks());
            }
        }
    }

    #[test]
    fn role_orgs_exist_and_pharmacists_work_at_pharmacies() {
        let w = world();
        for p in 0..2_000 {
            let person = w.person(p);
            for k in 0..crate::layout::role_count(p) {
                let o = w.role_org(p, k, person.specialty);
                assert!(o < w.layout.orgs);
                if person.specialty.role == "rx" && org_kind(o) != OrgKind::Group {
                    assert_eq!(org_kind(o), OrgKind::Pharmacy);
                }
                assert!(w.role_site(p, k, o) < org_location_count(o));
            }
        }
    }

    #[test]
    fn sites_are_near_their_city() {
        let w = world();
        for o in 0..50 {
            for j in 0..org_location_count(o) {
                let s = w.site(o, j);
                let d = crate::geography::distance_km(s.city.lat, s.city.lon, s.lat, s.lon);
                assert!(d <= crate::geography::JITTER_KM + 0.01);
            }
        }
    }
}
