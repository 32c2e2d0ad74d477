//! Fuzz targets (proptest) for the search parsers that take user input: whole queries
//! (`SearchQuery::parse`: names with modifiers, chains and `_has`, result parameters) and
//! each value grammar (dates, numbers, quantities, tokens, references, `near`, ValueSet and
//! hierarchy references, escaping). The inputs are biased toward the grammar: prefixes,
//! separators, escapes, odd date precisions, huge exponents, deep chains, NUL, multi-byte
//! characters and very long values.
//!
//! Every property is "returns `Ok` or `Err`, never panics, and finishes quickly", plus the
//! invariants an accepted value promises (a date range is non-empty, a canonical query parses
//! back to itself). Cases per property: `FHIRDIR_FUZZ_CASES` (default small enough for CI);
//! seed: `FHIRDIR_FUZZ_SEED` (default fixed, so a CI failure reproduces). See FUZZING.md.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use conformance::{Registry, SearchParamType};
use proptest::prelude::*;
use proptest::sample::select;
use search::text::{escape, split_unescaped, unescape};
use search::{
    normalize_string, parse_date, Decimal, Direction, HierarchyRef, NearValue, OfTypeValue,
    QuantityValue, ReferenceValue, SearchQuery, TokenValue, ValueSetRef,
};

// ---------------------------------------------------------------------------------------
// Harness: case count and seed from the environment, and a watchdog for hangs.

/// Cases per property when `FHIRDIR_FUZZ_CASES` is not set.
const DEFAULT_CASES: u32 = 1024;

/// One case taking longer than this fails the property (debug build, shared machine).
const SLOW: Duration = Duration::from_secs(2);

/// One case running longer than this aborts the process, printing the input: a hang.
const HUNG: Duration = Duration::from_secs(60);

fn config() -> ProptestConfig {
    fuzzkit::config(DEFAULT_CASES)
}

fn timed<T>(input: &str, f: impl FnOnce() -> T) -> Result<T, TestCaseError> {
    fuzzkit::timed(SLOW, HUNG, input, f)
}

// ---------------------------------------------------------------------------------------
// Vocabulary taken from the built-in registry, so names reach real parameters.

struct Vocab {
    registry: Registry,
    types: Vec<String>,
    codes: Vec<String>,
    reference_codes: Vec<String>,
    /// Each type's parameters (its own and the `Resource`-level ones): code and kind.
    params: BTreeMap<String, Vec<(String, SearchParamType)>>,
}

fn vocab() -> &'static Vocab {
    static V: OnceLock<Vocab> = OnceLock::new();
    V.get_or_init(|| {
        let registry = Registry::builtin();
        let types: Vec<String> = registry.resource_types().map(str::to_owned).collect();
        let mut codes = Vec::new();
        let mut reference_codes = Vec::new();
        let mut params = BTreeMap::new();
        for t in &types {
            let mut own = Vec::new();
            for p in registry.for_type(t) {
                codes.push(p.code.clone());
                if p.kind == SearchParamType::Reference {
                    reference_codes.push(p.code.clone());
                }
                own.push((p.code.clone(), p.kind));
            }
            params.insert(t.clone(), own);
        }
        for list in [&mut codes, &mut reference_codes] {
            list.sort();
            list.dedup();
        }
        Vocab {
            registry,
            types,
            codes,
            reference_codes,
            params,
        }
    })
}

/// An element of a list chosen at generation time, with shrinking toward the first.
fn pick(list: &'static [String]) -> impl Strategy<Value = String> + Clone {
    (0..list.len()).prop_map(move |i| list[i].clone())
}

/// Characters and fragments with meaning somewhere in search syntax, plus hostile ones.
const FRAGMENTS: &[&str] = &[
    "0",
    "1",
    "9",
    "2020",
    "-",
    "+",
    ":",
    "T",
    "Z",
    ".",
    "e",
    "E",
    "|",
    ",",
    "$",
    "\\",
    "\\,",
    "\\|",
    "\\$",
    "\\\\",
    "/",
    "_history",
    "gt",
    "lt",
    "ge",
    "le",
    "ap",
    "sa",
    "eb",
    "ne",
    "eq",
    "x",
    "é",
    "中",
    "🦀",
    "\u{0}",
    "\u{301}",
    " ",
    "\t",
    "http://a.org/",
    "urn:oid:1.2",
    "://",
    "Organization",
    "ValueSet/",
    "%",
    "%00",
    "=",
    "&",
    "?",
    "#",
    "*",
    "'",
    "\"",
    "e999999",
    "1e-999999",
    "99999999999999999999",
    "NaN",
    "inf",
    "\u{FEFF}",
    "\u{FFFF}",
];

