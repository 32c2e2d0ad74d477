//! Bulk data, black-box, once per backend. `$export` (Bulk Data 2.0): the kick-off, polling,
//! manifest, file and cancel answers Inferno's Bulk Data v2 checks expect; an export
//! re-imported into a fresh tenant equals the original; `_type`, `_typeFilter`, `_elements`;
//! `_since` exports that lose nothing written during an export; a job whose server stopped
//! mid-way resumed by another, never serving a cut file; Group exports and Da Vinci's
//! `$davinci-data-export`; and who may start, see, download and cancel an export. `$import`
//! (ping and pull): inputs from URLs and the import folder, what it skips, and who may.

mod common;

#[path = "auth/support.rs"]
#[allow(dead_code, reason = "shared with the authorization tests")]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use server::ServerConfig;

use common::{fhirdir_cli, practitioner, spawn_app_state, test_databases, Resp, TestApp};
use support::{admin, create_tenant, token, with_token, ADMIN};

/// A config with authorization off, the admin API on, and exports under `dir`.
fn config(dir: &Path) -> ServerConfig {
    ServerConfig {
        admin_token: Some(ADMIN.into()),
        export: services::bulk::ExportSettings {
            dir: dir.to_owned(),
            ..Default::default()
        },
        ..ServerConfig::auth_off()
    }
}

/// Sends a kick-off (`GET path`) as Inferno does: `Accept: application/fhir+json`,
/// `Prefer: respond-async`, and the token when given.
async fn kick_off(app: &TestApp, token: Option<&str>, path: &str, prefer: &str) -> Resp {
    let mut req = app
        .request(Method::GET, path)
        .header("Accept", "application/fhir+json")
        .header("Prefer", prefer);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    app.send(req).await
}

/// The status URL of an accepted kick-off (absolute, on this server).
fn status_url(app: &TestApp, resp: &Resp) -> String {
    let url = resp.must_header("content-location");
    assert!(
        url.starts_with(&format!("{}/fhir/", app.base)),
        "{}: {url}",
        resp.what
    );
    url
}

