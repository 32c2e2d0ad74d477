//! Hostile input: random token soups, mutated real expressions, deep nesting and deep JSON
//! must produce errors or results — never panics, stack overflows or hangs.
//! Deterministic (fixed-seed xorshift) so failures reproduce.

use fhirpath::Expression;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const FRAGMENTS: &[&str] = &[
    "Patient",
    "name",
    "given",
    "a",
    ".",
    ".",
    ".",
    "(",
    ")",
    "[",
    "]",
    "'x'",
    "'J'",
    "0",
    "1",
    "2.5",
    "@2020",
    "@2020-01-01T10:00Z",
    "@T10",
    "where(",
    "exists(",
    "|",
    " and ",
    " or ",
    " is ",
    " as ",
    "$this",
    "$index",
    "$total",
    "%resource",
    "%context",
    ",",
    "+",
    "-",
    "*",
    "/",
    " div ",
    " mod ",
    "=",
    "!=",
    "~",
    "<",
    ">=",
    "{}",
    "`b`",
    "ofType(",
    "resolve()",
    "repeat(",
    "descendants()",
    "children()",
    "select(",
    "aggregate(",
    "iif(",
    "first()",
    "count()",
    "substring(",
    "matches(",
    "'[a-z]+'",
    "replace(",
    "split(",
    "combine(",
    "union(",
    "not()",
    "toString()",
    "toInteger()",
    "1 'mg'",
    "3 days",
    "extension(",
    "String",
    "FHIR.string",
    " implies ",
    " xor ",
    " in ",
    " contains ",
    "'",
    "\\",
    "@",
    "%",
    "$",
    "/*",
    "//",
    "\n",
];

fn resource() -> Value {
    json!({
        "resourceType": "Patient",
        "id": "x",
        "name": [{"given": ["Jo", "Al"], "family": "Q"}, {"given": ["Bo"]}],
        "_birthDate": {"extension": [{"url": "u", "valueString": "s"}]},
        "extension": [{"url": "'x'", "valueInteger": 3}],
        "contained": [{"resourceType": "Organization", "id": "o"}],
        "managingOrganization": {"reference": "#o"}
    })
}

/// Parses and evaluates; returns how long evaluation took.
fn exercise(src: &str, r: &Value) -> Duration {
    let start = Instant::now();
    if let Ok(e) = Expression::parse(src) {
        let _ = e.evaluate(r);
        let _ = e.evaluate_bool(r);
    }
    start.elapsed()
}

#[test]
fn random_token_soups_never_panic_or_hang() {
    let r = resource();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut parsed = 0;
    for _ in 0..20_000 {
        let len = 1 + rng.below(24);
        let src: String = (0..len)
            .map(|_| FRAGMENTS[rng.below(FRAGMENTS.len())])
            .collect();
        let took = exercise(&src, &r);
        assert!(took < Duration::from_secs(5), "slow: {src:?} took {took:?}");
        parsed += usize::from(Expression::parse(&src).is_ok());
    }
    // The generator must reach the evaluator often enough to mean something.
    assert!(parsed > 500, "only {parsed} soups parsed");
}

#[test]
fn mutated_expressions_never_panic() {
    let r = resource();
    let seeds = [
        "Patient.name.where(given = 'Jo').family",
        "Patient.managingOrganization.where(resolve() is Organization)",
        "(Patient.extension('\\'x\\'').value as integer) + 1",
        "Patient.name.given.aggregate($total + $this.length(), 0)",
        "@2020-01-01T10:00:00.000+01:00 + 1 'h' > now()",
        "Patient.descendants().select($this.toString()).distinct().count()",
    ];
    let mut rng = Rng(42);
    for seed in seeds {
        let bytes: Vec<char> = seed.chars().collect();
        for _ in 0..3_000 {
            let mut m = bytes.clone();
            for _ in 0..1 + rng.below(3) {
                let i = rng.below(m.len().max(1));
                match rng.below(3) {
                    0 if !m.is_empty() => {
                        m.remove(i.min(m.len() - 1));
                    }
                    1 => m.insert(
                        i,
                        FRAGMENTS[rng.below(FRAGMENTS.len())]
                            .chars()
                            .next()
                            .unwrap_or('x'),
                    ),
                    _ => m.insert(i, char::from_u32(rng.below(0x3000) as u32).unwrap_or('?')),
                }
            }
            let src: String = m.into_iter().collect();
            exercise(&src, &r);
        }
    }
}

