//! Compiles a StructureDefinition into the element trees the checker walks: one [`Elem`]
//! per element id (`Organization.identifier:NPI.system` is the child `system` of the slice
//! `NPI` of the child `identifier` of the root), with only the rules the layer adds.

use std::sync::Arc;

use fhirpath::Expression;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use serde_json::Value;

use super::{unversioned, ProfileSet, CORE_PREFIX};
use crate::core_table::{CoreTable, Invariant};
use crate::IssueSeverity as Severity;

/// Deepest chain of bases followed.
const MAX_DEPTH: usize = 12;

/// A compiled profile.
#[derive(Debug, Default)]
pub(crate) struct Profile {
    pub url: String,
    /// The type it constrains (`Organization`, `Extension`).
    pub type_name: String,
    /// Its extension's context (`StructureDefinition.context`), for an extension.
    pub contexts: Vec<(String, String)>,
    /// Base first.
    pub layers: Vec<Arc<Elem>>,
    /// What it refers to that is not loaded (its base, profiles and extensions its elements
    /// name): each an error of every validation against it.
    pub missing: Vec<String>,
    /// Element id -> its slicing, from whichever layer declares it.
    pub slicing: HashMap<String, Arc<Slicing>>,
    /// Slice id -> how an item is recognised as one of the slice's.
    pub matchers: HashMap<String, Arc<Vec<Cond>>>,
    /// Sliced element id -> the ids of its slices in every layer (a closed slicing admits an
    /// item of any of them, whichever layer declared the slice).
    pub slices_of: HashMap<String, Vec<String>>,
}

/// The rules one layer puts on an element.
#[derive(Debug, Default)]
pub(crate) struct Elem {
    pub id: String,
    pub min: Option<u32>,
    /// A finite maximum (`*` is none).
    pub max: Option<u32>,
    pub types: Vec<TypeRule>,
    pub fixed: Option<Value>,
    pub pattern: Option<Value>,
    pub binding: Option<Binding>,
    pub invariants: Vec<Invariant>,
    pub slicing: Option<Arc<Slicing>>,
    pub slices: Vec<(String, Elem)>,
    /// By JSON name: `identifier`, `value[x]`, or a renamed choice (`valueQuantity`).
    pub children: Vec<(String, Elem)>,
}

#[derive(Debug, Clone)]
pub(crate) struct TypeRule {
    pub code: String,
    pub profiles: Vec<String>,
    pub target_profiles: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strength {
    Required,
    Extensible,
    Preferred,
}

#[derive(Debug, Clone)]
pub(crate) struct Binding {
    pub strength: Strength,
    pub value_set: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rules {
    Open,
    Closed,
    OpenAtEnd,
}

#[derive(Debug)]
pub(crate) struct Slicing {
    pub discriminators: Vec<(String, String)>,
    pub rules: Rules,
    /// Items must come in the order of the slices.
    pub ordered: bool,
}

/// One discriminator's test of an item.
#[derive(Debug)]
pub(crate) enum Cond {
    /// The values at `path` include one equal to `value` (or containing it, `pattern`).
    Value {
        path: String,
        value: Value,
        pattern: bool,
    },
    /// A code at `path` is in the value set (a slice told apart by a required binding).
    Binding { path: String, value_set: String },
    /// The item's type is one of these.
    Type { codes: Vec<String> },
    /// The item conforms to one of these profiles.
    Profile { path: String, profiles: Vec<String> },
    /// Something is (or is not) at `path`.
    Exists { path: String, exists: bool },
    /// The slice gives no value for the discriminator: no item can be told to be its (the
    /// profile names it among what is missing).
    Undetermined(String),
}

/// The implied slicing of `extension` and `modifierExtension` (by `url`, open).
pub(crate) fn extension_slicing() -> Arc<Slicing> {
    Arc::new(Slicing {
        discriminators: vec![("value".to_owned(), "url".to_owned())],
        rules: Rules::Open,
        ordered: false,
    })
}

/// The element named `name` in `list`, added when absent.
fn named_mut<'e>(list: &'e mut Vec<(String, Elem)>, name: &str) -> &'e mut Elem {
    let i = match list.iter().position(|(n, _)| n == name) {
        Some(i) => i,
        None => {
            list.push((name.to_owned(), Elem::default()));
            list.len() - 1
        }
    };
    &mut list[i].1
}

impl Elem {
    fn child_mut(&mut self, name: &str) -> &mut Elem {
        named_mut(&mut self.children, name)
    }

