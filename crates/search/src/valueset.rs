//! ValueSet membership for token `:in` / `:not-in`
//! (<https://hl7.org/fhir/R4/search.html#token>, <https://hl7.org/fhir/R4/valueset.html>).
//!
//! The search value names a ValueSet ([`ValueSetRef`]: a canonical URL, optionally
//! `|version`, or a literal `ValueSet/id`); the store finds it among the tenant's own
//! ValueSet resources and [`expand`]s it here, without a terminology server:
//!
//! - `expansion.contains` (nested entries included, `abstract` ones left out) is used as is
//!   when present;
//! - otherwise `compose.include`: enumerated `concept`s of a `system`, or a whole `system`
//!   (no concepts, no filter) meaning "any code of that system"; `include.valueSet`
//!   imports other ValueSets (resolved by the caller), alone or intersected with a system;
//! - `compose.exclude` removes enumerated concepts (also from a whole-system include) or a
//!   whole system;
//! - `include.filter` / `exclude.filter` (and excluding imported ValueSets) need a
//!   terminology server: [`expand`] refuses them rather than answering wrongly.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::Value;

use crate::SearchError;

/// The largest number of enumerated codes one expansion may hold (the SQL binds each).
pub const MAX_CODES: usize = 10_000;

/// How deeply `include.valueSet` imports may nest.
pub const MAX_IMPORT_DEPTH: usize = 8;

/// The ValueSet a `:in` / `:not-in` value names, and its expansion once the store has
/// resolved it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ValueSetRef {
    /// The value as given.
    pub text: String,
    /// Canonical URL (without `|version`), when the value is one.
    pub url: Option<String>,
    /// `|version` of a canonical URL.
    pub version: Option<String>,
    /// The logical id of a literal `ValueSet/id` reference.
    pub id: Option<String>,
    /// Filled in by the store before the query runs.
    #[serde(skip)]
    pub expansion: Option<Arc<Expansion>>,
}

impl ValueSetRef {
    /// Parses `http://…/ValueSet/x[|version]`, `urn:…` or `ValueSet/id` (already unescaped).
    pub fn parse(value: &str) -> Result<ValueSetRef, SearchError> {
        let bad = |reason: &str| SearchError::value("ValueSet reference", value, reason);
        if let Some(id) = value.strip_prefix("ValueSet/") {
            if !crate::value::is_id(id) {
                return Err(bad("`ValueSet/` must be followed by a valid id"));
            }
            return Ok(ValueSetRef {
                text: value.to_owned(),
                url: None,
                version: None,
                id: Some(id.to_owned()),
                expansion: None,
            });
        }
        if !(value.contains("://") || value.starts_with("urn:")) {
            return Err(bad(
                "expected a ValueSet canonical URL (optionally |version) or ValueSet/id",
            ));
        }
        let (url, version) = match value.split_once('|') {
            Some((u, v)) if !v.is_empty() => (u, Some(v.to_owned())),
            Some((u, _)) => (u, None),
            None => (value, None),
        };
        Ok(ValueSetRef {
            text: value.to_owned(),
            url: Some(url.to_owned()),
            version,
            id: None,
            expansion: None,
        })
    }

    /// Whether `vs` (a ValueSet resource) is the one this reference names.
    pub fn matches(&self, vs: &Value) -> bool {
        let field = |k: &str| vs.get(k).and_then(Value::as_str);
        if let Some(id) = &self.id {
            return field("id") == Some(id.as_str());
        }
        field("url") == self.url.as_deref()
            && self
                .version
                .as_deref()
                .is_none_or(|v| field("version") == Some(v))
    }
}

/// The codes of an expanded ValueSet.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Expansion {
    /// Enumerated codes, by system.
    pub codes: BTreeMap<String, BTreeSet<String>>,
    /// Whole code systems ("any code of the system"), each with the codes excluded from it.
    pub systems: BTreeMap<String, BTreeSet<String>>,
}

impl Expansion {
    /// Whether nothing at all is in the set.
    pub fn is_empty(&self) -> bool {
        self.codes.values().all(BTreeSet::is_empty) && self.systems.is_empty()
    }

