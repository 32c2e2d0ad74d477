//! Code system hierarchies for token `:above` / `:below`
//! (<https://hl7.org/fhir/R4/search.html#token>, <https://hl7.org/fhir/R4/codesystem.html>).
//!
//! The search value is `system|code` ([`HierarchyRef`]; without a system there is no
//! hierarchy to pick, so a bare `code` or `|code` is a [`SearchError`]). The store finds the
//! CodeSystem whose `url` is the system among the tenant's own CodeSystem resources, builds
//! its [`Hierarchy`] here and takes the [`Hierarchy::closure`] of the code: the code and its
//! descendants for `:below`, the code and its ancestors for `:above`. No terminology server
//! is involved, so a system the tenant does not hold cannot be searched this way.
//!
//! Parent/child links come from
//! - nesting: a `concept` inside `concept.concept` is a child of the enclosing one;
//! - the concept properties of <https://hl7.org/fhir/R4/codesystem.html#defined-props>:
//!   `parent` and `subsumedBy` (the `valueCode` is a parent of the concept) and `child` (the
//!   `valueCode` is a child), recognised by their code or by a `CodeSystem.property` whose
//!   `uri` is `http://hl7.org/fhir/concept-properties#parent|child|subsumedBy`.
//!
//! `hierarchyMeaning` is not consulted: every link counts as subsumption. The walk is
//! iterative and remembers what it saw, so cycles and deep chains are safe, and a closure
//! larger than [`MAX_CODES`] is refused (the SQL binds each code).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use serde_json::Value;

use crate::value::{TokenSystem, TokenValue};
use crate::valueset::MAX_CODES;
use crate::SearchError;

/// Which way `:above` / `:below` walk the hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// `:above`: the code and every code that subsumes it (ancestors).
    Above,
    /// `:below`: the code and every code it subsumes (descendants).
    Below,
}

impl Direction {
    /// The modifier's name without the colon.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Above => "above",
            Direction::Below => "below",
        }
    }
}

/// The `system|code` of a token `:above` / `:below`, and its closure once the store has
/// resolved it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HierarchyRef {
    /// The code system's canonical URL.
    pub system: String,
    /// The code the walk starts from.
    pub code: String,
    pub direction: Direction,
    /// The codes that match (the code itself included); filled in by the store.
    #[serde(skip)]
    pub closure: Option<Arc<BTreeSet<String>>>,
}

impl HierarchyRef {
    /// Parses an escaped `system|code` alternative; a value without a system or a code is
    /// an error.
    pub fn parse(raw: &str, direction: Direction) -> Result<HierarchyRef, SearchError> {
        let token = TokenValue::parse(raw)?;
        match (token.system, token.code) {
            (TokenSystem::Is(system), Some(code)) => Ok(HierarchyRef {
                system,
                code,
                direction,
                closure: None,
            }),
            _ => Err(SearchError::value(
                "token",
                &crate::text::unescape(raw)?,
                "`:above` / `:below` need `system|code`: the system names the CodeSystem \
                 whose hierarchy is searched",
            )),
        }
    }
}

/// The parent/child links of one CodeSystem resource.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hierarchy {
    /// Every code defined or named by a link.
    codes: BTreeSet<String>,
    children: BTreeMap<String, BTreeSet<String>>,
    parents: BTreeMap<String, BTreeSet<String>>,
}

/// How a concept property links concepts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Link {
    /// The property's value is a parent of the concept.
    Parent,
    /// The property's value is a child of the concept.
    Child,
}

const PROPERTY_URI: &str = "http://hl7.org/fhir/concept-properties#";