/// Polls `url` as Inferno does until it answers 200; answers the manifest response.
async fn poll(app: &TestApp, token: Option<&str>, url: &str) -> Resp {
    let started = Instant::now();
    loop {
        let mut req = app
            .request(Method::GET, url)
            .header("Accept", "application/json");
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = app.send(req).await;
        match resp.code {
            202 => {
                let retry: u64 = resp.must_header("retry-after").parse().expect("seconds");
                assert!(retry > 0, "{}", resp.what);
                assert!(resp.header("x-progress").is_some(), "{}", resp.what);
            }
            200 => return resp,
            _ => panic!("{}: {} {}", resp.what, resp.code, resp.text()),
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{}: not complete after 60 s",
            resp.what
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Checks a manifest's required fields; answers it.
fn manifest(resp: &Resp, requires_token: bool) -> Value {
    assert!(
        resp.must_header("content-type")
            .starts_with("application/json"),
        "{}",
        resp.what
    );
    assert!(resp.header("expires").is_some(), "{}", resp.what);
    let m = resp.json();
    for key in [
        "transactionTime",
        "request",
        "requiresAccessToken",
        "output",
        "error",
    ] {
        assert!(m.get(key).is_some(), "{}: no {key}: {m}", resp.what);
    }
    assert_eq!(m["requiresAccessToken"], requires_token, "{}", resp.what);
    for item in m["output"].as_array().expect("output") {
        assert!(
            item["url"].as_str().is_some_and(|u| u.starts_with("http")),
            "{}: {item}",
            resp.what
        );
    }
    m
}

/// Downloads every file of `section` as Inferno does; answers type -> resources, checking
/// that each line is one resource of the item's type and the count is right.
async fn download(
    app: &TestApp,
    token: Option<&str>,
    m: &Value,
    section: &str,
) -> BTreeMap<String, Vec<Value>> {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for item in m[section].as_array().into_iter().flatten() {
        let url = item["url"].as_str().expect("url");
        let mut req = app
            .request(Method::GET, url)
            .header("Accept", "application/fhir+ndjson");
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = app.send(req).await.status(200);
        assert!(
            resp.must_header("content-type")
                .starts_with("application/fhir+ndjson"),
            "{}",
            resp.what
        );
        let text = resp.text();
        assert!(
            text.ends_with('\n') && !text.contains("\n\n"),
            "{}",
            resp.what
        );
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}: {l}", resp.what)))
            .collect();
        assert_eq!(
            lines.len() as u64,
            item["count"].as_u64().expect("count"),
            "{}",
            resp.what
        );
        for r in &lines {
            assert_eq!(r["resourceType"], item["type"], "{}", resp.what);
        }
        out.entry(item["type"].as_str().unwrap_or("").to_owned())
            .or_default()
            .extend(lines);
    }
    out
}

/// `(type, id)` of every resource.
fn keys(by_type: &BTreeMap<String, Vec<Value>>) -> BTreeSet<(String, String)> {
    by_type
        .iter()
        .flat_map(|(t, rs)| {
            rs.iter()
                .map(move |r| (t.clone(), r["id"].as_str().unwrap_or("").to_owned()))
        })
        .collect()
}

/// Runs an export of `path` to completion (authorization off); answers the manifest.
async fn export(app: &TestApp, path: &str) -> Value {
    let resp = kick_off(app, None, path, "respond-async").await.status(202);
    let url = status_url(app, &resp);
    manifest(&poll(app, None, &url).await, false)
}

/// The resource without `meta` (import assigns its own versions and times).
fn without_meta(r: &Value) -> Value {
    let mut r = r.clone();
    r.as_object_mut().map(|o| o.remove("meta"));
    r
}

#[tokio::test]
async fn an_export_answers_as_bulk_data_clients_expect_and_reimports_to_the_same_directory() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("warn")
        .try_init();
    let data = tempfile::tempdir().unwrap();
    let opts = generate::GenerateOptions {
        size: 400,
        seed: 11,
    };
    let summary = generate::write_ndjson_dir(&opts, data.path()).unwrap();
    let files: Vec<String> = generate::TYPE_ORDER
        .iter()
        .map(|t| data.path().join(format!("{t}.ndjson")))
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect();
    for db in test_databases().await {
        let exports = tempfile::tempdir().unwrap();
        let (app, _state) = spawn_app_state(&db, config(exports.path())).await;
        let b = app.backend;
        let import = |tenant: &'static str, files: Vec<String>| {
            let url = db.url.clone();
            async move {
                let mut args = vec!["import", "--database", &url, "--tenant", tenant];
                args.extend(files.iter().map(String::as_str));
                let (ok, _, err) = fhirdir_cli(&args).await;
                assert!(ok, "[{b}] import into {tenant}: {err}");
            }
        };
        import("default", files.clone()).await;

        // Kick-off, polling, manifest, files.
        let resp = kick_off(&app, None, "/fhir/default/$export", "respond-async")
            .await
            .status(202);
        let url = status_url(&app, &resp);
        let m = manifest(&poll(&app, None, &url).await, false);
        assert_eq!(
            m["request"],
            format!("{}/fhir/default/$export", app.base),
            "[{b}]"
        );
        assert!(m.get("deleted").is_none(), "[{b}] no _since: {m}");
        assert_eq!(m["error"], json!([]), "[{b}]");
        let got = download(&app, None, &m, "output").await;
        let total: usize = got.values().map(Vec::len).sum();
        assert_eq!(total as u64, summary.total(), "[{b}]");
        for t in generate::TYPE_ORDER {
            assert_eq!(
                got.get(t).map_or(0, Vec::len) as u64,
                summary.count(t),
                "[{b}] {t}"
            );
        }
        // Each line is the resource as a read returns it.
        for (t, rs) in &got {
            for r in rs.iter().step_by(37) {
                let id = r["id"].as_str().unwrap();
                let read = app
                    .get(&format!("/fhir/default/{t}/{id}"))
                    .await
                    .status(200);
                assert_eq!(&read.json(), r, "[{b}] {t}/{id}");
            }
        }

        // Compressed on request.
        let first = m["output"][0]["url"].as_str().unwrap();
        let gz = app
            .send(
                app.request(Method::GET, first)
                    .header("Accept-Encoding", "gzip"),
            )
            .await
            .status(200);
        assert_eq!(
            gz.header("content-encoding").as_deref(),
            Some("gzip"),
            "[{b}]"
        );
        let mut plain = String::new();
        flate2::read::GzDecoder::new(gz.body.as_slice())
            .read_to_string(&mut plain)
            .unwrap();
        let plain_resp = app.get(first).await.status(200);
        assert_eq!(plain, plain_resp.text(), "[{b}]");

        // Re-imported into a fresh tenant: the same resources, and the same search answers.
        let copy_dir = tempfile::tempdir().unwrap();
        let mut copy_files = Vec::new();
        for (t, rs) in &got {
            let p = copy_dir.path().join(format!("{t}.ndjson"));
            let mut f = std::fs::File::create(&p).unwrap();
            for r in rs {
                writeln!(f, "{r}").unwrap();
            }
            copy_files.push(p.display().to_string());
        }
        create_tenant(&app, "copy").await;
        import("copy", copy_files).await;
        let again = export(&app, "/fhir/copy/$export").await;
        let copied = download(&app, None, &again, "output").await;
        assert_eq!(keys(&copied), keys(&got), "[{b}]");
        for (t, rs) in &got {
            let by_id: BTreeMap<&str, &Value> = copied[t]
                .iter()
                .map(|r| (r["id"].as_str().unwrap(), r))
                .collect();
            for r in rs {
                let c = by_id[r["id"].as_str().unwrap()];
                assert_eq!(without_meta(c), without_meta(r), "[{b}] {t}");
            }
        }
        let family = got["Practitioner"][0]["name"][0]["family"]
            .as_str()
            .unwrap();
        let search =
            |tenant: &str| format!("/fhir/{tenant}/Practitioner?family={family}&_count=1000");
        let ids = |bundle: Value| -> BTreeSet<String> {
            common::entries(&bundle)
                .iter()
                .map(|e| e["resource"]["id"].as_str().unwrap().to_owned())
                .collect()
        };
        let original = ids(app.get(&search("default")).await.status(200).json());
        assert!(!original.is_empty(), "[{b}]");
        assert_eq!(
            ids(app.get(&search("copy")).await.status(200).json()),
            original,
            "[{b}]"
        );

        // `_type` and the type level export only those types.
        let m = export(&app, "/fhir/default/$export?_type=Location,Endpoint").await;
        let types: BTreeSet<String> = download(&app, None, &m, "output")
            .await
            .into_keys()
            .collect();
        assert_eq!(
            types,
            BTreeSet::from(["Endpoint".into(), "Location".into()]),
            "[{b}]"
        );
        let m = export(&app, "/fhir/default/Practitioner/$export").await;
        let only = download(&app, None, &m, "output").await;
        assert_eq!(only.keys().collect::<Vec<_>>(), ["Practitioner"], "[{b}]");
        assert_eq!(
            only["Practitioner"].len() as u64,
            summary.count("Practitioner"),
            "[{b}]"
        );

        // `_typeFilter`: exactly the search's matches; several are OR-ed.
        let other = got["Practitioner"]
            .iter()
            .filter_map(|p| p["name"][0]["family"].as_str())
            .find(|f| *f != family)
            .unwrap();
        let m = export(
            &app,
            &format!(
                "/fhir/default/$export?_type=Practitioner&_typeFilter={}&_typeFilter={}",
                urlencode(&format!("Practitioner?family={family}")),
                urlencode(&format!("Practitioner?family={other}"))
            ),
        )
        .await;
        let filtered: BTreeSet<String> = download(&app, None, &m, "output").await["Practitioner"]
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect();
        let mut want = original.clone();
        want.extend(ids(app
            .get(&format!(
                "/fhir/default/Practitioner?family={other}&_count=1000"
            ))
            .await
            .status(200)
            .json()));
        assert_eq!(filtered, want, "[{b}]");

        // `_elements`: the named elements only, tagged SUBSETTED.
        let m = export(
            &app,
            "/fhir/default/$export?_type=Practitioner&_elements=Practitioner.name",
        )
        .await;
        let subset = download(&app, None, &m, "output").await;
        let p = &subset["Practitioner"][0];
        let names: BTreeSet<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            names,
            BTreeSet::from(["resourceType", "id", "meta", "name"]),
            "[{b}]"
        );
        assert!(
            p["meta"]["tag"].to_string().contains("SUBSETTED"),
            "[{b}] {p}"
        );

        // A POST kick-off with a Parameters body.
        let body = json!({"resourceType": "Parameters", "parameter": [
            {"name": "_type", "valueString": "Endpoint"},
            {"name": "_outputFormat", "valueString": "application/fhir+ndjson"}]});
        let resp = app
            .send(
                common::fhir_body(app.request(Method::POST, "/fhir/default/$export"), &body)
                    .header("Prefer", "respond-async"),
            )
            .await
            .status(202);
        let m = manifest(&poll(&app, None, &status_url(&app, &resp)).await, false);
        let types: Vec<String> = download(&app, None, &m, "output")
            .await
            .into_keys()
            .collect();
        assert_eq!(types, ["Endpoint"], "[{b}]");
    }
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)]).unwrap()[1..].to_owned()
}

