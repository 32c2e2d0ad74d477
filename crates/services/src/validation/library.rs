//! The FHIR packages a server can validate against, and each tenant's [`Policy`] built
//! from them.
//!
//! Packages come from what the server loaded at start (`--profiles` and `--packages`) and,
//! on demand, from the FHIR package cache (`fhirdir package install`), with the packages
//! they depend on when those are there too (R4 core is built in). A tenant activates some
//! (`packages` of its validation setting); definitions without a package name (loose files
//! of `profiles/`) are the deployment's own and apply to every tenant. What a package's
//! profiles need but nobody loaded is logged when the package set is first built, and is an
//! error of every validation against those profiles ([`validation::profile`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use conformance::DefinitionPackage;
use packages::{PackageCache, PackageId};
use validation::{Policy, ProfileSet};

use super::Setting;
use crate::error::{Error, Result};

/// R4 core is built in: a dependency on it needs no package.
const CORE_PACKAGE: &str = "hl7.fhir.r4.core";

/// Deepest chain of dependencies followed.
const MAX_DEPENDENCY_DEPTH: usize = 8;

/// See the module docs.
#[derive(Debug, Default)]
pub struct Library {
    /// Named packages by `name#version`: those loaded at start, then those read from the
    /// cache when first asked for.
    named: Mutex<BTreeMap<String, Arc<DefinitionPackage>>>,
    /// Definitions without a package name: part of every tenant's set.
    always: Vec<Arc<DefinitionPackage>>,
    cache: Option<PackageCache>,
    /// Policies by the setting's packages and required profiles.
    policies: Mutex<BTreeMap<String, Arc<Policy>>>,
}

impl Library {
    /// Over the packages loaded at start and the package cache.
    pub fn new(loaded: Vec<DefinitionPackage>, cache: Option<PackageCache>) -> Library {
        let mut named = BTreeMap::new();
        let mut always = Vec::new();
        for p in loaded {
            match p.id.clone() {
                Some(id) => {
                    named.insert(id, Arc::new(p));
                }
                None if !p.resources.is_empty() => always.push(Arc::new(p)),
                None => {}
            }
        }
        Library {
            named: Mutex::new(named),
            always,
            cache,
            policies: Mutex::default(),
        }
    }

    /// Builds the profile set of each package loaded at start (with what it depends on), so
    /// that what its profiles need but nobody loaded is said (logged) when it loads, not
    /// first when a tenant activates it.
    pub fn announce(&self) -> Result<()> {
        let ids: Vec<String> = self
            .named
            .lock()
            .expect("not poisoned")
            .keys()
            .cloned()
            .collect();
        for id in ids {
            let setting = Setting {
                packages: vec![id],
                ..Setting::default()
            };
            self.policy(&setting)?;
        }
        Ok(())
    }

    /// The package `id`, from those loaded or the cache; `None` when neither has it.
    fn package(&self, id: &str) -> Result<Option<Arc<DefinitionPackage>>> {
        if let Some(p) = self.named.lock().expect("not poisoned").get(id) {
            return Ok(Some(p.clone()));
        }
        let Some(cache) = &self.cache else {
            return Ok(None);
        };
        let Ok(pid) = PackageId::parse(id) else {
            return Ok(None);
        };
        if !cache.contains(&pid) {
            return Ok(None);
        }
        let mut loaded = conformance::package::load_definitions(&cache.dir_of(&pid))
            .map_err(|e| Error::internal(format!("package {id} in the package cache: {e}")))?;
        let p = Arc::new(loaded.pop().unwrap_or_default());
        self.named
            .lock()
            .expect("not poisoned")
            .insert(id.to_owned(), p.clone());
        Ok(Some(p))
    }

    /// The packages of `ids` and what they depend on (those available), each once; the
    /// names of those not available.
    fn closure(&self, ids: &[String]) -> Result<(Vec<Arc<DefinitionPackage>>, Vec<String>)> {
        let mut found: BTreeMap<String, Arc<DefinitionPackage>> = BTreeMap::new();
        let mut absent = Vec::new();
        let mut todo: Vec<(String, usize)> = ids.iter().map(|i| (i.clone(), 0)).collect();
        while let Some((id, depth)) = todo.pop() {
            if found.contains_key(&id) || id.starts_with(&format!("{CORE_PACKAGE}#")) {
                continue;
            }
            match self.package(&id)? {
                Some(p) => {
                    if depth < MAX_DEPENDENCY_DEPTH {
                        todo.extend(p.dependencies.iter().map(|d| (d.clone(), depth + 1)));
                    }
                    found.insert(id, p);
                }
                None => absent.push(id),
            }
        }
        absent.sort();
        absent.dedup();
        Ok((found.into_values().collect(), absent))
    }

    /// Refuses a setting that names a package this server does not have, or requires a
    /// profile its packages do not define.
    pub fn check(&self, setting: &Setting) -> Result<()> {
        for id in &setting.packages {
            if PackageId::parse(id).is_err() || self.package(id)?.is_none() {
                return Err(Error::invalid(format!(
                    "package {id} is not available on this server: load it at start \
                     (--profiles, --packages) or install it in the package cache (fhirdir \
                     package install NAME@VERSION)"
                )));
            }
        }
        let policy = self.policy(setting)?;
        for (rtype, urls) in &setting.require_profiles {
            if !fhir::is_resource_type(rtype) {
                return Err(Error::invalid(format!(
                    "require_profiles: {rtype} is not a resource type"
                )));
            }
            for url in urls {
                if policy.profiles.type_of_profile(url).as_deref() != Some(rtype.as_str()) {
                    return Err(Error::invalid(format!(
                        "require_profiles: {url} is not a profile of {rtype} in the tenant's \
                         packages ({})",
                        policy.profiles.packages().join(", ")
                    )));
                }
            }
        }
        Ok(())
    }

    /// The policy of `setting` (built once per distinct packages and required profiles). A
    /// package that is no longer available is left out, and said in the log; a profile it
    /// defined and the tenant requires then fails every validation, by name.
    pub fn policy(&self, setting: &Setting) -> Result<Arc<Policy>> {
        if setting.packages.is_empty()
            && setting.require_profiles.is_empty()
            && self.always.is_empty()
        {
            return Ok(Policy::core());
        }
        let key = format!("{:?}|{:?}", setting.packages, setting.require_profiles);
        if let Some(p) = self.policies.lock().expect("not poisoned").get(&key) {
            return Ok(p.clone());
        }
        let (found, absent) = self.closure(&setting.packages)?;
        let packages = setting.packages.join(", ");
        for id in &absent {
            tracing::warn!(package = %id, of = %packages, "a package (or one it depends on) is not available: its profiles are not checked");
        }
        let set = ProfileSet::new(self.always.iter().chain(&found).map(|p| p.as_ref()));
        for problem in set.problems() {
            tracing::warn!(%problem, of = %packages, "a profile refers to a definition that is not loaded: validating against it gives an error");
        }
        let policy = Arc::new(Policy {
            profiles: Arc::new(set),
            require: setting.require_profiles.clone(),
        });
        self.policies
            .lock()
            .expect("not poisoned")
            .insert(key, policy.clone());
        Ok(policy)
    }
}