#[test]
fn deep_nesting_is_refused_or_evaluated_on_a_small_stack() {
    // Spawned threads get 2 MiB stacks: the evaluator must fit at the deepest accepted tree.
    let handle = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(|| {
            let r = resource();
            let mut deepest_ok = 0;
            for n in [10, 30, 60, 100, 200, 1_000, 100_000] {
                let shapes = [
                    format!("{}1{}", "(".repeat(n), ")".repeat(n)),
                    format!("Patient{}", ".name".repeat(n)),
                    format!("{}true", "not(".repeat(n) + &")".repeat(0)),
                    format!("{}{}", "Patient.name.where(".repeat(n), ")".repeat(n)),
                    format!("1{}", " + 1".repeat(n)),
                    format!("{}1", "-".repeat(n)),
                    format!(
                        "iif({}true{}",
                        "iif(true, ".repeat(n),
                        ", 0)".repeat(n) + ")"
                    ),
                ];
                for src in shapes {
                    if Expression::parse(&src).is_ok() {
                        deepest_ok = deepest_ok.max(n);
                    }
                    exercise(&src, &r);
                }
            }
            deepest_ok
        })
        .expect("spawn");
    let deepest = handle.join().expect("no stack overflow");
    assert!(deepest >= 60, "realistic nesting must still parse");
}

#[test]
fn deep_json_does_not_overflow_navigation() {
    let mut v = json!({"leaf": "x"});
    for _ in 0..500 {
        v = json!({"resourceType": "Basic", "a": [v]});
    }
    for src in [
        "descendants().count()",
        "descendants().leaf",
        "repeat(a).count()",
        "children().children().a.count()",
        "descendants() = descendants()",
        "descendants().distinct().count()",
    ] {
        let took = exercise(src, &v);
        assert!(took < Duration::from_secs(10), "{src} took {took:?}");
    }
    let e = Expression::parse("descendants().leaf").expect("parse");
    assert_eq!(e.evaluate(&v).expect("eval").len(), 1);
}

/// Random JSON with FHIR-ish keys in odd shapes (`_given` longer than `given`, non-string
/// `resourceType`, nulls in arrays, extension objects without url…).
fn random_json(r: &mut Rng, depth: u32) -> Value {
    const KEYS: &[&str] = &[
        "name",
        "given",
        "_given",
        "value",
        "valueString",
        "_valueString",
        "valueQuantity",
        "extension",
        "url",
        "resourceType",
        "reference",
        "contained",
        "id",
        "_id",
        "period",
        "start",
        "end",
    ];
    match (depth, r.below(8)) {
        (0, _) | (_, 0) => json!(null),
        (_, 1) => json!(r.below(3) == 0),
        (_, 2) => json!(r.below(1000) as i64 - 500),
        (_, 3) => json!((r.below(10_000) as f64) / 7.0),
        (_, 4) => json!(*[
            "",
            "x",
            "2020-01-01",
            "#c1",
            "Patient/1",
            "10:00",
            "http://e/a"
        ]
        .get(r.below(7))
        .unwrap_or(&"")),
        (_, 5) => Value::Array((0..r.below(4)).map(|_| random_json(r, depth - 1)).collect()),
        _ => {
            let mut m = serde_json::Map::new();
            for _ in 0..r.below(6) {
                m.insert(
                    KEYS[r.below(KEYS.len())].to_string(),
                    random_json(r, depth - 1),
                );
            }
            Value::Object(m)
        }
    }
}

#[test]
fn arbitrary_json_never_panics() {
    let exprs: Vec<Expression> = [
        "name.given",
        "name.given.extension.value",
        "value.ofType(Quantity) | value.ofType(string)",
        "extension('http://e/a').value",
        "extension.where(url = 'http://e/a').extension.value.ofType(CodeableConcept)",
        "contained.resolve() | reference.resolve() | descendants().reference.resolve()",
        "descendants().where(resolve() is Patient)",
        "children().hasValue() | descendants().getValue()",
        "period.all(start <= end) and period.start.toDateTime() < now()",
        "descendants().distinct().count() + descendants().isDistinct().count()",
        "descendants().select($this.toString()).join(',')",
        "descendants().ofType(HumanName).given | descendants().type().name",
        "name.given.repeat(extension).url",
        "descendants() ~ children()",
    ]
    .iter()
    .map(|s| Expression::parse(s).unwrap_or_else(|e| panic!("{s}: {e}")))
    .collect();
    let mut r = Rng(7);
    for _ in 0..3_000 {
        let v = random_json(&mut r, 6);
        for e in &exprs {
            let _ = e.evaluate(&v);
            let _ = e.evaluate_located(&v, &fhirpath::Env::default());
        }
    }
}
