//! The query plan: from each IG's CapabilityStatement, every search parameter (several
//! values each), `_include`, `_revinclude`, chain (the `chain` elements of the IG's
//! SearchParameters) and `_has` (the IG lists none, so the reverse of every reference
//! parameter), each with its expected match set (and included set) computed from the data.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::data::{id_of, key_of, Dataset, Ig, ParamDef};
use super::matching::{atoms, Atom};
use super::values::{indexed, picks, referenced, select};

/// What a case exercises, for the per-version counts of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Param,
    Include,
    RevInclude,
    Chain,
    Has,
}

/// One search and the answer the data implies.
#[derive(Debug, Clone)]
pub struct Case {
    pub kind: Kind,
    /// e.g. `PractitionerRole.specialty` or `_include=PractitionerRole:location`.
    pub feature: String,
    pub why: String,
    pub rtype: String,
    /// The query string without `_count` (values already percent-encoded).
    pub query: String,
    pub matches: BTreeSet<String>,
    /// Expected `search.mode=include` resources, when the query includes any.
    pub includes: Option<BTreeSet<String>>,
}

/// The cases of all IG versions (a query both versions imply appears once) and, per version
/// and kind, how many distinct features the CapabilityStatement lists and the plan covers.
pub struct Plan {
    pub cases: Vec<Case>,
    pub coverage: BTreeMap<(String, Kind), BTreeSet<String>>,
    /// Features listed by an IG that the plan cannot exercise, with the reason.
    pub uncovered: BTreeSet<String>,
}

/// Percent-encodes everything but unreserved characters and `,` (the OR separator).
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~,".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn param_name(code: &str, modifier: Option<&str>) -> String {
    match modifier {
        Some(m) => format!("{code}:{m}"),
        None => code.to_owned(),
    }
}

/// Builds the plan over `igs`.
pub fn build(ds: &Dataset, igs: &[Ig]) -> Plan {
    let mut plan = Plan {
        cases: Vec::new(),
        coverage: BTreeMap::new(),
        uncovered: BTreeSet::new(),
    };
    let mut seen = BTreeSet::new();
    for ig in igs {
        let mut add = |plan: &mut Plan, c: Case| {
            plan.coverage
                .entry((ig.version.clone(), c.kind))
                .or_default()
                .insert(c.feature.clone());
            if seen.insert((c.rtype.clone(), c.query.clone())) {
                plan.cases.push(c);
            }
        };
        for res in &ig.resources {
            for (name, _, _) in &res.params {
                let Some(def) = ig.param(&res.rtype, name) else {
                    plan.uncovered.insert(format!(
                        "{} {}.{name}: no definition",
                        ig.version, res.rtype
                    ));
                    continue;
                };
                if name == "_lastUpdated" {
                    // Values depend on the import time: see `last_updated_cases`.
                    plan.coverage
                        .entry((ig.version.clone(), Kind::Param))
                        .or_default()
                        .insert(format!("{}._lastUpdated", res.rtype));
                    continue;
                }
                for c in param_cases(ds, def) {
                    add(&mut plan, c);
                }
                if def.kind == "reference" {
                    for c in chain_cases(ds, ig, def) {
                        add(&mut plan, c);
                    }
                    for c in has_cases(ds, ig, def) {
                        add(&mut plan, c);
                    }
                }
            }
            for inc in &res.includes {
                match include_case(ds, ig, &res.rtype, inc) {
                    Some(c) => add(&mut plan, c),
                    None => {
                        plan.uncovered
                            .insert(format!("{} _include={inc}: no definition", ig.version));
                    }
                }
            }
            for rev in &res.revincludes {
                match revinclude_case(ds, ig, &res.rtype, rev) {
                    Some(c) => add(&mut plan, c),
                    None => {
                        plan.uncovered
                            .insert(format!("{} _revinclude={rev}: no definition", ig.version));
                    }
                }
            }
        }
    }
    plan
}