#[tokio::test]
async fn unsupported_parameters_are_refused_unless_lenient_and_a_cancelled_export_is_gone() {
    for db in test_databases().await {
        let exports = tempfile::tempdir().unwrap();
        let (app, state) = spawn_app_state(&db, config(exports.path())).await;
        let b = app.backend;
        app.put_resource(&practitioner(Some("p1"), "Alpha")).await;
        for (query, says) in [
            ("_outputFormat=text/csv", "_outputFormat"),
            ("foo=bar", "foo"),
            ("_type=Doctor", "Doctor"),
            (
                "includeAssociatedData=_RelevantProvenanceResources",
                "includeAssociatedData",
            ),
            ("_since=last-week", "_since"),
            ("_typeFilter=Practitioner%3F_sort%3Dname", "_sort"),
            ("_typeFilter=Practitioner%3Fnosuch%3Dx", "nosuch"),
            ("_type=AuditEvent", "AuditEvent"),
        ] {
            let resp = kick_off(
                &app,
                None,
                &format!("/fhir/default/$export?{query}"),
                "respond-async",
            )
            .await;
            let text = resp.outcome(
                400,
                if query.starts_with("_since") || query.contains("_sort") {
                    "invalid"
                } else {
                    "not-supported"
                },
            );
            assert!(text.contains(says), "[{b}] {query}: {text}");
        }
        // Inferno's three spellings of NDJSON, and `_since` with an offset.
        for query in [
            "_outputFormat=application%2Ffhir%2Bndjson",
            "_outputFormat=application%2Fndjson",
            "_outputFormat=ndjson",
            "_since=2020-01-01T00:00:00%2B02:00",
        ] {
            let resp = kick_off(
                &app,
                None,
                &format!("/fhir/default/$export?{query}"),
                "respond-async",
            )
            .await
            .status(202);
            app.delete(&status_url(&app, &resp)).await.status(202);
        }
        // Lenient: ignored, and said so in the manifest's error file.
        let resp = kick_off(
            &app,
            None,
            "/fhir/default/$export?foo=bar",
            "respond-async, handling=lenient",
        )
        .await
        .status(202);
        let m = manifest(&poll(&app, None, &status_url(&app, &resp)).await, false);
        let errors = download(&app, None, &m, "error").await;
        let oo = &errors["OperationOutcome"];
        assert_eq!(oo.len(), 1, "[{b}] {m}");
        assert!(oo[0].to_string().contains("foo"), "[{b}] {}", oo[0]);
        // Without Prefer: respond-async the export still runs asynchronously, and says so.
        let resp = app
            .send(app.request(Method::GET, "/fhir/default/$export"))
            .await
            .status(202);
        assert!(
            resp.text().contains("respond-async"),
            "[{b}] {}",
            resp.text()
        );
        poll(&app, None, &status_url(&app, &resp)).await;

        // Cancel: 202, then the status URL and the files are 404 and the folder is gone.
        state.jobs.pause();
        let resp = kick_off(&app, None, "/fhir/default/$export", "respond-async")
            .await
            .status(202);
        let url = status_url(&app, &resp);
        app.get(&url).await.status(202);
        app.delete(&url).await.status(202);
        app.get(&url).await.outcome(404, "not-found");
        app.delete(&url).await.outcome(404, "not-found");
        state.jobs.resume();
        let resp = kick_off(&app, None, "/fhir/default/$export", "respond-async")
            .await
            .status(202);
        let url = status_url(&app, &resp);
        let m = manifest(&poll(&app, None, &url).await, false);
        let file = m["output"][0]["url"].as_str().unwrap().to_owned();
        let job = url.rsplit('/').next().unwrap();
        let dir = exports.path().join("default").join(job);
        assert!(dir.exists(), "[{b}]");
        app.delete(&url).await.status(202);
        app.get(&url).await.outcome(404, "not-found");
        app.get(&file).await.outcome(404, "not-found");
        assert!(!dir.exists(), "[{b}] the files are removed");
        // A file name that is not one of the job's.
        app.get(&format!("{url}/..%2F..%2Fetc.ndjson"))
            .await
            .outcome(404, "not-found");
    }
}

