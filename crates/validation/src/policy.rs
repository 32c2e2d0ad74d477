//! What one tenant validates against: the profiles of its packages, and the profiles every
//! resource of a type must meet whether it declares them or not (`require_profiles`).

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use serde_json::Value;

use crate::{Issue, ProfileSet};

/// A tenant's validation: [`ProfileSet::validate`] with its required profiles.
#[derive(Debug, Default)]
pub struct Policy {
    pub profiles: Arc<ProfileSet>,
    /// Resource type -> profile URLs every resource of the type is validated against.
    pub require: BTreeMap<String, Vec<String>>,
}

impl Policy {
    /// R4 core and nothing else (no package loaded, no profile required).
    pub fn core() -> Arc<Policy> {
        static CORE: OnceLock<Arc<Policy>> = OnceLock::new();
        CORE.get_or_init(Arc::default).clone()
    }

    /// Every issue of `resource` (errors first).
    pub fn validate(&self, resource: &Value) -> Vec<Issue> {
        self.validate_also(resource, &[])
    }

    /// [`Self::validate`], against `also` too (`$validate`'s `profile`).
    pub fn validate_also(&self, resource: &Value, also: &[String]) -> Vec<Issue> {
        let rt = resource.get("resourceType").and_then(Value::as_str);
        let required = rt.and_then(|t| self.require.get(t));
        let mut all: Vec<String> = required.cloned().unwrap_or_default();
        all.extend(also.iter().cloned());
        self.profiles.validate(resource, &all)
    }
}