    /// Whether `system|code` is in the set.
    pub fn contains(&self, system: &str, code: &str) -> bool {
        self.codes.get(system).is_some_and(|c| c.contains(code))
            || self.systems.get(system).is_some_and(|x| !x.contains(code))
    }

    /// How many codes the SQL for this set binds (enumerated plus excluded).
    pub fn len(&self) -> usize {
        self.codes.values().map(BTreeSet::len).sum::<usize>()
            + self.systems.values().map(BTreeSet::len).sum::<usize>()
    }

    fn add(&mut self, system: &str, code: &str) {
        match self.systems.get_mut(system) {
            // Already covered by the whole system: just make sure it is not excluded.
            Some(excluded) => {
                excluded.remove(code);
            }
            None => {
                self.codes
                    .entry(system.to_owned())
                    .or_default()
                    .insert(code.to_owned());
            }
        }
    }

    fn union(&mut self, other: Expansion) {
        for (system, excluded) in other.systems {
            let kept: BTreeSet<String> = match self.systems.get(&system) {
                // Excluded from the union only when excluded from both.
                Some(mine) => mine.intersection(&excluded).cloned().collect(),
                None => excluded,
            };
            self.systems.insert(system, kept);
        }
        for (system, codes) in other.codes {
            for code in codes {
                self.add(&system, &code);
            }
        }
        self.normalize();
    }

    fn intersect(self, other: &Expansion) -> Expansion {
        let mut out = Expansion::default();
        for (system, codes) in &self.codes {
            for code in codes.iter().filter(|c| other.contains(system, c)) {
                out.add(system, code);
            }
        }
        for (system, excluded) in &self.systems {
            if let Some(theirs) = other.systems.get(system) {
                out.systems
                    .insert(system.clone(), excluded.union(theirs).cloned().collect());
            }
            if let Some(codes) = other.codes.get(system) {
                for code in codes.iter().filter(|c| !excluded.contains(*c)) {
                    out.add(system, code);
                }
            }
        }
        out.normalize();
        out
    }

    fn remove(&mut self, system: &str, code: &str) {
        if let Some(codes) = self.codes.get_mut(system) {
            codes.remove(code);
        }
        if let Some(excluded) = self.systems.get_mut(system) {
            excluded.insert(code.to_owned());
        }
    }

    /// Folds enumerated codes of a whole-system entry into it (they are members, so not
    /// excluded), and drops empty code lists.
    fn normalize(&mut self) {
        let Expansion { codes, systems } = self;
        for (system, excluded) in systems.iter_mut() {
            if let Some(listed) = codes.remove(system) {
                for code in listed {
                    excluded.remove(&code);
                }
            }
        }
        codes.retain(|_, c| !c.is_empty());
    }
}

/// The canonical URLs `vs` imports through `compose.include[].valueSet` (the caller
/// fetches them before calling [`expand`]).
pub fn imports(vs: &Value) -> Vec<String> {
    if has_contains(vs) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for part in ["include", "exclude"] {
        for inc in array(vs.pointer(&format!("/compose/{part}"))) {
            for v in array(inc.get("valueSet")).iter().filter_map(|v| v.as_str()) {
                out.push(v.to_owned());
            }
        }
    }
    out
}