fn soup(max: usize) -> impl Strategy<Value = String> + Clone {
    prop::collection::vec(select(FRAGMENTS), 0..max).prop_map(|v| v.concat())
}

fn prefix() -> BoxedStrategy<String> {
    prop_oneof![
        3 => Just(String::new()),
        2 => select(&["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"][..]).prop_map(str::to_owned),
        1 => "[a-zA-Z]{2}",
    ].boxed()
}

/// Dates and date-times with every precision, and the ways each part can be wrong.
fn date() -> BoxedStrategy<String> {
    let year = prop_oneof![
        "[0-9]{4}",
        "[0-9]{0,6}",
        Just("0000".to_owned()),
        Just("9999".to_owned())
    ];
    let two = || prop_oneof![4 => "[0-9]{2}", 1 => "[0-9]{0,3}", 1 => Just("00".to_owned()), 1 => "[0-9٠-٩]{2}"];
    let fraction = prop_oneof!["[0-9]{0,12}", "[0-9]{1,40}", "[0-9a]{1,3}"];
    let zone = prop_oneof![
        Just(String::new()),
        Just("Z".to_owned()),
        ("[+-]", two(), two()).prop_map(|(s, h, m)| format!("{s}{h}:{m}")),
        "[+-][0-9:]{0,6}",
        Just("+14:00".to_owned()),
        Just("-14:59".to_owned()),
    ];
    (
        prefix(),
        year,
        prop::option::of(two()),
        prop::option::of(two()),
        prop::option::of((
            two(),
            prop::option::of(two()),
            prop::option::of((two(), prop::option::of(fraction))),
        )),
        zone,
    )
        .prop_map(|(p, y, m, d, time, z)| {
            let mut s = format!("{p}{y}");
            for part in [m, d].into_iter().flatten() {
                s.push('-');
                s.push_str(&part);
            }
            if let Some((h, min, sec)) = time {
                s.push('T');
                s.push_str(&h);
                if let Some(min) = min {
                    s.push(':');
                    s.push_str(&min);
                }
                if let Some((sec, frac)) = sec {
                    s.push(':');
                    s.push_str(&sec);
                    if let Some(f) = frac {
                        s.push('.');
                        s.push_str(&f);
                    }
                }
                s.push_str(&z);
            }
            s
        })
        .boxed()
}

/// Decimals: signs, leading zeros, fractions, huge and tiny exponents.
fn number() -> BoxedStrategy<String> {
    let exponent = prop_oneof![
        Just(String::new()),
        "[eE][+-]?[0-9]{1,3}",
        "[eE][+-]?[0-9]{4,12}",
        select(
            &[
                "e999999",
                "e-999999",
                "e2147483647",
                "e-2147483648",
                "e2147483648",
                "e",
                "e+"
            ][..]
        )
        .prop_map(str::to_owned),
    ];
    (
        prefix(),
        "[+-]?",
        "[0-9]{0,25}",
        prop::option::of("[0-9]{0,25}"),
        exponent,
    )
        .prop_map(|(p, sign, int, frac, exp)| match frac {
            Some(f) => format!("{p}{sign}{int}.{f}{exp}"),
            None => format!("{p}{sign}{int}{exp}"),
        })
        .boxed()
}

/// Free text with separators and escapes: the system, code and unit parts of tokens and
/// quantities.
fn word() -> BoxedStrategy<String> {
    prop_oneof![
        3 => "[a-zA-Z0-9.-]{0,12}",
        1 => "(http|urn)://[a-z.]{1,8}/[a-zA-Z0-9/]{0,12}",
        2 => soup(6),
    ]
    .boxed()
}

