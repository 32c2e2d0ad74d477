//! Search values picked from the data for one parameter (the most common value, a rare one,
//! case, accent and prefix variants of strings, the token and reference syntaxes, an OR list
//! and a value nothing has), and the expected match set of each, computed with
//! [`super::matching`] over the sample resources.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::data::{key_of, Dataset, Indexed, ParamDef};
use super::matching::{atoms, matches, Atom};

/// One value to send for a parameter: `name[:modifier]=value`, and why it was picked.
#[derive(Debug, Clone)]
pub struct Pick {
    pub modifier: Option<String>,
    pub value: String,
    pub why: &'static str,
}

impl Pick {
    fn new(modifier: Option<&str>, value: impl Into<String>, why: &'static str) -> Pick {
        Pick {
            modifier: modifier.map(str::to_owned),
            value: value.into(),
            why,
        }
    }
}

/// The atoms of `def` in every resource of `def.base`, computed once per dataset.
pub fn indexed(ds: &Dataset, def: &ParamDef) -> Indexed {
    let k = format!("{}|{}|{}", def.base, def.expression, def.kind);
    let mut cache = ds.cache.lock().expect("atom cache");
    cache
        .entry(k)
        .or_insert_with(|| {
            let rows = ds.of(&def.base).iter();
            std::sync::Arc::new(
                rows.map(|r| (key_of(r), atoms(r, &def.expression, &def.kind)))
                    .collect(),
            )
        })
        .clone()
}

/// The keys (`Type/id`) of the resources of `def.base` that `modifier`/`value` selects.
pub fn select(
    ds: &Dataset,
    def: &ParamDef,
    modifier: Option<&str>,
    value: &str,
) -> BTreeSet<String> {
    indexed(ds, def)
        .iter()
        .filter(|(_, a)| matches(a, &def.kind, modifier, value))
        .map(|(k, _)| k.clone())
        .collect()
}

/// Distinct atoms of `def` over the data with the number of resources having each, most
/// common first (ties in a stable order).
pub fn counted(ds: &Dataset, def: &ParamDef) -> Vec<(Atom, usize)> {
    let mut counts: BTreeMap<String, (Atom, usize)> = BTreeMap::new();
    for (_, list) in indexed(ds, def).iter() {
        let mut seen = BTreeSet::new();
        for a in list.iter().cloned() {
            let k = format!("{a:?}");
            if seen.insert(k.clone()) {
                counts.entry(k).or_insert((a, 0)).1 += 1;
            }
        }
    }
    let mut v: Vec<(Atom, usize)> = counts.into_values().collect();
    v.sort_by_key(|b| std::cmp::Reverse(b.1));
    v
}

/// Values usable in a URL without FHIR escaping (no `,`, `$`, `|` or `\` of their own).
fn plain(s: &str) -> bool {
    !s.is_empty() && !s.contains([',', '$', '\\', '|'])
}

/// The first atom (most common first) that is a plain value, and the last (the rarest).
fn common_and_rare(
    list: &[(Atom, usize)],
    text: impl Fn(&Atom) -> Option<String>,
) -> Option<(String, String)> {
    let usable: Vec<String> = list
        .iter()
        .filter_map(|(a, _)| text(a))
        .filter(|s| plain(s))
        .collect();
    Some((usable.first()?.clone(), usable.last()?.clone()))
}

