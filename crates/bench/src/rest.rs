//! `fhirdir-bench rest`: per backend, start the real `fhirdir serve` on a fresh database,
//! create N Practitioners with PUT (known ids), read random ids for D seconds, create more
//! with POST for D seconds; then start the ceiling (twice: bare, and wrapped in fhirdir's
//! middleware) and put it under the identical read load.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use http::{header, Method, Request};
use http_body_util::Full;
use tokio::process::Command;

use crate::child::{PgDatabase, Server};
use crate::load::{self, MakeRequest, Outcome, Stop};
use crate::practitioner;
use crate::report::{self, Summary};

/// Options shared by every backend's run.
pub struct RestOptions {
    pub resources: u64,
    pub duration: Duration,
    pub warmup: Duration,
    pub connections: usize,
    pub fhirdir: PathBuf,
    pub postgres_url: String,
    /// SQLite only: keep the database in this file; when it exists, skip the PUT phase.
    pub reuse_sqlite: Option<PathBuf>,
}

/// A finished backend run.
pub struct BackendResult {
    pub backend: String,
    pub put: Outcome,
    pub post: Outcome,
    pub read: Outcome,
    pub ceiling: Outcome,
    pub ceiling_mw: Outcome,
}

const BASE: &str = "/fhir/default/Practitioner";

fn fhir_request(method: Method, path: &str, body: Bytes) -> Request<Full<Bytes>> {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "127.0.0.1")
        .header(header::ACCEPT, "application/fhir+json");
    if !body.is_empty() {
        b = b.header(header::CONTENT_TYPE, "application/fhir+json");
    }
    b.body(Full::new(body)).unwrap_or_default()
}

/// GETs of random ids among the `n` created ones.
pub fn read_load(n: u64) -> MakeRequest {
    Arc::new(move |seq| {
        let path = format!("{BASE}/{}", practitioner::id(seq % n));
        fhir_request(Method::GET, &path, Bytes::new())
    })
}

fn body(i: u64, id: Option<&str>) -> Bytes {
    Bytes::from(serde_json::to_vec(&practitioner::practitioner(i, id)).unwrap_or_default())
}

/// Fails (making the run invalid) when any request failed.
fn check(what: &str, o: &Outcome) -> anyhow::Result<()> {
    if o.errors > 0 {
        bail!(
            "{what}: {} errors (first: {}); the run is invalid",
            o.errors,
            o.first_error.as_deref().unwrap_or("?")
        );
    }
    Ok(())
}

/// Prints one detail row at once (long runs show progress) and checks it.
fn show(backend: &str, what: &str, o: &Outcome) -> anyhow::Result<()> {
    println!("{}", report::detail_row(backend, what, o));
    check(what, o)
}

/// One GET on a fresh connection: the exact bytes fhirdir serves at `path`.
async fn fetch(addr: std::net::SocketAddr, path: &str) -> anyhow::Result<Bytes> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let resp = sender
        .send_request(fhir_request(Method::GET, path, Bytes::new()))
        .await?;
    let status = resp.status();
    let bytes = http_body_util::BodyExt::collect(resp.into_body())
        .await?
        .to_bytes();
    if !status.is_success() {
        bail!("GET {path}: {status}");
    }
    Ok(bytes)
}

