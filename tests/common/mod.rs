//! Shared harness of the black-box HTTP tests: a real fhirdir server on port 0 per test and
//! per database backend, a raw response type whose assertions name the backend and the request,
//! and small FHIR helpers (OperationOutcome checks, history paging).
//!
//! Every test runs once per database returned by [`testkit::test_databases`]:
//!
//! ```ignore
//! for db in testkit::test_databases().await {
//!     let app = spawn_app(&db, ServerConfig::auth_off()).await;
//!     app.get("/fhir/default/metadata").await.status(200);
//! }
//! ```

#![allow(
    dead_code,
    unused_imports,
    reason = "each test binary uses a different subset of the harness"
)]

use std::collections::HashSet;
use std::process::Stdio;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};
use server::ServerConfig;
use testkit::TestDb;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::oneshot;

pub use testkit::test_databases;

/// The FHIR JSON media type.
pub const FHIR_JSON: &str = "application/fhir+json";

/// A fhirdir server running inside the test process on an ephemeral port; it shuts down
/// (gracefully) when dropped.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub base: String,
    /// A client that neither decompresses nor sends `Accept-Encoding`, so tests see the
    /// response exactly as the server sent it.
    pub client: reqwest::Client,
    /// `"sqlite"` or `"postgres"`; every assertion message starts with it.
    pub backend: &'static str,
    /// The database URL the server runs on (for a second server or the CLI).
    pub db_url: String,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The client every test uses: no automatic decompression, generous timeout.
pub fn raw_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_gzip()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("building the HTTP client")
}

/// Runs the real server (`server::serve`) in a tokio task on `127.0.0.1:0` over `db`.
pub async fn spawn_app(db: &TestDb, config: ServerConfig) -> TestApp {
    spawn_app_on(&db.url, db.backend, config).await
}

/// [`spawn_app`] on a database URL of the caller's (e.g. through a proxy).
pub async fn spawn_app_on(url: &str, backend: &'static str, config: ServerConfig) -> TestApp {
    spawn_app_with(url, backend, config, store::StoreOptions::default()).await
}

/// [`spawn_app_on`] with the store's options (pool size, statement timeout).
pub async fn spawn_app_with(
    url: &str,
    backend: &'static str,
    config: ServerConfig,
    options: store::StoreOptions,
) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding 127.0.0.1:0");
    spawn_app_listening(url, backend, config, options, listener).await
}

/// [`spawn_app_with`] on `listener` (a server started again where it listened before).
pub async fn spawn_app_listening(
    url: &str,
    backend: &'static str,
    config: ServerConfig,
    options: store::StoreOptions,
    listener: tokio::net::TcpListener,
) -> TestApp {
    let store = store::Store::connect(url, &options)
        .await
        .unwrap_or_else(|e| panic!("[{backend}] connecting to the test database: {e}"));
    let addr = listener.local_addr().expect("local address");
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(server::serve(listener, store, config, async move {
        let _ = rx.await;
    }));
    TestApp {
        base: format!("http://{addr}"),
        client: raw_client(),
        backend,
        db_url: url.to_owned(),
        shutdown: Some(tx),
    }
}

/// [`spawn_app`], keeping the server's state (to drive its jobs runner: pause, single
/// steps, leases).
pub async fn spawn_app_state(db: &TestDb, config: ServerConfig) -> (TestApp, server::AppState) {
    spawn_app_profiles(db, config, Default::default()).await
}

/// [`spawn_app_state`], validating against `profiles` (packages loaded at start, a package
/// cache).
pub async fn spawn_app_profiles(
    db: &TestDb,
    config: ServerConfig,
    profiles: services::validation::Library,
) -> (TestApp, server::AppState) {
    let store = store::Store::connect(&db.url, &store::StoreOptions::default())
        .await
        .unwrap_or_else(|e| panic!("[{}] connecting to the test database: {e}", db.backend));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    let state = server::app_state_with(store, config, addr, Vec::new(), profiles);
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(server::serve_state(listener, state.clone(), async move {
        let _ = rx.await;
    }));
    let app = TestApp {
        base: format!("http://{addr}"),
        client: raw_client(),
        backend: db.backend,
        db_url: db.url.clone(),
        shutdown: Some(tx),
    };
    (app, state)
}

/// A config with the admin API enabled under `token`.
pub fn admin_config(token: &str) -> ServerConfig {
    ServerConfig {
        admin_token: Some(token.to_owned()),
        ..ServerConfig::auth_off()
    }
}

