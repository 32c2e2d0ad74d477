//! Bulk import of FHIR resources into one tenant: the library behind `fhirdir import`.
//!
//! Files are read in the order given ([`reader`]: NDJSON, gzip NDJSON, Bundle JSON), each
//! resource is checked minimally ([`validate`]), its search index entries are computed with
//! the same [`search::Extractor`] over [`conformance::Registry::builtin`] the API path uses,
//! and resources are written in batches, one store transaction per batch
//! ([`store::StoreTx::write_batch`], multi-row statements and `COPY`), with up to
//! [`ImportOptions::writers`] batches in flight at once.
//!
//! Reading and checking run on a thread of their own, which also indexes each batch (split
//! over up to four threads); it stays a bounded channel (two batches) ahead of the writer, so
//! parsing and indexing overlap the database work and memory stays flat.
//!
//! The planner's statistics of the search index are refreshed while the tables grow
//! (Postgres) and once at the end ([`store::Store::optimize_after_bulk_load`]).
//!
//! Reruns are idempotent: writes use [`store::OnUnchanged::KeepCurrent`], so a resource whose
//! content equals its current version adds no version.
//!
//! Bad input: a resource that fails the checks (or a line that is not JSON) is a
//! [`Problem`] reported as `FILE:LINE: what is wrong`. With [`OnError::Abort`] the import stops
//! there and the batch being built is never committed (every earlier batch is); with
//! [`OnError::Skip`] the problem is reported through [`Event::Skipped`] and the import goes on.

pub mod reader;
pub mod validate;

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use store::{BatchWrite, OnUnchanged, Store, StoreError, TenantName};

use reader::{Format, Reader};

/// What to do with a bad resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnError {
    /// Stop; the current batch is not committed.
    #[default]
    Abort,
    /// Report it and go on.
    Skip,
}

/// Import settings.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Resources per transaction (at least 1).
    pub batch_size: usize,
    pub on_error: OnError,
    /// Batches written at once, each on its own connection and transaction; `None`: two on
    /// Postgres (the database's work per batch is the import's bottleneck, and a second
    /// backend puts a second core to it), one on SQLite (one writer at a time anyway).
    pub writers: Option<usize>,
    /// The search parameters to index with; `None`: the built-in ones. The CLI passes the
    /// tenant's view (built-in, `--profiles`, the tenant's SearchParameters), as the server
    /// indexes its writes.
    pub registry: Option<Arc<conformance::Registry>>,
    /// When the database's search tables are empty (a first load), drop their secondary
    /// indexes for the load and build them once at the end, from sorted rows; see
    /// [`store::Store::defer_search_indexes`].
    pub defer_indexes: bool,
    /// Refuse resources in which validation under this policy (the tenant's packages and
    /// required profiles, when its validation mode is `enforce`) finds an error, as the API
    /// would; each is a problem of its `FILE:LINE` ([`OnError`] decides what follows).
    pub validate: Option<Arc<validation::Policy>>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            batch_size: 1000,
            on_error: OnError::Abort,
            writers: None,
            registry: None,
            defer_indexes: true,
            validate: None,
        }
    }
}

/// A bad resource or an unreadable part of a file, located as `FILE:LINE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based.
    pub line: u64,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// Counts so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Resources written as a new resource (or revived after a delete).
    pub created: u64,
    /// Resources written as a new version.
    pub updated: u64,
    /// Resources whose content equalled the current version: nothing written.
    pub unchanged: u64,
    /// Bad resources skipped ([`OnError::Skip`]).
    pub skipped: u64,
    /// Transactions committed.
    pub batches: u64,
    /// Time since the import started.
    pub elapsed: Duration,
}

impl Stats {
    /// Resources imported: created, updated or found unchanged.
    pub fn imported(&self) -> u64 {
        self.created + self.updated + self.unchanged
    }