fn reference() -> BoxedStrategy<String> {
    let ty = prop_oneof![pick(&vocab().types), "[A-Za-z]{0,10}"];
    let id = prop_oneof!["[A-Za-z0-9.-]{1,64}", "[A-Za-z0-9.-]{65,70}", soup(4)];
    prop_oneof![
        id.clone(),
        (ty.clone(), id.clone()).prop_map(|(t, i)| format!("{t}/{i}")),
        (ty.clone(), id.clone(), "[0-9a-z]{0,4}")
            .prop_map(|(t, i, v)| format!("{t}/{i}/_history/{v}")),
        ("(http|https|urn)", "[a-z./]{0,12}", ty, id)
            .prop_map(|(s, h, t, i)| format!("{s}://{h}/{t}/{i}")),
        (word(), "[/?#]{0,3}").prop_map(|(w, tail)| format!("{w}{tail}")),
    ]
    .boxed()
}

fn quantity() -> BoxedStrategy<String> {
    prop_oneof![
        number(),
        (number(), word(), word()).prop_map(|(n, s, c)| format!("{n}|{s}|{c}")),
        (number(), word()).prop_map(|(n, c)| format!("{n}||{c}")),
    ]
    .boxed()
}

/// `code`, `system|code`, `|code`, `system|`, and the three-part `:of-type` form.
fn token() -> BoxedStrategy<String> {
    prop_oneof![
        3 => (prop::option::of(word()), word()).prop_map(|(s, c)| match s {
            Some(s) => format!("{s}|{c}"),
            None => c,
        }),
        1 => (word(), word(), word()).prop_map(|(a, b, c)| format!("{a}|{b}|{c}")),
        1 => select(&["ValueSet/x", "http://v.org/vs|1", "urn:oid:1.2|", "|", "||"][..])
            .prop_map(str::to_owned),
    ]
    .boxed()
}

fn near() -> BoxedStrategy<String> {
    let unit = select(&["km", "mi", "[mi_i]", "m", "", "ft"][..]);
    (
        number(),
        number(),
        prop::option::of((number(), prop::option::of(unit))),
    )
        .prop_map(|(a, b, rest)| match rest {
            None => format!("{a}|{b}"),
            Some((d, None)) => format!("{a}|{b}|{d}"),
            Some((d, Some(u))) => format!("{a}|{b}|{d}|{u}"),
        })
        .boxed()
}

fn composite() -> BoxedStrategy<String> {
    prop::collection::vec(alt_leaf(), 1..4)
        .prop_map(|v| v.join("$"))
        .boxed()
}

/// Hostile text: fragment soups and very long runs.
fn junk() -> BoxedStrategy<String> {
    prop_oneof![
        4 => soup(16),
        1 => (select(FRAGMENTS), 1_000..20_000usize)
            .prop_map(|(f, n)| f.repeat(n / f.len().max(1))),
    ]
    .boxed()
}

/// One OR-alternative of any kind.
fn alternative() -> BoxedStrategy<String> {
    prop_oneof![
        3 => date(),
        3 => number(),
        2 => quantity(),
        3 => token(),
        3 => reference(),
        1 => near(),
        1 => composite(),
        1 => select(&["true", "false", "", "*"][..]).prop_map(str::to_owned),
        3 => junk(),
    ]
    .boxed()
}

/// One OR-alternative, usually in the grammar of a parameter of type `kind`.
fn alternative_for(kind: SearchParamType) -> BoxedStrategy<String> {
    use SearchParamType as T;
    let typed = match kind {
        T::Date => date(),
        T::Number => number(),
        T::Quantity => quantity(),
        T::Token => token(),
        T::Reference => reference(),
        T::Composite => composite(),
        T::Special => near(),
        T::String | T::Uri => word(),
    };
    prop_oneof![4 => typed, 1 => alternative()].boxed()
}

/// A simpler alternative, for composite components (keeps the recursion flat).
fn alt_leaf() -> BoxedStrategy<String> {
    prop_oneof![date(), number(), word()].boxed()
}

/// A value: comma-separated alternatives (`:missing` takes `true`/`false`).
fn value_for(kind: SearchParamType, modifier: Option<&str>) -> BoxedStrategy<String> {
    if modifier == Some("missing") {
        return prop_oneof![4 => select(&["true", "false"][..]).prop_map(str::to_owned), 1 => junk()].boxed();
    }
    prop::collection::vec(alternative_for(kind), 1..4)
        .prop_map(|v| v.join(","))
        .boxed()
}

