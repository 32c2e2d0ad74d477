//! SIGKILL of the real `fhirdir` binary in the middle of a large transaction Bundle, once per
//! backend. After a restart on the same database nothing of the transaction is visible over
//! HTTP: no resource by read or by type search, no history entry, no search-index hit (token,
//! string, reference, chain, `near`), while resources committed before it still are (so every
//! "nothing" below is a search that demonstrably finds what exists).
//!
//! The kill must land inside the store transaction, not before it (still parsing) or after
//! it (committed). Before killing, the test waits until the database itself shows the
//! transaction open and writing ([`testkit::write_in_progress`]) and still open after
//! [`HOLD`]. A transaction that commits anyway before the kill is recognised (its answer
//! arrived, or all of it is visible after the restart) and the attempt is repeated with a
//! larger Bundle; the test fails when every size finished first, and never passes without
//! a kill inside the transaction.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{entries, link, raw_client, BinaryServer};
use serde_json::{json, Value};

/// Bundle sizes (entries) tried in turn until a kill lands inside the transaction.
const SIZES: [usize; 3] = [2_000, 5_000, 10_000];
/// How long the transaction must have been open and writing before the kill.
const HOLD: Duration = Duration::from_millis(300);
/// Longest wait for the transaction to start writing.
const START_WITHIN: Duration = Duration::from_secs(60);

const NPI: &str = "http://hl7.org/fhir/sid/us-npi";
/// The family name (and organization and location name prefix) of every resource here.
const MARK: &str = "Crashmark";
/// Where the control Location is; the transaction's Locations are within a few km of it.
const LAT: f64 = 41.5;
const LON: f64 = -72.7;

/// The resource types the transaction writes, with the id of each one's control resource.
const CONTROLS: [(&str, &str); 5] = [
    ("Organization", "ctl-org"),
    ("Location", "ctl-loc"),
    ("Practitioner", "ctl-prac"),
    ("PractitionerRole", "ctl-role"),
    ("Endpoint", "ctl-ep"),
];