    /// Imported resources per second so far.
    pub fn rate(&self) -> f64 {
        self.imported() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// What the import reports while it runs.
#[derive(Debug)]
pub enum Event<'a> {
    /// A batch was committed; `file` is where its last resource came from.
    Committed { stats: &'a Stats, file: &'a Path },
    /// A bad resource was skipped ([`OnError::Skip`]).
    Skipped(&'a Problem),
    /// Every resource is written; the search indexes deferred for the load are being built.
    BuildingIndexes { indexes: usize },
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// Bad input with [`OnError::Abort`].
    #[error("{0}")]
    Invalid(Problem),
    #[error("{}: cannot import files of this type (expected .ndjson, .ndjson.gz, .jsonl, .json or .json.gz)", .0.display())]
    UnknownFormat(PathBuf),
    #[error("{}: {source}", path.display())]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the reader thread failed: {0}")]
    Reader(String),
    #[error("a writer task failed: {0}")]
    Writer(String),
}

/// Most threads computing index entries at once.
const MAX_INDEX_THREADS: usize = 4;

/// What the reader thread sends the writer, in file order.
enum Msg {
    Batch(Vec<BatchWrite>, Arc<Path>),
    Problem(Problem),
}

/// Imports `files` into `tenant`, in order (see the crate documentation).
///
/// Every file is checked to exist and to have a known format before anything is written.
/// Answers the final counts; with [`OnError::Abort`], the first bad resource is the error
/// (what was committed before it stays).
pub async fn import_files(
    store: &Store,
    tenant: &TenantName,
    files: &[PathBuf],
    opts: &ImportOptions,
    mut on_event: impl FnMut(Event<'_>),
) -> Result<Stats, ImportError> {
    let started = Instant::now();
    let mut plan = Vec::with_capacity(files.len());
    for path in files {
        let format = Format::of(path).ok_or_else(|| ImportError::UnknownFormat(path.clone()))?;
        std::fs::metadata(path).map_err(|source| ImportError::File {
            path: path.clone(),
            source,
        })?;
        plan.push((path.clone(), format));
    }
    if !store.tenant_exists(tenant).await? {
        return Err(StoreError::UnknownTenant(tenant.to_string()).into());
    }
    if !store.has_live_resources(tenant).await? {
        // Everything the tenant will hold is indexed by this binary: record its index format
        // so that the server does not rebuild the index this import writes.
        store
            .set_indexed_search_param(tenant, search::INDEX_FORMAT_URL, search::index_format())
            .await?;
    }
    let deferred = if opts.defer_indexes {
        store.defer_search_indexes().await?
    } else {
        0
    };
    let result = load(store, tenant, plan, opts, started, &mut on_event).await;
    if deferred > 0 {
        // Also after a failed load: what was committed must be searchable the normal way.
        on_event(Event::BuildingIndexes { indexes: deferred });
        store.build_deferred_indexes().await?;
    }
    let mut stats = result?;
    if stats.batches > 0 {
        // Searches right after the import get plans for the tables as they now are, and
        // index-only scans on Postgres.
        store.optimize_after_bulk_load().await?;
    }
    stats.elapsed = started.elapsed();
    Ok(stats)
}

/// Reads, indexes and writes every file of `plan` (the body of [`import_files`]).
async fn load(
    store: &Store,
    tenant: &TenantName,
    plan: Vec<(PathBuf, Format)>,
    opts: &ImportOptions,
    started: Instant,
    on_event: &mut impl FnMut(Event<'_>),
) -> Result<Stats, ImportError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(2);
    let (batch_size, on_error, validate) =
        (opts.batch_size.max(1), opts.on_error, opts.validate.clone());
    let registry = opts
        .registry
        .as_deref()
        .cloned()
        .unwrap_or_else(conformance::Registry::builtin);
    // The writers' own extractor: stage 5b recomputes the policies of resources citing an
    // imported Restriction (rare; the reader's extractor does the per-resource work).
    let extractor = Arc::new(search::Extractor::new(registry.clone()));
    let reader = std::thread::Builder::new()
        .name("fhirdir-import-reader".into())
        .spawn(move || read_files(plan, batch_size, on_error, registry, validate, &tx))
        .map_err(|e| ImportError::Reader(e.to_string()))?;

    let writers = opts.writers.unwrap_or(match store.backend() {
        "postgres" => 2,
        _ => 1,
    });
    let writers = writers.max(1);
    let mut stats = Stats::default();
    // Batches being written, oldest first; each is its own transaction.
    let mut in_flight: VecDeque<InFlight> = VecDeque::new();
    while let Some(msg) = rx.recv().await {
        match msg {
            Msg::Batch(writes, file) => {
                let keys = batch_keys(&writes);
                // A resource in two batches at once could be written in either order: the
                // later line must win, so such a batch waits for every batch before it.
                let overlaps = in_flight.iter().any(|f| !f.keys.is_disjoint(&keys));
                while in_flight.len() >= writers || (overlaps && !in_flight.is_empty()) {
                    settle_oldest(&mut in_flight, store, &mut stats, started, on_event).await?;
                }
                let (store, tenant, ex) = (store.clone(), tenant.clone(), extractor.clone());
                let task =
                    tokio::spawn(async move { write_batch(&store, &tenant, writes, &ex).await });
                in_flight.push_back(InFlight { task, file, keys });
            }
            Msg::Problem(p) => {
                // Whatever is in flight was read before the problem: it commits either way
                // ("every earlier batch is"), and its counts come before the problem's.
                while settle_oldest(&mut in_flight, store, &mut stats, started, on_event).await? {}
                match on_error {
                    // Returning drops the receiver, which stops the reader thread.
                    OnError::Abort => return Err(ImportError::Invalid(p)),
                    OnError::Skip => {
                        stats.skipped += 1;
                        on_event(Event::Skipped(&p));
                    }
                }
            }
        }
    }
    while settle_oldest(&mut in_flight, store, &mut stats, started, on_event).await? {}
    // The channel closed: the reader is done (or panicked).
    match reader.join() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(ImportError::Reader("it panicked".into())),
    }
    Ok(stats)
}

/// A batch being written on a task of its own.
type WriteTask = tokio::task::JoinHandle<Result<Vec<store::BatchOutcome>, StoreError>>;

/// A batch being written: its task, the file its last resource came from, and its
/// resources' keys.
struct InFlight {
    task: WriteTask,
    file: Arc<Path>,
    keys: HashSet<(String, String)>,
}

fn batch_keys(writes: &[BatchWrite]) -> HashSet<(String, String)> {
    writes
        .iter()
        .map(|w| (w.request.resource_type.clone(), w.request.id.clone()))
        .collect()
}

/// One batch in one transaction.
async fn write_batch(
    store: &Store,
    tenant: &TenantName,
    writes: Vec<BatchWrite>,
    extractor: &search::Extractor,
) -> Result<Vec<store::BatchOutcome>, StoreError> {
    let mut txn = store.begin(tenant).await?;
    let on_unchanged = OnUnchanged::KeepCurrent;
    let outcomes = writes::apply_batch(&mut txn, writes, on_unchanged, extractor).await?;
    txn.commit().await?;
    Ok(outcomes)
}

/// Waits for the oldest batch in flight, then counts and reports it; `false` when none is.
async fn settle_oldest(
    in_flight: &mut VecDeque<InFlight>,
    store: &Store,
    stats: &mut Stats,
    started: Instant,
    on_event: &mut impl FnMut(Event<'_>),
) -> Result<bool, ImportError> {
    let Some(f) = in_flight.pop_front() else {
        return Ok(false);
    };
    let outcomes = match f.task.await {
        Ok(result) => result?,
        Err(e) => return Err(ImportError::Writer(e.to_string())),
    };
    committed(store, stats, &outcomes, started, &f.file, on_event).await?;
    Ok(true)
}

/// Counts a committed batch, refreshes statistics when due and reports it.
async fn committed(
    store: &Store,
    stats: &mut Stats,
    outcomes: &[store::BatchOutcome],
    started: Instant,
    file: &Path,
    on_event: &mut impl FnMut(Event<'_>),
) -> Result<(), ImportError> {
    for o in outcomes {
        match (o.unchanged, o.outcome.kind) {
            (true, _) => stats.unchanged += 1,
            (false, store::WriteKind::Created) => stats.created += 1,
            (false, store::WriteKind::Updated) => stats.updated += 1,
        }
    }
    stats.batches += 1;
    if refresh_statistics_now(store, stats.batches) {
        store.analyze_search_index().await?;
    }
    stats.elapsed = started.elapsed();
    on_event(Event::Committed { stats, file });
    Ok(())
}

/// Whether to refresh the planner's statistics after batch `batches` (1-based).
///
/// Postgres: autovacuum lags behind a bulk load, and with statistics of nearly empty tables
/// the planner turns a batch's "delete the old index rows of these 1,000 ids" (a rerun or an
/// update; a create deletes nothing) into a scan of every row of the type, and searches run
/// during the import get plans for empty tables. Refreshing after batches 1,
/// 4, 16, 64, ... (each time the tables have grown about fourfold) keeps the plans right for
/// a logarithmic number of `ANALYZE`s. SQLite's planner picks the index for those statements
/// without statistics, so it is analysed once, at the end.
fn refresh_statistics_now(store: &Store, batches: u64) -> bool {
    store.backend() == "postgres" && batches.is_power_of_two() && batches.trailing_zeros() & 1 == 0
}

/// The reader thread: files -> checked, indexed resources -> batches on `tx`. Returns early,
/// quietly, when the writer has gone (it stopped on an error).
fn read_files(
    files: Vec<(PathBuf, Format)>,
    batch_size: usize,
    on_error: OnError,
    registry: conformance::Registry,
    validate: Option<Arc<validation::Policy>>,
    tx: &tokio::sync::mpsc::Sender<Msg>,
) -> Result<(), ImportError> {
    let extractor = search::Extractor::new(registry);
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(MAX_INDEX_THREADS);
    let mut batch = Vec::with_capacity(batch_size);
    let mut last_file: Arc<Path> = Arc::from(Path::new(""));
    for (path, format) in files {
        let file: Arc<Path> = Arc::from(path.as_path());
        let mut reader = Reader::open(&path, format).map_err(|source| ImportError::File {
            path: path.clone(),
            source,
        })?;
        loop {
            // A problem, and whether the rest of the file is unreadable.
            let (problem, fatal) = match reader.next_item() {
                Ok(None) => break,
                Ok(Some(item)) => {
                    match item
                        .value
                        .and_then(validate::check)
                        .and_then(|c| match &validate {
                            Some(policy) => validate::with(policy, c),
                            None => Ok(c),
                        }) {
                        Ok(checked) => {
                            batch.push(checked);
                            last_file = file.clone();
                            if batch.len() >= batch_size {
                                let full =
                                    std::mem::replace(&mut batch, Vec::with_capacity(batch_size));
                                let writes = index_all(&extractor, full, workers);
                                if tx.blocking_send(Msg::Batch(writes, file.clone())).is_err() {
                                    return Ok(());
                                }
                            }
                            continue;
                        }
                        Err(message) => {
                            let line = item.line;
                            (
                                Problem {
                                    file: path.clone(),
                                    line,
                                    message,
                                },
                                false,
                            )
                        }
                    }
                }
                // An IO error or a corrupt gzip stream: the rest cannot be read.
                Err(e) => {
                    let message = format!("cannot read further: {e}");
                    (
                        Problem {
                            file: path.clone(),
                            line: reader.line(),
                            message,
                        },
                        true,
                    )
                }
            };
            if tx.blocking_send(Msg::Problem(problem)).is_err() || on_error == OnError::Abort {
                return Ok(());
            }
            if fatal {
                break;
            }
        }
    }
    if !batch.is_empty() {
        // An error here means the writer stopped; it reports why.
        let writes = index_all(&extractor, batch, workers);
        let _ = tx.blocking_send(Msg::Batch(writes, last_file));
    }
    Ok(())
}

/// Stage 4 of the write pipeline for a batch of checked resources (see
/// [`writes::index_many`]).
fn index_all(
    extractor: &search::Extractor,
    checked: Vec<validate::Checked>,
    workers: usize,
) -> Vec<BatchWrite> {
    let requests = checked
        .into_iter()
        .map(validate::Checked::into_request)
        .collect();
    writes::index_many(extractor, requests, workers)
}