impl TestApp {
    /// `{base}{path}`; `path` starts with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request on `path` (relative to the server root, or an absolute URL).
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            self.url(path)
        };
        self.client.request(method, url)
    }

    /// Sends `req` and reads the whole response.
    pub async fn send(&self, req: RequestBuilder) -> Resp {
        let req = req.build().expect("building the request");
        let what = format!("[{}] {} {}", self.backend, req.method(), req.url());
        let resp = self
            .client
            .execute(req)
            .await
            .unwrap_or_else(|e| panic!("{what}: request failed: {e}"));
        let r = Resp::read(what, resp).await;
        // No request in this suite may end in an internal error.
        assert_ne!(
            r.code,
            500,
            "{}: internal server error: {}",
            r.what,
            r.text()
        );
        r
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(self.request(Method::GET, path)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(self.request(Method::DELETE, path)).await
    }

    /// `PUT` of a JSON body as `application/fhir+json`.
    pub async fn put(&self, path: &str, body: &Value) -> Resp {
        self.send(fhir_body(self.request(Method::PUT, path), body))
            .await
    }

    /// `PUT /fhir/default/{type}/{id}` of `resource`; asserts 200 or 201.
    pub async fn put_resource(&self, resource: &Value) {
        let path = format!(
            "/fhir/default/{}/{}",
            resource["resourceType"].as_str().unwrap_or_default(),
            resource["id"].as_str().unwrap_or_default()
        );
        let code = self.put(&path, resource).await.code;
        assert!(
            code == 200 || code == 201,
            "[{}] PUT {path}: {code}",
            self.backend
        );
    }

    /// `POST` of a JSON body as `application/fhir+json`.
    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.send(fhir_body(self.request(Method::POST, path), body))
            .await
    }

    /// Creates `body` with `POST /fhir/{tenant}/{type}`, asserts 201 and returns the new id.
    pub async fn create(&self, tenant: &str, body: &Value) -> String {
        let rtype = body["resourceType"].as_str().expect("resourceType");
        let r = self
            .post(&format!("/fhir/{tenant}/{rtype}"), body)
            .await
            .status(201);
        r.json()["id"]
            .as_str()
            .expect("id of the created resource")
            .to_owned()
    }

    /// Follows `next` links from `first_path` to the end; returns every page's Bundle.
    pub async fn history_pages(&self, first_path: &str) -> Vec<Value> {
        let mut pages = Vec::new();
        let mut next = Some(first_path.to_owned());
        while let Some(url) = next.take() {
            let page = self.get(&url).await.status(200).json();
            assert_eq!(page["resourceType"], "Bundle", "[{}] {url}", self.backend);
            if let Some(n) = link(&page, "next") {
                assert!(
                    n.starts_with(&self.base),
                    "[{}] next link {n} is not absolute on {}",
                    self.backend,
                    self.base
                );
                next = Some(n);
            }
            pages.push(page);
            assert!(
                pages.len() < 10_000,
                "[{}] history paging never ends",
                self.backend
            );
        }
        pages
    }

    /// The version ids (newest first) of one instance's history, following every page.
    pub async fn instance_versions(&self, tenant: &str, rtype: &str, id: &str) -> Vec<i64> {
        let pages = self
            .history_pages(&format!("/fhir/{tenant}/{rtype}/{id}/_history?_count=1000"))
            .await;
        pages
            .iter()
            .flat_map(entries)
            .map(|e| etag_version(e["response"]["etag"].as_str().unwrap_or_default()))
            .collect()
    }
}

/// Sets a JSON body with `Content-Type: application/fhir+json`.
pub fn fhir_body(req: RequestBuilder, body: &Value) -> RequestBuilder {
    req.header("content-type", FHIR_JSON).body(body.to_string())
}