/// The outcome of one kill attempt.
enum Attempt {
    /// Killed inside the transaction, after it had been open this long; nothing of it is
    /// visible (asserted).
    RolledBack(Duration),
    /// The transaction committed before the kill: why we know.
    CommittedFirst(String),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_a_transaction_leaves_nothing_of_it() {
    for db in common::test_databases().await {
        let b = db.backend;
        let mut finished_first = Vec::new();
        let mut done = false;
        for size in SIZES {
            let started = Instant::now();
            match attempt(&db.url, b, size).await {
                Attempt::RolledBack(open) => {
                    eprintln!(
                        "[{b}] SIGKILL {} ms into a {size}-entry transaction: nothing of it \
                         visible after the restart ({:.1} s)",
                        open.as_millis(),
                        started.elapsed().as_secs_f64()
                    );
                    done = true;
                    break;
                }
                Attempt::CommittedFirst(why) => {
                    eprintln!(
                        "[{b}] {size} entries committed before the kill ({why}); retrying larger"
                    );
                    finished_first.push(format!("{size} entries: {why}"));
                }
            }
        }
        assert!(
            done,
            "[{b}] every transaction finished before the kill could land inside it, so \
             nothing was tested: {finished_first:?}"
        );
    }
}

/// One server life: control resources, the large transaction, SIGKILL while it is open,
/// restart, checks.
async fn attempt(url: &str, b: &str, size: usize) -> Attempt {
    let tenant = format!("crash-{size}");
    let mut server = BinaryServer::start(url, b).await;
    create_tenant(url, b, &tenant);
    let http = raw_client();
    let fhir = format!("{}/fhir/{tenant}", server.base);
    for (rtype, id) in CONTROLS {
        put(&http, &fhir, b, &control(rtype, id)).await;
    }

    let bundle = transaction(size);
    let post = tokio::spawn({
        let http = http.clone();
        let url = fhir.clone();
        let body = bundle.to_string();
        async move {
            let resp = http
                .post(url)
                .header("content-type", "application/fhir+json")
                .timeout(Duration::from_secs(600))
                .body(body)
                .send()
                .await?;
            let status = resp.status().as_u16();
            let text = resp.text().await?;
            reqwest::Result::Ok((status, text))
        }
    });

    // Wait until the transaction is open and writing, and still is HOLD later.
    let deadline = Instant::now() + START_WITHIN;
    let mut open_since: Option<Instant> = None;
    loop {
        if post.is_finished() {
            let _ = server.child.start_kill();
            let answer = post.await.expect("POST task");
            assert!(
                matches!(&answer, Ok((200, _))),
                "[{b}] the {size}-entry transaction failed: {}",
                describe(&answer)
            );
            return Attempt::CommittedFirst("its answer arrived before the kill".into());
        }
        let open = testkit::write_in_progress(url)
            .await
            .unwrap_or_else(|e| panic!("[{b}] probing the database: {e}"));
        match (open, open_since) {
            (true, Some(t)) if t.elapsed() >= HOLD => break,
            (true, None) => open_since = Some(Instant::now()),
            (false, Some(_)) => {
                // Open, then closed: it ended (committed or failed) before HOLD. Let the
                // answer say which.
                let answer = post.await.expect("POST task");
                let _ = server.child.start_kill();
                assert!(
                    matches!(&answer, Ok((200, _))),
                    "[{b}] the {size}-entry transaction failed: {}",
                    describe(&answer)
                );
                return Attempt::CommittedFirst("it committed within HOLD".into());
            }
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "[{b}] the {size}-entry transaction did not start writing within {START_WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let open_for = open_since.map(|t| t.elapsed()).unwrap_or_default();
    server
        .child
        .start_kill()
        .unwrap_or_else(|e| panic!("[{b}] SIGKILL: {e}"));
    let status = server.child.wait().await.expect("wait for fhirdir");
    assert!(
        !status.success(),
        "[{b}] fhirdir exited normally: {status:?}"
    );
    let answer = post.await.expect("POST task");
    if let Ok((code, text)) = &answer {
        // The answer was complete before the process died: the commit won the race.
        assert_eq!(*code, 200, "[{b}] the transaction answered {code}: {text}");
        return Attempt::CommittedFirst("its answer arrived just before the kill".into());
    }

    let server = BinaryServer::start(url, b).await;
    let fhir = format!("{}/fhir/{tenant}", server.base);
    wait_ready(&http, &server.base, b).await;
    let visible = visible_ids(&http, &fhir, b).await;
    let from_tx: usize = visible.iter().map(|(_, ids)| ids.len()).sum::<usize>() - CONTROLS.len();
    if from_tx == size {
        return Attempt::CommittedFirst("all of it is visible after the restart".into());
    }
    assert_eq!(
        from_tx, 0,
        "[{b}] {from_tx} of the {size} resources of a transaction killed before its commit \
         are visible after the restart: {visible:?}"
    );
    assert_nothing_visible(&http, &fhir, b).await;
    Attempt::RolledBack(open_for)
}

/// `fhirdir tenant create NAME` on the same database (served at once by the running server).
fn create_tenant(url: &str, b: &str, tenant: &str) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fhirdir"))
        .args(["tenant", "create", tenant, "--database", url])
        .env_remove("FHIRDIR_CONFIG")
        .output()
        .expect("run fhirdir tenant create");
    assert!(
        out.status.success(),
        "[{b}] fhirdir tenant create {tenant}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn describe(answer: &reqwest::Result<(u16, String)>) -> String {
    match answer {
        Ok((code, text)) => format!("{code} {}", &text[..text.len().min(300)]),
        Err(e) => format!("transport error: {e}"),
    }
}

async fn put(http: &reqwest::Client, fhir: &str, b: &str, resource: &Value) {
    let url = format!(
        "{fhir}/{}/{}",
        resource["resourceType"].as_str().unwrap_or_default(),
        resource["id"].as_str().unwrap_or_default()
    );
    let r = http
        .put(&url)
        .header("content-type", "application/fhir+json")
        .body(resource.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("[{b}] PUT {url}: {e}"));
    let code = r.status().as_u16();
    assert_eq!(
        code,
        201,
        "[{b}] PUT {url}: {}",
        r.text().await.unwrap_or_default()
    );
}

async fn get(http: &reqwest::Client, url: &str, b: &str) -> (u16, Value) {
    let r = http
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("[{b}] GET {url}: {e}"));
    let code = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    assert_ne!(code, 500, "[{b}] GET {url}: {text}");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    (code, body)
}

async fn wait_ready(http: &reqwest::Client, base: &str, b: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await {
            if r.status().as_u16() == 200 {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "[{b}] not ready after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The ids of every match of `GET {fhir}/{query}`, following `next` links.
async fn search_ids(http: &reqwest::Client, fhir: &str, query: &str, b: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let mut next = Some(format!("{fhir}/{query}"));
    while let Some(url) = next.take() {
        let (code, page) = get(http, &url, b).await;
        assert_eq!(code, 200, "[{b}] GET {url}: {page}");
        for e in entries(&page) {
            if e["search"]["mode"] != "include" {
                ids.insert(format!(
                    "{}/{}",
                    e["resource"]["resourceType"].as_str().unwrap_or_default(),
                    e["resource"]["id"].as_str().unwrap_or_default()
                ));
            }
        }
        next = link(&page, "next");
    }
    ids
}

/// Every resource of the transaction's types in the tenant, by type.
async fn visible_ids(
    http: &reqwest::Client,
    fhir: &str,
    b: &str,
) -> Vec<(&'static str, BTreeSet<String>)> {
    let mut out = Vec::new();
    for (rtype, _) in CONTROLS {
        let ids = search_ids(http, fhir, &format!("{rtype}?_count=1000"), b).await;
        out.push((rtype, ids));
    }
    out
}

/// After the restart: only the control resources exist, by every route a client has.
async fn assert_nothing_visible(http: &reqwest::Client, fhir: &str, b: &str) {
    let only = |rtype: &str, id: &str| BTreeSet::from([format!("{rtype}/{id}")]);
    // Every search below finds its control resource and nothing of the transaction.
    let searches: Vec<(String, BTreeSet<String>)> = vec![
        ("Organization".into(), only("Organization", "ctl-org")),
        (
            format!("Practitioner?family={MARK}"),
            only("Practitioner", "ctl-prac"),
        ),
        (
            format!("Organization?name={MARK}"),
            only("Organization", "ctl-org"),
        ),
        (format!("Location?name={MARK}"), only("Location", "ctl-loc")),
        (
            format!("Organization?identifier={NPI}|"),
            only("Organization", "ctl-org"),
        ),
        (
            format!("Location?near={LAT}|{LON}|50|km"),
            only("Location", "ctl-loc"),
        ),
        (
            "PractitionerRole?practitioner:missing=false".into(),
            only("PractitionerRole", "ctl-role"),
        ),
        (
            format!("PractitionerRole?practitioner.family={MARK}"),
            only("PractitionerRole", "ctl-role"),
        ),
        (
            format!("Practitioner?_has:PractitionerRole:practitioner:organization.name={MARK}"),
            only("Practitioner", "ctl-prac"),
        ),
        ("Endpoint?status=active".into(), only("Endpoint", "ctl-ep")),
    ];
    for (query, want) in searches {
        let got = search_ids(http, fhir, &query, b).await;
        assert_eq!(got, want, "[{b}] GET {fhir}/{query} after the restart");
    }
    let tx_only = [
        format!("Organization?identifier={NPI}|tx0"),
        "PractitionerRole?practitioner=Practitioner/tx-0".to_owned(),
        "Practitioner?_id=tx-0,tx-1".to_owned(),
    ];
    for query in &tx_only {
        let got = search_ids(http, fhir, query, b).await;
        assert!(got.is_empty(), "[{b}] GET {fhir}/{query}: {got:?}");
    }

    // Reads and instance history of the transaction's client-chosen ids: gone. (The history
    // of an id that never existed is an empty Bundle here; 404 would do as well.)
    for id in ["tx-0", "tx-1", "tx-99"] {
        let (code, body) = get(http, &format!("{fhir}/Practitioner/{id}"), b).await;
        assert_eq!(
            code, 404,
            "[{b}] GET Practitioner/{id} after the restart: {body}"
        );
        let (code, body) = get(http, &format!("{fhir}/Practitioner/{id}/_history"), b).await;
        assert!(
            code == 404 || (code == 200 && entries(&body).is_empty() && body["total"] == 0),
            "[{b}] GET Practitioner/{id}/_history after the restart: {code} {body}"
        );
    }

    // History holds the control resources' creations and nothing else.
    let mut history = Vec::new();
    let mut next = Some(format!("{fhir}/_history?_count=1000"));
    while let Some(url) = next.take() {
        let (code, page) = get(http, &url, b).await;
        assert_eq!(code, 200, "[{b}] GET {url}: {page}");
        for e in entries(&page) {
            history.push(format!(
                "{}/{}",
                e["resource"]["resourceType"].as_str().unwrap_or_default(),
                e["resource"]["id"].as_str().unwrap_or_default()
            ));
        }
        next = link(&page, "next");
    }
    history.sort();
    let mut want: Vec<String> = CONTROLS.iter().map(|(t, id)| format!("{t}/{id}")).collect();
    want.sort();
    assert_eq!(history, want, "[{b}] tenant history after the restart");
}

/// A control resource: the same shape as the transaction's, committed before it.
fn control(rtype: &str, id: &str) -> Value {
    let mut r = group_member(rtype, "ctl", 0.0);
    r["id"] = json!(id);
    match rtype {
        "Location" => r["managingOrganization"] = json!({"reference": "Organization/ctl-org"}),
        "PractitionerRole" => {
            r["practitioner"] = json!({"reference": "Practitioner/ctl-prac"});
            r["organization"] = json!({"reference": "Organization/ctl-org"});
            r["location"] = json!([{"reference": "Location/ctl-loc"}]);
            r["endpoint"] = json!([{"reference": "Endpoint/ctl-ep"}]);
        }
        "Endpoint" => r["managingOrganization"] = json!({"reference": "Organization/ctl-org"}),
        _ => {}
    }
    r
}

/// One resource of a directory group: `tag` names the group in identifiers and names;
/// `offset` moves the Location a little.
fn group_member(rtype: &str, tag: &str, offset: f64) -> Value {
    match rtype {
        "Organization" => json!({
            "resourceType": "Organization",
            "active": true,
            "identifier": [{"system": NPI, "value": tag}],
            "name": format!("{MARK} Clinic {tag}")
        }),
        "Location" => json!({
            "resourceType": "Location",
            "status": "active",
            "name": format!("{MARK} Office {tag}"),
            "position": {"latitude": LAT + offset, "longitude": LON - offset}
        }),
        "Practitioner" => json!({
            "resourceType": "Practitioner",
            "active": true,
            "identifier": [{"system": NPI, "value": format!("p{tag}")}],
            "name": [{"family": MARK, "given": [format!("Pat {tag}")]}]
        }),
        "PractitionerRole" => json!({
            "resourceType": "PractitionerRole",
            "active": true,
            "code": [{"coding": [{"system": "http://nucc.org/provider-taxonomy", "code": "207Q00000X"}]}]
        }),
        "Endpoint" => json!({
            "resourceType": "Endpoint",
            "status": "active",
            "connectionType": {"system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type", "code": "hl7-fhir-rest"},
            "payloadType": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/endpoint-payload-type", "code": "any"}]}],
            "address": format!("https://{tag}.example.org/fhir")
        }),
        other => panic!("no group member of type {other}"),
    }
}

/// A `urn:uuid` for entry `kind` of group `i` (distinct for every entry).
fn urn(kind: u32, i: usize) -> String {
    format!("urn:uuid:{kind:08x}-0000-4000-8000-{i:012x}")
}

/// A transaction of `size` entries in groups of five (Organization, Location, Practitioner,
/// PractitionerRole, Endpoint) linked by `urn:uuid` references; Practitioners are PUT with
/// the ids `tx-{i}`, Organizations are conditional creates on their NPI.
fn transaction(size: usize) -> Value {
    let mut out = Vec::with_capacity(size);
    for i in 0..size / CONTROLS.len() {
        let tag = format!("tx{i}");
        let offset = (i % 50) as f64 * 0.001;
        let (org, loc, role, ep) = (urn(1, i), urn(2, i), urn(4, i), urn(5, i));
        let prac = format!("Practitioner/tx-{i}");

        let o = group_member("Organization", &tag, offset);
        let mut l = group_member("Location", &tag, offset);
        l["managingOrganization"] = json!({"reference": org});
        let mut p = group_member("Practitioner", &tag, offset);
        p["id"] = json!(format!("tx-{i}"));
        let mut r = group_member("PractitionerRole", &tag, offset);
        r["practitioner"] = json!({"reference": prac});
        r["organization"] = json!({"reference": org});
        r["location"] = json!([{"reference": loc}]);
        r["endpoint"] = json!([{"reference": ep}]);
        let mut e = group_member("Endpoint", &tag, offset);
        e["managingOrganization"] = json!({"reference": org});

        out.push(json!({"fullUrl": org, "resource": o, "request": {
            "method": "POST", "url": "Organization", "ifNoneExist": format!("identifier={NPI}|{tag}")}}));
        out.push(json!({"fullUrl": loc, "resource": l, "request": {"method": "POST", "url": "Location"}}));
        out.push(json!({"resource": p, "request": {"method": "PUT", "url": prac}}));
        out.push(json!({"fullUrl": role, "resource": r, "request": {"method": "POST", "url": "PractitionerRole"}}));
        out.push(
            json!({"fullUrl": ep, "resource": e, "request": {"method": "POST", "url": "Endpoint"}}),
        );
    }
    json!({"resourceType": "Bundle", "type": "transaction", "entry": out})
}
