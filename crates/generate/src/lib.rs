//! Deterministic, streaming generator of a synthetic Da Vinci PDex Plan-Net provider directory
//! (<https://hl7.org/fhir/us/davinci-pdex-plan-net/STU1.2/>), backing `fhirdir generate`.
//!
//! * **Deterministic**: the output is a pure function of [`GenerateOptions`]; the same seed gives
//!   byte-identical NDJSON on every run.
//! * **Streaming**: resources are built and handed to the sink one at a time; memory does not grow
//!   with `size`. Ids are derived arithmetically from indexes (see [`layout`]), so references
//!   resolve without remembering anything.
//! * **Dependency ordered**: resource types come in [`TYPE_ORDER`], and within a type parents
//!   come before children, so every reference points at a resource already emitted. The one
//!   consequence: `Organization.endpoint` and the Network `location-reference` extension are not
//!   emitted (they would point forward); the link exists the other way round, through
//!   `Endpoint.managingOrganization`.
//! * **Plan-Net conformant**: every resource carries `meta.profile` with its Plan-Net profile, the
//!   profile's mandatory elements and most must-support elements and extensions. `meta.lastUpdated`
//!   is left to the server.
//!
//! # What a directory contains
//!
//! Per 1,000 resources (modelled on the Plan-Net reference directory `plan-net-ri-nppes`):
//! ~349 Practitioner, ~436 PractitionerRole (1.25 per practitioner), ~97 Location (3.2 sites per
//! provider organisation plus one service area per payer), 35 Organization (1 payer, its 4
//! networks, 30 provider organisations: 4 in 10 groups, then hospitals, clinics, pharmacies, labs
//! and urgent care), 30 HealthcareService and 30 OrganizationAffiliation (one each per provider
//! organisation), 16 Endpoint, 6 InsurancePlan. See [`layout`] for the arithmetic. The smallest
//! directory (any `size` from 1 to about 25) has one payer and one organisation, about 20
//! resources.
//!
//! Coordinates are jittered with `sin`/`cos` and rounded to 6 decimals; a platform whose libm
//! differs in the last bit could in principle round one coordinate differently.

pub mod affiliation;
pub mod endpoint;
pub mod fhir;
pub mod geography;
pub mod insurance_plan;
pub mod layout;
pub mod location;
pub mod names;
pub mod npi;
pub mod organization;
pub mod practitioner;
pub mod rng;
pub mod role;
pub mod service;
pub mod taxonomy;
pub mod world;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use serde_json::Value;

pub use layout::Layout;
use layout::{org_has_endpoint, org_location_count, role_count};
use world::World;

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenerateOptions {
    /// Approximate total number of resources (the result is within 1% for sizes of 100 and up).
    pub size: u64,
    /// Seed of every random choice; same seed, same bytes.
    pub seed: u64,
}

/// Resource types in the order they are emitted. Loading the per-type files in this order never
/// meets a reference to a resource not yet loaded.
pub const TYPE_ORDER: [&str; 8] = [
    "Organization",
    "Endpoint",
    "Location",
    "InsurancePlan",
    "HealthcareService",
    "OrganizationAffiliation",
    "Practitioner",
    "PractitionerRole",
];

/// Resources produced, per resource type.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Count per resource type.
    pub counts: BTreeMap<String, u64>,
}

impl Summary {
    /// Total number of resources.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// Count for one resource type (0 when none).
    #[must_use]
    pub fn count(&self, resource_type: &str) -> u64 {
        self.counts.get(resource_type).copied().unwrap_or(0)
    }
}

/// Largest supported `size`: beyond it practitioner NPIs would collide with organisation NPIs.
pub const MAX_SIZE: u64 = 200_000_000;

/// Generates the directory, handing each resource to `sink` with its resource type, in
/// [`TYPE_ORDER`]. Stops at the first error of the sink and returns it; fails with
/// `InvalidInput` when `size` exceeds [`MAX_SIZE`].
///
/// ```
/// use generate::{generate, GenerateOptions};
///
/// let mut practitioners = 0;
/// let summary = generate(&GenerateOptions { size: 200, seed: 1 }, |resource_type, resource| {
///     assert!(resource["meta"]["profile"][0].as_str().is_some());
///     if resource_type == "Practitioner" {
///         practitioners += 1;
///     }
///     Ok(())
/// })?;
/// assert_eq!(summary.count("Practitioner"), practitioners);
/// assert!(summary.total().abs_diff(200) <= 2);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn generate(
    opts: &GenerateOptions,
    mut sink: impl FnMut(&str, &Value) -> io::Result<()>,
) -> io::Result<Summary> {
    if opts.size > MAX_SIZE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "size {} is above the supported maximum {MAX_SIZE}",
                opts.size
            ),
        ));
    }
    let world = World {
        seed: opts.seed,
        layout: Layout::for_size(opts.size),
    };
    let layout = world.layout;
    let mut summary = Summary::default();
    let mut emit = |resource_type: &'static str, resource: Value| -> io::Result<()> {
        sink(resource_type, &resource)?;
        *summary.counts.entry(resource_type.to_owned()).or_insert(0) += 1;
        Ok(())
    };

    for p in 0..layout.payers {
        emit("Organization", organization::payer(&world, p))?;
    }
    for n in 0..layout.networks() {
        emit("Organization", organization::network(&world, n))?;
    }
    for o in 0..layout.orgs {
        emit("Organization", organization::provider(&world, o))?;
    }
    for p in 0..layout.payers {
        emit("Endpoint", endpoint::payer_endpoint(&world, p))?;
    }
    for o in (0..layout.orgs).filter(|o| org_has_endpoint(*o)) {
        emit("Endpoint", endpoint::org_endpoint(&world, o))?;
    }
    for p in 0..layout.payers {
        emit("Location", location::area(&world, p))?;
    }
    for o in 0..layout.orgs {
        for j in 0..org_location_count(o) {
            emit("Location", location::site(&world, o, j))?;
        }
    }
    for q in 0..layout.plans() {
        emit("InsurancePlan", insurance_plan::insurance_plan(&world, q))?;
    }
    for o in 0..layout.orgs {
        emit("HealthcareService", service::service(&world, o))?;
    }
    for o in 0..layout.orgs {
        emit(
            "OrganizationAffiliation",
            affiliation::affiliation(&world, o),
        )?;
    }
    for p in 0..layout.practitioners {
        emit("Practitioner", practitioner::practitioner(&world, p))?;
    }
    for p in 0..layout.practitioners {
        for k in 0..role_count(p) {
            emit("PractitionerRole", role::role(&world, p, k))?;
        }
    }
    Ok(summary)
}

/// Generates the directory into `dir` (created if missing) as one `<ResourceType>.ndjson` file per
/// type, one resource per line. Existing files of those names are replaced.
pub fn write_ndjson_dir(opts: &GenerateOptions, dir: &Path) -> io::Result<Summary> {
    std::fs::create_dir_all(dir)?;
    let mut writers: BTreeMap<String, BufWriter<File>> = BTreeMap::new();
    let summary = generate(opts, |resource_type, resource| {
        let writer = match writers.get_mut(resource_type) {
            Some(w) => w,
            None => {
                let file = File::create(dir.join(format!("{resource_type}.ndjson")))?;
                writers
                    .entry(resource_type.to_owned())
                    .or_insert(BufWriter::with_capacity(1 << 16, file))
            }
        };
        serde_json::to_writer(&mut *writer, resource)?;
        writer.write_all(b"\n")
    })?;
    for (_, mut writer) in writers {
        writer.flush()?;
    }
    Ok(summary)
}
