//! Conformance over `../shared/fhir` (never copied into the repository): every
//! SearchParameter expression of FHIR R4 4.0.1, Plan-Net 1.1.0/1.2.0, NDH 1.0.0 and VhDir
//! parses; those for the directory resource types evaluate without error on the official
//! and sample instances; simple paths agree with an independent JSON walk; and a few
//! results are checked against values read from the example files.
//!
//! Skips (with a message) when the shared folder is absent, unless
//! `FHIRDIR_REQUIRE_SHARED=1`, which turns its absence into a failure.

use fhirpath::Expression;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Resource types whose search parameters must evaluate.
const TYPES: &[&str] = &[
    "Organization",
    "Practitioner",
    "PractitionerRole",
    "Location",
    "HealthcareService",
    "Endpoint",
    "InsurancePlan",
    "OrganizationAffiliation",
    "CareTeam",
    "Group",
    "Consent",
    "VerificationResult",
    "Provenance",
    "AuditEvent",
    "Subscription",
    "Basic",
    "Resource",
    "DomainResource",
];

/// Expressions allowed to fail evaluation, with the reason. Kept exact: an entry that no
/// longer fails makes the test fail too, so the list cannot go stale.
const KNOWN_EVAL_EXCEPTIONS: &[(&str, &str)] = &[];

/// Lines read from each sample `.ndjson.gz` file (they hold thousands of similar records).
const NDJSON_CAP: usize = 100;

struct SearchParam {
    source: String,
    base: Vec<String>,
    expression: String,
}

struct Corpus {
    params: Vec<SearchParam>,
    instances: Vec<(String, Value)>,
}

