//! `fhirdir import` stores what the API stores, once per backend. A generated directory
//! (`fhirdir generate`) is imported into tenant `imported` with the CLI and written into tenant
//! `api` through the REST API (PUT for most types, transaction Bundles of PUTs for
//! Practitioner and PractitionerRole); then, over HTTP:
//! - both tenants hold exactly the generated ids, and every read is equal in both tenants and
//!   equal to the generated resource, apart from `meta.lastUpdated` (the time of each write,
//!   which legitimately differs). `meta.versionId` is compared too: each resource was written
//!   once into each tenant, so it is "1" in both;
//! - `_history` counts per type and for the whole tenant are equal;
//! - token, string, reference, chain, `_include`, `_revinclude`, `_has` and `near` searches,
//!   with values drawn from the data, return the same matches and includes in both tenants
//!   (and are not empty, so the comparison means something);
//! - importing the same files again adds no version and changes no `lastUpdated`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{entries, link, spawn_app, TestApp};
use futures::StreamExt;
use serde_json::{json, Value};
use server::ServerConfig;

const SIZE: &str = "400";
const SEED: &str = "11";
const IMPORTED: &str = "imported";
const API: &str = "api";
/// Types written through transaction Bundles (the rest through single PUTs).
const VIA_TRANSACTION: [&str; 2] = ["Practitioner", "PractitionerRole"];
const NPI: &str = "http://hl7.org/fhir/sid/us-npi";

fn fhirdir(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_fhirdir"))
        .args(args)
        .env_remove("FHIRDIR_DATABASE_URL")
        .env_remove("FHIRDIR_CONFIG")
        .output()
        .expect("run fhirdir");
    assert!(
        out.status.success(),
        "fhirdir {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The generated resources by type, in file order.
fn load(dir: &Path) -> BTreeMap<String, Vec<Value>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("read the generated directory") {
        let path = entry.expect("dir entry").path();
        let Some(rtype) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".ndjson"))
        else {
            continue;
        };
        let text = std::fs::read_to_string(&path).expect("read NDJSON");
        let resources: Vec<Value> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("generated line is JSON"))
            .collect();
        out.insert(rtype.to_owned(), resources);
    }
    out
}

