//! Value sets of the loaded packages, expanded as far as their definitions allow
//! (<https://hl7.org/fhir/R4/valueset.html#compositions>): enumerated concepts, whole code
//! systems that are loaded, imported value sets, and R4 core's own value sets. A system
//! that is not loaded (NUCC, LOINC, SNOMED CT) or selected by a filter cannot be
//! enumerated: its codes are accepted, never refused on a guess.

use std::sync::Arc;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use serde_json::Value;

use super::{unversioned, ProfileSet};
use crate::core_table::CoreTable;

/// Deepest chain of imported value sets followed.
const MAX_IMPORTS: usize = 8;

/// What a value set holds, by system: the codes, or `None` when the system's codes cannot
/// be enumerated here.
#[derive(Debug, Default)]
pub(crate) struct Expansion {
    systems: HashMap<String, Option<HashSet<String>>>,
}

impl Expansion {
    /// Whether `system|code` (or `code` alone, for a `code` element) is in it.
    pub fn contains(&self, system: Option<&str>, code: &str) -> bool {
        match system {
            Some(s) => match self.systems.get(s) {
                Some(None) => true,
                Some(Some(codes)) => codes.contains(code),
                None => false,
            },
            None => self.systems.values().any(|c| match c {
                None => true,
                Some(codes) => codes.contains(code),
            }),
        }
    }

    fn add_all(&mut self, system: &str) {
        self.systems.insert(system.to_owned(), None);
    }

    fn add(&mut self, system: &str, code: &str) {
        if let Some(codes) = self
            .systems
            .entry(system.to_owned())
            .or_insert_with(|| Some(HashSet::default()))
        {
            codes.insert(code.to_owned());
        }
    }

    fn merge(&mut self, other: &Expansion) {
        for (s, codes) in &other.systems {
            match codes {
                None => self.add_all(s),
                Some(codes) => {
                    for c in codes {
                        self.add(s, c);
                    }
                }
            }
        }
    }
}

impl ProfileSet {
    /// The expansion of value set `url`, `None` when it is neither loaded nor R4 core's.
    pub(crate) fn expansion(&self, url: &str) -> Option<Arc<Expansion>> {
        let url = unversioned(url);
        if let Some(e) = self.expansions.read().expect("not poisoned").get(url) {
            return e.clone();
        }
        let e = self.expand(url, 0).map(Arc::new);
        self.expansions
            .write()
            .expect("not poisoned")
            .insert(url.to_owned(), e.clone());
        e
    }

    fn expand(&self, url: &str, depth: usize) -> Option<Expansion> {
        let mut out = Expansion::default();
        let Some(vs) = self.value_sets.get(url) else {
            let core = CoreTable::r4().value_set(url)?;
            for (system, codes) in &core.codes {
                for c in codes {
                    out.add(system, c);
                }
            }
            return Some(out);
        };
        if let Some(contains) = vs.pointer("/expansion/contains").and_then(Value::as_array) {
            add_contains(&mut out, contains);
            return Some(out);
        }
        let includes = vs.pointer("/compose/include").and_then(Value::as_array);
        for inc in includes.into_iter().flatten() {
            let imports = inc.get("valueSet").and_then(Value::as_array);
            for imported in imports.into_iter().flatten().filter_map(Value::as_str) {
                match (depth < MAX_IMPORTS)
                    .then(|| self.expand(unversioned(imported), depth + 1))
                    .flatten()
                {
                    Some(e) => out.merge(&e),
                    // An import that cannot be expanded: accept what it might hold.
                    None => return None,
                }
            }
            let Some(system) = inc.get("system").and_then(Value::as_str) else {
                continue;
            };
            if let Some(concepts) = inc.get("concept").and_then(Value::as_array) {
                for c in concepts {
                    if let Some(code) = c.get("code").and_then(Value::as_str) {
                        out.add(system, code);
                    }
                }
            } else if inc.get("filter").is_some() {
                out.add_all(system);
            } else {
                match self.code_systems.get(system) {
                    Some(cs) if cs.get("content").and_then(Value::as_str) == Some("complete") => {
                        add_concepts(&mut out, system, cs.get("concept"));
                    }
                    _ => out.add_all(system),
                }
            }
        }
        Some(out)
    }
}

fn add_concepts(out: &mut Expansion, system: &str, concepts: Option<&Value>) {
    out.systems
        .entry(system.to_owned())
        .or_insert_with(|| Some(HashSet::default()));
    for c in concepts.and_then(Value::as_array).into_iter().flatten() {
        if let Some(code) = c.get("code").and_then(Value::as_str) {
            out.add(system, code);
        }
        add_concepts(out, system, c.get("concept"));
    }
}

fn add_contains(out: &mut Expansion, contains: &[Value]) {
    for c in contains {
        if let (Some(s), Some(code)) = (
            c.get("system").and_then(Value::as_str),
            c.get("code").and_then(Value::as_str),
        ) {
            out.add(s, code);
        }
        if let Some(inner) = c.get("contains").and_then(Value::as_array) {
            add_contains(out, inner);
        }
    }
}