fn read_json(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(text.trim_start_matches('\u{feff}')).ok()
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

fn ndjson_gz(path: &Path) -> Vec<Value> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    BufReader::new(flate2::read::GzDecoder::new(file))
        .lines()
        .take(NDJSON_CAP)
        .map(|l| {
            let l = l.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            serde_json::from_str(&l).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .collect()
}

/// Adds a resource, and the resources inside it when it is a Bundle.
fn add_instance(out: &mut Vec<(String, Value)>, origin: String, v: Value) {
    if v.get("resourceType").and_then(Value::as_str) == Some("Bundle") {
        for (i, e) in v["entry"].as_array().into_iter().flatten().enumerate() {
            if let Some(r) = e.get("resource") {
                out.push((format!("{origin}#entry{i}"), r.clone()));
            }
        }
    }
    out.push((origin, v));
}

fn add_param(out: &mut Vec<SearchParam>, source: String, v: &Value) {
    if v.get("resourceType").and_then(Value::as_str) != Some("SearchParameter") {
        return;
    }
    let Some(expression) = v.get("expression").and_then(Value::as_str) else {
        return;
    };
    let base = v["base"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    out.push(SearchParam {
        source,
        base,
        expression: expression.to_string(),
    });
}

fn corpus() -> Option<&'static Corpus> {
    static CORPUS: OnceLock<Option<Corpus>> = OnceLock::new();
    CORPUS
        .get_or_init(|| {
            let fhir = testkit::shared_fhir()?;
            let mut params = Vec::new();
            let mut instances = Vec::new();
            let core = read_json(&fhir.join("r4-core/search-parameters.json"))
                .expect("r4-core/search-parameters.json");
            for e in core["entry"].as_array().into_iter().flatten() {
                add_param(&mut params, "r4-core".into(), &e["resource"]);
            }
            let conformance_dirs = [
                "plan-net/1.2.0",
                "plan-net/1.1.0",
                "ndh/1.0.0-sushi-compiled",
                "vhdir/ig-resources",
                "sample-data/plan-net-ri-test-data",
            ];
            for dir in conformance_dirs {
                for f in json_files(&fhir.join(dir)) {
                    let Some(v) = read_json(&f) else { continue };
                    let name = format!(
                        "{dir}/{}",
                        f.file_name().unwrap_or_default().to_string_lossy()
                    );
                    add_param(&mut params, name.clone(), &v);
                    if TYPES.contains(&v["resourceType"].as_str().unwrap_or_default())
                        || v["resourceType"] == "Bundle"
                    {
                        add_instance(&mut instances, name, v);
                    }
                }
            }
            for dir in [
                "r4-core/examples",
                "plan-net/1.2.0/example",
                "plan-net/1.1.0/example",
            ] {
                for f in json_files(&fhir.join(dir)) {
                    let v = read_json(&f).unwrap_or_else(|| panic!("{}", f.display()));
                    add_instance(&mut instances, f.display().to_string(), v);
                }
            }
            for dir in [
                "vhdir/generated-examples-20181206",
                "sample-data/plan-net-ri-nppes",
            ] {
                let mut files: Vec<PathBuf> = std::fs::read_dir(fhir.join(dir))
                    .expect(dir)
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.to_string_lossy().ends_with(".ndjson.gz"))
                    .collect();
                files.sort();
                for f in files {
                    for (i, v) in ndjson_gz(&f).into_iter().enumerate() {
                        add_instance(&mut instances, format!("{}:{i}", f.display()), v);
                    }
                }
            }
            Some(Corpus { params, instances })
        })
        .as_ref()
}

fn applies(param: &SearchParam, resource_type: &str) -> bool {
    param.base.iter().any(|b| {
        b == resource_type
            || b == "Resource"
            || (b == "DomainResource" && resource_type != "Bundle")
    })
}

fn directory_params(c: &Corpus) -> impl Iterator<Item = &SearchParam> {
    c.params
        .iter()
        .filter(|p| p.base.iter().any(|b| TYPES.contains(&b.as_str())))
}

#[test]
fn every_search_parameter_expression_parses() {
    let Some(c) = corpus() else { return };
    let mut failures = Vec::new();
    let mut distinct = BTreeSet::new();
    for p in &c.params {
        distinct.insert(p.expression.as_str());
        if let Err(e) = Expression::parse(&p.expression) {
            failures.push(format!("{} `{}`: {e}", p.source, p.expression));
        }
    }
    eprintln!(
        "{} SearchParameters, {} distinct expressions parsed",
        c.params.len(),
        distinct.len()
    );
    assert!(c.params.len() > 1500, "corpus unexpectedly small");
    assert!(
        failures.is_empty(),
        "parse failures:\n{}",
        failures.join("\n")
    );
}

#[test]
fn directory_search_parameters_evaluate_on_examples() {
    let Some(c) = corpus() else { return };
    let mut failing: BTreeMap<&str, String> = BTreeMap::new();
    let mut evaluations = 0usize;
    let mut with_results: BTreeSet<&str> = BTreeSet::new();
    let mut expressions: BTreeSet<&str> = BTreeSet::new();
    for p in directory_params(c) {
        expressions.insert(&p.expression);
        let expr = Expression::parse(&p.expression).expect("parses (checked elsewhere)");
        for (origin, r) in &c.instances {
            let rt = r["resourceType"].as_str().unwrap_or_default();
            if !applies(p, rt) {
                continue;
            }
            evaluations += 1;
            match expr.evaluate(r) {
                Ok(nodes) if !nodes.is_empty() => {
                    with_results.insert(&p.expression);
                }
                Ok(_) => {}
                Err(e) => {
                    failing
                        .entry(&p.expression)
                        .or_insert_with(|| format!("{origin}: {e}"));
                }
            }
        }
    }
    eprintln!(
        "{} directory expressions, {} evaluations over {} instances, {} expressions produced results",
        expressions.len(),
        evaluations,
        c.instances.len(),
        with_results.len()
    );
    let known: BTreeSet<&str> = KNOWN_EVAL_EXCEPTIONS.iter().map(|(e, _)| *e).collect();
    let unexpected: Vec<String> = failing
        .iter()
        .filter(|(e, _)| !known.contains(*e))
        .map(|(e, why)| format!("`{e}`: {why}"))
        .collect();
    assert!(
        unexpected.is_empty(),
        "evaluation failures:\n{}",
        unexpected.join("\n")
    );
    let stale: Vec<&&str> = known.iter().filter(|e| !failing.contains_key(*e)).collect();
    assert!(
        stale.is_empty(),
        "known exceptions that now pass: {stale:?}"
    );
    assert!(expressions.len() > 250 && evaluations > 10_000);
    // The examples exercise most parameters; a collapse here means navigation broke.
    assert!(
        with_results.len() * 2 > expressions.len(),
        "only {} of {} expressions found anything",
        with_results.len(),
        expressions.len()
    );
}

/// Values at a plain dotted path, walked directly over the JSON (choice elements by
/// prefix), as an oracle independent of the evaluator.
fn naive_path(resource: &Value, path: &str) -> Vec<Value> {
    let mut segs = path.split('.');
    let head = segs.next().unwrap_or_default();
    let rt = resource["resourceType"].as_str().unwrap_or_default();
    if head != rt && head != "Resource" && head != "DomainResource" {
        return Vec::new();
    }
    let mut cur = vec![resource.clone()];
    for seg in segs {
        let mut next = Vec::new();
        for v in &cur {
            let Some(obj) = v.as_object() else { continue };
            let found = obj.get(seg).or_else(|| {
                obj.iter()
                    .find(|(k, _)| {
                        k.strip_prefix(seg)
                            .is_some_and(|s| s.starts_with(|c: char| c.is_ascii_uppercase()))
                    })
                    .map(|(_, v)| v)
            });
            match found {
                Some(Value::Array(items)) => {
                    next.extend(items.iter().filter(|i| !i.is_null()).cloned());
                }
                Some(Value::Null) | None => {}
                Some(other) => next.push(other.clone()),
            }
        }
        cur = next;
    }
    cur
}

#[test]
fn simple_paths_agree_with_a_naive_json_walk() {
    let Some(c) = corpus() else { return };
    let simple = |e: &str| {
        e.split('|').all(|part| {
            let part = part.trim();
            part.contains('.')
                && part
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '.')
        })
    };
    let mut compared = 0usize;
    let mut nonempty = 0usize;
    for p in directory_params(c).filter(|p| simple(&p.expression)) {
        let expr = Expression::parse(&p.expression).expect("parses");
        for (origin, r) in &c.instances {
            if !applies(p, r["resourceType"].as_str().unwrap_or_default()) {
                continue;
            }
            let mut want: Vec<Value> = Vec::new();
            let parts: Vec<&str> = p.expression.split('|').map(str::trim).collect();
            for part in &parts {
                for v in naive_path(r, part) {
                    // `|` removes duplicates; a single path keeps them.
                    if parts.len() == 1 || !want.contains(&v) {
                        want.push(v);
                    }
                }
            }
            let got: Vec<Value> = expr
                .evaluate(r)
                .unwrap_or_else(|e| panic!("{origin} `{}`: {e}", p.expression))
                .iter()
                .map(|n| n.value().clone())
                .filter(|v| !v.is_null())
                .collect();
            assert_eq!(got, want, "{origin} `{}`", p.expression);
            compared += 1;
            nonempty += usize::from(!want.is_empty());
        }
    }
    eprintln!("{compared} simple-path evaluations compared, {nonempty} non-empty");
    assert!(compared > 5_000 && nonempty > 1_000);
}