fn array(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn has_contains(vs: &Value) -> bool {
    !array(vs.pointer("/expansion/contains")).is_empty()
}

/// Expands `vs`. `lookup` finds an imported ValueSet by its canonical (`url[|version]`).
/// The error explains, for the client, why the ValueSet cannot be expanded here.
pub fn expand(vs: &Value, lookup: &dyn Fn(&str) -> Option<Value>) -> Result<Expansion, String> {
    expand_at(vs, lookup, 0)
}

fn expand_at(
    vs: &Value,
    lookup: &dyn Fn(&str) -> Option<Value>,
    depth: usize,
) -> Result<Expansion, String> {
    let name = vs
        .get("url")
        .or_else(|| vs.get("id"))
        .and_then(Value::as_str)
        .unwrap_or("(no url)")
        .to_owned();
    if depth > MAX_IMPORT_DEPTH {
        return Err(format!(
            "ValueSet `{name}`: imports nest deeper than {MAX_IMPORT_DEPTH} levels"
        ));
    }
    let mut out = Expansion::default();
    if has_contains(vs) {
        contains(array(vs.pointer("/expansion/contains")), &mut out);
        return check_size(&name, out);
    }
    let includes = array(vs.pointer("/compose/include"));
    if includes.is_empty() {
        return Err(format!(
            "ValueSet `{name}` has neither expansion.contains nor compose.include"
        ));
    }
    for inc in includes {
        let part = include(inc, &name, lookup, depth)?;
        out.union(part);
        if out.len() > MAX_CODES {
            return check_size(&name, out);
        }
    }
    for exc in array(vs.pointer("/compose/exclude")) {
        if exc.get("filter").is_some() || exc.get("valueSet").is_some() {
            return Err(format!(
                "ValueSet `{name}` excludes by filter or by ValueSet, which needs a terminology server"
            ));
        }
        let Some(system) = exc.get("system").and_then(Value::as_str) else {
            continue;
        };
        let concepts = array(exc.get("concept"));
        if concepts.is_empty() {
            out.codes.remove(system);
            out.systems.remove(system);
        }
        for code in concepts
            .iter()
            .filter_map(|c| c.get("code").and_then(Value::as_str))
        {
            out.remove(system, code);
        }
    }
    check_size(&name, out)
}

fn check_size(name: &str, out: Expansion) -> Result<Expansion, String> {
    if out.len() > MAX_CODES {
        return Err(format!(
            "ValueSet `{name}` expands to more than {MAX_CODES} codes"
        ));
    }
    Ok(out)
}

fn contains(entries: &[Value], out: &mut Expansion) {
    for e in entries {
        let selectable = !e.get("abstract").and_then(Value::as_bool).unwrap_or(false);
        if let (true, Some(system), Some(code)) = (
            selectable,
            e.get("system").and_then(Value::as_str),
            e.get("code").and_then(Value::as_str),
        ) {
            out.add(system, code);
        }
        contains(array(e.get("contains")), out);
    }
}

fn include(
    inc: &Value,
    name: &str,
    lookup: &dyn Fn(&str) -> Option<Value>,
    depth: usize,
) -> Result<Expansion, String> {
    if inc.get("filter").is_some() {
        return Err(format!(
            "ValueSet `{name}` includes codes by filter (compose.include.filter), which needs a terminology server"
        ));
    }
    let mut from_system = None;
    if let Some(system) = inc.get("system").and_then(Value::as_str) {
        let mut part = Expansion::default();
        let concepts = array(inc.get("concept"));
        if concepts.is_empty() {
            part.systems.insert(system.to_owned(), BTreeSet::new());
        }
        for code in concepts
            .iter()
            .filter_map(|c| c.get("code").and_then(Value::as_str))
        {
            part.add(system, code);
        }
        from_system = Some(part);
    }
    let mut result = from_system;
    for canonical in array(inc.get("valueSet")).iter().filter_map(Value::as_str) {
        let Some(imported) = lookup(canonical) else {
            return Err(format!(
                "ValueSet `{name}` imports `{canonical}`, which is not stored in this tenant"
            ));
        };
        let part = expand_at(&imported, lookup, depth + 1)?;
        result = Some(match result {
            None => part,
            Some(r) => r.intersect(&part),
        });
    }
    result.ok_or_else(|| {
        format!("ValueSet `{name}` has a compose.include with neither system nor valueSet")
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const S: &str = "http://example.org/cs";
    const T: &str = "http://example.org/other";

    fn no_imports(_: &str) -> Option<Value> {
        None
    }

    fn members(e: &Expansion, probes: &[(&str, &str)]) -> Vec<bool> {
        probes.iter().map(|(s, c)| e.contains(s, c)).collect()
    }

    #[test]
    fn references_parse_as_canonical_or_literal() {
        let r = ValueSetRef::parse("http://x.org/ValueSet/a|2.0").map_err(|e| e.to_string());
        let Ok(r) = r else { panic!("{r:?}") };
        assert_eq!(
            (r.url.as_deref(), r.version.as_deref(), r.id),
            (Some("http://x.org/ValueSet/a"), Some("2.0"), None)
        );
        let r = ValueSetRef::parse("ValueSet/vs-1").map_err(|e| e.to_string());
        let Ok(r) = r else { panic!("{r:?}") };
        assert_eq!((r.url, r.id.as_deref()), (None, Some("vs-1")));
        for bad in ["plain-code", "ValueSet/", "ValueSet/a b", "Organization/1"] {
            assert!(ValueSetRef::parse(bad).is_err(), "{bad}");
        }
        let vs = json!({"resourceType": "ValueSet", "id": "v", "url": "http://x.org/ValueSet/a", "version": "2.0"});
        let by = |s: &str| {
            ValueSetRef::parse(s)
                .map(|r| r.matches(&vs))
                .unwrap_or(false)
        };
        assert!(by("http://x.org/ValueSet/a"));
        assert!(by("http://x.org/ValueSet/a|2.0"));
        assert!(!by("http://x.org/ValueSet/a|1.0"));
        assert!(by("ValueSet/v"));
        assert!(!by("ValueSet/w"));
    }

    #[test]
    fn expansion_contains_wins_and_skips_abstract_entries() {
        let vs = json!({
            "compose": {"include": [{"system": T}]},
            "expansion": {"contains": [
                {"system": S, "code": "a"},
                {"system": S, "code": "group", "abstract": true, "contains": [{"system": S, "code": "b"}]}
            ]}
        });
        let e = expand(&vs, &no_imports).unwrap_or_default();
        assert_eq!(
            members(&e, &[(S, "a"), (S, "b"), (S, "group"), (T, "x")]),
            [true, true, false, false]
        );
    }

    #[test]
    fn compose_enumerates_whole_systems_and_excludes() {
        let vs = json!({"url": "http://x/vs", "compose": {
            "include": [
                {"system": S, "concept": [{"code": "a"}, {"code": "b"}]},
                {"system": T}
            ],
            "exclude": [{"system": S, "concept": [{"code": "b"}]}, {"system": T, "concept": [{"code": "no"}]}]
        }});
        let e = expand(&vs, &no_imports).unwrap_or_default();
        assert_eq!(
            members(
                &e,
                &[
                    (S, "a"),
                    (S, "b"),
                    (S, "c"),
                    (T, "anything"),
                    (T, "no"),
                    ("x", "a")
                ]
            ),
            [true, false, false, true, false, false]
        );
    }

    #[test]
    fn imports_union_and_intersect() {
        let a = json!({"url": "http://x/a", "compose": {"include": [{"system": S, "concept": [{"code": "1"}, {"code": "2"}]}]}});
        let lookup = move |c: &str| (c == "http://x/a").then(|| a.clone());
        let union = json!({"compose": {"include": [{"valueSet": ["http://x/a"]}, {"system": T, "concept": [{"code": "9"}]}]}});
        let e = expand(&union, &lookup).unwrap_or_default();
        assert_eq!(
            members(&e, &[(S, "1"), (S, "2"), (T, "9"), (S, "3")]),
            [true, true, true, false]
        );
        let both = json!({"compose": {"include": [{"system": S, "concept": [{"code": "2"}, {"code": "3"}], "valueSet": ["http://x/a"]}]}});
        let e = expand(&both, &lookup).unwrap_or_default();
        assert_eq!(
            members(&e, &[(S, "1"), (S, "2"), (S, "3")]),
            [false, true, false]
        );
        assert_eq!(imports(&union), vec!["http://x/a".to_owned()]);
    }

    #[test]
    fn what_needs_a_terminology_server_is_refused() {
        let cases = [
            json!({"url": "u", "compose": {"include": [{"system": S, "filter": [{"property": "concept", "op": "is-a", "value": "x"}]}]}}),
            json!({"url": "u", "compose": {"include": [{"system": S}], "exclude": [{"valueSet": ["v"]}]}}),
            json!({"url": "u", "compose": {"include": [{"valueSet": ["http://missing"]}]}}),
            json!({"url": "u"}),
        ];
        for vs in cases {
            assert!(expand(&vs, &no_imports).is_err(), "{vs}");
        }
        let cyclic = json!({"url": "c", "compose": {"include": [{"valueSet": ["c"]}]}});
        let lookup = move |_: &str| Some(cyclic.clone());
        let err = expand(
            &json!({"url": "c", "compose": {"include": [{"valueSet": ["c"]}]}}),
            &lookup,
        );
        assert!(err.is_err_and(|e| e.contains("nest deeper")));
    }
}