fn param_cases(ds: &Dataset, def: &ParamDef) -> Vec<Case> {
    picks(ds, def)
        .into_iter()
        .map(|p| Case {
            kind: Kind::Param,
            feature: format!("{}.{}", def.base, def.code),
            why: p.why.to_owned(),
            rtype: def.base.clone(),
            query: format!(
                "{}={}",
                param_name(&def.code, p.modifier.as_deref()),
                enc(&p.value)
            ),
            matches: select(ds, def, p.modifier.as_deref(), &p.value),
            includes: None,
        })
        .collect()
}

/// Sources of `def` whose references point at one of `targets`.
fn pointing_at(ds: &Dataset, def: &ParamDef, targets: &BTreeSet<String>) -> BTreeSet<String> {
    indexed(ds, def)
        .iter()
        .filter(|(_, atoms)| {
            atoms
                .iter()
                .any(|a| matches!(a, Atom::Ref(x) if targets.contains(x)))
        })
        .map(|(k, _)| k.clone())
        .collect()
}

fn chain_cases(ds: &Dataset, ig: &Ig, def: &ParamDef) -> Vec<Case> {
    let mut out = Vec::new();
    for link in &def.chain {
        for target in &def.targets {
            let Some(tdef) = ig.param(target, link) else {
                continue;
            };
            // The most common and the rarest value of the chained parameter.
            let values: Vec<_> = picks(ds, tdef)
                .into_iter()
                .filter(|p| {
                    p.modifier.is_none()
                        && (p.why.starts_with("most common") || p.why.starts_with("rare"))
                })
                .collect();
            for p in values {
                let hits = select(ds, tdef, None, &p.value);
                let name = if def.targets.len() > 1 {
                    format!("{}:{target}.{link}", def.code)
                } else {
                    format!("{}.{link}", def.code)
                };
                out.push(Case {
                    kind: Kind::Chain,
                    feature: format!("{}.{}.{link}", def.base, def.code),
                    why: format!("chained {}", p.why),
                    rtype: def.base.clone(),
                    query: format!("{name}={}", enc(&p.value)),
                    matches: pointing_at(ds, def, &hits),
                    includes: None,
                });
            }
        }
    }
    out
}

/// `Target?_has:Source:param:filter=value` for every target type the IG serves, filtering the
/// sources on their first token parameter (else string) with its most common value.
fn has_cases(ds: &Dataset, ig: &Ig, def: &ParamDef) -> Vec<Case> {
    let Some(src) = ig.resource(&def.base) else {
        return Vec::new();
    };
    let filter = ["token", "string"].iter().find_map(|kind| {
        src.params
            .iter()
            .filter_map(|(n, _, _)| ig.param(&src.rtype, n))
            .find(|d| d.kind == *kind && !d.code.starts_with('_'))
    });
    let Some(fdef) = filter else {
        return Vec::new();
    };
    let Some(value) = picks(ds, fdef).into_iter().find(|p| p.modifier.is_none()) else {
        return Vec::new();
    };
    let hits = select(ds, fdef, None, &value.value);
    let sources: Vec<&Value> = ds
        .of(&def.base)
        .iter()
        .filter(|r| hits.contains(&key_of(r)))
        .collect();
    let refs = referenced(ds, def, &sources);
    def.targets
        .iter()
        .filter(|t| ig.resource(t).is_some())
        .map(|t| Case {
            kind: Kind::Has,
            feature: format!("{t}?_has:{}:{}", def.base, def.code),
            why: format!("sources with {}={} ({})", fdef.code, value.value, value.why),
            rtype: t.clone(),
            query: format!(
                "_has:{}:{}:{}={}",
                def.base,
                def.code,
                fdef.code,
                enc(&value.value)
            ),
            matches: refs
                .iter()
                .filter(|k| k.starts_with(&format!("{t}/")))
                .cloned()
                .collect(),
            includes: None,
        })
        .collect()
}