/// One step of an extension path such as
/// `Location.extension.where(url='U').extension('acceptingPatients').value.ofType(CodeableConcept)`.
#[derive(Debug)]
enum Step {
    Member(String),
    Extension(String),
    Value(Option<String>),
}

/// Splits an expression made only of members, `extension('u')`,
/// `extension.where(url='u')` and a final `value[.ofType(T)]`; `None` for anything else.
fn extension_steps(expr: &str) -> Option<(String, Vec<Step>)> {
    let (head, mut rest) = expr.split_once('.')?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        let url_in = |r: &str, prefix: &str| -> Option<(String, usize)> {
            let after = r.strip_prefix(prefix)?;
            let end = after.find("')")?;
            Some((after[..end].to_string(), prefix.len() + end + 2))
        };
        let (step, used) = if let Some((u, n)) = url_in(rest, "extension('") {
            (Step::Extension(u), n)
        } else if let Some((u, n)) =
            url_in(rest, "extension.where(url='").or_else(|| url_in(rest, "extension.where(url ='"))
        {
            (Step::Extension(u), n)
        } else if let Some(after) = rest.strip_prefix("value.ofType(") {
            let end = after.find(')')?;
            (
                Step::Value(Some(after[..end].to_string())),
                "value.ofType(".len() + end + 1,
            )
        } else {
            let end = rest.find('.').unwrap_or(rest.len());
            let name = &rest[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
                return None;
            }
            if name == "value" {
                (Step::Value(None), end)
            } else {
                (Step::Member(name.to_string()), end)
            }
        };
        steps.push(step);
        rest = rest[used..].strip_prefix('.').unwrap_or(&rest[used..]);
    }
    let has_extension = steps.iter().any(|s| matches!(s, Step::Extension(_)));
    has_extension.then(|| (head.to_string(), steps))
}

