//! Walks a resource against compiled profiles: at each element a layer constrains, its
//! cardinality, allowed types, fixed and pattern values, bindings, invariants and reference
//! targets, then its slices (<https://hl7.org/fhir/R4/profiling.html#slicing>).

use fhirpath::Env;
use serde_json::{Map, Value};

use super::compile::{extension_slicing, implied_slicing, Cond, Elem, Profile, Rules, Strength};
use super::pattern::{equals_fixed, matches_pattern, values_at};
use super::{extensions, unversioned, ProfileSet};
use crate::issue::at;
use crate::{Issue, IssueSeverity as Severity, IssueType};

/// Deepest nesting of profiles (a slice's profile's slice's profile...).
const MAX_NESTING: usize = 8;

/// Checks `resource` against the profiles it declares and `required`, its contained
/// resources against theirs, and its extensions against their definitions.
pub(crate) fn resource(
    set: &ProfileSet,
    resource: &Value,
    required: &[String],
    out: &mut Vec<Issue>,
) {
    let Some(rt) = resource.get("resourceType").and_then(Value::as_str) else {
        return;
    };
    let mut c = Checker {
        set,
        env: Env::new(),
        root: resource,
        issues: out,
        depth: 0,
    };
    let mut urls: Vec<&str> = declared(resource);
    urls.extend(required.iter().map(String::as_str));
    urls.sort_unstable();
    urls.dedup();
    for url in urls {
        c.against(url, resource, rt, required.iter().any(|r| r == url));
    }
    let contained = resource.get("contained").and_then(Value::as_array);
    for (i, item) in contained.into_iter().flatten().enumerate() {
        for url in declared(item) {
            c.against(url, item, &format!("{rt}.contained[{i}]"), false);
        }
    }
    if !set.is_empty() {
        extensions::check(&mut c, resource, rt);
    }
}

fn declared(resource: &Value) -> Vec<&str> {
    resource
        .pointer("/meta/profile")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

pub(crate) struct Checker<'c> {
    pub set: &'c ProfileSet,
    env: Env,
    pub root: &'c Value,
    pub issues: &'c mut Vec<Issue>,
    depth: usize,
}

