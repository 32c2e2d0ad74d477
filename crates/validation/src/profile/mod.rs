//! Validation against profiles: the StructureDefinitions, ValueSets and CodeSystems of FHIR
//! packages (<https://hl7.org/fhir/R4/profiling.html>).
//!
//! A [`ProfileSet`] holds the definitions of a set of packages. A profile is compiled once,
//! on first use, into layers ([`compile`]): a profile that carries its snapshot is one
//! layer (the snapshot, less what R4 core already checks); a differential-only one (NDH,
//! VHDir) is its base's layers plus its differential. Layering the differentials is what
//! generating the snapshot would give for validation: a derived profile can only narrow its
//! base, so an instance valid against every layer is valid against the snapshot, and
//! slicing and slice discriminators are resolved across the layers (a derived profile
//! constrains slices its base declared). The base that is not loaded is an error issue of
//! every validation against the profile, naming what is missing, never a silent pass.
//!
//! [`ProfileSet::validate`] checks R4 core ([`crate::Validator::core`]), then each profile
//! the resource declares in `meta.profile` and each the caller requires, then every
//! extension against its definition (value type, context, nested extensions).

mod check;
mod compile;
mod extensions;
mod pattern;
mod terminology;

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

use conformance::DefinitionPackage;
use rustc_hash::FxHashMap as HashMap;
use serde_json::Value;

use crate::{Issue, IssueSeverity, IssueType, Validator};
use compile::Profile;
use terminology::Expansion;

/// Where R4 core's own definitions live: a profile based on one of them needs no layer of
/// the base (core validation covers it).
pub(crate) const CORE_PREFIX: &str = "http://hl7.org/fhir/StructureDefinition/";

/// The definitions of some packages, and the profiles compiled from them.
#[derive(Debug, Default)]
pub struct ProfileSet {
    packages: Vec<String>,
    structures: HashMap<String, Value>,
    value_sets: HashMap<String, Value>,
    code_systems: HashMap<String, Value>,
    compiled: RwLock<HashMap<String, Arc<Profile>>>,
    expansions: RwLock<HashMap<String, Option<Arc<Expansion>>>>,
}

/// A canonical URL without its `|version`.
pub(crate) fn unversioned(url: &str) -> &str {
    url.split('|').next().unwrap_or(url)
}

impl ProfileSet {
    /// The definitions of `packages` (later ones win when two define the same URL).
    pub fn new<'p>(packages: impl IntoIterator<Item = &'p DefinitionPackage>) -> ProfileSet {
        let mut set = ProfileSet::default();
        for p in packages {
            set.packages
                .push(p.id.clone().unwrap_or_else(|| p.source.clone()));
            for r in &p.resources {
                let Some(url) = r.get("url").and_then(Value::as_str) else {
                    continue;
                };
                let map = match r.get("resourceType").and_then(Value::as_str) {
                    Some("StructureDefinition") => &mut set.structures,
                    Some("ValueSet") => &mut set.value_sets,
                    Some("CodeSystem") => &mut set.code_systems,
                    _ => continue,
                };
                map.insert(url.to_owned(), r.clone());
            }
        }
        set
    }

    /// Whether no definitions are loaded (validation is R4 core's alone).
    pub fn is_empty(&self) -> bool {
        self.structures.is_empty()
    }

    /// The packages (or sources) it was made of.
    pub fn packages(&self) -> &[String] {
        &self.packages
    }

    /// Whether a StructureDefinition with this canonical URL is loaded.
    pub fn has_profile(&self, url: &str) -> bool {
        self.structures.contains_key(unversioned(url))
    }

    /// The resource type a loaded profile constrains (`None`: not a loaded profile).
    pub fn type_of_profile(&self, url: &str) -> Option<String> {
        self.structures
            .get(unversioned(url))
            .and_then(|sd| sd.get("type").and_then(Value::as_str))
            .map(str::to_owned)
    }

    /// The URL of every profile (constraint StructureDefinition on a resource type).
    pub fn profiles(&self) -> impl Iterator<Item = &str> {
        self.structures
            .iter()
            .filter(|(_, sd)| {
                sd.get("kind").and_then(Value::as_str) == Some("resource")
                    && sd.get("derivation").and_then(Value::as_str) == Some("constraint")
            })
            .map(|(u, _)| u.as_str())
    }

    /// What the loaded definitions refer to but do not hold: for each profile, its base,
    /// and the profiles and extensions its elements name, when not loaded (sorted, one line
    /// each: `profile URL: what is missing`). Said when packages load.
    pub fn problems(&self) -> Vec<String> {
        let mut out = BTreeSet::new();
        for url in self.structures.keys() {
            let p = self.profile(url);
            for m in &p.missing {
                out.insert(format!("{url}: {m}"));
            }
        }
        out.into_iter().collect()
    }

    /// Validates `resource` against R4 core, the profiles it declares (`meta.profile`, and
    /// those of its contained resources) and `required` ones, and its extensions against
    /// their definitions. Errors first.
    pub fn validate(&self, resource: &Value, required: &[String]) -> Vec<Issue> {
        let mut issues = Validator::core().validate(resource);
        if !self.is_empty() || !required.is_empty() || declares_profiles(resource) {
            check::resource(self, resource, required, &mut issues);
        }
        dedupe(&mut issues);
        issues.sort_by_key(|i| i.severity);
        issues
    }

    /// The compiled profile of `url` (compiled on first use).
    pub(crate) fn profile(&self, url: &str) -> Arc<Profile> {
        self.profile_at(url, 0)
    }

    /// [`Self::profile`], `depth` bases below the profile asked for (a cycle of bases ends).
    pub(crate) fn profile_at(&self, url: &str, depth: usize) -> Arc<Profile> {
        let url = unversioned(url);
        if let Some(p) = self.compiled.read().expect("not poisoned").get(url) {
            return p.clone();
        }
        let compiled = Arc::new(compile::compile(self, url, depth));
        self.compiled
            .write()
            .expect("not poisoned")
            .entry(url.to_owned())
            .or_insert(compiled)
            .clone()
    }

    pub(crate) fn structure(&self, url: &str) -> Option<&Value> {
        self.structures.get(unversioned(url))
    }

    /// The resource or data type a profile (or a core definition) constrains.
    pub(crate) fn type_of(&self, url: &str) -> Option<String> {
        let url = unversioned(url);
        if let Some(sd) = self.structures.get(url) {
            return sd.get("type").and_then(Value::as_str).map(str::to_owned);
        }
        url.strip_prefix(CORE_PREFIX)
            .filter(|t| conformance::ElementModel::r4().type_def(t).is_some())
            .map(str::to_owned)
    }
}

fn declares_profiles(resource: &Value) -> bool {
    resource
        .pointer("/meta/profile")
        .and_then(Value::as_array)
        .is_some_and(|p| !p.is_empty())
}

/// Drops an issue that repeats an earlier one at the same place (a snapshot restates a
/// core rule the core pass already reported).
fn dedupe(issues: &mut Vec<Issue>) {
    let mut seen = BTreeSet::new();
    issues.retain(|i| {
        let code = i.code.as_str();
        seen.insert((
            i.expression.clone(),
            code,
            i.severity <= IssueSeverity::Error,
        )) || matches!(
            i.code,
            IssueType::Invariant | IssueType::NotSupported | IssueType::NotFound
        )
    });
}
