//! The database going away and coming back, on Postgres (reached through a TCP proxy the
//! test can cut): `/healthz` stays 200, `/readyz` and FHIR requests answer 503 with an
//! OperationOutcome (never 500, never a hang), and service resumes when the database returns.
//! SQLite is embedded and cannot become unreachable this way, so it is not run here.
//!
//! How long a request waits for the database is bounded by the store's acquire timeout
//! (`fhirdir serve --db-acquire-timeout SECONDS`, default 5); the 2-second test runs the real
//! binary with 1.

mod common;

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{practitioner, raw_client, spawn_app_on, Resp, TestApp};
use server::ServerConfig;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// A TCP proxy to Postgres whose connections can all be cut at once.
struct Proxy {
    addr: SocketAddr,
    upstream: String,
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Proxy {
    async fn start(upstream: &str, addr: SocketAddr) -> Proxy {
        // Restarting on the address of a proxy just cut: `abort` drops the old listener
        // asynchronously, so its port can be busy for a moment.
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(addr).await {
                Ok(l) => break l,
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && tries < 100 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("binding the proxy: {e}"),
            }
        };
        let proxy = Proxy {
            addr: listener.local_addr().expect("proxy address"),
            upstream: upstream.to_owned(),
            tasks: Arc::default(),
        };
        let tasks = proxy.tasks.clone();
        let upstream = proxy.upstream.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().expect("tasks").push(conn.abort_handle());
            }
        });
        proxy
            .tasks
            .lock()
            .expect("tasks")
            .push(accept.abort_handle());
        proxy
    }

    /// Closes the listening port and every proxied connection.
    fn cut(&self) {
        for t in self.tasks.lock().expect("tasks").drain(..) {
            t.abort();
        }
    }
}

/// `url` with its `host:port` replaced by `addr`.
fn via(url: &str, addr: SocketAddr) -> (String, String) {
    let after_scheme = url.find("://").map(|i| i + 3).expect("URL scheme");
    let host_start = url[after_scheme..]
        .find('@')
        .map_or(after_scheme, |i| after_scheme + i + 1);
    let host_end = url[host_start..]
        .find('/')
        .map_or(url.len(), |i| host_start + i);
    let upstream = url[host_start..host_end].to_owned();
    (
        format!("{}{addr}{}", &url[..host_start], &url[host_end..]),
        upstream,
    )
}

/// Sends GET `path` and returns (status, elapsed), failing if it takes longer than `budget`.
async fn timed_get(app: &TestApp, path: &str, budget: Duration) -> (common::Resp, Duration) {
    let start = Instant::now();
    let r = tokio::time::timeout(budget, app.get(path))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "[{}] GET {path} took over {budget:?} with the database down",
                app.backend
            )
        });
    (r, start.elapsed())
}

/// A server on a fresh Postgres database reached through a [`Proxy`].
async fn app_behind_proxy() -> Option<(testkit::TestDb, Proxy, String, TestApp)> {
    let Ok(db) = testkit::postgres_db().await else {
        eprintln!("POSTGRES NOT AVAILABLE: skipping the database-down tests");
        return None;
    };
    let (_, upstream) = via(&db.url, "127.0.0.1:1".parse().expect("addr"));
    let proxy = Proxy::start(&upstream, "127.0.0.1:0".parse().expect("addr")).await;
    let (url, _) = via(&db.url, proxy.addr);
    let app = spawn_app_on(&url, "postgres", ServerConfig::auth_off()).await;
    app.put(
        "/fhir/default/Practitioner/p",
        &practitioner(Some("p"), "Up"),
    )
    .await
    .status(201);
    app.get("/readyz").await.status(200);
    Some((db, proxy, upstream, app))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_stays_up_and_service_resumes_when_the_database_returns() {
    let Some((_db, proxy, upstream, app)) = app_behind_proxy().await else {
        return;
    };
    proxy.cut();
    let (r, _) = timed_get(&app, "/healthz", Duration::from_secs(2)).await;
    r.status(200);

    // The database comes back on the same address; broken pooled connections are replaced.
    let proxy = Proxy::start(&upstream, proxy.addr).await;
    let (r, _) = timed_get(&app, "/readyz", Duration::from_secs(10)).await;
    r.status(200);
    let r = app.get("/fhir/default/Practitioner/p").await.status(200);
    assert_eq!(r.json()["name"][0]["family"], "Up", "{}", r.what);
    app.put(
        "/fhir/default/Practitioner/p",
        &practitioner(Some("p"), "Again"),
    )
    .await
    .status(200);
    drop(app);
    proxy.cut();
}

/// `fhirdir serve --db-acquire-timeout 1` on `url`; returns the child and its base URL.
async fn start_binary(url: &str) -> (tokio::process::Child, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_fhirdir"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database", url])
        .env("FHIRDIR_AUTH", "off")
        .args(["--db-acquire-timeout", "1"])
        .env("FHIRDIR_LOG", "off")
        .env_remove("FHIRDIR_CONFIG")
        .env_remove("FHIRDIR_DB_ACQUIRE_TIMEOUT")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawning fhirdir");
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    let base = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.expect("reading fhirdir stdout") {
            if let Some(rest) = line.strip_prefix("fhirdir listening on ") {
                return rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
            }
        }
        panic!("[postgres] fhirdir exited before announcing its address");
    })
    .await
    .expect("[postgres] fhirdir did not start within 30 s");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_gives_503_within_two_seconds() {
    let Ok(db) = testkit::postgres_db().await else {
        eprintln!("POSTGRES NOT AVAILABLE: skipping the database-down tests");
        return;
    };
    let (_, upstream) = via(&db.url, "127.0.0.1:1".parse().expect("addr"));
    let proxy = Proxy::start(&upstream, "127.0.0.1:0".parse().expect("addr")).await;
    let (url, _) = via(&db.url, proxy.addr);
    let (_child, base) = start_binary(&url).await;
    let http = raw_client();
    let get = |path: &str| {
        let (http, url) = (http.clone(), format!("{base}{path}"));
        async move {
            let what = format!("[postgres] GET {url}");
            let resp = http
                .get(&url)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            Resp::read(what, resp).await
        }
    };
    get("/fhir/default/metadata").await.status(200);
    get("/readyz").await.status(200);

    proxy.cut();
    let budget = Duration::from_secs(2);
    for path in [
        "/readyz",
        "/fhir/default/Practitioner/p",
        "/fhir/default/metadata",
        "/fhir/default/Practitioner?name=up",
    ] {
        let start = Instant::now();
        let r = tokio::time::timeout(budget, get(path))
            .await
            .unwrap_or_else(|_| {
                panic!("[postgres] GET {path} took over {budget:?} with the database down")
            });
        if path == "/readyz" {
            r.status(503);
        } else {
            r.outcome(503, "transient");
        }
        eprintln!(
            "[postgres] GET {path} with the database down: 503 in {} ms",
            start.elapsed().as_millis()
        );
    }
}