impl Checker<'_> {
    pub fn issue(&mut self, severity: Severity, code: IssueType, path: &str, diagnostics: String) {
        self.issues.push(at(severity, code, path, diagnostics));
    }

    /// `value` (at `loc`) against the profile `url`. A profile that is not loaded is a
    /// warning when the resource merely declares it (it is not checked), an error when the
    /// tenant or the caller requires it.
    fn against(&mut self, url: &str, value: &Value, loc: &str, required: bool) {
        if !self.set.has_profile(url) {
            let (severity, why) = if required {
                (Severity::Error, "it is required, but it is not loaded")
            } else {
                (Severity::Warning, "it is not loaded, so it was not checked")
            };
            self.issue(
                severity,
                IssueType::NotFound,
                loc,
                format!("profile {url}: {why}"),
            );
            return;
        }
        let p = self.set.profile(url);
        self.conforms(&p, value, loc);
    }

    /// `value` (at `loc`) against the compiled profile `p`.
    pub fn conforms(&mut self, p: &Profile, value: &Value, loc: &str) {
        for m in &p.missing {
            self.issue(
                Severity::Error,
                IssueType::NotFound,
                loc,
                format!("profile {} cannot be checked in full: {m}", p.url),
            );
        }
        if self.depth >= MAX_NESTING {
            return;
        }
        self.depth += 1;
        if let Some(rt) = value.get("resourceType").and_then(Value::as_str) {
            if p.type_name != rt && !p.type_name.is_empty() && value.is_object() {
                self.issue(
                    Severity::Error,
                    IssueType::Structure,
                    loc,
                    format!("profile {} is for {}, not {rt}", p.url, p.type_name),
                );
            }
        }
        for layer in &p.layers {
            self.element(p, layer, value, &p.type_name, loc);
        }
        self.depth -= 1;
    }

    /// The rules of `elem` on one value (of type `type_code`) at `loc`, then its children.
    fn element(&mut self, p: &Profile, elem: &Elem, value: &Value, type_code: &str, loc: &str) {
        if let Some(f) = &elem.fixed {
            if !equals_fixed(f, value) {
                self.issue(
                    Severity::Error,
                    IssueType::Value,
                    loc,
                    format!("{} must be exactly {f} ({})", elem.id, p.url),
                );
            }
        }
        if let Some(pat) = &elem.pattern {
            if !matches_pattern(pat, value) {
                self.issue(
                    Severity::Error,
                    IssueType::Value,
                    loc,
                    format!("{} must match the pattern {pat} ({})", elem.id, p.url),
                );
            }
        }
        if let Some(b) = &elem.binding {
            self.binding(p, elem, b.strength, &b.value_set, value, loc);
        }
        for inv in &elem.invariants {
            if let Some(i) = inv.check(self.root, value, &self.env, || loc.to_owned(), Some(&p.url))
            {
                self.issues.push(i);
            }
        }
        for t in elem
            .types
            .iter()
            .filter(|t| t.code == type_code || elem.types.len() == 1)
        {
            if t.code == "Reference" && !t.target_profiles.is_empty() {
                self.reference_target(p, elem, &t.target_profiles, value, loc);
            }
            if t.code != "Extension" {
                for prof in &t.profiles {
                    if self.set.has_profile(prof) {
                        let nested = self.set.profile(prof);
                        self.conforms(&nested, value, loc);
                    }
                }
            }
        }
        let Some(obj) = value.as_object() else {
            return;
        };
        for (name, child) in &elem.children {
            self.child(p, child, name, obj, loc);
        }
    }

    /// The values of the child `name` of `obj` against `child`.
    fn child(
        &mut self,
        p: &Profile,
        child: &Elem,
        name: &str,
        obj: &Map<String, Value>,
        loc: &str,
    ) {
        let mut items: Vec<Item<'_>> = Vec::new();
        match name.strip_suffix("[x]") {
            Some(stem) => {
                for (k, v) in obj {
                    let Some(rest) = k.strip_prefix(stem) else {
                        continue;
                    };
                    if rest.starts_with(|c: char| c.is_ascii_uppercase()) {
                        collect(&mut items, k, v, rest);
                    }
                }
            }
            None => {
                if let Some((k, v)) = obj.get_key_value(name) {
                    collect(&mut items, k, v, only_type(&child.types));
                }
            }
        }
        let count = items.len() as u32;
        if let Some(min) = child.min.filter(|&m| count < m) {
            self.issue(
                Severity::Error,
                IssueType::Required,
                loc,
                format!(
                    "missing required element `{name}`: {} requires at least {min}, found {count} ({})",
                    child.id, p.url
                ),
            );
        }
        if let Some(max) = child.max.filter(|&m| count > m) {
            // At the element as written (`valueString` for `value[x]`).
            let key = items.first().map_or(name, |i| i.0);
            self.issue(
                Severity::Error,
                IssueType::Structure,
                &format!("{loc}.{key}"),
                format!(
                    "{} allows at most {max}, found {count} ({})",
                    child.id, p.url
                ),
            );
        }
        for (key, index, value, ty) in &items {
            let item_loc = match index {
                Some(i) => format!("{loc}.{key}[{i}]"),
                None => format!("{loc}.{key}"),
            };
            if name.ends_with("[x]") && !child.types.is_empty() {
                let allowed = child.types.iter().any(|t| t.code.eq_ignore_ascii_case(ty));
                if !allowed {
                    let codes: Vec<&str> = child.types.iter().map(|t| t.code.as_str()).collect();
                    self.issue(
                        Severity::Error,
                        IssueType::Structure,
                        &item_loc,
                        format!(
                            "{} allows the types {}, not {ty} ({})",
                            child.id,
                            codes.join(", "),
                            p.url
                        ),
                    );
                }
            }
            let ty = child
                .types
                .iter()
                .find(|t| t.code.eq_ignore_ascii_case(ty))
                .map_or(*ty, |t| t.code.as_str());
            self.element(p, child, value, ty, &item_loc);
        }
        if !child.slices.is_empty() {
            self.slices(p, child, name, &items, loc);
        }
    }

    /// Assigns each item to the slice it matches and checks it there; then the slices'
    /// cardinalities and a closed slicing.
    fn slices(&mut self, p: &Profile, sliced: &Elem, name: &str, items: &[Item<'_>], loc: &str) {
        let slicing = sliced
            .slicing
            .clone()
            .or_else(|| p.slicing.get(&sliced.id).cloned())
            .or_else(|| implied_slicing(&sliced.id))
            .or_else(|| {
                (name == "extension" || name == "modifierExtension").then(extension_slicing)
            });
        let Some(slicing) = slicing else {
            return;
        };
        let mut counts = vec![0u32; sliced.slices.len()];
        // For `ordered` and `openAtEnd`: the last slice an item was of, and whether an item
        // of no slice came before.
        let (mut last, mut unsliced_before) = (0usize, false);
        for (key, index, value, ty) in items {
            let item_loc = match index {
                Some(i) => format!("{loc}.{key}[{i}]"),
                None => format!("{loc}.{key}"),
            };
            let found = sliced.slices.iter().position(|(_, s)| {
                p.matchers
                    .get(&s.id)
                    .is_some_and(|conds| conds.iter().all(|c| self.matches(c, value, ty)))
            });
            if let Some(i) = found {
                let out_of_order = slicing.ordered && i < last;
                let after_open_end = slicing.rules == Rules::OpenAtEnd && unsliced_before;
                if out_of_order || after_open_end {
                    let why = if out_of_order {
                        "comes after an item of a later slice, and the slicing is ordered"
                    } else {
                        "comes after an item of no slice, and the slicing is open at the end only"
                    };
                    self.issue(
                        Severity::Error,
                        IssueType::Structure,
                        &item_loc,
                        format!(
                            "this item of the slice {} {why} ({}; {})",
                            sliced.slices[i].0, sliced.id, p.url
                        ),
                    );
                }
                last = last.max(i);
            } else {
                unsliced_before = true;
            }
            match found {
                Some(i) => {
                    counts[i] += 1;
                    let slice = &sliced.slices[i].1;
                    self.element(p, slice, value, ty, &item_loc);
                }
                None if slicing.rules == Rules::Closed
                    && !self.in_another_layers_slice(p, &sliced.id, value, ty) =>
                {
                    self.issue(
                        Severity::Error,
                        IssueType::Structure,
                        &item_loc,
                        format!(
                            "matches none of the slices of {}, whose slicing is closed ({})",
                            sliced.id, p.url
                        ),
                    )
                }
                None => {}
            }
        }
        for ((slice_name, slice), n) in sliced.slices.iter().zip(counts) {
            if let Some(min) = slice.min.filter(|&m| n < m) {
                self.issue(
                    Severity::Error,
                    IssueType::Required,
                    loc,
                    format!(
                        "missing required element `{name}` of the slice {slice_name}: {} requires at least {min}, found {n} ({})",
                        slice.id, p.url
                    ),
                );
            }
            if let Some(max) = slice.max.filter(|&m| n > m) {
                self.issue(
                    Severity::Error,
                    IssueType::Structure,
                    &format!("{loc}.{name}"),
                    format!(
                        "the slice {} allows at most {max}, found {n} ({})",
                        slice.id, p.url
                    ),
                );
            }
        }
    }

    /// Whether `item` is of a slice of `sliced` that another layer declares (a derived
    /// profile may close a slicing whose slices its base declared).
    fn in_another_layers_slice(
        &mut self,
        p: &Profile,
        sliced: &str,
        item: &Value,
        ty: &str,
    ) -> bool {
        let Some(ids) = p.slices_of.get(sliced) else {
            return false;
        };
        ids.iter().any(|id| {
            p.matchers
                .get(id)
                .is_some_and(|conds| conds.iter().all(|c| self.matches(c, item, ty)))
        })
    }

    fn matches(&mut self, cond: &Cond, item: &Value, ty: &str) -> bool {
        match cond {
            Cond::Value {
                path,
                value,
                pattern,
            } => values_at(item, path).into_iter().any(|v| {
                if *pattern {
                    matches_pattern(value, v)
                } else {
                    equals_fixed(value, v)
                }
            }),
            Cond::Binding { path, value_set } => {
                let Some(exp) = self.set.expansion(value_set) else {
                    return false;
                };
                values_at(item, path)
                    .into_iter()
                    .any(|v| codes_of(v).iter().any(|(s, c)| exp.contains(*s, c)))
            }
            Cond::Type { codes, .. } => codes.iter().any(|c| c.eq_ignore_ascii_case(ty)),
            Cond::Profile { path, profiles } => values_at(item, path).into_iter().any(|v| {
                profiles.iter().any(|prof| {
                    if !self.set.has_profile(prof) {
                        return false;
                    }
                    let compiled = self.set.profile(prof);
                    let mut scratch = Vec::new();
                    let mut sub = Checker {
                        set: self.set,
                        env: Env::new(),
                        root: self.root,
                        issues: &mut scratch,
                        depth: self.depth + 1,
                    };
                    sub.conforms(&compiled, v, "");
                    !crate::has_errors(&scratch)
                })
            }),
            Cond::Exists { path, exists } => values_at(item, path).is_empty() != *exists,
            Cond::Undetermined(_) => false,
        }
    }

    fn binding(
        &mut self,
        p: &Profile,
        elem: &Elem,
        strength: Strength,
        vs: &str,
        value: &Value,
        loc: &str,
    ) {
        let Some(exp) = self.set.expansion(vs) else {
            if strength == Strength::Required {
                self.issue(
                    Severity::Warning,
                    IssueType::NotFound,
                    loc,
                    format!(
                        "the value set {vs} that {} requires is not loaded: the code was not checked",
                        elem.id
                    ),
                );
            }
            return;
        };
        let codings = codes_of(value);
        if codings.is_empty() || codings.iter().any(|(s, c)| exp.contains(*s, c)) {
            return;
        }
        let shown: Vec<String> = codings
            .iter()
            .map(|(s, c)| match s {
                Some(s) => format!("`{s}|{c}`"),
                None => format!("`{c}`"),
            })
            .collect();
        let (severity, word) = match strength {
            Strength::Required => (Severity::Error, "requires"),
            Strength::Extensible => (Severity::Warning, "expects (extensible)"),
            Strength::Preferred => (Severity::Warning, "prefers"),
        };
        self.issue(
            severity,
            IssueType::CodeInvalid,
            loc,
            format!(
                "{} is not in the value set {vs} that {} {word} ({})",
                shown.join(", "),
                elem.id,
                p.url
            ),
        );
    }

    /// A literal reference must name a type one of the target profiles constrains (when
    /// every target profile is known).
    fn reference_target(
        &mut self,
        p: &Profile,
        elem: &Elem,
        targets: &[String],
        value: &Value,
        loc: &str,
    ) {
        let Some(rtype) = value
            .get("reference")
            .and_then(Value::as_str)
            .and_then(crate::references::literal_type)
        else {
            return;
        };
        let types: Option<Vec<String>> = targets.iter().map(|t| self.set.type_of(t)).collect();
        let Some(types) = types else {
            return;
        };
        if types.iter().any(|t| t == rtype || t == "Resource") {
            return;
        }
        let shown: Vec<&str> = targets.iter().map(|t| unversioned(t)).collect();
        self.issue(
            Severity::Error,
            IssueType::Structure,
            &format!("{loc}.reference"),
            format!(
                "a reference to a {rtype} is not allowed here: {} points to {} ({})",
                elem.id,
                shown.join(" or "),
                p.url
            ),
        );
    }
}

