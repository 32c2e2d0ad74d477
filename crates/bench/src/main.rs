//! `fhirdir-bench`: the REST benchmark harness behind BENCHMARKS.md (issue 2).
//!
//! - `fhirdir-bench rest --backend sqlite|postgres|both`: create and read throughput and
//!   p50/p99 latency of the real `fhirdir serve` (a child process) under a loopback,
//!   closed-loop load, compared with a bare axum ceiling serving the same bytes.
//! - `fhirdir-bench ceiling --listen ADDR --body FILE [--middleware]`: that ceiling server
//!   (started by `rest` as its own child process).
//! - `fhirdir-bench search --data DIR --database URL`: the search shapes of issue 3 against
//!   imported `fhirdir generate` data (see [`search`]).
//! - `fhirdir-bench transaction --backend sqlite|postgres|both --clients 1,8`: transaction
//!   Bundles of 100 entries in the provider-attestation shape (issue 4; see [`transaction`]).
//! - `fhirdir-bench subscriptions --backend ...`: notification latency and transaction
//!   throughput with active subscriptions (issue 17; see [`notify`]).
//!
//! - `fhirdir-bench export --database URL`: bulk export of an imported tenant against the
//!   database's raw copy (issue 18; see [`export`]).
//!
//! - `fhirdir-bench harvest --size N --pages 100,1000`: a harvest pass from a loopback payer
//!   against `fhirdir import` of the same data (issue 21; see [`harvest`]).
//! - `fhirdir-bench peer --hfs PATH`: fhirdir against Helios HFS on the Plan-Net sample, in
//!   one run with alternated rounds (issue 19; see [`peer`]).
//! - `fhirdir-bench validate`: validations per second of one core (issue 16; see
//!   [`validate`]).
//!
//! Output is markdown: machine facts, one row per measurement, and a summary table.

mod auth;
mod ceiling;
mod child;
mod export;
mod harvest;
mod load;
mod notify;
mod peer;
mod practitioner;
mod replica;
mod report;
mod rest;
mod restrict;
mod search;
mod transaction;
mod validate;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(name = "fhirdir-bench", about = "REST benchmark harness for fhirdir")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Create and read throughput/latency against `fhirdir serve`, and the ceiling ratio.
    Rest(RestArgs),
    /// Serve one JSON body from memory on the read route shape (the ceiling).
    Ceiling(CeilingArgs),
    /// Only the read load, against an already running server (for profiling and A/B runs).
    Read(ReadArgs),
    /// Search shapes of issue 3 (token, string, chain, _has, _include, near, paging, _total).
    Search(search::SearchArgs),
    /// Transaction Bundles (provider attestations of 100 entries): transactions/s,
    /// resources/s, p50/p95 per transaction (issue 4).
    Transaction(transaction::TransactionArgs),
    /// What authorization costs: read by id with a bearer token against anonymous, and the
    /// token endpoint's throughput (issue 14).
    Auth(auth::AuthArgs),
    /// Subscriptions: notification latency, and transaction throughput with many active
    /// subscriptions against none (issue 17).
    Subscriptions(notify::NotifyArgs),
    /// Federation: a replica's seed rate, follow latency and catch-up rate after downtime
    /// (issue 17).
    Federation(replica::ReplicaArgs),
    /// Bulk export of an imported tenant: resources/s and peak RSS, against the database's
    /// own raw copy of the same rows (issue 18).
    Export(export::ExportArgs),
    /// A harvest of a payer's API (a static loopback server) against `fhirdir import` of the
    /// same data: resources/s and the ratio (issue 21).
    Harvest(harvest::HarvestArgs),
    /// fhirdir against Helios HFS on the Plan-Net sample, same run (issue 19).
    Peer(peer::PeerArgs),
    /// Writes a copy of generated data with one resource in `--every` restricted (NDH usage
    /// restrictions), for the restricted-content benchmark (issue 15).
    Restrict(restrict::RestrictArgs),
    /// Validations per second of generated Plan-Net PractitionerRoles on one core (issue 16).
    Validate(validate::ValidateArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
    Both,
}

impl Backend {
    /// The backends a run measures, in order.
    fn names(self) -> &'static [&'static str] {
        match self {
            Backend::Sqlite => &["sqlite"],
            Backend::Postgres => &["postgres"],
            Backend::Both => &["sqlite", "postgres"],
        }
    }
}