/// A fully read response. Assertion helpers panic with the backend, method and URL.
pub struct Resp {
    /// `[backend] METHOD url`.
    pub what: String,
    pub code: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub async fn read(what: String, resp: reqwest::Response) -> Resp {
        let code = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("{what}: reading the body failed: {e}"))
            .to_vec();
        Resp {
            what,
            code,
            headers,
            body,
        }
    }

    /// The body as text, for messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts the status code; returns `self` for chaining.
    #[track_caller]
    pub fn status(self, expected: u16) -> Resp {
        assert_eq!(
            self.code,
            expected,
            "{}: expected status {expected}, got {}; body: {}",
            self.what,
            self.code,
            self.text()
        );
        self
    }

    /// The body parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{}: body is not JSON ({e}); status {}, body: {:?}",
                self.what,
                self.code,
                self.text()
            )
        })
    }

    /// A header as text, if present.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("header is text").to_owned())
    }

    /// A header that must be present.
    #[track_caller]
    pub fn must_header(&self, name: &str) -> String {
        self.header(name).unwrap_or_else(|| {
            panic!(
                "{}: no {name} header; headers: {:?}",
                self.what, self.headers
            )
        })
    }

    /// Asserts the answer is an OperationOutcome with status `code` whose first error issue has
    /// `issue_code` and a non-empty diagnostic; returns the diagnostic.
    #[track_caller]
    pub fn outcome(&self, code: u16, issue_code: &str) -> String {
        assert_eq!(
            self.code,
            code,
            "{}: expected status {code}, got {}; body: {}",
            self.what,
            self.code,
            self.text()
        );
        self.assert_fhir_json();
        let oo = self.json();
        assert_eq!(
            oo["resourceType"], "OperationOutcome",
            "{}: not an OperationOutcome: {oo}",
            self.what
        );
        let issue = &oo["issue"][0];
        assert_eq!(issue["severity"], "error", "{}: {oo}", self.what);
        assert_eq!(
            issue["code"], issue_code,
            "{}: wrong issue code: {oo}",
            self.what
        );
        let diag = issue["diagnostics"].as_str().unwrap_or_default().to_owned();
        assert!(
            diag.trim().len() >= 10,
            "{}: the diagnostic is not a readable message: {oo}",
            self.what
        );
        diag
    }

    /// Asserts `Content-Type: application/fhir+json`.
    #[track_caller]
    pub fn assert_fhir_json(&self) {
        let ct = self.must_header("content-type");
        assert!(
            ct.starts_with(FHIR_JSON),
            "{}: content-type {ct:?} is not {FHIR_JSON}",
            self.what
        );
    }

    /// The version in the `ETag` header (`W/"n"`).
    #[track_caller]
    pub fn etag_version(&self) -> i64 {
        let tag = self.must_header("etag");
        assert!(
            tag.starts_with("W/\""),
            "{}: ETag {tag:?} is not weak W/\"n\"",
            self.what
        );
        etag_version(&tag)
    }
}

/// `W/"7"` -> 7; panics on anything else.
pub fn etag_version(tag: &str) -> i64 {
    tag.trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .unwrap_or_else(|_| panic!("{tag:?} is not a version ETag"))
}

/// The `url` of the Bundle link with `relation`.
pub fn link(bundle: &Value, relation: &str) -> Option<String> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == relation)
        .and_then(|l| l["url"].as_str())
        .map(str::to_owned)
}

/// The entries of a Bundle (empty when it has none).
pub fn entries(bundle: &Value) -> Vec<Value> {
    bundle["entry"].as_array().cloned().unwrap_or_default()
}

/// `(fullUrl, etag version)` of every entry of every page, asserting no entry repeats.
pub fn entry_keys(backend: &str, pages: &[Value]) -> Vec<(String, i64)> {
    let mut seen = HashSet::new();
    let mut keys = Vec::new();
    for e in pages.iter().flat_map(entries) {
        let key = (
            e["fullUrl"].as_str().unwrap_or_default().to_owned(),
            etag_version(e["response"]["etag"].as_str().unwrap_or_default()),
        );
        assert!(
            seen.insert(key.clone()),
            "[{backend}] history repeats {key:?}"
        );
        keys.push(key);
    }
    keys
}

/// A small Practitioner with `id` (omitted when `None`) and `family` name.
pub fn practitioner(id: Option<&str>, family: &str) -> Value {
    let mut p = json!({
        "resourceType": "Practitioner",
        "active": true,
        "name": [{"family": family, "given": ["Ada"]}]
    });
    if let Some(id) = id {
        p["id"] = json!(id);
    }
    p
}

/// A header value from text (for headers reqwest has no constant for).
pub fn hv(v: &str) -> HeaderValue {
    HeaderValue::from_str(v).expect("header value")
}

/// A header name from text.
pub fn hn(v: &str) -> HeaderName {
    HeaderName::from_bytes(v.as_bytes()).expect("header name")
}