/// Runs every phase against one backend (`sqlite` or `postgres`).
pub async fn run_backend(backend: &str, opts: &RestOptions) -> anyhow::Result<BackendResult> {
    let n = opts.resources;
    let c = opts.connections;
    let timed = Stop::Timed {
        warmup: opts.warmup,
        measure: opts.duration,
    };
    let dir = tempfile::tempdir()?;
    let mut pg = None;
    let mut skip_put = false;
    let database = match backend {
        "sqlite" => {
            let file = match &opts.reuse_sqlite {
                Some(f) => {
                    skip_put = f.exists();
                    f.clone()
                }
                None => dir.path().join("bench.db"),
            };
            format!("sqlite://{}", file.display())
        }
        "postgres" => {
            let db = PgDatabase::create(&opts.postgres_url).await?;
            let url = db.url.clone();
            pg = Some(db);
            url
        }
        other => bail!("unknown backend {other:?}"),
    };
    let log = dir.path().join("fhirdir.log");
    let mut cmd = Command::new(&opts.fhirdir);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--database", &database]);
    let result = run_phases(backend, cmd, &log, n, c, timed, skip_put).await;
    if let Some(db) = pg {
        db.drop_now().await?;
    }
    if result.is_err() {
        eprintln!(
            "fhirdir stderr (tail):\n{}",
            tail(&std::fs::read_to_string(&log).unwrap_or_default(), 20)
        );
    }
    result
}

fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

async fn run_phases(
    backend: &str,
    cmd: Command,
    log: &Path,
    n: u64,
    c: usize,
    timed: Stop,
    skip_put: bool,
) -> anyhow::Result<BackendResult> {
    let server = Server::start(cmd, Some(log)).await?;
    let addr = server.addr;
    eprintln!("{backend}: fhirdir on {addr}; PUT {n} Practitioners with {c} connections");

    let put = load::run(
        addr,
        c,
        if skip_put {
            Stop::Count(0)
        } else {
            Stop::Count(n)
        },
        Arc::new(|i| {
            let id = practitioner::id(i);
            let path = format!("{BASE}/{id}");
            fhir_request(Method::PUT, &path, body(i, Some(&id)))
        }),
    )
    .await?;
    show(backend, &format!("create: PUT {n} (new ids)"), &put)?;

    let sample = fetch(addr, &format!("{BASE}/{}", practitioner::id(0))).await?;
    let read = load::run(addr, c, timed, read_load(n)).await?;
    show(backend, "read: GET random id", &read)?;

    let post = load::run(
        addr,
        c,
        timed,
        Arc::new(move |seq| fhir_request(Method::POST, BASE, body(n + seq % n, None))),
    )
    .await?;
    show(backend, "create: POST (timed)", &post)?;
    server.stop().await?;

    let body_file = log.with_file_name("sample.json");
    std::fs::write(&body_file, &sample)?;
    let ceiling = ceiling_run(backend, &body_file, false, n, c, timed).await?;
    let ceiling_mw = ceiling_run(backend, &body_file, true, n, c, timed).await?;
    Ok(BackendResult {
        backend: backend.to_owned(),
        put,
        post,
        read,
        ceiling,
        ceiling_mw,
    })
}

/// Starts `fhirdir-bench ceiling` serving `body_file` and runs the read load against it.
async fn ceiling_run(
    backend: &str,
    body_file: &Path,
    middleware: bool,
    n: u64,
    c: usize,
    timed: Stop,
) -> anyhow::Result<Outcome> {
    let exe = std::env::current_exe().context("locating fhirdir-bench")?;
    let mut cmd = Command::new(exe);
    cmd.args(["ceiling", "--listen", "127.0.0.1:0", "--body"])
        .arg(body_file);
    if middleware {
        cmd.arg("--middleware");
    }
    let server = Server::start(cmd, None).await?;
    let o = load::run(server.addr, c, timed, read_load(n)).await?;
    server.stop().await?;
    let what = if middleware {
        "ceiling + fhirdir middleware: GET"
    } else {
        "ceiling (bare axum, bytes from memory): GET"
    };
    show(backend, what, &o)?;
    Ok(o)
}

/// The summary table of all backends.
pub fn summary(results: &[BackendResult], resources: u64) -> String {
    let mut out = format!("{}\n", report::SUMMARY_HEADER);
    for r in results {
        let s = Summary {
            backend: &r.backend,
            resources,
            put: &r.put,
            post: &r.post,
            read: &r.read,
            ceiling: &r.ceiling,
            ceiling_mw: &r.ceiling_mw,
        };
        out.push_str(&s.row());
        out.push('\n');
    }
    out
}