#[derive(clap::Args, Debug)]
struct RestArgs {
    /// Which backend(s) to measure.
    #[arg(long, value_enum, default_value = "both")]
    backend: Backend,
    /// Practitioners created (PUT) before the read phase.
    #[arg(long, default_value_t = 100_000)]
    resources: u64,
    /// Seconds of each measured timed phase (read, POST, ceiling).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Unmeasured warm-up seconds before each timed phase.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// The fhirdir binary (default: `fhirdir` next to this executable, i.e. target/release).
    #[arg(long)]
    fhirdir: Option<PathBuf>,
    /// Admin connection used to CREATE and DROP the throw-away Postgres database.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres_url: String,
    /// SQLite only: keep the database in FILE; when FILE exists, skip the PUT phase
    /// (for repeated read experiments on the same data).
    #[arg(long, value_name = "FILE")]
    reuse_sqlite: Option<PathBuf>,
    /// Alternating read rounds (fhirdir, ceiling, ceiling + middleware); the summary keeps
    /// the round with the median ratio.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

#[derive(clap::Args, Debug)]
struct CeilingArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// The JSON body to serve (by default a built-in Practitioner).
    #[arg(long)]
    body: Option<PathBuf>,
    /// Wrap the handler in fhirdir's whole middleware stack.
    #[arg(long)]
    middleware: bool,
    /// Wrap the handler in only these of fhirdir's layers (negotiate, metrics, catch-panic,
    /// compression, cors, request-id, trace).
    #[arg(long, value_delimiter = ',')]
    layers: Vec<String>,
}

#[derive(clap::Args, Debug)]
struct ReadArgs {
    /// The running server, e.g. 127.0.0.1:8080.
    #[arg(long)]
    addr: std::net::SocketAddr,
    /// Ids `bench-0000000` .. of the PUT phase to pick from.
    #[arg(long, default_value_t = 100_000)]
    resources: u64,
    #[arg(long, default_value_t = 10)]
    duration: u64,
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// The server's process id, to report its CPU time per request.
    #[arg(long)]
    pid: Option<u32>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Cmd::Ceiling(a) => {
            let body = match &a.body {
                Some(p) => std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
                None => {
                    serde_json::to_vec(&practitioner::practitioner(0, Some(&practitioner::id(0))))?
                }
            };
            let layers = if a.middleware {
                ceiling::LAYERS.iter().map(|l| (*l).to_owned()).collect()
            } else {
                a.layers
            };
            ceiling::serve(&a.listen, body.into(), &layers).await
        }
        Cmd::Rest(a) => rest(a).await,
        Cmd::Search(a) => search::main(a).await,
        Cmd::Transaction(a) => transaction::main(a).await,
        Cmd::Restrict(a) => restrict::main(a),
        Cmd::Subscriptions(a) => notify::main(a).await,
        Cmd::Federation(a) => replica::main(a).await,
        Cmd::Export(a) => export::main(a).await,
        Cmd::Harvest(a) => harvest::main(a).await,
        Cmd::Peer(a) => peer::main(a).await,
        Cmd::Validate(a) => validate::main(a).await,
        Cmd::Auth(a) => {
            let fhirdir = fhirdir_binary(a.fhirdir.clone())?;
            auth::run(a, fhirdir).await
        }
        Cmd::Read(a) => {
            let stop = load::Stop::Timed {
                warmup: Duration::from_secs(a.warmup),
                measure: Duration::from_secs(a.duration),
            };
            let make = rest::read_load(a.resources);
            let o = rest::measure(a.pid, a.addr, a.connections, stop, make).await?;
            println!("{}", report::DETAIL_HEADER);
            println!(
                "{}",
                report::detail_row(&a.addr.to_string(), "read: GET random id", &o)
            );
            Ok(())
        }
    }
}

/// `--fhirdir`, or `fhirdir` next to this executable; it must exist.
fn fhirdir_binary(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let fhirdir = match given {
        Some(p) => p,
        None => std::env::current_exe()?
            .parent()
            .context("executable has no directory")?
            .join("fhirdir"),
    };
    anyhow::ensure!(
        fhirdir.exists(),
        "{} not found: build it with `cargo build --release --bin fhirdir -p bench` or pass --fhirdir",
        fhirdir.display()
    );
    Ok(fhirdir)
}

async fn rest(a: RestArgs) -> anyhow::Result<()> {
    let fhirdir = fhirdir_binary(a.fhirdir)?;
    let opts = rest::RestOptions {
        resources: a.resources,
        duration: Duration::from_secs(a.duration),
        warmup: Duration::from_secs(a.warmup),
        connections: a.connections,
        fhirdir,
        postgres_url: a.postgres_url,
        reuse_sqlite: a.reuse_sqlite,
        rounds: a.rounds,
    };
    let backends = a.backend.names();
    println!("{}", report::machine_facts());
    println!(
        "- data: {} Practitioners (~1 KB each) in tenant `default`; {} connections; {} s warm-up + {} s per timed phase; {} alternating read rounds\n",
        a.resources, a.connections, a.warmup, a.duration, a.rounds
    );
    println!("{}", report::DETAIL_HEADER);
    let mut results = Vec::new();
    for b in backends {
        results.push(rest::run_backend(b, &opts).await?);
    }
    println!("\n{}", rest::summary(&results, a.resources));
    Ok(())
}
