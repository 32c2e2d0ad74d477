//! Plan-Net search conformance over the Plan-Net RI sample data (5,215 NPPES-derived
//! resources), on every backend.
//!
//! For every search parameter, `_include`, `_revinclude` and chain in the Plan-Net 1.1.0 and
//! 1.2.0 server CapabilityStatements, and `_has` on the reverse of every reference parameter
//! (the IG lists no `_has` of its own), the server's result set must **equal** the set the
//! suite computes from the data with its own evaluator (`tests/plan_net`), following every
//! `next` link. And `/metadata` must instantiate the Plan-Net CapabilityStatement and list,
//! per resource, the Plan-Net profiles, search parameters, includes and revincludes, none of
//! which may fail when called.
//!
//! Known server bugs go in [`KNOWN_BUGS`]: their cases are left out of the main run (and
//! reported when they start passing); give each an `#[ignore = "BUG: …"]` test that runs only
//! its cases. There are none at the time of writing.

mod common;
mod plan_net;

use std::collections::BTreeSet;

use chrono::Utc;
use common::{spawn_app, test_databases, TestApp};
use plan_net::cases::{self, Case, Kind};
use plan_net::data::{shared_present, Dataset, Ig};
use plan_net::run::check;
use server::ServerConfig;
use testkit::TestDb;

/// The IG's canonical CapabilityStatement.
const PLAN_NET_CS: &str =
    "http://hl7.org/fhir/us/davinci-pdex-plan-net/CapabilityStatement/plan-net";

/// `(substring of "Type?query", bug)`: cases the server is known to answer wrongly.
const KNOWN_BUGS: &[(&str, &str)] = &[];

fn known_bug(case: &Case) -> Option<&'static str> {
    let q = format!("{}?{}", case.rtype, case.query);
    KNOWN_BUGS
        .iter()
        .find(|(pat, _)| q.contains(pat))
        .map(|(_, bug)| *bug)
}

/// `FHIRDIR_PLAN_NET_FILTER`: run only the cases whose `Kind Type?query` contains it (for
/// debugging one feature; unset runs everything).
fn selected(case: &Case) -> bool {
    std::env::var("FHIRDIR_PLAN_NET_FILTER").map_or(true, |f| {
        format!("{:?} {}?{}", case.kind, case.rtype, case.query).contains(&f)
    })
}

/// The data, both IG versions and the plan built from them.
struct Suite {
    ds: Dataset,
    igs: Vec<Ig>,
    plan: cases::Plan,
}

fn suite() -> Suite {
    let ds = Dataset::load();
    assert_eq!(
        ds.total(),
        5215,
        "the sample data should hold 5,215 resources"
    );
    let igs = vec![Ig::load("1.1.0"), Ig::load("1.2.0")];
    let plan = cases::build(&ds, &igs);
    Suite { ds, igs, plan }
}

/// Imports the sample data into tenant `default` of `db` with the store's import path and
/// starts a server on it; the `_lastUpdated` cases follow from the import's time window.
async fn loaded_app(db: &TestDb, suite: &Suite) -> (TestApp, Vec<Case>) {
    let store = store::Store::connect(&db.url, &store::StoreOptions::default())
        .await
        .unwrap_or_else(|e| panic!("[{}] connect: {e}", db.backend));
    let tenant = store::TenantName::default_tenant();
    let opts = ingest::ImportOptions::default();
    let start = Utc::now();
    let stats = ingest::import_files(&store, &tenant, &suite.ds.files, &opts, |_| {})
        .await
        .unwrap_or_else(|e| panic!("[{}] importing the sample data: {e}", db.backend));
    let end = Utc::now();
    assert_eq!(stats.created, 5215, "[{}] import: {stats:?}", db.backend);
    store.close().await;
    let app = spawn_app(db, ServerConfig::auth_off()).await;
    let last_updated = cases::last_updated_cases(&suite.ds, &suite.igs, start, end);
    (app, last_updated)
}

/// Runs `cases` on `app`; returns the failures.
async fn run_cases(app: &TestApp, cases: &[&Case]) -> (Vec<String>, usize) {
    let mut failures = Vec::new();
    let mut pages = 0;
    let mut slowest = Vec::new();
    for case in cases {
        let t = std::time::Instant::now();
        match check(app, case).await {
            Ok(n) => pages += n,
            Err(e) => failures.push(e),
        }
        slowest.push((t.elapsed(), format!("{}?{}", case.rtype, case.query)));
    }
    slowest.sort();
    for (t, q) in slowest.iter().rev().take(8) {
        eprintln!(
            "[{}] slow: {t:?} {}",
            app.backend,
            q.chars().take(160).collect::<String>()
        );
    }
    (failures, pages)
}

