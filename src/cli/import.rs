//! `fhirdir import --tenant T [--batch-size N] [--on-error abort|skip] FILE...`: loads NDJSON
//! (`.ndjson`, `.ndjson.gz`) and Bundle (`.json`) files into a tenant with `ingest`.
//!
//! stderr carries the progress line (rewritten in place on a terminal, at most four times a
//! second; one line every ten seconds otherwise, so logs stay readable) and the bad lines as
//! `FILE:LINE: what is wrong`; stdout carries the final line
//! `imported N resources in S s (R resources/s)` that scripts read.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use store::TenantName;

use super::config::{init_logging, DbArgs};

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The tenant to load into (it must exist).
    #[arg(long)]
    tenant: String,
    /// Resources per transaction.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    batch_size: u64,
    /// What to do with a bad resource: stop (the current batch is not committed) or report
    /// it and go on.
    #[arg(long, value_enum, default_value_t = OnErrorArg::Abort)]
    on_error: OnErrorArg,
    /// Batches written at once, each in its own transaction (default: 2 on Postgres, 1 on
    /// SQLite).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=16))]
    writers: Option<u64>,
    // The search parameters the import indexes too, as `fhirdir serve` reads them
    // (`--profiles`, `--packages`); the tenant's own SearchParameter resources are always
    // included.
    #[command(flatten)]
    profiles: super::profiles::ProfileArgs,
    /// Keep the search indexes during the load. By default, when the database's search
    /// tables are empty (a first load), their indexes are dropped and built once at the end,
    /// which is several times faster; searches running meanwhile are slow but correct.
    #[arg(long)]
    keep_indexes: bool,
    #[command(flatten)]
    db: DbArgs,
    /// Files, loaded in this order: .ndjson, .ndjson.gz, .jsonl, .json (Bundle), .json.gz.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum OnErrorArg {
    Abort,
    Skip,
}

pub async fn run(args: ImportArgs) -> anyhow::Result<()> {
    let cfg = args.db.resolve()?;
    init_logging(&cfg.log_format);
    let tenant = TenantName::parse(&args.tenant).context("invalid tenant name")?;
    let store = cfg.connect(true).await?;
    if !store.tenant_exists(&tenant).await? {
        bail!("tenant {tenant} does not exist (create it with `fhirdir tenant create {tenant}`)");
    }
    // The same definitions the server indexes this tenant's writes with.
    let loaded = super::profiles::load(args.profiles)?;
    let mut extra = loaded.params;
    extra.extend(services::tenant_conformance::tenant_search_parameters(&store, &tenant).await?);
    let opts = ingest::ImportOptions {
        registry: (!extra.is_empty())
            .then(|| std::sync::Arc::new(conformance::Registry::builtin().extended(extra.iter()))),
        batch_size: usize::try_from(args.batch_size).unwrap_or(usize::MAX),
        on_error: match args.on_error {
            OnErrorArg::Abort => ingest::OnError::Abort,
            OnErrorArg::Skip => ingest::OnError::Skip,
        },
        writers: args.writers.and_then(|n| usize::try_from(n).ok()),
        defer_indexes: !args.keep_indexes,
        // As the API: a tenant that enforces validation gets only valid resources.
        validate: {
            let setting = services::validation::setting::read(&store, &tenant).await?;
            if setting.mode == services::validation::Mode::Enforce {
                Some(loaded.library.policy(&setting)?)
            } else {
                None
            }
        },
    };
    let mut progress = Progress::new();
    let result = ingest::import_files(&store, &tenant, &args.files, &opts, |e| {
        progress.on_event(e)
    })
    .await;
    progress.finish();
    store.close().await;
    let stats = match result {
        Ok(stats) => stats,
        Err(ingest::ImportError::Invalid(problem)) => {
            eprintln!("{problem}");
            bail!(
                "import aborted at {}:{}; the batch holding it was not committed ({} resources committed before it)",
                problem.file.display(),
                problem.line,
                progress.committed
            );
        }
        Err(e) => return Err(e.into()),
    };
    eprintln!(
        "{} created, {} updated, {} unchanged, {} skipped, in {} transactions",
        stats.created, stats.updated, stats.unchanged, stats.skipped, stats.batches
    );
    println!(
        "imported {} resources in {:.1} s ({:.0} resources/s)",
        stats.imported(),
        stats.elapsed.as_secs_f64(),
        stats.rate()
    );
    Ok(())
}

/// The stderr progress line.
struct Progress {
    tty: bool,
    last: Option<Instant>,
    /// A progress line is on screen and must be cleared before other output.
    shown: bool,
    committed: u64,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            tty: std::io::stderr().is_terminal(),
            last: None,
            shown: false,
            committed: 0,
        }
    }

    fn on_event(&mut self, event: ingest::Event<'_>) {
        match event {
            ingest::Event::Committed { stats, file } => {
                self.committed = stats.imported();
                let every = if self.tty {
                    Duration::from_millis(250)
                } else {
                    Duration::from_secs(10)
                };
                if self.last.is_some_and(|t| t.elapsed() < every) {
                    return;
                }
                self.last = Some(Instant::now());
                let name = file.file_name().map_or_else(
                    || file.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                );
                let line = format!(
                    "importing {name}: {} resources, {:.0}/s",
                    stats.imported(),
                    stats.rate()
                );
                let mut err = std::io::stderr().lock();
                if self.tty {
                    // \r and "erase to end of line" rewrite the line in place.
                    let _ = write!(err, "\r{line}\x1b[K");
                    self.shown = true;
                } else {
                    let _ = writeln!(err, "{line}");
                }
                let _ = err.flush();
            }
            ingest::Event::Skipped(problem) => {
                self.clear();
                eprintln!("{problem} (skipped)");
            }
            ingest::Event::BuildingIndexes { indexes } => {
                self.clear();
                eprintln!(
                    "{} resources written; building {indexes} search indexes",
                    self.committed
                );
            }
        }
    }

    fn clear(&mut self) {
        if self.shown {
            eprint!("\r\x1b[K");
            self.shown = false;
        }
    }

    fn finish(&mut self) {
        self.clear();
    }
}