/// Up to `with` ids of `list` for which `keep` holds and `without` for which it does not.
fn sample_ids(
    list: &[Value],
    keep: impl Fn(&Value) -> bool,
    with: usize,
    without: usize,
) -> Vec<String> {
    let yes = list.iter().filter(|r| keep(r)).take(with);
    let no = list.iter().filter(|r| !keep(r)).take(without);
    yes.chain(no).map(|r| id_of(r).to_owned()).collect()
}

fn include_case(ds: &Dataset, ig: &Ig, rtype: &str, inc: &str) -> Option<Case> {
    let (src, code) = inc.split_once(':')?;
    let def = ig.param(src, code.split(':').next()?)?;
    let has_ref = |r: &Value| !atoms(r, &def.expression, "reference").is_empty();
    let ids = sample_ids(ds.of(rtype), has_ref, 20, 5);
    let chosen: Vec<&Value> = ds
        .of(rtype)
        .iter()
        .filter(|r| ids.iter().any(|i| i == id_of(r)))
        .collect();
    Some(Case {
        kind: Kind::Include,
        feature: format!("_include={inc}"),
        why: format!("{} {rtype} by _id", ids.len()),
        rtype: rtype.to_owned(),
        query: format!("_id={}&_include={}", enc(&ids.join(",")), enc(inc)),
        matches: chosen.iter().map(|r| key_of(r)).collect(),
        includes: Some(referenced(ds, def, &chosen)),
    })
}

fn revinclude_case(ds: &Dataset, ig: &Ig, rtype: &str, rev: &str) -> Option<Case> {
    let (src, code) = rev.split_once(':')?;
    let def = ig.param(src, code.split(':').next()?)?;
    let all: Vec<&Value> = ds.of(src).iter().collect();
    let pointed = referenced(ds, def, &all);
    let ids = sample_ids(ds.of(rtype), |r| pointed.contains(&key_of(r)), 20, 5);
    let keys: BTreeSet<String> = ids.iter().map(|i| format!("{rtype}/{i}")).collect();
    Some(Case {
        kind: Kind::RevInclude,
        feature: format!("{rtype}?_revinclude={rev}"),
        why: format!("{} {rtype} by _id", ids.len()),
        rtype: rtype.to_owned(),
        query: format!("_id={}&_revinclude={}", enc(&ids.join(",")), enc(rev)),
        includes: Some(pointing_at(ds, def, &keys)),
        matches: keys,
    })
}

/// `_lastUpdated` cases for every IG resource type, given that the whole import happened in
/// `[start, end]` (the server stamps `meta.lastUpdated` at write time).
pub fn last_updated_cases(
    ds: &Dataset,
    igs: &[Ig],
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
) -> Vec<Case> {
    let types: BTreeSet<&str> = igs
        .iter()
        .flat_map(|ig| ig.resources.iter().map(|r| r.rtype.as_str()))
        .collect();
    let before = (start - chrono::Duration::seconds(2))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let after = (end + chrono::Duration::seconds(2))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let day = super::matching::day_of(start);
    let mut out = Vec::new();
    for t in types {
        let all: BTreeSet<String> = ds.of(t).iter().map(key_of).collect();
        let mut values = vec![
            (format!("gt{before}"), all.clone()),
            (format!("lt{before}"), BTreeSet::new()),
            (format!("le{after}"), all.clone()),
            (format!("ge{after}"), BTreeSet::new()),
            ("lt2021-01-01".to_owned(), BTreeSet::new()),
        ];
        if day == super::matching::day_of(end) {
            values.push((day.clone(), all.clone()));
            values.push((format!("ne{day}"), BTreeSet::new()));
        }
        for (v, expected) in values {
            out.push(Case {
                kind: Kind::Param,
                feature: format!("{t}._lastUpdated"),
                why: "relative to the import time".to_owned(),
                rtype: t.to_owned(),
                query: format!("_lastUpdated={}", enc(&v)),
                matches: expected,
                includes: None,
            });
        }
    }
    out
}