/// Oracle for [`extension_steps`] expressions, walking the JSON directly.
fn naive_extension_path(resource: &Value, head: &str, steps: &[Step]) -> Vec<Value> {
    if resource["resourceType"] != head {
        return Vec::new();
    }
    let flat = |v: Option<&Value>| -> Vec<Value> {
        match v {
            Some(Value::Array(a)) => a.iter().filter(|x| !x.is_null()).cloned().collect(),
            Some(Value::Null) | None => Vec::new(),
            Some(x) => vec![x.clone()],
        }
    };
    let mut cur = vec![resource.clone()];
    for step in steps {
        cur = cur
            .iter()
            .flat_map(|v| match step {
                Step::Member(m) => flat(v.get(m)),
                Step::Extension(url) => flat(v.get("extension"))
                    .into_iter()
                    .filter(|e| e["url"] == url.as_str())
                    .collect(),
                Step::Value(ty) => v
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(k, _)| match (k.strip_prefix("value"), ty) {
                        (Some(suffix), Some(t)) => {
                            let mut want = t.clone();
                            want[..1].make_ascii_uppercase();
                            suffix == want
                        }
                        (Some(suffix), None) => {
                            suffix.starts_with(|c: char| c.is_ascii_uppercase())
                        }
                        (None, _) => false,
                    })
                    .flat_map(|(_, x)| flat(Some(x)))
                    .collect(),
            })
            .collect();
    }
    cur
}

#[test]
fn extension_paths_agree_with_a_naive_json_walk() {
    let Some(c) = corpus() else { return };
    let mut compared = 0usize;
    let mut nonempty = BTreeSet::new();
    let mut shapes = BTreeSet::new();
    for p in directory_params(c) {
        let Some((head, steps)) = extension_steps(&p.expression) else {
            continue;
        };
        shapes.insert(p.expression.as_str());
        let expr = Expression::parse(&p.expression).expect("parses");
        for (origin, r) in c
            .instances
            .iter()
            .filter(|(_, r)| r["resourceType"] == head.as_str())
        {
            let want = naive_extension_path(r, &head, &steps);
            let got: Vec<Value> = expr
                .evaluate(r)
                .unwrap_or_else(|e| panic!("{origin} `{}`: {e}", p.expression))
                .iter()
                .map(|n| n.value().clone())
                .collect();
            assert_eq!(got, want, "{origin} `{}`", p.expression);
            compared += 1;
            if !want.is_empty() {
                nonempty.insert(p.expression.as_str());
            }
        }
    }
    eprintln!(
        "{} extension expressions, {compared} evaluations compared, {} expressions non-empty",
        shapes.len(),
        nonempty.len()
    );
    assert!(
        shapes.len() > 60,
        "the step parser no longer recognises the IG expressions"
    );
    assert!(
        nonempty.len() > 20,
        "the examples no longer exercise extension paths"
    );
}

