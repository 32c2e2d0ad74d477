//! `fhirdir-bench peer`: fhirdir against Helios HFS 0.2.7 on the same Plan-Net sample
//! (issue 19).
//!
//! Per backend, on fresh databases: fhirdir imports the sample (`fhirdir import`) and serves
//! it with its defaults; HFS (`--hfs`, its data folder holding the R4 search parameters) gets
//! every resource by `PUT`; on Postgres both databases are `ANALYZE`d. Then, for
//! `--rounds` rounds, every shape runs against both servers in turn, the first of the two
//! alternating by round, so that other work on the machine hits both sides of a ratio.
//! Printed: the hits each server answers for the first value of each shape (a ratio between
//! servers that answer differently would mean nothing), one row per run with the server's
//! CPU time per request (from `/proc`), and a summary of the median round of each side.

mod data;
mod servers;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request};
use http_body_util::Full;

use crate::child::PgDatabase;
use crate::load::{MakeRequest, Outcome, Stop};
use crate::{report, Backend};
use servers::Running;

/// `fhirdir-bench peer` arguments.
#[derive(clap::Args, Debug)]
pub struct PeerArgs {
    /// The HFS executable (`cargo install helios-hfs --version 0.2.7 --no-default-features
    /// --features R4,sqlite,postgres`).
    #[arg(long)]
    hfs: PathBuf,
    #[arg(long)]
    fhirdir: Option<PathBuf>,
    /// The Plan-Net sample both servers load (`*.ndjson.gz`).
    #[arg(long, default_value = "../shared/fhir/sample-data/plan-net-ri-nppes")]
    data: PathBuf,
    /// The official R4 search parameters Bundle, which HFS reads from its data folder.
    #[arg(long, default_value = "../shared/fhir/r4-core/search-parameters.json")]
    search_parameters: PathBuf,
    #[arg(long, value_enum, default_value = "both")]
    backend: Backend,
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Measured seconds per run.
    #[arg(long, default_value_t = 5)]
    duration: u64,
    /// Unmeasured seconds before each run.
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    /// Connections of the multi-connection shapes.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Only these shapes (keys as printed), comma-separated.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres_url: String,
}

pub async fn main(a: PeerArgs) -> anyhow::Result<()> {
    let fhirdir = crate::fhirdir_binary(a.fhirdir.clone())?;
    println!("{}", report::machine_facts());
    let files = data::files(&a.data)?;
    let sample = data::read(&files)?;
    let mut shapes = data::shapes(&sample, a.connections)?;
    if !a.only.is_empty() {
        shapes.retain(|s| a.only.iter().any(|o| o == s.key));
    }
    for backend in a.backend.names() {
        let dir = tempfile::tempdir()?;
        let (fhirdir_db, fhirdir_pg) =
            crate::child::fresh_database(backend, dir.path(), &a.postgres_url).await?;
        let hfs_pg = match *backend {
            "postgres" => Some(PgDatabase::create(&a.postgres_url).await?),
            _ => None,
        };
        let result = async {
            let f = servers::fhirdir(&fhirdir, &fhirdir_db, &files, dir.path()).await?;
            let h = servers::hfs(
                &a.hfs,
                backend,
                hfs_pg.as_ref(),
                &a.search_parameters,
                dir.path(),
                &sample,
            )
            .await?;
            if let (Some(f_pg), Some(h_pg)) = (&fhirdir_pg, &hfs_pg) {
                servers::analyze(&f_pg.url).await?;
                servers::analyze(&h_pg.url).await?;
            }
            let pair = [f, h];
            let result = compare(backend, &a, &shapes, &pair).await;
            for s in pair {
                s.stop().await?;
            }
            result
        }
        .await;
        for db in [fhirdir_pg, hfs_pg].into_iter().flatten() {
            db.drop_now().await?;
        }
        result?;
    }
    Ok(())
}