/// One value of an element: its JSON name, index in the array (if one), value, and type.
type Item<'v> = (&'v str, Option<usize>, &'v Value, &'v str);

/// The items of one JSON value (an array's, or itself), with their type (`ty`).
fn collect<'v>(items: &mut Vec<Item<'v>>, key: &'v str, v: &'v Value, ty: &'v str) {
    match v {
        Value::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                items.push((key, Some(i), item, ty));
            }
        }
        one => items.push((key, None, one, ty)),
    }
}

/// The type of a non-choice element: its only type, or (unknown) empty.
fn only_type(types: &[super::compile::TypeRule]) -> &str {
    match types {
        [one] => one.code.as_str(),
        _ => "",
    }
}

/// The codes of a `code`, Coding or CodeableConcept value, with their systems.
fn codes_of(value: &Value) -> Vec<(Option<&str>, &str)> {
    match value {
        Value::String(code) => vec![(None, code.as_str())],
        Value::Object(o) if o.contains_key("coding") => values_at(value, "coding")
            .into_iter()
            .filter_map(|c| {
                let code = c.get("code").and_then(Value::as_str)?;
                Some((c.get("system").and_then(Value::as_str), code))
            })
            .collect(),
        Value::Object(o) => match o.get("code").and_then(Value::as_str) {
            Some(code) => vec![(o.get("system").and_then(Value::as_str), code)],
            None => Vec::new(),
        },
        _ => Vec::new(),
    }
}