impl Hierarchy {
    /// The hierarchy of `code_system` (a CodeSystem resource).
    pub fn from_code_system(code_system: &Value) -> Hierarchy {
        let mut links: BTreeMap<&str, Link> = [
            ("parent", Link::Parent),
            ("subsumedBy", Link::Parent),
            ("child", Link::Child),
        ]
        .into_iter()
        .collect();
        for p in array(code_system.get("property")) {
            let link = match p
                .get("uri")
                .and_then(Value::as_str)
                .and_then(|u| u.strip_prefix(PROPERTY_URI))
            {
                Some("parent" | "subsumedBy") => Link::Parent,
                Some("child") => Link::Child,
                _ => continue,
            };
            if let Some(code) = p.get("code").and_then(Value::as_str) {
                links.insert(code, link);
            }
        }
        let mut out = Hierarchy::default();
        // (concept, enclosing concept's code)
        let mut stack: Vec<(&Value, Option<&str>)> = array(code_system.get("concept"))
            .iter()
            .map(|c| (c, None))
            .collect();
        while let Some((concept, enclosing)) = stack.pop() {
            let Some(code) = concept.get("code").and_then(Value::as_str) else {
                continue;
            };
            out.codes.insert(code.to_owned());
            if let Some(parent) = enclosing {
                out.link(parent, code);
            }
            for p in array(concept.get("property")) {
                let link = p
                    .get("code")
                    .and_then(Value::as_str)
                    .and_then(|c| links.get(c));
                let value = p.get("valueCode").and_then(Value::as_str);
                match (link, value) {
                    (Some(Link::Parent), Some(v)) => out.link(v, code),
                    (Some(Link::Child), Some(v)) => out.link(code, v),
                    _ => {}
                }
            }
            stack.extend(
                array(concept.get("concept"))
                    .iter()
                    .map(|c| (c, Some(code))),
            );
        }
        out
    }

    fn link(&mut self, parent: &str, child: &str) {
        if parent == child {
            return;
        }
        self.codes.insert(parent.to_owned());
        self.codes.insert(child.to_owned());
        self.children
            .entry(parent.to_owned())
            .or_default()
            .insert(child.to_owned());
        self.parents
            .entry(child.to_owned())
            .or_default()
            .insert(parent.to_owned());
    }

    /// Whether the CodeSystem defines no codes at all (e.g. `content = not-present`).
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// Whether `code` is defined in (or linked by) the CodeSystem.
    pub fn contains(&self, code: &str) -> bool {
        self.codes.contains(code)
    }

    /// `code` and every code below it (descendants) or above it (ancestors). The error says,
    /// for the client, why there is no answer: the code is unknown, or the closure holds
    /// more than [`MAX_CODES`] codes.
    pub fn closure(&self, code: &str, direction: Direction) -> Result<BTreeSet<String>, String> {
        if !self.contains(code) {
            return Err(format!("code `{code}` is not defined in the CodeSystem"));
        }
        let next = match direction {
            Direction::Below => &self.children,
            Direction::Above => &self.parents,
        };
        let mut seen = BTreeSet::from([code.to_owned()]);
        let mut queue = VecDeque::from([code]);
        while let Some(c) = queue.pop_front() {
            for n in next.get(c).into_iter().flatten() {
                if seen.insert(n.clone()) {
                    if seen.len() > MAX_CODES {
                        return Err(format!(
                            "the codes {} `{code}` are more than {MAX_CODES}",
                            direction.as_str()
                        ));
                    }
                    queue.push_back(n);
                }
            }
        }
        Ok(seen)
    }
}

