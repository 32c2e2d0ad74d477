//! The core rules table (`src/builtin/core_r4.tsv`, format in `tools/derive_core.py`):
//! required bindings, the codes of their value sets, and invariants, parsed and compiled
//! once.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::sync::OnceLock;

use fhirpath::{Env, Expression, Node};
use serde_json::Value;

use crate::{Issue, IssueSeverity as Severity, IssueType};

const R4_TABLE: &str = include_str!("builtin/core_r4.tsv");

/// The codes of one value set, by system.
#[derive(Debug, Default)]
pub struct ValueSet {
    pub url: String,
    pub codes: HashMap<String, HashSet<String>>,
}

impl ValueSet {
    /// Whether `code` is in it (from any of its systems: a `code` element has none).
    pub fn has_code(&self, code: &str) -> bool {
        self.codes.values().any(|c| c.contains(code))
    }

    /// Whether `system|code` is in it.
    pub fn has(&self, system: &str, code: &str) -> bool {
        self.codes.get(system).is_some_and(|c| c.contains(code))
    }
}

/// One invariant (`ElementDefinition.constraint`).
#[derive(Debug)]
pub struct Invariant {
    pub key: String,
    pub severity: Severity,
    /// The compiled expression, or why it does not compile.
    pub expression: Result<Expression, String>,
    pub source: String,
    pub human: String,
}

impl Invariant {
    /// The issue `value` (the focus, in `root`) raises against this invariant, located by
    /// `at` (rendered only then): none when it holds or gives no result (a rule about an
    /// absent element); an `information` issue when it cannot be evaluated, never a pass.
    /// `of`: the profile that states it, named in the message.
    pub(crate) fn check(
        &self,
        root: &Value,
        value: &Value,
        env: &Env,
        at: impl FnOnce() -> String,
        of: Option<&str>,
    ) -> Option<Issue> {
        let verdict = match &self.expression {
            Ok(expr) => expr
                .evaluate_at(root, &Node::from_json(value), env)
                .and_then(|items| fhirpath::to_boolean(&items))
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.clone()),
        };
        let of = of.map(|p| format!("; {p}")).unwrap_or_default();
        match verdict {
            Ok(Some(true) | None) => None,
            Ok(Some(false)) => Some(crate::issue::at(
                self.severity,
                IssueType::Invariant,
                &at(),
                format!("{} failed: {} ({}{of})", self.key, self.human, self.source),
            )),
            Err(why) => Some(crate::issue::at(
                Severity::Information,
                IssueType::NotSupported,
                &at(),
                format!(
                    "{} could not be checked: {why} ({}{of})",
                    self.key, self.source
                ),
            )),
        }
    }
}

/// The parsed table.
#[derive(Debug, Default)]
pub struct CoreTable {
    /// Element path (as defined: `HumanName.use`) -> index into `value_sets`.
    bindings: HashMap<String, usize>,
    value_sets: Vec<ValueSet>,
    /// Value set URL -> index into `value_sets`.
    value_set_at: HashMap<String, usize>,
    /// Context (type name or element path) -> its invariants.
    invariants: HashMap<String, Vec<Invariant>>,
    /// Reference element path (as defined) -> the resource types it may point to.
    targets: HashMap<String, Vec<String>>,
}

impl CoreTable {
    /// The R4 4.0.1 table, parsed once.
    pub fn r4() -> &'static CoreTable {
        static TABLE: OnceLock<CoreTable> = OnceLock::new();
        TABLE.get_or_init(|| CoreTable::parse(R4_TABLE).expect("the built-in core table parses"))
    }

    /// Parses a table in the format of `tools/derive_core.py`.
    pub fn parse(table: &str) -> Result<CoreTable, String> {
        let mut t = CoreTable::default();
        let mut vs_at: HashMap<String, usize> = HashMap::default();
        let mut bound: Vec<(String, String)> = Vec::new();
        for (n, line) in table.lines().enumerate() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let f: Vec<&str> = line.split('\t').collect();
            let bad = || format!("core table line {}: {line:?}", n + 1);
            match f.as_slice() {
                ["B", path, vs] => bound.push((path.to_string(), vs.to_string())),
                ["R", path, types] => {
                    let types = types.split(',').map(str::to_owned).collect();
                    t.targets.insert(path.to_string(), types);
                }
                ["V", url, system, codes] => {
                    let i = *vs_at.entry(url.to_string()).or_insert_with(|| {
                        t.value_sets.push(ValueSet {
                            url: url.to_string(),
                            codes: HashMap::default(),
                        });
                        t.value_sets.len() - 1
                    });
                    t.value_sets[i]
                        .codes
                        .entry(system.to_string())
                        .or_default()
                        .extend(codes.split(' ').map(str::to_owned));
                }
                ["I", ctx, key, severity, expr, human] => {
                    let severity = match *severity {
                        "error" => Severity::Error,
                        "warning" => Severity::Warning,
                        _ => return Err(bad()),
                    };
                    t.invariants
                        .entry(ctx.to_string())
                        .or_default()
                        .push(Invariant {
                            key: key.to_string(),
                            severity,
                            expression: Expression::parse(expr).map_err(|e| e.to_string()),
                            source: expr.to_string(),
                            human: human.to_string(),
                        });
                }
                _ => return Err(bad()),
            }
        }
        for (path, vs) in bound {
            let i = *vs_at.get(&vs).ok_or_else(|| {
                format!("core table: {path} is bound to {vs}, which is not listed")
            })?;
            t.bindings.insert(path, i);
        }
        t.value_set_at = vs_at;
        Ok(t)
    }

    /// The value set an element (by its defining path) is bound to with `required` strength.
    pub fn required_binding(&self, path: &str) -> Option<&ValueSet> {
        self.bindings.get(path).map(|&i| &self.value_sets[i])
    }

    /// A value set of the table by its URL.
    pub fn value_set(&self, url: &str) -> Option<&ValueSet> {
        self.value_set_at.get(url).map(|&i| &self.value_sets[i])
    }

    /// The resource types a Reference element (by its defining path) may point to; `None`
    /// when any (`Resource`, or the definition does not say).
    pub fn reference_targets(&self, path: &str) -> Option<&[String]> {
        self.targets
            .get(path)
            .map(Vec::as_slice)
            .filter(|t| !t.iter().any(|t| t == "Resource"))
    }

    /// The invariants defined on a context (type name or element path).
    pub fn invariants(&self, ctx: &str) -> &[Invariant] {
        self.invariants.get(ctx).map_or(&[], Vec::as_slice)
    }

    /// Every binding's element path and value set URL (for the tests against the official
    /// definitions).
    pub fn bindings(&self) -> impl Iterator<Item = (&str, &str)> {
        self.bindings
            .iter()
            .map(|(p, &i)| (p.as_str(), self.value_sets[i].url.as_str()))
    }

    /// Every invariant with its context.
    pub fn all_invariants(&self) -> impl Iterator<Item = (&str, &Invariant)> {
        self.invariants
            .iter()
            .flat_map(|(c, is)| is.iter().map(move |i| (c.as_str(), i)))
    }
}