fn report_coverage(plan: &cases::Plan) {
    for ((version, kind), features) in &plan.coverage {
        eprintln!("Plan-Net {version}: {kind:?}: {} covered", features.len());
    }
    for u in &plan.uncovered {
        eprintln!("NOT COVERED: {u}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_net_searches_return_exactly_the_sets_computed_from_the_data() {
    if !shared_present("plan_net_searches_return_exactly_the_sets_computed_from_the_data") {
        return;
    }
    let suite = suite();
    report_coverage(&suite.plan);
    let mut failures = Vec::new();
    for db in test_databases().await {
        let started = std::time::Instant::now();
        let (app, last_updated) = loaded_app(&db, &suite).await;
        let loaded = started.elapsed();
        let all = suite.plan.cases.iter().chain(&last_updated);
        let all: Vec<&Case> = all.filter(|c| selected(c)).collect();
        let (run, known): (Vec<&Case>, Vec<&Case>) =
            all.into_iter().partition(|c| known_bug(c).is_none());
        let (mut fails, pages) = run_cases(&app, &run).await;
        eprintln!(
            "[{}] {} queries ({pages} pages) in {:?} after a {loaded:?} import; {} failed",
            db.backend,
            run.len(),
            started.elapsed() - loaded,
            fails.len()
        );
        failures.append(&mut fails);
        let (still, _) = run_cases(&app, &known).await;
        if still.len() < known.len() {
            eprintln!(
                "[{}] {} of {} known-bug cases now pass: re-check KNOWN_BUGS",
                db.backend,
                known.len() - still.len(),
                known.len()
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} Plan-Net searches differ from the data:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A value of the right type for `param` to call it with: from the data when the IG defines
/// it, else a syntactically valid one.
fn sample_value(suite: &Suite, rtype: &str, param: &str, kind: &str) -> Option<String> {
    let def = suite.igs.iter().rev().find_map(|ig| ig.param(rtype, param));
    if let Some(def) = def.filter(|d| d.kind != "date") {
        if let Some(p) = plan_net::values::picks(&suite.ds, def)
            .into_iter()
            .find(|p| p.modifier.is_none())
        {
            return Some(cases::enc(&p.value));
        }
    }
    Some(
        match kind {
            "token" => "x",
            "string" => "a",
            "reference" => "Organization/x",
            "date" => "ge2020-01-01",
            "number" => "1",
            "quantity" => "1",
            "uri" => "http%3A%2F%2Fexample.org",
            _ => return None, // composite and special (near) need a shaped value
        }
        .to_owned(),
    )
}

fn names(v: &serde_json::Value, key: &str) -> BTreeSet<String> {
    v[key]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().or_else(|| x["name"].as_str()).map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_instantiates_plan_net_and_lists_every_plan_net_capability_that_works() {
    if !shared_present(
        "metadata_instantiates_plan_net_and_lists_every_plan_net_capability_that_works",
    ) {
        return;
    }
    let suite = suite();
    let mut failures = Vec::new();
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let b = app.backend;
        let cs = app.get("/fhir/default/metadata").await.status(200).json();
        let inst: BTreeSet<String> = names(&cs, "instantiates");
        for ig in &suite.igs {
            assert_eq!(
                ig.cs_url, PLAN_NET_CS,
                "Plan-Net {} CapabilityStatement url",
                ig.version
            );
        }
        if !inst.contains(PLAN_NET_CS) {
            failures.push(format!("[{b}] instantiates {inst:?} lacks {PLAN_NET_CS}"));
        }
        let served = cs["rest"][0]["resource"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for ig in &suite.igs {
            for want in &ig.resources {
                let Some(have) = served.iter().find(|r| r["type"] == want.rtype.as_str()) else {
                    failures.push(format!(
                        "[{b}] metadata lists no {} (Plan-Net {})",
                        want.rtype, ig.version
                    ));
                    continue;
                };
                let lists = [
                    (
                        "supportedProfile",
                        &want.profiles,
                        names(have, "supportedProfile"),
                    ),
                    (
                        "searchParam",
                        &want.params.iter().map(|p| p.0.clone()).collect(),
                        names(have, "searchParam"),
                    ),
                    (
                        "searchInclude",
                        &want.includes,
                        names(have, "searchInclude"),
                    ),
                    (
                        "searchRevInclude",
                        &want.revincludes,
                        names(have, "searchRevInclude"),
                    ),
                ];
                for (what, wanted, listed) in lists {
                    let missing: Vec<&String> =
                        wanted.iter().filter(|w| !listed.contains(*w)).collect();
                    if !missing.is_empty() {
                        failures.push(format!(
                            "[{b}] {}.{what} lacks Plan-Net {} {missing:?}",
                            want.rtype, ig.version
                        ));
                    }
                }
            }
        }
        // Nothing listed for a Plan-Net resource fails when called.
        let types: BTreeSet<&str> = suite
            .igs
            .iter()
            .flat_map(|ig| ig.resources.iter().map(|r| r.rtype.as_str()))
            .collect();
        for r in served
            .iter()
            .filter(|r| types.contains(r["type"].as_str().unwrap_or_default()))
        {
            let rtype = r["type"].as_str().unwrap_or_default();
            let mut queries = Vec::new();
            for p in r["searchParam"].as_array().into_iter().flatten() {
                let (name, kind) = (
                    p["name"].as_str().unwrap_or_default(),
                    p["type"].as_str().unwrap_or_default(),
                );
                if let Some(v) = sample_value(&suite, rtype, name, kind) {
                    queries.push(format!("{name}={v}"));
                }
            }
            for i in names(r, "searchInclude") {
                queries.push(format!("_include={}", cases::enc(&i)));
            }
            for i in names(r, "searchRevInclude") {
                queries.push(format!("_revinclude={}", cases::enc(&i)));
            }
            for q in queries {
                let count = if q.starts_with("_count=") {
                    ""
                } else {
                    "&_count=5"
                };
                let url = app.url(&format!("/fhir/default/{rtype}?{q}{count}"));
                match app.client.get(&url).send().await {
                    Ok(resp) if resp.status().as_u16() == 200 => {}
                    Ok(resp) => {
                        let code = resp.status().as_u16();
                        let body = resp.text().await.unwrap_or_default();
                        failures.push(format!(
                            "[{b}] listed but fails: GET {url}: {code} {}",
                            body.chars().take(300).collect::<String>()
                        ));
                    }
                    Err(e) => failures.push(format!("[{b}] GET {url}: {e}")),
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} metadata problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_suite_covers_every_plan_net_capability_statement_entry() {
    if !shared_present("the_suite_covers_every_plan_net_capability_statement_entry") {
        return;
    }
    let suite = suite();
    report_coverage(&suite.plan);
    assert!(
        suite.plan.uncovered.is_empty(),
        "uncovered: {:?}",
        suite.plan.uncovered
    );
    for ig in &suite.igs {
        let count = |k: Kind| {
            suite
                .plan
                .coverage
                .get(&(ig.version.clone(), k))
                .map_or(0, BTreeSet::len)
        };
        let params: usize = ig.resources.iter().map(|r| r.params.len()).sum();
        let incs: usize = ig.resources.iter().map(|r| r.includes.len()).sum();
        let revs: usize = ig.resources.iter().map(|r| r.revincludes.len()).sum();
        assert_eq!(
            count(Kind::Param),
            params,
            "Plan-Net {}: search parameters",
            ig.version
        );
        assert_eq!(
            count(Kind::Include),
            incs,
            "Plan-Net {}: _include",
            ig.version
        );
        assert_eq!(
            count(Kind::RevInclude),
            revs,
            "Plan-Net {}: _revinclude",
            ig.version
        );
        assert!(
            count(Kind::Chain) > 0 && count(Kind::Has) > 0,
            "Plan-Net {}: chains and _has",
            ig.version
        );
    }
    // Every expectation is a real set: most parameter cases select something.
    let nonempty = suite
        .plan
        .cases
        .iter()
        .filter(|c| !c.matches.is_empty())
        .count();
    assert!(
        nonempty * 2 > suite.plan.cases.len(),
        "too many cases expect nothing"
    );
}

#[test]
fn the_independent_evaluator_reads_the_plan_net_expressions_from_the_data() {
    if !shared_present("the_independent_evaluator_reads_the_plan_net_expressions_from_the_data") {
        return;
    }
    let suite = suite();
    let ig = &suite.igs[1];
    // Extension-based parameters resolve to the extension's value.
    let network = ig.param("PractitionerRole", "network").expect("network");
    assert_eq!(
        plan_net::values::select(&suite.ds, network, None, "zz").len(),
        0
    );
    let with_network = plan_net::values::indexed(&suite.ds, network);
    assert!(
        with_network.iter().all(|(_, a)| !a.is_empty()),
        "every role has a network"
    );
    let delivery = ig
        .param("HealthcareService", "delivery-method")
        .expect("delivery-method");
    assert_eq!(
        plan_net::values::select(&suite.ds, delivery, None, "physical").len(),
        158
    );
    // Parameters the sample data has no value for are checked with non-matching values only.
    let mut empty = BTreeSet::new();
    for r in &ig.resources {
        for (name, _, _) in &r.params {
            if let Some(def) = ig
                .param(&r.rtype, name)
                .filter(|d| d.code != "_lastUpdated")
            {
                if plan_net::values::counted(&suite.ds, def).is_empty() {
                    empty.insert(format!("{}.{name}", r.rtype));
                }
            }
        }
    }
    eprintln!("parameters without values in the sample data: {empty:?}");
    let by_kind = |k: Kind| {
        let cs: Vec<&Case> = suite.plan.cases.iter().filter(|c| c.kind == k).collect();
        let some = cs.iter().filter(|c| !c.matches.is_empty()).count();
        (cs.len(), some)
    };
    for k in [
        Kind::Param,
        Kind::Include,
        Kind::RevInclude,
        Kind::Chain,
        Kind::Has,
    ] {
        let (n, some) = by_kind(k);
        eprintln!("{k:?}: {n} queries, {some} expecting matches");
    }
}
