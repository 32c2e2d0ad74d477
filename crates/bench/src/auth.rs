//! `fhirdir-bench auth`: what authorization costs. On SQLite, start `fhirdir serve` with
//! authorization on, register a SMART Backend Services client (ES256 key) through the admin
//! API, take a token, PUT N Practitioners with it; then alternate rounds of reading random
//! ids anonymously and with the bearer token (same server, same data), and finally load
//! the token endpoint with fresh `private_key_jwt` assertions (signed before the timed
//! phase, so the load generator's signing is not in the figure).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use auth::testing::TestClientKey;
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request};
use http_body_util::Full;
use serde_json::{json, Value};
use tokio::process::Command;

use crate::child::Server;
use crate::load::{MakeRequest, Stop};
use crate::practitioner;
use crate::report;
use crate::rest::{measure, read_load};

const ADMIN: &str = "bench-admin-token";

#[derive(clap::Args, Debug)]
pub struct AuthArgs {
    /// Practitioners created before the read rounds.
    #[arg(long, default_value_t = 10_000)]
    resources: u64,
    /// Seconds of each measured phase.
    #[arg(long, default_value_t = 5)]
    duration: u64,
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Alternated read rounds (anonymous, bearer).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Assertions signed for the token-endpoint phase (each is accepted once).
    #[arg(long, default_value_t = 60_000)]
    assertions: usize,
    /// The fhirdir binary (default: next to this one).
    #[arg(long)]
    pub fhirdir: Option<PathBuf>,
}

/// One request on a fresh connection; answers the status and body.
async fn send(addr: SocketAddr, req: Request<Full<Bytes>>) -> anyhow::Result<(u16, Bytes)> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await?
        .to_bytes();
    Ok((status, body))
}

fn request(method: Method, path: &str, content_type: &str, body: Vec<u8>) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "127.0.0.1")
        .header(header::CONTENT_TYPE, content_type)
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default()
}

fn form(assertion: &str) -> Vec<u8> {
    serde_urlencoded::to_string([
        ("grant_type", "client_credentials"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion),
        ("scope", "system/*.cruds"),
    ])
    .unwrap_or_default()
    .into_bytes()
}

/// `(request with the bearer token)` on top of the plain read load.
fn with_bearer(make: MakeRequest, token: &str) -> anyhow::Result<MakeRequest> {
    let value = HeaderValue::from_str(&format!("Bearer {token}"))?;
    Ok(Arc::new(move |seq| {
        let mut req = make(seq);
        req.headers_mut()
            .insert(header::AUTHORIZATION, value.clone());
        req
    }))
}

pub async fn run(args: AuthArgs, fhirdir: PathBuf) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let database = format!("sqlite://{}", dir.path().join("bench.db").display());
    let log = dir.path().join("fhirdir.log");
    let mut cmd = Command::new(&fhirdir);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--database", &database])
        .env("FHIRDIR_ADMIN_TOKEN", ADMIN)
        .env("FHIRDIR_AUTH", "on");
    let server = Server::start(cmd, Some(&log)).await?;
    let (addr, pid) = (server.addr, server.pid());
    let base = format!("http://{addr}/fhir/default");
    let token_url = format!("{base}/auth/token");

    let key = TestClientKey::ec256("bench");
    let client = json!({"jwks": {"keys": [key.public_jwk()]}, "scope": "system/*.cruds"});
    let mut req = request(
        Method::POST,
        "/admin/tenants/default/clients",
        "application/json",
        client.to_string().into_bytes(),
    );
    req.headers_mut().insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {ADMIN}"))?,
    );
    let (status, body) = send(addr, req).await?;
    if status != 201 {
        bail!(
            "registering the client: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    let client_id = serde_json::from_slice::<Value>(&body)?["client_id"]
        .as_str()
        .context("client_id")?
        .to_owned();
    let now = chrono::Utc::now().timestamp();
    let assertion = key.assertion(&client_id, &token_url, now);
    let (status, body) = send(
        addr,
        request(
            Method::POST,
            "/fhir/default/auth/token",
            "application/x-www-form-urlencoded",
            form(&assertion),
        ),
    )
    .await?;
    if status != 200 {
        bail!(
            "taking a token: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    let token = serde_json::from_slice::<Value>(&body)?["access_token"]
        .as_str()
        .context("access_token")?
        .to_owned();

    let n = args.resources;
    let bearer = HeaderValue::from_str(&format!("Bearer {token}"))?;
    let put: MakeRequest = Arc::new(move |i| {
        let id = practitioner::id(i);
        let body =
            serde_json::to_vec(&practitioner::practitioner(i, Some(&id))).unwrap_or_default();
        let mut req = request(
            Method::PUT,
            &format!("/fhir/default/Practitioner/{id}"),
            "application/fhir+json",
            body,
        );
        req.headers_mut()
            .insert(header::AUTHORIZATION, bearer.clone());
        req
    });
    let o = measure(pid, addr, args.connections, Stop::Count(n), put).await?;
    println!("{}", report::DETAIL_HEADER);
    println!(
        "{}",
        report::detail_row(
            "sqlite",
            &format!("create: PUT {n} with a bearer token"),
            &o
        )
    );
    anyhow::ensure!(o.errors == 0, "PUT phase failed: {:?}", o.first_error);

    let timed = Stop::Timed {
        warmup: Duration::from_secs(args.warmup),
        measure: Duration::from_secs(args.duration),
    };
    for r in 1..=args.rounds.max(1) {
        // Alternate which goes first, so a slow start does not always hit the same side.
        let order = if r % 2 == 1 {
            [false, true]
        } else {
            [true, false]
        };
        for with_token in order {
            let make = if with_token {
                with_bearer(read_load(n), &token)?
            } else {
                read_load(n)
            };
            let o = measure(pid, addr, args.connections, timed, make).await?;
            let what = if with_token {
                "read by id, bearer token"
            } else {
                "read by id, anonymous"
            };
            println!(
                "{}",
                report::detail_row("sqlite", &format!("{what} (round {r})"), &o)
            );
            anyhow::ensure!(o.errors == 0, "{what}: {:?}", o.first_error);
        }
    }

    eprintln!("signing {} assertions", args.assertions);
    let now = chrono::Utc::now().timestamp();
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..args.assertions)
            .map(|_| form(&key.assertion(&client_id, &token_url, now)))
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let make: MakeRequest = Arc::new(move |_| {
        let i = next.fetch_add(1, Ordering::Relaxed) % bodies.len();
        request(
            Method::POST,
            "/fhir/default/auth/token",
            "application/x-www-form-urlencoded",
            bodies[i].clone(),
        )
    });
    let o = measure(pid, addr, args.connections, timed, make).await?;
    println!(
        "{}",
        report::detail_row("sqlite", "token endpoint: private_key_jwt (ES256)", &o)
    );
    anyhow::ensure!(
        (o.total as usize) < args.assertions,
        "more token requests than assertions: raise --assertions"
    );
    anyhow::ensure!(o.errors == 0, "token endpoint: {:?}", o.first_error);
    server.stop().await?;
    Ok(())
}
