//! Searches stay fast on data the query planner has no statistics for yet: right after the
//! Plan-Net sample is written through the API into a fresh database (no `ANALYZE` by the
//! test), and for a new small tenant next to a large, analysed one. Postgres, left alone,
//! answered such chains in seconds (BENCHMARKS.md "Statistics after API writes"); the bound
//! here only guards against seconds, generously, so that a slow machine cannot make it flake.

mod common;
#[expect(dead_code, reason = "this binary uses the suite's data loader only")]
mod plan_net;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{spawn_app, test_databases, TestApp};
use futures::StreamExt;
use plan_net::data::{shared_present, Dataset};
use reqwest::Method;
use serde_json::Value;
use server::ServerConfig;

/// No search of the list may take this long.
const BOUND: Duration = Duration::from_secs(3);

/// PUTs every sample resource into `tenant`, eight at a time (as attesters would).
async fn load_through_api(app: &TestApp, tenant: &str, data: &Dataset) {
    let all: Vec<&Value> = data.by_type.values().flatten().collect();
    futures::stream::iter(all)
        .for_each_concurrent(8, |r| async move {
            let path = format!(
                "/fhir/{tenant}/{}/{}",
                r["resourceType"].as_str().unwrap(),
                r["id"].as_str().unwrap()
            );
            let resp = app
                .send(common::fhir_body(app.request(Method::PUT, &path), r))
                .await;
            assert!(
                resp.code == 200 || resp.code == 201,
                "{}: {}",
                resp.what,
                resp.text()
            );
        })
        .await;
}

fn strings(
    list: Option<&Vec<Value>>,
    n: usize,
    f: impl Fn(&Value) -> Option<String>,
) -> Vec<String> {
    let mut out: Vec<String> = list.into_iter().flatten().filter_map(f).collect();
    out.sort();
    out.dedup();
    out.into_iter().step_by(7).take(n).collect()
}

/// The chain, `_has` and `location.address` searches of the sample that went wrong.
fn queries(data: &Dataset) -> Vec<String> {
    let enc = |s: &str| {
        s.replace('%', "%25")
            .replace(' ', "%20")
            .replace(',', "%5C,")
            .replace('&', "%26")
            .replace('#', "%23")
    };
    let families = strings(data.by_type.get("Practitioner"), 6, |p| {
        p["name"][0]["family"].as_str().map(str::to_owned)
    });
    let lines = strings(data.by_type.get("Location"), 4, |l| {
        l["address"]["line"][0].as_str().map(str::to_owned)
    });
    let postcodes = strings(data.by_type.get("Location"), 4, |l| {
        l["address"]["postalCode"].as_str().map(str::to_owned)
    });
    let specialties = strings(data.by_type.get("PractitionerRole"), 4, |r| {
        r["specialty"][0]["coding"][0]["code"]
            .as_str()
            .map(str::to_owned)
    });
    let mut q = Vec::new();
    for f in families {
        q.push(format!("PractitionerRole?practitioner.name={}", enc(&f)));
        q.push(format!(
            "Practitioner?_has:PractitionerRole:practitioner:active=true&name={}",
            enc(&f)
        ));
    }
    for l in lines {
        q.push(format!("PractitionerRole?location.address={}", enc(&l)));
    }
    for p in postcodes {
        q.push(format!(
            "PractitionerRole?location.address-postalcode={}",
            enc(&p)
        ));
        q.push(format!(
            "HealthcareService?location.address-postalcode={}",
            enc(&p)
        ));
    }
    for s in specialties {
        q.push(format!(
            "Practitioner?_has:PractitionerRole:practitioner:specialty={s}"
        ));
        q.push(format!(
            "Organization?_has:PractitionerRole:organization:specialty={s}"
        ));
    }
    assert!(q.len() >= 20, "too few queries from the sample: {q:?}");
    q
}

/// Runs every query on `tenant` once; answers the latencies, slowest first, and fails on a
/// non-200 answer or one over [`BOUND`].
async fn run(app: &TestApp, tenant: &str, queries: &[String]) -> Vec<(Duration, String)> {
    let mut times = Vec::new();
    for q in queries {
        let started = Instant::now();
        app.get(&format!("/fhir/{tenant}/{q}")).await.status(200);
        times.push((started.elapsed(), q.clone()));
    }
    times.sort_by_key(|t| std::cmp::Reverse(t.0));
    // Slowest first: p95 is the entry with 5 % of the searches before it.
    eprintln!(
        "[{}] {tenant}: {} searches, slowest {:?} ({}), p95 {:?}, median {:?}",
        app.backend,
        times.len(),
        times[0].0,
        times[0].1,
        times[times.len() / 20].0,
        times[times.len() / 2].0,
    );
    for (t, q) in &times {
        assert!(
            *t < BOUND,
            "[{}] {q} took {t:?} (bound {BOUND:?})",
            app.backend
        );
    }
    times
}

#[tokio::test]
async fn chains_are_fast_right_after_a_load_through_the_api() {
    if !shared_present("chains_are_fast_right_after_a_load_through_the_api") {
        return;
    }
    let data = Dataset::load();
    let queries = queries(&data);
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        load_through_api(&app, "default", &data).await;
        run(&app, "default", &queries).await;
    }
}

/// `fhirdir import` of a generated directory of `size` into `tenant` (the import analyses
/// the tables at its end, as an operator's would).
async fn import_generated(db_url: &str, tenant: &str, size: u64) {
    let dir = tempfile::tempdir().unwrap();
    let opts = generate::GenerateOptions { size, seed: 3 };
    generate::write_ndjson_dir(&opts, dir.path()).unwrap();
    let files: Vec<PathBuf> = generate::TYPE_ORDER
        .iter()
        .map(|t| dir.path().join(format!("{t}.ndjson")))
        .filter(|p| p.exists())
        .collect();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_fhirdir"))
        .args(["import", "--tenant", tenant, "--database", db_url])
        .args(&files)
        .env("FHIRDIR_LOG", "warn")
        .output()
        .await
        .expect("running fhirdir import");
    assert!(
        out.status.success(),
        "import: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_new_small_tenant_next_to_a_large_analysed_one_is_fast_too() {
    if !shared_present("a_new_small_tenant_next_to_a_large_analysed_one_is_fast_too") {
        return;
    }
    let size: u64 = std::env::var("FHIRDIR_TEST_LARGE_TENANT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let data = Dataset::load();
    let queries = queries(&data);
    for db in test_databases().await {
        import_generated(&db.url, "default", size).await;
        let app = spawn_app(&db, common::admin_config("t")).await;
        let created = app
            .send(
                app.request(Method::POST, "/admin/tenants")
                    .bearer_auth("t")
                    .header("content-type", "application/json")
                    .body(r#"{"name":"small"}"#),
            )
            .await;
        assert_eq!(created.code, 201, "{}", created.text());
        load_through_api(&app, "small", &data).await;
        run(&app, "small", &queries).await;
    }
}