    fn slice_mut(&mut self, name: &str) -> &mut Elem {
        named_mut(&mut self.slices, name)
    }

    /// The element at `path` (JSON names, dotted) below this one.
    pub fn descendant(&self, path: &str) -> Option<&Elem> {
        if path.is_empty() || path == "$this" {
            return Some(self);
        }
        let mut at = self;
        for step in path.split('.') {
            at = at
                .children
                .iter()
                .find(|(n, _)| n == step || n.strip_suffix("[x]").is_some_and(|s| step == s))
                .map(|(_, e)| e)?;
        }
        Some(at)
    }

    fn visit<'e>(&'e self, out: &mut Vec<&'e Elem>) {
        out.push(self);
        for (_, c) in self.children.iter().chain(&self.slices) {
            c.visit(out);
        }
    }
}

/// The implied slicing of a choice element by type (`value[x]:Accessibility` with one type,
/// as the older profiles write a type restriction).
pub(crate) fn type_slicing() -> Arc<Slicing> {
    Arc::new(Slicing {
        discriminators: vec![("type".to_owned(), "$this".to_owned())],
        rules: Rules::Open,
        ordered: false,
    })
}

/// The slicing of `id` when no layer declares one: implied for extensions and choices.
pub(crate) fn implied_slicing(id: &str) -> Option<Arc<Slicing>> {
    if is_extension_id(id) {
        Some(extension_slicing())
    } else if id.ends_with("[x]") {
        Some(type_slicing())
    } else {
        None
    }
}