fn mixed_case(s: &str) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 2 == 0 {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

fn accented(s: &str) -> Option<String> {
    let (i, c) = s.char_indices().find(|(_, c)| "aeiouAEIOU".contains(*c))?;
    let acc = match c.to_ascii_lowercase() {
        'a' => 'á',
        'e' => 'é',
        'i' => 'í',
        'o' => 'ó',
        _ => 'ú',
    };
    Some(format!("{}{acc}{}", &s[..i], &s[i + c.len_utf8()..]))
}

fn prefix(s: &str) -> String {
    let n = s.chars().count().div_ceil(2).max(2);
    s.chars().take(n).collect()
}

/// The values to try for `def` (not `_lastUpdated`, whose values depend on import time).
pub fn picks(ds: &Dataset, def: &ParamDef) -> Vec<Pick> {
    let list = counted(ds, def);
    let mut out = Vec::new();
    match def.kind.as_str() {
        "string" => {
            let text = |a: &Atom| match a {
                Atom::Str(s) => Some(s.clone()),
                _ => None,
            };
            if let Some((common, rare)) = common_and_rare(&list, text) {
                out.push(Pick::new(None, &common, "most common value"));
                out.push(Pick::new(None, &rare, "rare value"));
                out.push(Pick::new(None, mixed_case(&common), "mixed case"));
                out.push(Pick::new(None, prefix(&common), "prefix"));
                if let Some(a) = accented(&common) {
                    out.push(Pick::new(None, a, "accented"));
                }
                if def.modifiers.iter().any(|m| m == "exact") {
                    out.push(Pick::new(Some("exact"), &common, "exact"));
                    out.push(Pick::new(
                        Some("exact"),
                        mixed_case(&common),
                        "exact, other case",
                    ));
                }
                if def.modifiers.iter().any(|m| m == "contains") && common.chars().count() >= 3 {
                    let mid: String = common
                        .chars()
                        .skip(1)
                        .take(common.chars().count() - 2)
                        .collect();
                    out.push(Pick::new(Some("contains"), mixed_case(&mid), "contains"));
                }
            }
            out.push(Pick::new(None, "zzqxj", "no such value"));
        }
        "token" => {
            let tokens: Vec<(Option<String>, String)> = list
                .iter()
                .filter_map(|(a, _)| match a {
                    Atom::Token(s, c) if plain(c) && s.as_deref().is_none_or(plain) => {
                        Some((s.clone(), c.clone()))
                    }
                    _ => None,
                })
                .collect();
            if let (Some((sys, code)), Some((rsys, rcode))) = (tokens.first(), tokens.last()) {
                out.push(Pick::new(None, code, "most common code"));
                if let Some(sys) = sys {
                    out.push(Pick::new(None, format!("{sys}|{code}"), "system|code"));
                    out.push(Pick::new(None, format!("|{code}"), "|code (no system)"));
                    out.push(Pick::new(None, format!("{sys}|"), "system|"));
                }
                match rsys {
                    Some(s) => {
                        out.push(Pick::new(None, format!("{s}|{rcode}"), "rare system|code"))
                    }
                    None => out.push(Pick::new(None, rcode, "rare code")),
                }
                if rcode != code {
                    out.push(Pick::new(
                        None,
                        format!("{code},{rcode}"),
                        "OR of two codes",
                    ));
                }
            }
            out.push(Pick::new(None, "zz-no-such-code", "no such code"));
        }
        "reference" => {
            let text = |a: &Atom| match a {
                Atom::Ref(r) => Some(r.clone()),
                _ => None,
            };
            let fallback = def
                .targets
                .first()
                .cloned()
                .unwrap_or_else(|| "Organization".into());
            if let Some((common, rare)) = common_and_rare(&list, text) {
                out.push(Pick::new(None, &common, "most common Type/id"));
                let (rtype, id) = rare.split_once('/').unwrap_or(("", &rare));
                out.push(Pick::new(None, id, "rare plain id"));
                if let Some((ctype, cid)) = common.split_once('/') {
                    out.push(Pick::new(Some(ctype), cid, "[type] modifier"));
                }
                out.push(Pick::new(
                    None,
                    format!("{common},{rtype}/{id}"),
                    "OR of two references",
                ));
            }
            out.push(Pick::new(
                None,
                format!("{fallback}/zz-no-such-id"),
                "no such reference",
            ));
        }
        "date" => {
            for v in ["ge1900-01-01", "lt2100-01-01", "eq2020"] {
                out.push(Pick::new(None, v, "wide date range"));
            }
            if let Some((Atom::Date(r), _)) = list.first() {
                if let Some(low) = r.low {
                    let day = super::matching::day_of(
                        chrono::DateTime::from_timestamp_millis(low).unwrap_or_default(),
                    );
                    for p in ["eq", "gt", "lt", "ge", "le", "ne"] {
                        out.push(Pick::new(None, format!("{p}{day}"), "date of the data"));
                    }
                }
            }
        }
        other => panic!("no value picker for {other} parameter {}", def.code),
    }
    out
}

/// The resources (`Type/id`) that the references of `def` in `resources` point at and
/// that exist in the data.
pub fn referenced(ds: &Dataset, def: &ParamDef, resources: &[&Value]) -> BTreeSet<String> {
    resources
        .iter()
        .flat_map(|r| atoms(r, &def.expression, "reference"))
        .filter_map(|a| match a {
            Atom::Ref(r) if ds.keys.contains(&r) => Some(r),
            _ => None,
        })
        .collect()
}