#[tokio::test]
async fn since_exports_lose_nothing_written_while_an_export_runs() {
    for db in test_databases().await {
        let exports = tempfile::tempdir().unwrap();
        let (app, state) = spawn_app_state(&db, config(exports.path())).await;
        let b = app.backend;
        for i in 0..60 {
            app.put_resource(&practitioner(Some(&format!("p{i:02}")), &format!("F{i}")))
                .await;
        }
        // A first export runs a step (50 rows), then resources are written behind and ahead
        // of where it is.
        state.jobs.pause();
        state.jobs.set_batch(1);
        let resp = kick_off(&app, None, "/fhir/default/$export", "respond-async")
            .await
            .status(202);
        let url = status_url(&app, &resp);
        state.jobs.step(1);
        let started = Instant::now();
        while !app
            .get(&url)
            .await
            .status(202)
            .must_header("x-progress")
            .starts_with("50 ")
        {
            assert!(started.elapsed() < Duration::from_secs(20), "[{b}] no step");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        app.put_resource(&practitioner(Some("p05"), "Changed"))
            .await; // behind
        app.put_resource(&practitioner(Some("p50"), "Changed"))
            .await; // ahead
        app.delete("/fhir/default/Practitioner/p06")
            .await
            .status(200);
        app.delete("/fhir/default/Practitioner/p51")
            .await
            .status(200);
        app.put_resource(&practitioner(Some("p99"), "New")).await;
        state.jobs.resume();
        let first = manifest(&poll(&app, None, &url).await, false);
        let mut state_now: BTreeMap<String, Value> = download(&app, None, &first, "output")
            .await
            .remove("Practitioner")
            .unwrap_or_default()
            .into_iter()
            .map(|r| (r["id"].as_str().unwrap().to_owned(), r))
            .collect();

        // The next export since the first's transactionTime: what changed, and what was
        // deleted, as Bundles of DELETE entries.
        let since = first["transactionTime"].as_str().unwrap();
        let second = export(
            &app,
            &format!("/fhir/default/$export?_since={}", urlencode(since)),
        )
        .await;
        let changed = download(&app, None, &second, "output").await;
        let ids: BTreeSet<&str> = changed["Practitioner"]
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, BTreeSet::from(["p05", "p50", "p99"]), "[{b}]");
        let deleted = download(&app, None, &second, "deleted").await;
        let gone: BTreeSet<String> = deleted["Bundle"]
            .iter()
            .map(|bundle| {
                assert_eq!(bundle["type"], "transaction", "[{b}]");
                let req = &bundle["entry"][0]["request"];
                assert_eq!(req["method"], "DELETE", "[{b}]");
                req["url"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(
            gone,
            BTreeSet::from(["Practitioner/p06".into(), "Practitioner/p51".into()]),
            "[{b}]"
        );
        // `_until` the first instant: what was last changed by then, still live.
        let until = export(
            &app,
            &format!("/fhir/default/$export?_until={}", urlencode(since)),
        )
        .await;
        let before: BTreeSet<String> = keys_of(&download(&app, None, &until, "output").await);
        let want: BTreeSet<String> = (0..60)
            .map(|i| format!("p{i:02}"))
            .filter(|id| !["p05", "p50", "p06", "p51"].contains(&id.as_str()))
            .collect();
        assert_eq!(before, want, "[{b}] _until");
        kick_off(
            &app,
            None,
            &format!(
                "/fhir/default/$export?_since={}&_until={}",
                urlencode(since),
                urlencode(since)
            ),
            "respond-async",
        )
        .await
        .outcome(400, "invalid");

        // Applied in order, the two exports are the directory as it is now.
        for r in &changed["Practitioner"] {
            state_now.insert(r["id"].as_str().unwrap().to_owned(), r.clone());
        }
        for url in &gone {
            state_now.remove(url.trim_start_matches("Practitioner/"));
        }
        let now = export(&app, "/fhir/default/$export?_type=Practitioner").await;
        let current: BTreeMap<String, Value> = download(&app, None, &now, "output")
            .await
            .remove("Practitioner")
            .unwrap()
            .into_iter()
            .map(|r| (r["id"].as_str().unwrap().to_owned(), r))
            .collect();
        assert_eq!(state_now, current, "[{b}]");
    }
}

#[tokio::test]
async fn an_export_whose_server_stopped_is_resumed_by_another_and_never_serves_a_cut_file() {
    for db in test_databases().await {
        let exports = tempfile::tempdir().unwrap();
        let (first, state) = spawn_app_state(&db, config(exports.path())).await;
        let b = first.backend;
        for i in 0..130 {
            first
                .put_resource(&practitioner(Some(&format!("p{i:03}")), "Same"))
                .await;
        }
        state.jobs.set_lease(Duration::from_millis(300));
        state.jobs.pause();
        state.jobs.set_batch(1);
        let resp = kick_off(&first, None, "/fhir/default/$export", "respond-async")
            .await
            .status(202);
        let url = status_url(&first, &resp);
        let job = url.rsplit('/').next().unwrap().to_owned();
        state.jobs.step(2);
        let started = Instant::now();
        while !first
            .get(&url)
            .await
            .status(202)
            .must_header("x-progress")
            .starts_with("100 ")
        {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "[{b}] no steps"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Not complete: no file is served.
        first
            .get(&format!("{url}/Practitioner-1.ndjson"))
            .await
            .outcome(404, "not-found");
        // The process "dies" after writing lines it never recorded.
        let file = exports
            .path()
            .join("default")
            .join(&job)
            .join("Practitioner-1.ndjson");
        std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .unwrap()
            .write_all(b"{\"resourceType\":\"Practitioner\",\"id\":\"p100\"}\n{\"cut")
            .unwrap();
        let path = url.trim_start_matches(&first.base).to_owned();
        drop(first); // its runner stays paused: it does nothing more

        // Another server takes the job over once the lease has expired.
        let (second, _state2) = spawn_app_state(&db, config(exports.path())).await;
        let m = manifest(&poll(&second, None, &path).await, false);
        let got = download(&second, None, &m, "output").await;
        let mut ids: Vec<&str> = got["Practitioner"]
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        ids.sort_unstable();
        let want: Vec<String> = (0..130).map(|i| format!("p{i:03}")).collect();
        assert_eq!(
            ids, want,
            "[{b}] every resource once (no cut line, no junk)"
        );
    }
}

#[tokio::test]
async fn only_clients_export_only_what_they_may_read_and_only_they_see_their_exports() {
    for db in test_databases().await {
        let exports = tempfile::tempdir().unwrap();
        let cfg = ServerConfig {
            export: services::bulk::ExportSettings {
                dir: exports.path().to_owned(),
                ..Default::default()
            },
            ..support_config()
        };
        let (app, state) = spawn_app_state(&db, cfg).await;
        let b = app.backend;
        create_tenant(&app, "dir").await;
        let writer = client(&app, "system/*.cruds", None, false).await;
        for r in [
            practitioner(Some("p1"), "Alpha"),
            json!({"resourceType": "Location", "id": "l1", "name": "Main"}),
            restricted_org("hidden"),
            json!({"resourceType": "Organization", "id": "open", "name": "Open Clinic"}),
        ] {
            let path = format!(
                "/fhir/dir/{}/{}",
                r["resourceType"].as_str().unwrap(),
                r["id"].as_str().unwrap()
            );
            with_token(&app, Some(&writer), Method::PUT, &path, Some(&r))
                .await
                .status(201);
        }

        // Anonymous callers may search this tenant but not export it.
        app.get("/fhir/dir/Practitioner").await.status(200);
        let resp = kick_off(&app, None, "/fhir/dir/$export", "respond-async").await;
        resp.outcome(401, "login");
        assert!(resp.header("www-authenticate").is_some(), "[{b}]");

        // A client that may read Practitioners and Organizations only.
        let narrow = client(
            &app,
            "system/Practitioner.read system/Organization.read",
            None,
            false,
        )
        .await;
        kick_off(
            &app,
            Some(&narrow),
            "/fhir/dir/$export?_type=Location",
            "respond-async",
        )
        .await
        .outcome(403, "forbidden");
        let resp = kick_off(&app, Some(&narrow), "/fhir/dir/$export", "respond-async")
            .await
            .status(202);
        let url = status_url(&app, &resp);
        let m = manifest(&poll(&app, Some(&narrow), &url).await, true);
        let got = download(&app, Some(&narrow), &m, "output").await;
        let keys: BTreeSet<(String, String)> = keys(&got);
        assert_eq!(
            keys,
            BTreeSet::from([
                ("Organization".into(), "open".into()),
                ("Practitioner".into(), "p1".into())
            ]),
            "[{b}] no Location (scopes), no restricted Organization"
        );
        // A client that sees restricted content exports it.
        let privileged = client(&app, "system/*.read", None, true).await;
        let m = export_as(&app, &privileged, "/fhir/dir/$export?_type=Organization").await;
        let orgs = keys_of(&download(&app, Some(&privileged), &m, "output").await);
        assert_eq!(
            orgs,
            BTreeSet::from(["hidden".into(), "open".into()]),
            "[{b}]"
        );
        // So does the organization its Restriction permits, and one it does not, does not.
        for (org, sees) in [("Organization/blue", true), ("Organization/green", false)] {
            let token = client(&app, "system/*.read", Some(org), false).await;
            let m = export_as(&app, &token, "/fhir/dir/$export?_type=Organization").await;
            let orgs = keys_of(&download(&app, Some(&token), &m, "output").await);
            assert_eq!(orgs.contains("hidden"), sees, "[{b}] {org}: {orgs:?}");
            assert!(orgs.contains("open"), "[{b}] {org}");
        }

        // The job and its files are the narrow client's: another client gets 404, an anonymous
        // caller 401, and the file needs the token (as requiresAccessToken says).
        let file = m_file(&app, &narrow, &url).await;
        for (who, token, code) in [
            ("another client", Some(privileged.as_str()), 404),
            ("anonymous", None, 401),
        ] {
            for path in [url.as_str(), file.as_str()] {
                let resp = with_token(&app, token, Method::GET, path, None).await;
                assert_eq!(resp.code, code, "[{b}] {who} GET {path}: {}", resp.text());
            }
            let resp = with_token(&app, token, Method::DELETE, &url, None).await;
            assert_eq!(resp.code, code, "[{b}] {who} DELETE: {}", resp.text());
        }
        with_token(&app, Some(&narrow), Method::GET, &url, None)
            .await
            .status(200);

        // Deletions: a `_since` export lists only those of resources the caller could see.
        let since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        tokio::time::sleep(Duration::from_millis(5)).await;
        let admin_writer = client(&app, "system/*.cruds", None, true).await;
        for path in [
            "/fhir/dir/Organization/hidden",
            "/fhir/dir/Organization/open",
        ] {
            with_token(&app, Some(&admin_writer), Method::DELETE, path, None)
                .await
                .status(200);
        }
        let query = format!(
            "/fhir/dir/$export?_type=Organization&_since={}",
            urlencode(&since)
        );
        for (who, token, gone) in [
            ("narrow", &narrow, vec!["Organization/open"]),
            (
                "privileged",
                &privileged,
                vec!["Organization/hidden", "Organization/open"],
            ),
        ] {
            let m = export_as(&app, token, &query).await;
            let mut urls: Vec<String> = download(&app, Some(token), &m, "deleted")
                .await
                .remove("Bundle")
                .unwrap_or_default()
                .iter()
                .map(|b| b["entry"][0]["request"]["url"].as_str().unwrap().to_owned())
                .collect();
            urls.sort();
            assert_eq!(urls, gone, "[{b}] {who}");
        }

        // At most two unfinished exports per client: the third is 429 with Retry-After.
        state.jobs.pause();
        let a = kick_off(&app, Some(&narrow), "/fhir/dir/$export", "respond-async")
            .await
            .status(202);
        kick_off(&app, Some(&narrow), "/fhir/dir/$export", "respond-async")
            .await
            .status(202);
        let resp = kick_off(&app, Some(&narrow), "/fhir/dir/$export", "respond-async").await;
        resp.outcome(429, "too-costly");
        assert!(resp.header("retry-after").is_some(), "[{b}]");
        // Another client is not held back by this one's jobs; a cancelled job frees a place.
        kick_off(
            &app,
            Some(&privileged),
            "/fhir/dir/$export",
            "respond-async",
        )
        .await
        .status(202);
        with_token(
            &app,
            Some(&narrow),
            Method::DELETE,
            &status_url(&app, &a),
            None,
        )
        .await
        .status(202);
        kick_off(&app, Some(&narrow), "/fhir/dir/$export", "respond-async")
            .await
            .status(202);
        state.jobs.resume();
    }
}

/// The authorization tests' server config (authorization on, admin API on).
fn support_config() -> ServerConfig {
    ServerConfig {
        admin_token: Some(ADMIN.into()),
        ..ServerConfig::default()
    }
}

/// A client of tenant `dir` with `scope`; answers a token.
async fn client(
    app: &TestApp,
    scope: &str,
    organization: Option<&str>,
    see_restricted: bool,
) -> String {
    let key = auth::testing::TestClientKey::ec256("k1");
    let mut body = json!({"jwks": {"keys": [key.public_jwk()]}, "scope": scope,
        "see_restricted": see_restricted});
    if let Some(o) = organization {
        body["organization"] = json!(o);
    }
    let resp = admin(app, Method::POST, "/admin/tenants/dir/clients", Some(body))
        .await
        .status(201);
    let id = resp.json()["client_id"]
        .as_str()
        .expect("client_id")
        .to_owned();
    token(app, "dir", &key, &id, scope).await
}

/// A whole-resource restricted Organization (NDH usage restriction whose provision permits
/// `Organization/blue` only: other clients do not see it, privileged ones do).
fn restricted_org(id: &str) -> Value {
    json!({"resourceType": "Organization", "id": id, "name": "Shelter",
        "extension": [{"url": "http://hl7.org/fhir/us/ndh/StructureDefinition/base-ext-usage-restriction",
            "valueReference": {"reference": "#r"}}],
        "contained": [{"resourceType": "Consent", "id": "r", "status": "active",
            "scope": {"coding": [{"system": "http://hl7.org/fhir/us/ndh/CodeSystem/ConsentScopeNdhCS",
                "code": "directory-privacy"}]},
            "category": [{"coding": [{"system": "http://hl7.org/fhir/us/ndh/CodeSystem/ConsentCategoryNdhCS",
                "code": "DRC"}]}],
            "provision": {"type": "permit",
                "actor": [{"reference": {"reference": "Organization/blue"}}]}}]})
}

async fn export_as(app: &TestApp, token: &str, path: &str) -> Value {
    let resp = kick_off(app, Some(token), path, "respond-async")
        .await
        .status(202);
    manifest(&poll(app, Some(token), &status_url(app, &resp)).await, true)
}

fn keys_of(by_type: &BTreeMap<String, Vec<Value>>) -> BTreeSet<String> {
    keys(by_type).into_iter().map(|(_, id)| id).collect()
}

/// The first file of the complete export at `url`.
async fn m_file(app: &TestApp, token: &str, url: &str) -> String {
    let m = with_token(app, Some(token), Method::GET, url, None)
        .await
        .status(200)
        .json();
    m["output"][0]["url"].as_str().unwrap().to_owned()
}

/// A resource of `rtype` with `fields`.
fn resource(rtype: &str, id: &str, fields: Value) -> Value {
    let mut r = json!({"resourceType": rtype, "id": id});
    if let (Some(r), Some(f)) = (r.as_object_mut(), fields.as_object()) {
        r.extend(f.clone());
    }
    r
}

fn reference(to: &str) -> Value {
    json!({"reference": to})
}

#[tokio::test]
async fn a_group_export_is_the_group_its_members_and_their_compartments_and_davinci_narrows_it() {
    for db in test_databases().await {
        let exports = tempfile::tempdir().unwrap();
        let (app, _state) = spawn_app_state(&db, config(exports.path())).await;
        let b = app.backend;
        let payer = json!({"payor": [reference("Organization/org1")]});
        for r in [
            resource("Patient", "pa", json!({})),
            resource("Patient", "pb", json!({})),
            resource("Patient", "pz", json!({})),
            resource("Practitioner", "dr1", json!({})),
            resource("Practitioner", "dr2", json!({})),
            resource("Organization", "org1", json!({"name": "Org"})),
            resource("Location", "loc1", json!({"name": "Main"})),
            resource(
                "Endpoint",
                "ep1",
                json!({"status": "active",
                "connectionType": {"code": "hl7-fhir-rest"}, "payloadType": [{"text": "any"}],
                "address": "https://example.org/fhir"}),
            ),
            resource(
                "PractitionerRole",
                "role1",
                json!({"practitioner": reference("Practitioner/dr1"),
                "organization": reference("Organization/org1"), "location": [reference("Location/loc1")],
                "endpoint": [reference("Endpoint/ep1")]}),
            ),
            resource(
                "Coverage",
                "cov-a",
                json!({"status": "active", "beneficiary": reference("Patient/pa")}),
            ),
            resource(
                "Coverage",
                "cov-b",
                json!({"status": "active", "beneficiary": reference("Patient/pb")}),
            ),
            resource(
                "Coverage",
                "cov-z",
                json!({"status": "active", "beneficiary": reference("Patient/pz")}),
            ),
            resource(
                "ExplanationOfBenefit",
                "eob-a",
                json!({"status": "active",
                "patient": reference("Patient/pa"), "provider": reference("Practitioner/dr1")}),
            ),
            resource(
                "Encounter",
                "enc-b",
                json!({"status": "finished", "subject": reference("Patient/pb")}),
            ),
            resource(
                "Observation",
                "obs-a",
                json!({"status": "final", "code": {"text": "x"},
                "subject": reference("Patient/pa"), "performer": [reference("Practitioner/dr2")]}),
            ),
            resource(
                "Group",
                "g1",
                json!({"type": "person", "actual": true,
                "identifier": [{"system": "urn:plan", "value": "members-2026"}],
                "characteristic": [{"code": {"coding": [{"system": "urn:c", "code": "plan"}]},
                    "valueCodeableConcept": {"coding": [{"system": "urn:v", "code": "gold"}]},
                    "exclude": false}],
                "member": [
                {"entity": reference("Patient/pa")}, {"entity": reference("Patient/pb")},
                {"entity": reference("PractitionerRole/role1")},
                {"entity": reference("Patient/pz"), "inactive": true}]}),
            ),
        ] {
            let r = if r["resourceType"] == "Coverage" {
                let mut r = r;
                r["payor"] = payer["payor"].clone();
                r
            } else {
                r
            };
            app.put_resource(&r).await;
        }
        let exported = |m: Value| {
            let app = &app;
            async move {
                let got = download(app, None, &m, "output").await;
                let mut keys: Vec<String> = keys(&got)
                    .into_iter()
                    .map(|(t, id)| format!("{t}/{id}"))
                    .collect();
                keys.sort();
                keys
            }
        };
        eprintln!(
            "DBG {}",
            app.get("/fhir/default/Coverage?beneficiary=Patient/pa,Patient/pb&_count=1000")
                .await
                .text()
        );
        let all = exported(export(&app, "/fhir/default/Group/g1/$export").await).await;
        assert_eq!(
            all,
            [
                "Coverage/cov-a",
                "Coverage/cov-b",
                "Encounter/enc-b",
                "Endpoint/ep1",
                "ExplanationOfBenefit/eob-a",
                "Group/g1",
                "Location/loc1",
                "Observation/obs-a",
                "Organization/org1",
                "Patient/pa",
                "Patient/pb",
                "Practitioner/dr1",
                "PractitionerRole/role1"
            ],
            "[{b}] the group, its active members, their compartments, the role's references"
        );

        // Da Vinci PDex: one member, all its data; then only some types of it.
        let pdex = "exportType=hl7.fhir.us.davinci-pdex";
        let one = exported(
            export(
                &app,
                &format!("/fhir/default/Group/g1/$davinci-data-export?{pdex}&patient=Patient/pa"),
            )
            .await,
        )
        .await;
        assert_eq!(
            one,
            [
                "Coverage/cov-a",
                "ExplanationOfBenefit/eob-a",
                "Group/g1",
                "Observation/obs-a",
                "Patient/pa"
            ],
            "[{b}]"
        );
        let coverage = exported(
            export(
                &app,
                &format!("/fhir/default/Group/g1/$davinci-data-export?{pdex}&patient=Patient/pb&_type=Coverage"),
            )
            .await,
        )
        .await;
        assert_eq!(
            coverage,
            ["Coverage/cov-b", "Group/g1"],
            "[{b}] the Group is always in it"
        );

        // Only what changed since an instant (the Group itself always).
        let since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        tokio::time::sleep(Duration::from_millis(5)).await;
        let mut cov = resource(
            "Coverage",
            "cov-a",
            json!({"status": "cancelled", "beneficiary": reference("Patient/pa")}),
        );
        cov["payor"] = payer["payor"].clone();
        app.put_resource(&cov).await;
        let changed = exported(
            export(
                &app,
                &format!(
                    "/fhir/default/Group/g1/$davinci-data-export?{pdex}&patient=Patient/pa,Patient/pb&_since={}",
                    urlencode(&since)
                ),
            )
            .await,
        )
        .await;
        assert_eq!(changed, ["Coverage/cov-a", "Group/g1"], "[{b}]");

        // Refusals: a non-member, no exportType, an unknown Group.
        let r = kick_off(
            &app,
            None,
            &format!("/fhir/default/Group/g1/$davinci-data-export?{pdex}&patient=Patient/pz"),
            "respond-async",
        )
        .await;
        assert!(r.outcome(400, "invalid").contains("Patient/pz"), "[{b}]");
        let r = kick_off(
            &app,
            None,
            "/fhir/default/Group/g1/$davinci-data-export?patient=Patient/pa",
            "respond-async",
        )
        .await;
        assert!(r.outcome(400, "required").contains("exportType"), "[{b}]");
        kick_off(
            &app,
            None,
            "/fhir/default/Group/nope/$export",
            "respond-async",
        )
        .await
        .outcome(404, "not-found");

        // Group search by member, characteristic and identifier works as for any type.
        for (query, hits) in [
            ("member=Patient/pa", 1),
            ("member=Patient/pz", 1),
            ("member=Patient/nobody", 0),
            ("identifier=urn:plan|members-2026", 1),
            ("identifier=urn:plan|other", 0),
            ("characteristic=urn:c|plan", 1),
            ("characteristic=urn:c|other", 0),
        ] {
            let found = app
                .get(&format!("/fhir/default/Group?{query}"))
                .await
                .status(200)
                .json();
            assert_eq!(common::entries(&found).len(), hits, "[{b}] Group?{query}");
        }
    }
}

/// A ping-and-pull `$import` body naming `inputs` (type, url).
fn import_body(inputs: &[(&str, &str)]) -> Value {
    let mut params = vec![
        json!({"name": "inputFormat", "valueCode": "application/fhir+ndjson"}),
        json!({"name": "inputSource", "valueUri": "https://source.example"}),
    ];
    for (t, url) in inputs {
        params.push(json!({"name": "input", "part": [
            {"name": "type", "valueCode": t}, {"name": "url", "valueUrl": url}]}));
    }
    json!({"resourceType": "Parameters", "parameter": params})
}

/// POSTs `$import` with `body` (and `token`).
async fn import(app: &TestApp, token: Option<&str>, tenant: &str, body: &Value) -> Resp {
    with_token(
        app,
        token,
        Method::POST,
        &format!("/fhir/{tenant}/$import"),
        Some(body),
    )
    .await
}

/// Serves `files` (name -> body) on loopback; answers the base URL.
async fn serve_files(files: Vec<(&'static str, String)>) -> String {
    let mut router = axum::Router::new();
    for (name, body) in files {
        router = router.route(
            &format!("/{name}"),
            axum::routing::get(move || async move { body }),
        );
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn import_pulls_ndjson_from_urls_and_the_import_folder_and_lists_what_it_skipped() {
    let source = serve_files(vec![(
        "locations.ndjson",
        "{\"resourceType\":\"Location\",\"id\":\"l1\",\"name\":\"One\"}\n\
         {\"resourceType\":\"Location\",\"id\":\"l2\",\"name\":\"Two\"}\n"
            .to_owned(),
    )])
    .await;
    for db in test_databases().await {
        let exports = tempfile::tempdir().unwrap();
        let inbox = tempfile::tempdir().unwrap();
        std::fs::write(
            inbox.path().join("practitioners.ndjson"),
            "{\"resourceType\":\"Practitioner\",\"id\":\"a\"}\n\
             {\"resourceType\":\"Practitioner\",\"id\":\"b\"}\n\
             {\"resourceType\":\"Practitioner\",\"id\":\"bad id\"}\n\
             {\"resourceType\":\"Practitioner\",\"id\":\"c\"}\n",
        )
        .unwrap();
        let mut cfg = config(exports.path());
        cfg.import_dir = Some(inbox.path().to_owned());
        cfg.outbound_allow = vec!["127.0.0.1".into()];
        let (app, _state) = spawn_app_state(&db, cfg).await;
        let b = app.backend;

        let body = import_body(&[
            ("Practitioner", "practitioners.ndjson"),
            ("Location", &format!("{source}/locations.ndjson")),
        ]);
        let resp = import(&app, None, "default", &body).await.status(202);
        let url = status_url(&app, &resp);
        assert!(url.contains("/$import/"), "[{b}] {url}");
        let m = poll(&app, None, &url).await.json();
        let counts: BTreeMap<String, u64> = m["output"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o["type"].as_str().unwrap().to_owned(),
                    o["count"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            counts,
            BTreeMap::from([("Location".into(), 2), ("Practitioner".into(), 3)]),
            "[{b}] {m}"
        );
        let errors = m["error"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "[{b}] {m}");
        let said = errors[0]["outcome"].to_string();
        assert!(said.contains("practitioners.ndjson line 3"), "[{b}] {said}");
        assert!(
            !said.contains(&inbox.path().display().to_string()),
            "[{b}] no server path: {said}"
        );
        for path in ["Practitioner/a", "Practitioner/c", "Location/l2"] {
            app.get(&format!("/fhir/default/{path}")).await.status(200);
        }
        // Importing the same again adds no version.
        let resp = import(&app, None, "default", &body).await.status(202);
        let again = poll(&app, None, &status_url(&app, &resp)).await.json();
        assert!(
            again["output"].to_string().contains("\"unchanged\":3"),
            "[{b}] {again}"
        );
        assert_eq!(
            app.instance_versions("default", "Practitioner", "a").await,
            [1],
            "[{b}]"
        );
        // A finished import is removed on DELETE (what it imported stays).
        let url = status_url(&app, &resp);
        app.delete(&url).await.status(202);
        app.get(&url).await.outcome(404, "not-found");
        app.get("/fhir/default/Practitioner/a").await.status(200);

        // An export re-imported through $import from this server's own file URLs.
        create_tenant(&app, "copy").await;
        let m = export(&app, "/fhir/default/$export").await;
        let inputs: Vec<(String, String)> = m["output"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o["type"].as_str().unwrap().to_owned(),
                    o["url"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let refs: Vec<(&str, &str)> = inputs
            .iter()
            .map(|(t, u)| (t.as_str(), u.as_str()))
            .collect();
        let resp = import(&app, None, "copy", &import_body(&refs))
            .await
            .status(202);
        poll(&app, None, &status_url(&app, &resp)).await;
        let copied = download(
            &app,
            None,
            &export(&app, "/fhir/copy/$export").await,
            "output",
        )
        .await;
        let original = download(&app, None, &m, "output").await;
        assert_eq!(keys(&copied), keys(&original), "[{b}]");

        // Refused: a file outside the folder, a bad format, no input, a name that is no file.
        for (body, says) in [
            (
                import_body(&[("Practitioner", "../outside.ndjson")]),
                "import folder",
            ),
            (
                import_body(&[("Practitioner", "file:///etc/passwd")]),
                "import folder",
            ),
            (import_body(&[]), "at least one input"),
            (
                import_body(&[("Practitioner", "nope.ndjson")]),
                "import folder",
            ),
            (
                json!({"resourceType": "Parameters", "parameter": [
                {"name": "inputFormat", "valueCode": "text/csv"}]}),
                "inputFormat",
            ),
        ] {
            let resp = import(&app, None, "default", &body).await;
            assert_eq!(resp.code, 400, "[{b}] {body}: {}", resp.text());
            assert!(resp.text().contains(says), "[{b}] {}", resp.text());
        }
    }
}

#[tokio::test]
async fn import_needs_a_client_trusted_with_every_write_and_restricted_content() {
    for db in test_databases().await {
        let exports = tempfile::tempdir().unwrap();
        let cfg = ServerConfig {
            export: services::bulk::ExportSettings {
                dir: exports.path().to_owned(),
                ..Default::default()
            },
            ..support_config()
        };
        let (app, _state) = spawn_app_state(&db, cfg).await;
        let b = app.backend;
        create_tenant(&app, "dir").await;
        // Loopback is not allowed here: the outbound rules refuse it.
        let body = import_body(&[("Practitioner", "http://127.0.0.1:9/p.ndjson")]);
        import(&app, None, "dir", &body).await.outcome(401, "login");
        let narrow = client(&app, "system/Practitioner.cruds", None, false).await;
        import(&app, Some(&narrow), "dir", &body)
            .await
            .outcome(403, "forbidden");
        let writer = client(&app, "system/*.cruds", None, false).await;
        let resp = import(&app, Some(&writer), "dir", &body).await;
        assert!(
            resp.outcome(403, "forbidden").contains("restricted"),
            "[{b}]"
        );
        let trusted = client(&app, "system/*.cruds", None, true).await;
        let resp = import(&app, Some(&trusted), "dir", &body).await;
        assert!(
            resp.outcome(400, "invalid").contains("may not fetch"),
            "[{b}]"
        );
        let file = import_body(&[("Practitioner", "p.ndjson")]);
        let resp = import(&app, Some(&trusted), "dir", &file).await;
        assert!(
            resp.outcome(400, "invalid").contains("--import-dir"),
            "[{b}]"
        );
    }
}

#[tokio::test]
async fn associated_data_adds_the_latest_provenance_of_each_exported_resource_once() {
    for db in test_databases().await {
        let exports = tempfile::tempdir().unwrap();
        let (app, _state) = spawn_app_state(&db, config(exports.path())).await;
        let b = app.backend;
        let provenance = |id: &str, target: &str, recorded: &str| {
            resource(
                "Provenance",
                id,
                json!({"target": [reference(target)], "recorded": recorded,
                "agent": [{"who": reference("Organization/o")}]}),
            )
        };
        for r in [
            practitioner(Some("p1"), "One"),
            practitioner(Some("p2"), "Two"),
            resource("Location", "l1", json!({"name": "L"})),
            provenance("prov-old", "Practitioner/p1", "2020-01-01T00:00:00Z"),
            provenance("prov-new", "Practitioner/p1", "2024-01-01T00:00:00Z"),
            provenance(
                "prov-p2",
                "Practitioner/p2/_history/1",
                "2021-01-01T00:00:00Z",
            ),
            provenance("prov-l", "Location/l1", "2024-01-01T00:00:00Z"),
        ] {
            app.put_resource(&r).await;
        }
        let keys_of_export = |path: String| {
            let app = &app;
            async move {
                let m = export(app, &path).await;
                let mut k: Vec<String> = keys(&download(app, None, &m, "output").await)
                    .into_iter()
                    .map(|(t, id)| format!("{t}/{id}"))
                    .collect();
                k.sort();
                k
            }
        };
        let latest = "includeAssociatedData=LatestProvenanceResources";
        assert_eq!(
            keys_of_export(format!("/fhir/default/$export?_type=Practitioner&{latest}")).await,
            [
                "Practitioner/p1",
                "Practitioner/p2",
                "Provenance/prov-new",
                "Provenance/prov-p2"
            ],
            "[{b}]"
        );
        assert_eq!(
            keys_of_export(format!(
                "/fhir/default/$export?_type=Practitioner&{latest}&_typeFilter={}",
                urlencode("Practitioner?_id=p1")
            ))
            .await,
            ["Practitioner/p1", "Provenance/prov-new"],
            "[{b}]"
        );
        assert_eq!(
            keys_of_export(format!(
                "/fhir/default/$export?_type=Practitioner,Provenance&{latest}"
            ))
            .await,
            [
                "Practitioner/p1",
                "Practitioner/p2",
                "Provenance/prov-l",
                "Provenance/prov-new",
                "Provenance/prov-old",
                "Provenance/prov-p2"
            ],
            "[{b}] each Provenance once"
        );
    }
}

#[tokio::test]
async fn a_write_in_flight_at_an_exports_transaction_time_is_in_the_next_since_export() {
    for db in test_databases().await {
        let exports = tempfile::tempdir().unwrap();
        let (app, _state) = spawn_app_state(&db, config(exports.path())).await;
        let b = app.backend;
        app.put_resource(&practitioner(Some("early"), "Early"))
            .await;
        let store = store::Store::connect(&db.url, &store::StoreOptions::default())
            .await
            .unwrap();
        let tenant = store::TenantName::default_tenant();
        // A write begins (its lastUpdated is taken now) and has not committed yet.
        let mut tx = store.begin(&tenant).await.unwrap();
        tx.write(store::WriteRequest {
            resource_type: "Practitioner".into(),
            id: "late".into(),
            resource: practitioner(Some("late"), "Late")
                .as_object()
                .cloned()
                .unwrap(),
            precondition: store::Precondition::None,
            method: store::Method::Put,
        })
        .await
        .unwrap();
        if b == "sqlite" {
            // One writer: an export's mark waits for the open write, so no write can be in
            // flight at a transactionTime. The write commits first, and both exports agree.
            tx.commit().await.unwrap();
            let first = export(&app, "/fhir/default/$export").await;
            let got = keys_of(&download(&app, None, &first, "output").await);
            assert!(got.contains("late"), "[{b}] {got:?}");
            continue;
        }
        // Postgres: the first export's walk cannot see it...
        let first = export(&app, "/fhir/default/$export").await;
        let got = keys_of(&download(&app, None, &first, "output").await);
        assert_eq!(got, BTreeSet::from(["early".to_owned()]), "[{b}]");
        // ... it commits after the mark, with a lastUpdated before it ...
        tx.commit().await.unwrap();
        let since = first["transactionTime"].as_str().unwrap();
        let read = app
            .get("/fhir/default/Practitioner/late")
            .await
            .status(200)
            .json();
        assert!(
            read["meta"]["lastUpdated"].as_str().unwrap() <= since,
            "[{b}] {read} vs {since}"
        );
        // ... and the next `_since` export has it all the same.
        let next = export(
            &app,
            &format!("/fhir/default/$export?_since={}", urlencode(since)),
        )
        .await;
        let got = keys_of(&download(&app, None, &next, "output").await);
        assert_eq!(got, BTreeSet::from(["late".to_owned()]), "[{b}]");
        store.close().await;
    }
}