const MODIFIERS: &[&str] = &[
    "missing",
    "exact",
    "contains",
    "text",
    "not",
    "above",
    "below",
    "in",
    "not-in",
    "of-type",
    "identifier",
    "iterate",
    "recurse",
    "Organization",
    "Location",
    "Practitioner",
    "Patient",
    "",
    "x",
    "é",
];

/// One name segment: a code and an optional modifier.
fn segment() -> BoxedStrategy<String> {
    let code = prop_oneof![
        4 => pick(&vocab().codes),
        3 => pick(&vocab().reference_codes),
        1 => "[a-z_-]{0,10}",
        1 => soup(3),
    ];
    (code, prop::option::weighted(0.3, select(MODIFIERS)))
        .prop_map(|(c, m)| match m {
            Some(m) => format!("{c}:{m}"),
            None => c,
        })
        .boxed()
}

/// A chain of segments, longer than the nesting limit allows.
fn chain() -> BoxedStrategy<String> {
    prop::collection::vec(segment(), 1..10)
        .prop_map(|v| v.join("."))
        .boxed()
}

/// `_has:Type:reference:` prefixes, nested past the limit.
fn has_prefix() -> BoxedStrategy<String> {
    let level = (
        prop_oneof![4 => pick(&vocab().types), 1 => "[A-Za-z]{0,8}"],
        pick(&vocab().reference_codes),
    );
    prop::collection::vec(level, 1..9)
        .prop_map(|levels| {
            levels
                .into_iter()
                .map(|(t, r)| format!("_has:{t}:{r}:"))
                .collect()
        })
        .boxed()
}

const RESULT_PARAMS: &[&str] = &[
    "_count",
    "_total",
    "_summary",
    "_elements",
    "_sort",
    "_include",
    "_revinclude",
    "_include:iterate",
    "_revinclude:recurse",
    "_include:x",
    "_count:missing",
    "_format",
    "_pretty",
    "_contained",
    "_filter",
    "_has",
    "_has:",
];

/// The modifiers that apply to a parameter type (`Type` modifiers come from the walk).
fn modifiers_for(kind: SearchParamType) -> &'static [&'static str] {
    use SearchParamType as T;
    match kind {
        T::String => &["missing", "exact", "contains"],
        T::Token => &[
            "missing", "text", "not", "above", "below", "in", "not-in", "of-type",
        ],
        T::Reference => &["missing", "identifier", "above", "below", "Organization"],
        T::Uri => &["missing", "above", "below"],
        _ => &["missing"],
    }
}

/// One step of a walk through the registry: which way to go and which branch to take.
#[derive(Debug, Clone)]
struct Step {
    has: bool,
    branch: usize,
    target: usize,
    type_modifier: bool,
}

/// Follows `steps` from `ty` through reference parameters (chains, forward) and `_has`
/// (backward), then ends on one parameter of the type reached: the name, and that
/// parameter's type. Steps that cannot be taken are skipped, so every walk is a name the
/// registry can resolve (until the nesting limit).
fn walk(ty: &str, steps: &[Step], leaf: usize) -> Option<(String, SearchParamType)> {
    let v = vocab();
    let mut current = ty.to_owned();
    let mut name = String::new();
    for step in steps {
        if step.has {
            let sources: Vec<(&String, &String)> = v
                .params
                .iter()
                .flat_map(|(source, params)| params.iter().map(move |(code, _)| (source, code)))
                .filter(|(source, code)| {
                    v.registry.get(source, code).is_some_and(|p| {
                        p.kind == SearchParamType::Reference
                            && (p.target.is_empty()
                                || p.target.iter().any(|t| *t == current || t == "Resource"))
                    })
                })
                .collect();
            if let Some((source, code)) = sources.get(step.branch % sources.len().max(1)) {
                name.push_str(&format!("_has:{source}:{code}:"));
                current = (*source).clone();
            }
        } else {
            let refs: Vec<&String> = v
                .params
                .get(&current)?
                .iter()
                .filter(|(_, k)| *k == SearchParamType::Reference)
                .map(|(c, _)| c)
                .collect();
            let Some(code) = refs.get(step.branch % refs.len().max(1)) else {
                continue;
            };
            let def = v.registry.get(&current, code)?;
            let targets: Vec<&String> =
                if def.target.is_empty() || def.target.iter().any(|t| t == "Resource") {
                    v.types.iter().collect()
                } else {
                    def.target.iter().collect()
                };
            let target = targets[step.target % targets.len()];
            if step.type_modifier {
                name.push_str(&format!("{code}:{target}."));
            } else {
                name.push_str(&format!("{code}."));
            }
            current = target.clone();
        }
    }
    let params = v.params.get(&current)?;
    let (code, kind) = params.get(leaf % params.len().max(1))?;
    name.push_str(code);
    Some((name, *kind))
}