/// The resource without the `meta` elements each write sets (`lastUpdated`), and without
/// `meta` when nothing else is left in it.
fn comparable(mut r: Value) -> Value {
    if let Some(meta) = r.get_mut("meta").and_then(Value::as_object_mut) {
        meta.remove("lastUpdated");
        if meta.is_empty() {
            r.as_object_mut().map(|o| o.remove("meta"));
        }
    }
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_imported_directory_reads_and_searches_like_the_same_directory_written_through_the_api()
{
    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().to_str().expect("utf-8 path");
    fhirdir(&["generate", "--size", SIZE, "--seed", SEED, "--out", out_dir]);
    let data = load(dir.path());
    let files: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .collect();
    let total: usize = data.values().map(Vec::len).sum();
    assert!(total >= 300, "the generator wrote only {total} resources");

    for db in common::test_databases().await {
        let b = db.backend;
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let app = &app;
        for t in [IMPORTED, API] {
            fhirdir(&["tenant", "create", t, "--database", &db.url]);
        }
        import(&db.url, &files);
        write_through_api(app, &data).await;

        // Same ids, same bodies.
        for (rtype, resources) in &data {
            let want: BTreeSet<String> = resources
                .iter()
                .map(|r| format!("{rtype}/{}", r["id"].as_str().unwrap_or_default()))
                .collect();
            for t in [IMPORTED, API] {
                let (got, _) = search(app, t, &format!("{rtype}?_count=1000")).await;
                assert_eq!(got, want, "[{b}] the {rtype}s of tenant {t}");
            }
        }
        let reads = data.iter().flat_map(|(rtype, resources)| {
            resources.iter().map(move |source| async move {
                let id = source["id"].as_str().unwrap_or_default();
                let path = |t: &str| format!("/fhir/{t}/{rtype}/{id}");
                let imported = app.get(&path(IMPORTED)).await.status(200).json();
                let api = app.get(&path(API)).await.status(200).json();
                assert_eq!(
                    imported["meta"]["versionId"], "1",
                    "[{b}] {rtype}/{id} imported: {imported}"
                );
                let imported = comparable(imported);
                assert_eq!(
                    imported,
                    comparable(api),
                    "[{b}] {rtype}/{id} differs between the imported and the API tenant"
                );
                let mut source = source.clone();
                source["meta"]["versionId"] = json!("1");
                assert_eq!(
                    imported,
                    comparable(source),
                    "[{b}] {rtype}/{id} is not stored as generated"
                );
            })
        });
        futures::stream::iter(reads)
            .buffer_unordered(8)
            .collect::<Vec<()>>()
            .await;

        // Same history.
        let counts = |t: &'static str| {
            let types: Vec<String> = data.keys().cloned().collect();
            async move {
                let mut out = BTreeMap::new();
                for rtype in types {
                    let n = history_total(app, &format!("/fhir/{t}/{rtype}/_history")).await;
                    out.insert(rtype, n);
                }
                out.insert(
                    "(tenant)".into(),
                    history_total(app, &format!("/fhir/{t}/_history")).await,
                );
                out
            }
        };
        let imported_counts = counts(IMPORTED).await;
        assert_eq!(
            imported_counts,
            counts(API).await,
            "[{b}] _history totals (imported, then API)"
        );
        assert_eq!(
            imported_counts["(tenant)"], total as u64,
            "[{b}] one version per resource"
        );

        // Same search answers.
        let mut sizes = Vec::new();
        for query in searches(&data) {
            let imported = search(app, IMPORTED, &query).await;
            let api = search(app, API, &query).await;
            assert!(
                !imported.0.is_empty(),
                "[{b}] {query} matches nothing: pick another value"
            );
            assert_eq!(
                imported, api,
                "[{b}] {query}: (matches, includes) of the imported tenant, then the API tenant"
            );
            sizes.push(format!("{}+{}", imported.0.len(), imported.1.len()));
        }

        eprintln!(
            "[{b}] {total} resources equal in both tenants; search matches+includes: {}",
            sizes.join(" ")
        );

        // A second import of the same files changes nothing.
        let sample = data["Practitioner"][0]["id"].as_str().unwrap_or_default();
        let before = app
            .get(&format!("/fhir/{IMPORTED}/Practitioner/{sample}"))
            .await
            .status(200)
            .json();
        import(&db.url, &files);
        assert_eq!(
            counts(IMPORTED).await,
            imported_counts,
            "[{b}] _history totals after importing the same files again"
        );
        let after = app
            .get(&format!("/fhir/{IMPORTED}/Practitioner/{sample}"))
            .await
            .status(200)
            .json();
        assert_eq!(
            after, before,
            "[{b}] Practitioner/{sample} after importing the same files again"
        );
    }
}

fn import(url: &str, files: &[PathBuf]) {
    let mut args = vec!["import", "--tenant", IMPORTED, "--database", url];
    args.extend(files.iter().map(|f| f.to_str().expect("utf-8 path")));
    fhirdir(&args);
}

/// Writes every resource into tenant [`API`]: Bundles of 50 PUTs for [`VIA_TRANSACTION`],
/// single PUTs (8 at a time) for the rest.
async fn write_through_api(app: &TestApp, data: &BTreeMap<String, Vec<Value>>) {
    let b = app.backend;
    for (rtype, resources) in data {
        if VIA_TRANSACTION.contains(&rtype.as_str()) {
            for chunk in resources.chunks(50) {
                let entry: Vec<Value> = chunk
                    .iter()
                    .map(|r| {
                        let url = format!("{rtype}/{}", r["id"].as_str().unwrap_or_default());
                        json!({"resource": r, "request": {"method": "PUT", "url": url}})
                    })
                    .collect();
                let bundle =
                    json!({"resourceType": "Bundle", "type": "transaction", "entry": entry});
                let r = app.post(&format!("/fhir/{API}"), &bundle).await.status(200);
                for e in entries(&r.json()) {
                    assert_eq!(
                        e["response"]["status"].as_str().map(|s| &s[..3]),
                        Some("201"),
                        "[{b}] transaction entry: {e}"
                    );
                }
            }
        } else {
            let puts = resources.iter().map(|r| async move {
                let path = format!(
                    "/fhir/{API}/{rtype}/{}",
                    r["id"].as_str().unwrap_or_default()
                );
                app.put(&path, r).await.status(201);
            });
            futures::stream::iter(puts)
                .buffer_unordered(8)
                .collect::<Vec<()>>()
                .await;
        }
    }
}

