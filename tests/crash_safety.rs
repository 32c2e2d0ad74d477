//! Crash safety and graceful shutdown of the real `fhirdir` binary, once per backend:
//! - SIGKILL during a load of concurrent writes, restart on the same database: every
//!   acknowledged write is there with its content, and nothing is half-written;
//! - SIGTERM while requests are in flight: they complete with 2xx and the process exits 0.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{entries, etag_version, link, practitioner, raw_client, BinaryServer};
use futures::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CLIENTS: usize = 6;
/// Ids each client updates in turn (others are created by POST).
const IDS_PER_CLIENT: usize = 10;
/// Kill once this many writes were acknowledged (or after `MAX_LOAD`).
const KILL_AFTER_ACKS: usize = 1000;
const MAX_LOAD: Duration = Duration::from_secs(5);

/// Acknowledged writes: id -> version -> the family name written.
type Acks = Arc<Mutex<BTreeMap<String, BTreeMap<i64, String>>>>;

/// One client's write loop: PUT its own ids in turn, every fourth write a POST; stops at the
/// first transport error (the server is gone) or when `stop` is set.
async fn writer(
    base: String,
    client: usize,
    acks: Acks,
    count: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) {
    let http = raw_client();
    for seq in 0usize.. {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let family = format!("c{client}s{seq}");
        let req = if seq % 4 == 3 {
            http.post(format!("{base}/fhir/default/Practitioner"))
                .body(practitioner(None, &family).to_string())
        } else {
            let id = format!("c{client}-{}", seq % IDS_PER_CLIENT);
            http.put(format!("{base}/fhir/default/Practitioner/{id}"))
                .body(practitioner(Some(&id), &family).to_string())
        };
        let Ok(resp) = req
            .header("content-type", "application/fhir+json")
            .send()
            .await
        else {
            return;
        };
        let status = resp.status().as_u16();
        let Ok(body) = resp.bytes().await else { return };
        assert!(
            status == 200 || status == 201,
            "write {family} answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
        let v: Value = serde_json::from_slice(&body).expect("write response is JSON");
        let id = v["id"].as_str().expect("id").to_owned();
        let version: i64 = v["meta"]["versionId"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("versionId");
        acks.lock()
            .expect("acks")
            .entry(id)
            .or_default()
            .insert(version, family);
        count.fetch_add(1, Ordering::Relaxed);
    }
}

/// Every version in the system history: "Practitioner/{id}" -> version -> family name.
async fn all_versions(base: &str, backend: &str) -> BTreeMap<String, BTreeMap<i64, String>> {
    let http = raw_client();
    let mut out: BTreeMap<String, BTreeMap<i64, String>> = BTreeMap::new();
    let mut next = Some(format!("{base}/fhir/default/_history?_count=1000"));
    while let Some(url) = next.take() {
        let resp = http.get(&url).send().await.expect("history request");
        assert_eq!(resp.status().as_u16(), 200, "[{backend}] {url}");
        let page: Value = resp
            .json()
            .await
            .unwrap_or_else(|e| panic!("[{backend}] history page is not JSON: {e}"));
        for e in entries(&page) {
            // A POST entry's request names only the type; the fullUrl always has the id.
            let full = e["fullUrl"].as_str().unwrap_or_default();
            let key = format!(
                "Practitioner/{}",
                full.rsplit('/').next().unwrap_or_default()
            );
            let v = etag_version(e["response"]["etag"].as_str().unwrap_or_default());
            let resource = &e["resource"];
            assert_eq!(
                resource["meta"]["versionId"],
                v.to_string(),
                "[{backend}] {key} v{v}: stored body disagrees: {e}"
            );
            let family = resource["name"][0]["family"]
                .as_str()
                .unwrap_or_else(|| panic!("[{backend}] {key} v{v} is not whole: {e}"))
                .to_owned();
            assert!(
                out.entry(key.clone())
                    .or_default()
                    .insert(v, family)
                    .is_none(),
                "[{backend}] {key} v{v} listed twice"
            );
        }
        next = link(&page, "next");
    }
    out
}

async fn wait_ready(base: &str, backend: &str) {
    let http = raw_client();
    for _ in 0..100 {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await {
            if r.status().as_u16() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("[{backend}] /readyz never answered 200 after the restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_sigkill_and_nothing_is_half_written() {
    for db in common::test_databases().await {
        let b = db.backend;
        let mut server = BinaryServer::start(&db.url, b).await;
        let acks: Acks = Arc::default();
        let count = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..CLIENTS)
            .map(|c| {
                tokio::spawn(writer(
                    server.base.clone(),
                    c,
                    acks.clone(),
                    count.clone(),
                    stop.clone(),
                ))
            })
            .collect();
        let start = std::time::Instant::now();
        while count.load(Ordering::Relaxed) < KILL_AFTER_ACKS && start.elapsed() < MAX_LOAD {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        server.child.start_kill().expect("SIGKILL");
        let status = server.child.wait().await.expect("wait");
        assert!(!status.success(), "[{b}] the server survived SIGKILL?");
        for w in writers {
            w.await
                .unwrap_or_else(|e| panic!("[{b}] a writer failed: {e}"));
        }
        stop.store(true, Ordering::Relaxed);
        let acked = acks.lock().expect("acks").clone();
        let total: usize = acked.values().map(BTreeMap::len).sum();
        assert!(
            total >= 100,
            "[{b}] only {total} writes before the kill: the load is too small to mean anything"
        );

        let server = BinaryServer::start(&db.url, b).await;
        wait_ready(&server.base, b).await;
        let http = raw_client();

        // Whatever is in history is whole: versions 1..=n without gaps, every body parses,
        // and the current version is the newest in history.
        let stored = all_versions(&server.base, b).await;
        let reads = stored.iter().map(|(key, versions)| {
            let http = http.clone();
            let url = format!("{}/fhir/default/{key}", server.base);
            async move {
                let newest = *versions.keys().last().expect("non-empty");
                let listed: Vec<i64> = versions.keys().copied().collect();
                assert_eq!(
                    listed,
                    (1..=newest).collect::<Vec<_>>(),
                    "[{b}] {key} history has gaps"
                );
                let r = http.get(&url).send().await.expect("read");
                assert_eq!(
                    r.status().as_u16(),
                    200,
                    "[{b}] {key} unreadable after restart"
                );
                let tag = r.headers()["etag"].to_str().unwrap_or_default().to_owned();
                let body: Value = r
                    .json()
                    .await
                    .unwrap_or_else(|e| panic!("[{b}] {key} is not JSON: {e}"));
                assert_eq!(
                    etag_version(&tag),
                    newest,
                    "[{b}] {key}: ETag {tag} but history ends at {newest}"
                );
                assert_eq!(
                    body["meta"]["versionId"],
                    newest.to_string(),
                    "[{b}] {key}: {body}"
                );
                assert_eq!(
                    format!("Practitioner/{}", body["id"].as_str().unwrap_or_default()),
                    *key,
                    "[{b}] {body}"
                );
                assert_eq!(
                    body["name"][0]["family"],
                    versions[&newest].as_str(),
                    "[{b}] {key}: read and history disagree"
                );
            }
        });
        futures::stream::iter(reads)
            .buffer_unordered(8)
            .collect::<Vec<()>>()
            .await;

        // Every acknowledged write is there, with the content that was acknowledged; every
        // tenth is also read back by vread.
        let mut vreads = Vec::new();
        let mut checked = 0usize;
        for (id, versions) in &acked {
            let key = format!("Practitioner/{id}");
            let have = stored
                .get(&key)
                .unwrap_or_else(|| panic!("[{b}] acknowledged {key} is lost"));
            for (v, family) in versions {
                let got = have
                    .get(v)
                    .unwrap_or_else(|| panic!("[{b}] acknowledged {key} v{v} is lost"));
                assert_eq!(got, family, "[{b}] {key} v{v} content");
                checked += 1;
                if checked % 10 == 1 {
                    vreads.push((
                        format!("{}/fhir/default/{key}/_history/{v}", server.base),
                        family.clone(),
                    ));
                }
            }
        }
        let checks = vreads.into_iter().map(|(url, family)| {
            let http = http.clone();
            async move {
                let r = http.get(&url).send().await.expect("vread");
                assert_eq!(r.status().as_u16(), 200, "[{b}] {url}");
                let body: Value = r.json().await.expect("JSON");
                assert_eq!(body["name"][0]["family"], family.as_str(), "[{b}] {url}");
            }
        });
        futures::stream::iter(checks)
            .buffer_unordered(8)
            .collect::<Vec<()>>()
            .await;
        eprintln!(
            "[{b}] SIGKILL after {total} acknowledged writes; {} resources verified",
            stored.len()
        );
    }
}

/// Sends the head and the first half of a PUT, returning the open connection and the rest.
async fn start_slow_put(base: &str, id: &str) -> (tokio::net::TcpStream, Vec<u8>) {
    let body = practitioner(Some(id), "Slow").to_string().into_bytes();
    let head = format!(
        "PUT /fhir/default/Practitioner/{id} HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .expect("connect");
    stream.write_all(head.as_bytes()).await.expect("write head");
    let half = body.len() / 2;
    stream.write_all(&body[..half]).await.expect("write half");
    stream.flush().await.expect("flush");
    (stream, body[half..].to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_lets_in_flight_requests_finish_and_exits_zero() {
    for db in common::test_databases().await {
        let b = db.backend;
        let mut server = BinaryServer::start(&db.url, b).await;
        let acks: Acks = Arc::default();
        let count = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..3)
            .map(|c| {
                tokio::spawn(writer(
                    server.base.clone(),
                    c,
                    acks.clone(),
                    count.clone(),
                    stop.clone(),
                ))
            })
            .collect();
        let (mut slow, rest) = start_slow_put(&server.base, "slow").await;
        tokio::time::sleep(Duration::from_millis(300)).await;

        let pid = server.pid().to_string();
        let kill = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        assert!(kill.success(), "[{b}] kill -TERM {pid} failed");
        tokio::time::sleep(Duration::from_millis(300)).await;

        // The request that was half sent when SIGTERM arrived completes normally.
        slow.write_all(&rest)
            .await
            .unwrap_or_else(|e| panic!("[{b}] the in-flight connection was dropped: {e}"));
        let mut raw = Vec::new();
        tokio::time::timeout(Duration::from_secs(20), slow.read_to_end(&mut raw))
            .await
            .unwrap_or_else(|_| panic!("[{b}] no answer to the in-flight request"))
            .unwrap_or_else(|e| panic!("[{b}] reading the in-flight answer: {e}"));
        let text = String::from_utf8_lossy(&raw).into_owned();
        assert!(
            text.starts_with("HTTP/1.1 201"),
            "[{b}] in-flight PUT answered: {text}"
        );
        let json_start = text.find("\r\n\r\n").map(|i| i + 4).unwrap_or(0);
        let body: Value = serde_json::from_str(&text[json_start..])
            .unwrap_or_else(|e| panic!("[{b}] in-flight answer body: {e}: {text}"));
        assert_eq!(body["id"], "slow", "[{b}] {body}");

        let status = tokio::time::timeout(Duration::from_secs(20), server.child.wait())
            .await
            .unwrap_or_else(|_| panic!("[{b}] fhirdir did not exit within 20 s of SIGTERM"))
            .expect("wait");
        assert_eq!(
            status.code(),
            Some(0),
            "[{b}] exit status after SIGTERM: {status:?}"
        );
        // The writers assert that every answer they got was 2xx; they stop at the first
        // refused connection.
        for w in writers {
            w.await
                .unwrap_or_else(|e| panic!("[{b}] a writer got a bad answer during shutdown: {e}"));
        }
        let acked = acks.lock().expect("acks").clone();
        assert!(
            count.load(Ordering::Relaxed) > 0,
            "[{b}] no writes completed"
        );

        // After a restart, everything acknowledged during the shutdown is there.
        let server = BinaryServer::start(&db.url, b).await;
        wait_ready(&server.base, b).await;
        let http = raw_client();
        let slow = http
            .get(format!("{}/fhir/default/Practitioner/slow", server.base))
            .send()
            .await
            .expect("read");
        assert_eq!(
            slow.status().as_u16(),
            200,
            "[{b}] the in-flight write is lost"
        );
        for (id, versions) in &acked {
            let newest = *versions.keys().last().expect("non-empty");
            let r = http
                .get(format!("{}/fhir/default/Practitioner/{id}", server.base))
                .send()
                .await
                .expect("read");
            assert_eq!(r.status().as_u16(), 200, "[{b}] {id} lost");
            let v: Value = r.json().await.expect("JSON");
            assert_eq!(
                v["meta"]["versionId"],
                newest.to_string(),
                "[{b}] {id}: {v}"
            );
            assert_eq!(
                v["name"][0]["family"],
                versions[&newest].as_str(),
                "[{b}] {id}: {v}"
            );
        }
    }
}