/// A criterion reached by a walk (see [`walk`]), with a modifier now and then and a value
/// usually in the grammar of the parameter it ends on.
fn criterion_for(ty: String) -> BoxedStrategy<(String, String)> {
    let step = (
        any::<bool>(),
        0..64usize,
        0..64usize,
        prop::bool::weighted(0.2),
    )
        .prop_map(|(has, branch, target, type_modifier)| Step {
            has: has && branch % 3 == 0,
            branch,
            target,
            type_modifier,
        });
    let steps = prop_oneof![
        3 => Just(Vec::new()),
        2 => prop::collection::vec(step.clone(), 1..4),
        1 => prop::collection::vec(step, 4..10),
    ];
    (steps, 0..256usize, 0..10u8, 0..64usize)
        .prop_flat_map(move |(steps, leaf, modifier_roll, modifier_pick)| {
            let Some((name, kind)) = walk(&ty, &steps, leaf) else {
                return (Just(format!("{ty}-has-no-parameters")), value()).boxed();
            };
            let modifier = match modifier_roll {
                0..=5 => None,
                6..=8 => {
                    let list = modifiers_for(kind);
                    Some(list[modifier_pick % list.len()])
                }
                _ => Some(MODIFIERS[modifier_pick % MODIFIERS.len()]),
            };
            let name = match modifier {
                Some(m) => format!("{name}:{m}"),
                None => name,
            };
            (Just(name), value_for(kind, modifier)).boxed()
        })
        .boxed()
}

/// One `(name, value)` pair for a search on `ty`: mostly a criterion (see [`criterion_for`]),
/// also the result parameters, free-form chains and junk.
fn pair_for(ty: &str) -> BoxedStrategy<(String, String)> {
    prop_oneof![
        10 => criterion_for(ty.to_owned()),
        3 => (select(RESULT_PARAMS).prop_map(str::to_owned), result_value()),
        1 => (has_prefix(), chain(), value()).prop_map(|(h, c, v)| (h + &c, v)),
        1 => (chain(), value()),
        1 => (junk(), junk()),
    ]
    .boxed()
}

/// A value of any kind.
fn value() -> BoxedStrategy<String> {
    prop::collection::vec(alternative(), 1..4)
        .prop_map(|v| v.join(","))
        .boxed()
}

/// A value suited to the result parameters.
fn result_value() -> BoxedStrategy<String> {
    let include = (
        prop_oneof![pick(&vocab().types), Just("*".to_owned()), "[A-Za-z]{0,6}"],
        prop_oneof![
            pick(&vocab().reference_codes),
            pick(&vocab().codes),
            Just("*".to_owned())
        ],
        prop::option::of(prop_oneof![pick(&vocab().types), "[A-Za-z:]{0,6}"]),
    )
        .prop_map(|(s, c, t)| match t {
            Some(t) => format!("{s}:{c}:{t}"),
            None => format!("{s}:{c}"),
        });
    let sort = prop::collection::vec((prop::bool::ANY, pick(&vocab().codes)), 1..4).prop_map(|v| {
        v.into_iter()
            .map(|(d, c)| if d { format!("-{c}") } else { c })
            .collect::<Vec<_>>()
            .join(",")
    });
    prop_oneof![
        include,
        sort,
        "[0-9]{1,12}",
        "-?[0-9]{1,3}",
        select(
            &["none", "estimate", "accurate", "true", "text", "data", "count", "false", "*"][..]
        )
        .prop_map(str::to_owned),
        "[a-zA-Z_., ]{0,30}",
    ]
    .boxed()
}