fn instance<'c>(c: &'c Corpus, origin_suffix: &str) -> &'c Value {
    &c.instances
        .iter()
        .find(|(o, _)| o.ends_with(origin_suffix))
        .unwrap_or_else(|| panic!("no instance {origin_suffix}"))
        .1
}

fn eval(expr: &str, r: &Value) -> Vec<(Value, Option<String>)> {
    Expression::parse(expr)
        .unwrap_or_else(|e| panic!("{expr}: {e}"))
        .evaluate(r)
        .unwrap_or_else(|e| panic!("{expr}: {e}"))
        .iter()
        .map(|n| (n.value().clone(), n.type_name().map(str::to_string)))
        .collect()
}

#[test]
fn functions_select_what_the_example_files_contain() {
    let Some(c) = corpus() else { return };
    // ofType() on extension values: every result carries the requested type, and the
    // values are those the file holds under the matching extension url.
    for (origin, r) in &c.instances {
        let rt = r["resourceType"].as_str().unwrap_or_default();
        for p in directory_params(c).filter(|p| applies(p, rt)) {
            let Some((_, ty)) = p.expression.rsplit_once(".ofType(") else {
                continue;
            };
            if p.expression.contains('|') {
                continue;
            }
            let ty = ty.trim_end_matches(')');
            for (v, got_ty) in eval(&p.expression, r) {
                assert_eq!(
                    got_ty.as_deref(),
                    Some(ty),
                    "{origin} `{}` -> {v}",
                    p.expression
                );
            }
        }
    }
    // `where(resolve() is Patient)` keeps only references whose type is Patient.
    let provenance_patient = "Provenance.target.where(resolve() is Patient)";
    for (origin, r) in c
        .instances
        .iter()
        .filter(|(_, r)| r["resourceType"] == "Provenance")
    {
        let targets = naive_path(r, "Provenance.target");
        let want: Vec<Value> = targets
            .into_iter()
            .filter(|t| {
                t["reference"]
                    .as_str()
                    .is_some_and(|s| s.split('/').rev().nth(1) == Some("Patient"))
            })
            .collect();
        let got: Vec<Value> = eval(provenance_patient, r)
            .into_iter()
            .map(|(v, _)| v)
            .collect();
        assert_eq!(got, want, "{origin}");
    }

    // Values read from the example files.
    let role = instance(
        c,
        "plan-net/1.2.0/example/PractitionerRole-HansSoloRole1.json",
    );
    let networks = eval(
        "PractitionerRole.extension.where(url='http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition/network-reference').value.reference",
        role,
    );
    let want_networks: Vec<Value> = role["extension"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| {
            e["url"]
                .as_str()
                .is_some_and(|u| u.ends_with("/network-reference"))
        })
        .map(|e| e["valueReference"]["reference"].clone())
        .collect();
    assert!(!want_networks.is_empty());
    assert_eq!(
        networks.into_iter().map(|(v, _)| v).collect::<Vec<_>>(),
        want_networks
    );

    let org = instance(c, "r4-core/examples/Organization-hl7.json");
    assert_eq!(
        eval("Organization.name | Organization.alias", org)
            .into_iter()
            .map(|(v, _)| v)
            .collect::<Vec<_>>(),
        naive_path(org, "Organization.name")
            .into_iter()
            .chain(naive_path(org, "Organization.alias"))
            .collect::<Vec<_>>()
    );
    let group_chars =
        "(Group.characteristic.value as CodeableConcept) | (Group.characteristic.value as boolean)";
    let loc = instance(c, "r4-core/examples/Location-1.json");
    assert_eq!(eval("Location.position", loc).len(), 1);
    assert_eq!(eval(group_chars, loc), Vec::new());
    let consent = instance(c, "r4-core/examples/Consent-consent-example-basic.json");
    let source = eval("Consent.source", consent);
    assert!(source.iter().all(|(_, t)| matches!(
        t.as_deref(),
        Some("Attachment" | "Identifier" | "Reference")
    )));
}