/// Compiles the StructureDefinition `url` of `set` (`depth` bases deep).
pub(crate) fn compile(set: &ProfileSet, url: &str, depth: usize) -> Profile {
    let mut p = Profile {
        url: url.to_owned(),
        ..Profile::default()
    };
    let Some(sd) = set.structure(url) else {
        p.missing.push(format!("the profile {url} is not loaded"));
        return p;
    };
    p.type_name = str_at(sd, "type").to_owned();
    for c in sd
        .get("context")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        p.contexts.push((
            str_at(c, "type").to_owned(),
            str_at(c, "expression").to_owned(),
        ));
    }
    let snapshot = sd.pointer("/snapshot/element").and_then(Value::as_array);
    let elements = match snapshot {
        Some(s) => s,
        None => {
            let base = str_at(sd, "baseDefinition");
            if !base.is_empty() && !unversioned(base).starts_with(CORE_PREFIX) {
                if depth >= MAX_DEPTH || !set.has_profile(base) {
                    p.missing
                        .push(format!("its base profile {base} is not loaded"));
                } else {
                    let b = set.profile_at(base, depth + 1);
                    p.layers.extend(b.layers.iter().cloned());
                    p.missing.extend(b.missing.iter().cloned());
                    p.slicing
                        .extend(b.slicing.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
            match sd
                .pointer("/differential/element")
                .and_then(Value::as_array)
            {
                Some(d) => d,
                None => return p,
            }
        }
    };
    let core = CoreTable::r4();
    let mut root = Elem {
        id: p.type_name.clone(),
        ..Elem::default()
    };
    for e in elements {
        add_element(&mut root, e, snapshot.is_some(), core, &mut p.missing, set);
    }
    p.layers.push(Arc::new(root));
    let mut all = Vec::new();
    for l in &p.layers {
        l.visit(&mut all);
    }
    for e in &all {
        if let Some(s) = &e.slicing {
            p.slicing.insert(e.id.clone(), s.clone());
        }
    }
    let slice_ids: HashSet<&str> = all
        .iter()
        .flat_map(|e| e.slices.iter().map(|(_, s)| s.id.as_str()))
        .collect();
    for id in &slice_ids {
        let sliced = id.rsplit_once(':').map_or(*id, |(s, _)| s);
        p.slices_of
            .entry(sliced.to_owned())
            .or_default()
            .push((*id).to_owned());
    }
    for id in slice_ids {
        let sliced = id.rsplit_once(':').map_or(id, |(s, _)| s);
        let slicing = p
            .slicing
            .get(sliced)
            .cloned()
            .or_else(|| implied_slicing(sliced));
        let Some(slicing) = slicing else {
            p.missing.push(format!(
                "the slices of {sliced} have no slicing (no discriminator) in any layer"
            ));
            continue;
        };
        let same: Vec<&Elem> = all.iter().copied().filter(|e| e.id == id).collect();
        let conds: Vec<Cond> = slicing
            .discriminators
            .iter()
            .map(|(kind, path)| condition(kind, path, &same))
            .collect();
        for c in &conds {
            if let Cond::Undetermined(why) = c {
                p.missing.push(format!(
                    "no item can be recognised as of the slice {id}: {why}"
                ));
            }
        }
        p.matchers.insert(id.to_owned(), Arc::new(conds));
    }
    p.missing.sort();
    p.missing.dedup();
    p
}

fn is_extension_id(id: &str) -> bool {
    let last = id.rsplit('.').next().unwrap_or(id);
    last == "extension" || last == "modifierExtension"
}

/// A discriminator's test, from the slice's definitions in every layer.
fn condition<'a>(kind: &str, path: &str, slice: &[&'a Elem]) -> Cond {
    let path_s = path.to_owned();
    fn at<'e>(e: &&'e Elem, path: &str) -> Option<&'e Elem> {
        e.descendant(path)
    }
    let at = |e: &&'a Elem| at(e, path);
    match kind {
        "value" | "pattern" => {
            for e in slice.iter().filter_map(at) {
                if let Some(v) = &e.fixed {
                    return Cond::Value {
                        path: path_s,
                        value: v.clone(),
                        pattern: false,
                    };
                }
                if let Some(v) = &e.pattern {
                    return Cond::Value {
                        path: path_s,
                        value: v.clone(),
                        pattern: true,
                    };
                }
            }
            // An extension slice names its extension by profile, whose URL is the
            // slice's `url` (FHIR R4 profiling, "extensions").
            if path == "url" {
                if let Some(p) = slice
                    .iter()
                    .flat_map(|e| &e.types)
                    .flat_map(|t| &t.profiles)
                    .next()
                {
                    return Cond::Value {
                        path: path_s,
                        value: Value::String(unversioned(p).to_owned()),
                        pattern: false,
                    };
                }
            }
            // A required binding tells slices apart too (R4 ElementDefinition.slicing:
            // "value" uses fixed[x], pattern[x] or a required binding).
            let bound = slice.iter().filter_map(at).find_map(|e| {
                e.binding
                    .as_ref()
                    .filter(|b| b.strength == Strength::Required)
            });
            if let Some(b) = bound {
                return Cond::Binding {
                    path: path_s,
                    value_set: b.value_set.clone(),
                };
            }
            Cond::Undetermined(format!(
                "no fixed value, pattern or required binding at {path}"
            ))
        }
        "type" => {
            let codes: Vec<String> = slice
                .iter()
                .filter_map(at)
                .flat_map(|e| e.types.iter().map(|t| t.code.clone()))
                .collect();
            if codes.is_empty() {
                Cond::Undetermined(format!("no type at {path}"))
            } else {
                Cond::Type { codes }
            }
        }
        "profile" => {
            let profiles: Vec<String> = slice
                .iter()
                .filter_map(at)
                .flat_map(|e| e.types.iter().flat_map(|t| t.profiles.clone()))
                .collect();
            if profiles.is_empty() {
                Cond::Undetermined(format!("no profile at {path}"))
            } else {
                Cond::Profile {
                    path: path_s,
                    profiles,
                }
            }
        }
        "exists" => {
            let e = slice
                .iter()
                .filter_map(at)
                .find(|e| e.min.is_some() || e.max.is_some());
            match e {
                Some(e) if e.min.unwrap_or(0) >= 1 => Cond::Exists {
                    path: path_s,
                    exists: true,
                },
                Some(e) if e.max == Some(0) => Cond::Exists {
                    path: path_s,
                    exists: false,
                },
                _ => Cond::Undetermined(format!("no cardinality at {path}")),
            }
        }
        other => Cond::Undetermined(format!("discriminator type {other}")),
    }
}