/// Runs the `fhirdir` binary with `args` (logging only warnings, no database from the
/// environment); answers (success, stdout, stderr).
pub async fn fhirdir_cli(args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_fhirdir"))
        .args(args)
        .env_remove("FHIRDIR_DATABASE_URL")
        .env("FHIRDIR_LOG", "warn")
        .output()
        .await
        .expect("running fhirdir");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The real `fhirdir` binary running as a child process (for crash and shutdown tests).
pub struct BinaryServer {
    pub child: tokio::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl BinaryServer {
    /// Starts `fhirdir serve --listen 127.0.0.1:0 --database URL` and waits for the
    /// `fhirdir listening on http://ADDR` line.
    pub async fn start(db_url: &str, backend: &str) -> BinaryServer {
        BinaryServer::start_with(db_url, backend, &[]).await
    }

    /// [`BinaryServer::start`] with more environment variables.
    pub async fn start_with(db_url: &str, backend: &str, env: &[(&str, &str)]) -> BinaryServer {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_fhirdir"))
            .args(["serve", "--listen", "127.0.0.1:0", "--database", db_url])
            .envs(env.iter().copied())
            .env("FHIRDIR_AUTH", "off")
            .env("FHIRDIR_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("[{backend}] spawning fhirdir: {e}"));
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let base = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.expect("reading fhirdir stdout") {
                if let Some(rest) = line.strip_prefix("fhirdir listening on ") {
                    let addr = rest.split_whitespace().next().unwrap_or_default();
                    return addr.to_owned();
                }
            }
            panic!("[{backend}] fhirdir exited before announcing its address");
        })
        .await
        .unwrap_or_else(|_| panic!("[{backend}] fhirdir did not start within 30 s"));
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        BinaryServer { child, base }
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("the child is running")
    }
}

/// Sends raw bytes over a new TCP connection to `base` (`http://host:port`) and returns the
/// response, for requests an HTTP client refuses to build (chunked bodies, bad bytes).
/// The request should carry `Connection: close`.
pub async fn raw_request(what: &str, base: &str, request: &[u8]) -> Resp {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("{what}: connect {addr}: {e}"));
    stream
        .write_all(request)
        .await
        .unwrap_or_else(|e| panic!("{what}: write: {e}"));
    let mut raw = Vec::new();
    // The server may answer and close before it has read the whole request.
    let _ = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw)).await;
    parse_raw_response(what, &raw)
}

/// Parses an HTTP/1.1 response (Content-Length or chunked body).
fn parse_raw_response(what: &str, raw: &[u8]) -> Resp {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| {
            panic!(
                "{what}: no complete response head in {:?}",
                String::from_utf8_lossy(raw)
            )
        });
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let code: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("{what}: bad status line {status_line:?}"));
    let mut headers = HeaderMap::new();
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            headers.append(hn(k.trim()), hv(v.trim()));
        }
    }
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .get("transfer-encoding")
        .is_some_and(|v| v.to_str().unwrap_or_default().contains("chunked"));
    if chunked {
        let mut out = Vec::new();
        let mut rest = body.as_slice();
        while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
            let size_text = String::from_utf8_lossy(&rest[..eol]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("0").trim(), 16)
                .unwrap_or(0);
            if size == 0 || rest.len() < eol + 2 + size {
                break;
            }
            out.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
            rest = &rest[(eol + 4 + size).min(rest.len())..];
        }
        body = out;
    }
    let r = Resp {
        what: what.to_owned(),
        code,
        headers,
        body,
    };
    assert_ne!(
        r.code,
        500,
        "{}: internal server error: {}",
        r.what,
        r.text()
    );
    r
}

/// Writes a `.tgz` FHIR package at `path`: `manifest` as `package/package.json` and each
/// `(name, resource)` as `package/{name}`.
pub fn package_tgz(path: &std::path::Path, manifest: &Value, files: &[(String, Value)]) {
    let file = std::fs::File::create(path).expect("create");
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let entries = std::iter::once(("package.json".to_owned(), manifest))
        .chain(files.iter().map(|(n, v)| (n.clone(), v)));
    for (name, v) in entries {
        let bytes = serde_json::to_vec(v).expect("json");
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, format!("package/{name}"), bytes.as_slice())
            .expect("append");
    }
    tar.into_inner().expect("tar").finish().expect("gzip");
}