/// The hits check, the rounds and the summary of one backend.
async fn compare(
    backend: &str,
    a: &PeerArgs,
    shapes: &[data::Shape],
    pair: &[Running; 2],
) -> anyhow::Result<()> {
    println!("\n### {backend}\n\n| shape | fhirdir answers | HFS answers |\n|---|---|---|");
    for s in shapes {
        let mut cells = Vec::new();
        for server in pair {
            cells.push(hits(server, &s.paths[0]).await?);
        }
        println!(
            "| {} `{}` | {} | {} |",
            s.key, s.paths[0], cells[0], cells[1]
        );
    }
    let stop = Stop::Timed {
        warmup: Duration::from_secs(a.warmup),
        measure: Duration::from_secs(a.duration),
    };
    let mut runs: BTreeMap<(&'static str, usize), Vec<Outcome>> = BTreeMap::new();
    println!("\n{}", report::DETAIL_HEADER);
    for round in 0..a.rounds {
        for s in shapes {
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for i in order {
                let server = &pair[i];
                let make = requests(server.base, &s.paths);
                let o = crate::rest::measure(server.pid, server.addr, s.connections, stop, make)
                    .await?;
                let who = format!("{backend} {}", server.name);
                println!("{}", report::detail_row(&who, s.key, &o));
                runs.entry((s.key, i)).or_default().push(o);
            }
        }
    }
    println!(
        "\n| {backend}: shape | connections | fhirdir req/s | HFS req/s | ratio | fhirdir p50 ms | \
         HFS p50 ms | p50 ratio | fhirdir CPU µs/req | HFS CPU µs/req |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for s in shapes {
        let (Some(f), Some(h)) = (median(&runs, s.key, 0), median(&runs, s.key, 1)) else {
            continue;
        };
        let cpu = |o: &Outcome| o.server_cpu_us().map_or("?".into(), |c| format!("{c:.0}"));
        let ratio = |x: f64, y: f64| {
            if f.errors + h.errors > 0 {
                "errors".to_owned()
            } else {
                format!("{:.2}", x / y)
            }
        };
        println!(
            "| {} | {} | {:.0} | {:.0} | {} | {:.2} | {:.2} | {} | {} | {} |",
            s.label,
            s.connections,
            f.rps(),
            h.rps(),
            ratio(f.rps(), h.rps()),
            f.percentile_ms(50.0),
            h.percentile_ms(50.0),
            ratio(f.percentile_ms(50.0), h.percentile_ms(50.0)),
            cpu(f),
            cpu(h),
        );
    }
    Ok(())
}

/// The run with the median req/s among one side's rounds.
fn median<'a>(
    runs: &'a BTreeMap<(&'static str, usize), Vec<Outcome>>,
    key: &'static str,
    side: usize,
) -> Option<&'a Outcome> {
    let mut of: Vec<&Outcome> = runs.get(&(key, side))?.iter().collect();
    of.sort_by(|x, y| x.rps().total_cmp(&y.rps()));
    of.get(of.len() / 2).copied()
}

/// GETs of `paths` in turn under `base`.
fn requests(base: &str, paths: &[String]) -> MakeRequest {
    let paths: Arc<Vec<String>> = Arc::new(paths.iter().map(|p| format!("{base}{p}")).collect());
    Arc::new(move |seq| get(&paths[(seq % paths.len() as u64) as usize]))
}

fn get(path: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(Method::GET)
        .uri(path)
        .header(header::HOST, "127.0.0.1")
        .header(header::ACCEPT, "application/fhir+json")
        .body(Full::new(Bytes::new()))
        .unwrap_or_default()
}

/// What `server` answers to `path`: the status, and for a Bundle its `total` and how many
/// match and include entries it holds.
async fn hits(server: &Running, path: &str) -> anyhow::Result<String> {
    let (status, body) =
        crate::transaction::send(server.addr, get(&format!("{}{path}", server.base))).await?;
    if body["resourceType"] != "Bundle" {
        return Ok(format!(
            "{status} {}",
            body["resourceType"].as_str().unwrap_or("?")
        ));
    }
    let entries = body["entry"].as_array().map_or(&[][..], Vec::as_slice);
    let mode = |m: &str| entries.iter().filter(|e| e["search"]["mode"] == m).count();
    Ok(format!(
        "{status}: total {}, {} match, {} include",
        body["total"],
        mode("match"),
        mode("include")
    ))
}