/// Adds one ElementDefinition to the tree under `root`. In a snapshot, what R4 core checks
/// anyway (its invariants and its own required bindings) is left out.
fn add_element(
    root: &mut Elem,
    e: &Value,
    from_snapshot: bool,
    core: &CoreTable,
    missing: &mut Vec<String>,
    set: &ProfileSet,
) {
    let id = e
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_else(|| str_at(e, "path"));
    let mut node: &mut Elem = root;
    // The id of each element on the way, given to those this layer only passes through
    // (`Practitioner.identifier:NPI` for a differential that lists `...:NPI.period` alone).
    let mut prefix = id.split('.').next().unwrap_or_default().to_owned();
    for part in id.split('.').skip(1) {
        let (name, slice) = match part.split_once(':') {
            Some((n, s)) => (n, Some(s)),
            None => (part, None),
        };
        // `value[x]:valueQuantity` is the renamed choice `valueQuantity`.
        let renamed = match (name.strip_suffix("[x]"), slice) {
            (Some(stem), Some(s)) if s.starts_with(stem) && s.len() > stem.len() => Some(s),
            _ => None,
        };
        node = match (renamed, slice) {
            (Some(r), _) => node.child_mut(r),
            (None, Some(s)) => {
                let sliced = node.child_mut(name);
                if sliced.id.is_empty() {
                    sliced.id = format!("{prefix}.{name}");
                }
                sliced.slice_mut(s)
            }
            (None, None) => node.child_mut(name),
        };
        prefix = format!("{prefix}.{part}");
        if node.id.is_empty() {
            node.id = prefix.clone();
        }
    }
    node.id = id.to_owned();
    let base_path = e
        .pointer("/base/path")
        .and_then(Value::as_str)
        .unwrap_or_else(|| str_at(e, "path"));
    if let Some(m) = e.get("min").and_then(Value::as_u64) {
        node.min = Some(m as u32);
    }
    if let Some(m) = e.get("max").and_then(Value::as_str) {
        node.max = m.parse().ok();
    }
    for t in e
        .get("type")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let list = |k: &str| -> Vec<String> {
            t.get(k)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|s| unversioned(s).to_owned())
                .collect()
        };
        let rule = TypeRule {
            code: str_at(t, "code").to_owned(),
            profiles: list("profile"),
            target_profiles: list("targetProfile"),
        };
        for p in &rule.profiles {
            if !p.starts_with(CORE_PREFIX) && !set.has_profile(p) {
                missing.push(format!("{id} names the profile {p}, which is not loaded"));
            }
        }
        node.types.push(rule);
    }
    if let Some(obj) = e.as_object() {
        for (k, v) in obj {
            if k.starts_with("fixed") && k.len() > 5 {
                node.fixed = Some(v.clone());
            } else if k.starts_with("pattern") && k.len() > 7 {
                node.pattern = Some(v.clone());
            }
        }
    }
    if let Some(b) = e.get("binding") {
        let strength = match str_at(b, "strength") {
            "required" => Some(Strength::Required),
            "extensible" => Some(Strength::Extensible),
            "preferred" => Some(Strength::Preferred),
            _ => None,
        };
        let vs = b.get("valueSet").and_then(Value::as_str).map(unversioned);
        let core_has = |vs: &str| {
            core.required_binding(base_path)
                .is_some_and(|c| unversioned(&c.url) == vs)
        };
        if let (Some(strength), Some(vs)) = (strength, vs) {
            if !(from_snapshot && core_has(vs)) {
                node.binding = Some(Binding {
                    strength,
                    value_set: vs.to_owned(),
                });
            }
        }
    }
    for c in e
        .get("constraint")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = str_at(c, "key");
        if is_core_key(core, key) {
            continue;
        }
        let Some(expr) = c.get("expression").and_then(Value::as_str) else {
            continue;
        };
        node.invariants.push(Invariant {
            key: key.to_owned(),
            severity: if str_at(c, "severity") == "warning" {
                Severity::Warning
            } else {
                Severity::Error
            },
            expression: Expression::parse(expr).map_err(|e| e.to_string()),
            source: expr.to_owned(),
            human: str_at(c, "human").to_owned(),
        });
    }
    if let Some(s) = e.get("slicing") {
        let discriminators = s
            .get("discriminator")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|d| (str_at(d, "type").to_owned(), str_at(d, "path").to_owned()))
            .collect();
        let rules = match str_at(s, "rules") {
            "closed" => Rules::Closed,
            "openAtEnd" => Rules::OpenAtEnd,
            _ => Rules::Open,
        };
        node.slicing = Some(Arc::new(Slicing {
            discriminators,
            rules,
            ordered: s.get("ordered").and_then(Value::as_bool) == Some(true),
        }));
    }
}

/// Whether R4 core defines an invariant with this key (checked by the core pass; a
/// snapshot restates them all).
fn is_core_key(core: &CoreTable, key: &str) -> bool {
    use std::sync::OnceLock;
    static KEYS: OnceLock<HashSet<String>> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        let mut k: HashSet<String> = core.all_invariants().map(|(_, i)| i.key.clone()).collect();
        // Left to the structure pass by the core walk.
        k.insert("ele-1".to_owned());
        k
    });
    keys.contains(key)
}

pub(crate) fn str_at<'v>(v: &'v Value, key: &str) -> &'v str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}