fn array(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn closure(h: &Hierarchy, code: &str, d: Direction) -> Vec<String> {
        h.closure(code, d)
            .map(|s| s.into_iter().collect())
            .unwrap_or_else(|e| vec![format!("ERR {e}")])
    }

    /// Internal Medicine > Cardiovascular Disease > Interventional Cardiology, and a sibling.
    fn nucc_nested() -> Value {
        json!({"resourceType": "CodeSystem", "url": "http://nucc.org/provider-taxonomy",
            "concept": [{"code": "207R00000X", "concept": [
                {"code": "207RC0000X", "concept": [{"code": "207RI0011X"}]},
                {"code": "207RG0100X"}
            ]}, {"code": "207Q00000X"}]})
    }

    #[test]
    fn nested_concepts_give_descendants_below_and_ancestors_above() {
        let h = Hierarchy::from_code_system(&nucc_nested());
        use Direction::{Above, Below};
        let cases: [(&str, Direction, &[&str]); 6] = [
            (
                "207R00000X",
                Below,
                &["207R00000X", "207RC0000X", "207RG0100X", "207RI0011X"],
            ),
            ("207RC0000X", Below, &["207RC0000X", "207RI0011X"]),
            ("207RI0011X", Below, &["207RI0011X"]),
            (
                "207RI0011X",
                Above,
                &["207R00000X", "207RC0000X", "207RI0011X"],
            ),
            ("207R00000X", Above, &["207R00000X"]),
            ("207Q00000X", Below, &["207Q00000X"]),
        ];
        for (code, d, want) in cases {
            assert_eq!(closure(&h, code, d), want, "{code} {d:?}");
        }
    }

    #[test]
    fn parent_child_and_subsumed_by_properties_link_flat_concepts() {
        let cs = json!({"concept": [
            {"code": "root"},
            {"code": "a", "property": [{"code": "parent", "valueCode": "root"}]},
            {"code": "b", "property": [{"code": "subsumedBy", "valueCode": "a"}]},
            {"code": "c", "property": [{"code": "child", "valueCode": "d"}]},
            {"code": "d"},
            // A property declared under another code, by its standard uri.
            {"code": "e", "property": [{"code": "is-a", "valueCode": "c"}]},
            // Other properties are no links.
            {"code": "f", "property": [{"code": "status", "valueCode": "root"}]}
        ], "property": [{"code": "is-a", "uri": "http://hl7.org/fhir/concept-properties#parent"}]});
        let h = Hierarchy::from_code_system(&cs);
        assert_eq!(closure(&h, "root", Direction::Below), ["a", "b", "root"]);
        assert_eq!(closure(&h, "b", Direction::Above), ["a", "b", "root"]);
        assert_eq!(closure(&h, "c", Direction::Below), ["c", "d", "e"]);
        assert_eq!(closure(&h, "d", Direction::Above), ["c", "d"]);
        assert_eq!(closure(&h, "f", Direction::Above), ["f"]);
    }

    #[test]
    fn cycles_end_the_walk_instead_of_looping() {
        let cs = json!({"concept": [
            {"code": "a", "property": [{"code": "parent", "valueCode": "c"}], "concept": [{"code": "b"}]},
            {"code": "c", "property": [{"code": "parent", "valueCode": "b"}, {"code": "parent", "valueCode": "c"}]}
        ]});
        let h = Hierarchy::from_code_system(&cs);
        for d in [Direction::Above, Direction::Below] {
            assert_eq!(closure(&h, "a", d), ["a", "b", "c"], "{d:?}");
        }
    }

    #[test]
    fn deep_chains_are_walked_and_oversized_closures_refused() {
        let chain = |n: usize| {
            let concepts: Vec<Value> = (0..n)
                .map(|i| match i {
                    0 => json!({"code": "c0"}),
                    _ => json!({"code": format!("c{i}"),
                                "property": [{"code": "parent", "valueCode": format!("c{}", i - 1)}]}),
                })
                .collect();
            Hierarchy::from_code_system(&json!({"concept": concepts}))
        };
        let h = chain(5_000);
        assert_eq!(
            h.closure("c0", Direction::Below).map(|s| s.len()),
            Ok(5_000)
        );
        assert_eq!(
            h.closure("c4999", Direction::Above).map(|s| s.len()),
            Ok(5_000)
        );
        assert_eq!(
            h.closure("c4000", Direction::Below).map(|s| s.len()),
            Ok(1_000)
        );
        let h = chain(MAX_CODES + 1);
        assert!(h
            .closure("c0", Direction::Below)
            .is_err_and(|e| e.contains("more than")));
        assert_eq!(
            h.closure("c1", Direction::Below).map(|s| s.len()),
            Ok(MAX_CODES)
        );
    }

    #[test]
    fn unknown_codes_and_empty_code_systems_are_errors() {
        let h = Hierarchy::from_code_system(&nucc_nested());
        assert!(h
            .closure("nope", Direction::Below)
            .is_err_and(|e| e.contains("`nope` is not defined")));
        let empty = Hierarchy::from_code_system(&json!({"content": "not-present"}));
        assert!(empty.is_empty());
    }

    #[test]
    fn values_need_both_system_and_code() {
        let r = HierarchyRef::parse("http://s|a\\|b", Direction::Below).map_err(|e| e.to_string());
        let Ok(r) = r else { panic!("{r:?}") };
        assert_eq!((r.system.as_str(), r.code.as_str()), ("http://s", "a|b"));
        for bad in ["code", "|code", "http://s|", "a|b|c"] {
            assert!(HierarchyRef::parse(bad, Direction::Above).is_err(), "{bad}");
        }
    }
}