/// `total` of a history Bundle.
async fn history_total(app: &TestApp, path: &str) -> u64 {
    let page = app
        .get(&format!("{path}?_count=1"))
        .await
        .status(200)
        .json();
    page["total"]
        .as_u64()
        .unwrap_or_else(|| panic!("[{}] {path}: no total: {page}", app.backend))
}

/// `(matches, includes)` of `GET /fhir/{tenant}/{query}` as `Type/id`, following `next`.
async fn search(app: &TestApp, tenant: &str, query: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut matches, mut includes) = (BTreeSet::new(), BTreeSet::new());
    let mut next = Some(format!("/fhir/{tenant}/{query}"));
    while let Some(url) = next.take() {
        let page = app.get(&url).await.status(200).json();
        for e in entries(&page) {
            let key = format!(
                "{}/{}",
                e["resource"]["resourceType"].as_str().unwrap_or_default(),
                e["resource"]["id"].as_str().unwrap_or_default()
            );
            if e["search"]["mode"] == "include" {
                includes.insert(key);
            } else {
                matches.insert(key);
            }
        }
        next = link(&page, "next");
    }
    (matches, includes)
}

/// The first value at `path` (object keys; arrays take their first element) of the first
/// resource of `rtype` that has one.
fn pick(data: &BTreeMap<String, Vec<Value>>, rtype: &str, path: &[&str]) -> String {
    data[rtype]
        .iter()
        .find_map(|r| {
            let mut v = r;
            for key in path {
                v = v.get(key)?;
                if let Some(first) = v.as_array().and_then(|a| a.first()) {
                    v = first;
                }
            }
            match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        })
        .unwrap_or_else(|| panic!("no {rtype} has {path:?}"))
}

/// Searches of every kind, with values drawn from the generated data.
fn searches(data: &BTreeMap<String, Vec<Value>>) -> Vec<String> {
    let family = pick(data, "Practitioner", &["name", "family"]);
    let prac = pick(data, "PractitionerRole", &["practitioner", "reference"]);
    let org = pick(data, "Location", &["managingOrganization", "reference"]);
    let org_name = pick(data, "Organization", &["name"]);
    let org_word = org_name.split_whitespace().next().unwrap_or_default();
    let city = pick(data, "Location", &["address", "city"]);
    let state = pick(data, "Location", &["address", "state"]);
    let specialty = pick(data, "PractitionerRole", &["specialty", "coding", "code"]);
    let lat = pick(data, "Location", &["position", "latitude"]);
    let lon = pick(data, "Location", &["position", "longitude"]);
    let npi = data["Practitioner"]
        .iter()
        .flat_map(|p| p["identifier"].as_array().cloned().unwrap_or_default())
        .find(|i| i["system"] == NPI)
        .and_then(|i| i["value"].as_str().map(str::to_owned))
        .expect("a Practitioner with an NPI");
    vec![
        // token
        format!("Practitioner?identifier={NPI}|{npi}"),
        format!("PractitionerRole?specialty={specialty}"),
        "Practitioner?active=true&_count=1000".into(),
        // string
        format!("Practitioner?family={family}"),
        format!("Organization?name={org_word}"),
        format!("Location?address-city={city}"),
        // reference
        format!("PractitionerRole?practitioner={prac}"),
        format!("Location?organization={org}"),
        // chain
        format!("PractitionerRole?practitioner.family={family}"),
        format!("PractitionerRole?location.address-state={state}"),
        // _include / _revinclude
        format!(
            "PractitionerRole?specialty={specialty}&_include=PractitionerRole:practitioner\
             &_include=PractitionerRole:location&_include=PractitionerRole:organization"
        ),
        format!("Practitioner?family={family}&_revinclude=PractitionerRole:practitioner"),
        // _has
        format!("Practitioner?_has:PractitionerRole:practitioner:specialty={specialty}"),
        format!("Organization?_has:Location:organization:address-state={state}"),
        // near
        format!("Location?near={lat}|{lon}|50|km"),
        format!("Location?near={lat}|{lon}|500|km&_include=Location:organization"),
    ]
}