/// A resource type (mostly one with parameters) and up to four pairs for a search on it.
fn search() -> BoxedStrategy<(String, Vec<(String, String)>)> {
    let ty = prop_oneof![
        12 => pick(&vocab().types),
        1 => select(&["Patient", "Resource", "DomainResource", "", "organization"][..])
            .prop_map(str::to_owned),
    ];
    ty.prop_flat_map(|ty| {
        let pairs = prop::collection::vec(pair_for(&ty), 1..4);
        (Just(ty), pairs)
    })
    .boxed()
}

// ---------------------------------------------------------------------------------------
// Properties.

/// Splits a canonical query string back into decoded pairs.
fn decode_query(query: &str) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match (bytes[i], hex) {
                (b'%', Some(b)) => {
                    out.push(b);
                    i += 3;
                }
                (b, _) => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).expect("canonical queries encode UTF-8")
    }
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(n), decode(v))
        })
        .collect()
}

proptest! {
    #![proptest_config(config())]

    /// Whole queries: any pairs on any type parse or fail cleanly; an accepted query's
    /// canonical form (the `self`/`next` links, and what paging cursors are bound to) parses
    /// back to the same canonical form.
    #[test]
    fn search_query_parse_never_panics_and_canonical_form_round_trips(
        (ty, pairs) in search(),
    ) {
        let registry = &vocab().registry;
        let label = format!("{ty}?{pairs:?}");
        let parsed = timed(&label, || SearchQuery::parse(&ty, &pairs, registry))?;
        if let Ok(query) = parsed {
            let _ = query.require_all_understood();
            let canonical = query.canonical_query();
            let again = timed(&canonical, || SearchQuery::parse(&ty, &decode_query(&canonical), registry))?;
            match again {
                Ok(again) => prop_assert_eq!(again.canonical_query(), canonical),
                Err(e) => prop_assert!(false, "canonical query {canonical:?} of {label} fails: {e}"),
            }
        }
    }

    /// Dates: any text parses or fails; an accepted date's range is non-empty and
    /// widening it for `ap` never panics.
    #[test]
    fn dates_never_panic_and_ranges_are_non_empty(s in prop_oneof![date(), soup(12)]) {
        let parsed = timed(&s, || parse_date(&s))?;
        if let Ok(d) = parsed {
            prop_assert!(d.range.low < d.range.high, "{s:?} gave {:?}", d.range);
            let _ = d.range.approximate(chrono::Utc::now());
        }
    }

    /// Numbers: an accepted decimal is finite and lies inside its precision range.
    #[test]
    fn decimals_never_panic_and_contain_their_value(s in prop_oneof![number(), soup(10)]) {
        let parsed = timed(&s, || Decimal::parse("number", &s))?;
        if let Ok(d) = parsed {
            prop_assert!(d.value.is_finite(), "{s:?} gave {d:?}");
            prop_assert!(d.low <= d.value && d.value <= d.high, "{s:?} gave {d:?}");
            let _ = d.approximate();
        }
    }

    /// Every value parser on every kind of alternative.
    #[test]
    fn value_parsers_never_panic(s in alternative(), modifier in prop::option::of(pick(&vocab().types))) {
        timed(&s, || {
            let _ = TokenValue::parse(&s);
            let _ = OfTypeValue::parse(&s);
            let _ = ReferenceValue::parse(&s, modifier.as_deref());
            let _ = QuantityValue::parse(&s);
            let _ = NearValue::parse(&s);
            let _ = ValueSetRef::parse(&s);
            let _ = HierarchyRef::parse(&s, Direction::Below);
        })?;
    }

    /// Escaping: `unescape(escape(s)) == s` for any NUL-free text, and splitting at an
    /// unescaped separator loses nothing.
    #[test]
    fn escaping_round_trips_and_splitting_loses_nothing(
        s in prop_oneof![soup(20), any::<String>()],
        sep in select(&[',', '|', '$'][..]),
    ) {
        if !s.contains('\0') {
            prop_assert_eq!(unescape(&escape(&s)), Ok(s.clone()));
        }
        prop_assert_eq!(split_unescaped(&s, sep).join(sep.to_string().as_str()), s.clone());
        let _ = timed(&s, || normalize_string(&s))?;
    }
}
