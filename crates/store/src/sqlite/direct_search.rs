//! Searches on a SQLite file answered inline on the calling task, on the point-read
//! connections ([`super::point_read`]), without sqlx's worker threads.
//!
//! Why: sqlx hands every statement to its connection's thread and every row back, and a
//! search is five of those round trips (`BEGIN`, the statement timeout, the tenant's sight,
//! the page, `COMMIT`); for a page of ten results the thread hand-offs cost more CPU than
//! the SQL (BENCHMARKS.md, "Throughput per request"). Here the same statements
//! ([`run::search_on`], the one search driver) run on a `rusqlite` connection directly.
//!
//! Why running a search on a tokio worker is acceptable: it is bounded. A progress handler
//! interrupts the search once it has run [`BUDGET_STEPS`] SQLite VM instructions (its CPU
//! work, whatever else the machine does; a page of ten matches takes about a thousand) or
//! for [`WALL_LIMIT`] (a cold cache's reads); the search is then answered the usual way (on
//! sqlx's threads, under the statement timeout), and its shape (type and parameter names)
//! goes there directly for [`SLOW_FOR`], so a search that is slow at a large scale pays the
//! wasted budget once, not per request. As for point reads, a
//! connection is only taken with `try_lock`, its busy timeout is zero, and any error (busy,
//! a statement with numbered placeholders, a row that does not decode, a future that would
//! wait) gives "not answered here": the sqlx path then runs the search, and reports its
//! errors as it always did.
//!
//! Same answers: the statements, their order, the caches and the decoding are those of the
//! sqlx path; only the driver differs. The read transaction (`BEGIN` deferred, one WAL
//! snapshot from its first read) ends before the connection is released.

use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use rusqlite::types::{ToSqlOutput, Value};
use rusqlite::{Connection, ErrorCode};

use super::point_read::PointReader;
use crate::db::FromCols;
use crate::search::exec::SearchExec;
use crate::search::{run, Arg, Dialect, KeyKind, PageRow, SearchCaches, SearchPage, Sql};
use crate::{PageCursor, StoreError};

/// How many SQLite VM instructions a search may run inline before it moves to sqlx's
/// threads (a few milliseconds of CPU).
const BUDGET_STEPS: u32 = 200_000;

/// How long a search may take inline, whatever its instructions (reads from disk).
const WALL_LIMIT: Duration = Duration::from_millis(20);

/// How long a shape that overran its budget skips the inline path.
const SLOW_FOR: Duration = Duration::from_secs(30);

/// SQLite VM instructions between two calls of the progress handler.
const CHECK_EVERY: u32 = 1_000;

/// Shapes remembered as slow at most; beyond, the memory starts again.
const MAX_SLOW_SHAPES: usize = 1_024;

/// The inline search path of one store.
#[derive(Debug)]
pub(super) struct DirectSearch {
    /// [`BUDGET_STEPS`] (tests shorten it).
    budget: u32,
    /// Shape -> until when it skips the inline path.
    slow: Mutex<HashMap<String, Instant>>,
}

impl Default for DirectSearch {
    fn default() -> Self {
        DirectSearch {
            budget: BUDGET_STEPS,
            slow: Mutex::default(),
        }
    }
}

/// Why a search was not answered inline.
enum Missed {
    /// The progress handler stopped it.
    Interrupted,
    Other(String),
}

impl DirectSearch {
    /// [`crate::Store::search`] on `point`'s connections, or `None` when it is not answered
    /// here (see the module documentation). `query`'s ValueSets are expanded already.
    #[expect(
        clippy::too_many_arguments,
        reason = "the search's own arguments plus where it runs"
    )]
    pub(super) fn search(
        &self,
        point: &PointReader,
        caches: &SearchCaches,
        timeout: Option<Duration>,
        scope: crate::Scope<'_>,
        query: &search::SearchQuery,
        registry: &conformance::Registry,
        cursor: Option<&PageCursor>,
    ) -> Option<Result<SearchPage, StoreError>> {
        let shape = shape_of(query);
        if self.is_slow(&shape) {
            return None;
        }
        let mut guard = point.free_connection()?;
        let conn = guard.as_mut()?;
        let until = Instant::now() + timeout.map_or(WALL_LIMIT, |t| t.min(WALL_LIMIT));
        let mut calls_left = self.budget / CHECK_EVERY;
        let every = i32::try_from(CHECK_EVERY).unwrap_or(i32::MAX);
        let over_budget = Arc::new(AtomicBool::new(false));
        let seen = over_budget.clone();
        conn.progress_handler(
            every,
            Some(move || match calls_left.checked_sub(1) {
                Some(left) => {
                    calls_left = left;
                    Instant::now() >= until
                }
                None => {
                    seen.store(true, Ordering::Relaxed);
                    true
                }
            }),
        );
        let result = search_in_tx(conn, caches, scope, query, registry, cursor);
        if !conn.is_autocommit() {
            // Its transaction could not be ended: never reuse it (it would pin a snapshot).
            *guard = None;
        }
        match result {
            Ok(page) => Some(Ok(page)),
            // Over its instructions: this shape is too big to run inline for a while. Over
            // the clock only (reads from disk, or the thread preempted on a busy machine):
            // the next search tries again.
            Err(Missed::Interrupted) => {
                if over_budget.load(Ordering::Relaxed) {
                    self.mark_slow(shape);
                }
                None
            }
            Err(Missed::Other(why)) => {
                tracing::debug!(%why, "SQLite inline search not answered; using the sqlx reader");
                None
            }
        }
    }

    fn is_slow(&self, shape: &str) -> bool {
        let slow = self.slow.lock().unwrap_or_else(|e| e.into_inner());
        slow.get(shape).is_some_and(|until| Instant::now() < *until)
    }

    fn mark_slow(&self, shape: String) {
        let mut slow = self.slow.lock().unwrap_or_else(|e| e.into_inner());
        if slow.len() >= MAX_SLOW_SHAPES {
            slow.clear();
        }
        slow.insert(shape, Instant::now() + SLOW_FOR);
    }
}

/// The search in one read transaction on `conn`, ended (rolled back: it wrote nothing)
/// before returning whatever happened, so no snapshot outlives it; the progress handler is
/// removed first, so that the end is never interrupted.
fn search_in_tx(
    conn: &mut Connection,
    caches: &SearchCaches,
    scope: crate::Scope<'_>,
    query: &search::SearchQuery,
    registry: &conformance::Registry,
    cursor: Option<&PageCursor>,
) -> Result<SearchPage, Missed> {
    conn.execute_batch("BEGIN").map_err(missed)?;
    let mut exec = Inline { conn, failed: None };
    let polled = poll_once(run::search_on(
        &mut exec,
        scope,
        query,
        registry,
        cursor,
        Some(caches),
    ));
    let failed = exec.failed.take();
    conn.progress_handler(0, None::<fn() -> bool>);
    let ended = conn.execute_batch("ROLLBACK");
    match (polled, failed) {
        (_, Some(e)) => Err(missed(e)),
        (None, None) => Err(Missed::Other("the search would have waited".into())),
        (Some(Err(e)), None) => Err(Missed::Other(e.to_string())),
        (Some(Ok(page)), None) => {
            ended.map_err(missed)?;
            Ok(page)
        }
    }
}

fn missed(e: rusqlite::Error) -> Missed {
    match e.sqlite_error_code() {
        Some(ErrorCode::OperationInterrupted) => Missed::Interrupted,
        _ => Missed::Other(e.to_string()),
    }
}

/// Polls `fut` once: its answer, or `None` if it would wait. The inline driver's futures
/// are ready at once, so the search completes in one poll.
fn poll_once<F: Future>(fut: F) -> Option<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(fut).poll(&mut cx) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

/// What makes searches "the same" for [`SLOW_FOR`]: the type and the parameter names in
/// order, without their values.
fn shape_of(query: &search::SearchQuery) -> String {
    let mut shape = query.resource_type.clone();
    for c in &query.criteria {
        shape.push('&');
        shape.push_str(&c.name);
    }
    shape
}

/// A `rusqlite` connection as a [`SearchExec`]. A driver error is kept in `failed` (the
/// search stops at the first one) so the caller can tell an interrupt from the rest.
struct Inline<'c> {
    conn: &'c mut Connection,
    failed: Option<rusqlite::Error>,
}

impl Inline<'_> {
    /// The rows of `sql` (the first only, with `first_only`), each through `decode`.
    fn rows<T>(
        &mut self,
        sql: &Sql,
        first_only: bool,
        mut decode: impl FnMut(&rusqlite::Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let (text, args) = sql.sqlite_text().ok_or_else(|| {
            StoreError::Corrupt("a statement with numbered placeholders is not run inline".into())
        })?;
        let mut out = Vec::new();
        let stepped = (|| {
            let mut stmt = self.conn.prepare_cached(&text)?;
            let mut rows =
                stmt.query(rusqlite::params_from_iter(args.iter().map(|a| to_sql(a))))?;
            while let Some(row) = rows.next()? {
                out.push(decode(row));
                if first_only {
                    break;
                }
            }
            Ok::<_, rusqlite::Error>(())
        })();
        if let Err(e) = stepped {
            let shown = StoreError::Corrupt(e.to_string());
            self.failed = Some(e);
            return Err(shown);
        }
        out.into_iter().collect()
    }
}

impl SearchExec for Inline<'_> {
    const DIALECT: Dialect = Dialect::Sqlite;

    fn optional<T: FromCols>(
        &mut self,
        sql: &Sql,
    ) -> impl Future<Output = Result<Option<T>, StoreError>> + Send {
        let rows = self.rows(sql, true, |r| {
            T::from_rusqlite(r).map_err(|e| StoreError::Corrupt(e.to_string()))
        });
        std::future::ready(rows.map(|r| r.into_iter().next()))
    }

    fn page_rows(
        &mut self,
        sql: &Sql,
        key_kinds: &[KeyKind],
    ) -> impl Future<Output = Result<Vec<PageRow>, StoreError>> + Send {
        std::future::ready(self.rows(sql, false, |r| crate::search::decode_row(r, key_kinds)))
    }
}

/// A bound value as SQLite gets it from sqlx (`bool` as 0 or 1).
fn to_sql(arg: &Arg) -> ToSqlOutput<'_> {
    match arg {
        Arg::Text(s) | Arg::OptText(Some(s)) => ToSqlOutput::Borrowed(s.as_str().into()),
        Arg::OptText(None) | Arg::OptFloat(None) => ToSqlOutput::Owned(Value::Null),
        Arg::Int(n) => ToSqlOutput::Owned(Value::Integer(*n)),
        Arg::Float(n) | Arg::OptFloat(Some(n)) => ToSqlOutput::Owned(Value::Real(*n)),
        Arg::Bool(b) => ToSqlOutput::Owned(Value::Integer(i64::from(*b))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::SqliteStore;
    use crate::{BatchWrite, Method, OnUnchanged, Precondition, StoreOptions, TenantName};
    use conformance::Registry;
    use search::{Extractor, SearchQuery};
    use serde_json::json;

    /// A file store holding `n` indexed Practitioners `p000`.. (every third female, family
    /// names `Fam0`..`Fam6`).
    async fn store_with_practitioners(dir: &std::path::Path, n: usize) -> SqliteStore {
        let url = format!("sqlite://{}", dir.join("d.db").display());
        let store = SqliteStore::connect(&url, &StoreOptions::default())
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        let extractor = Extractor::new(Registry::builtin());
        let writes = (0..n)
            .map(|i| {
                let r = json!({"resourceType": "Practitioner", "id": format!("p{i:03}"),
                    "gender": if i % 3 == 0 { "female" } else { "male" },
                    "name": [{"family": format!("Fam{}", i % 7)}]});
                BatchWrite {
                    index: extractor.extract(&r),
                    restriction: None,
                    hidden: Default::default(),
                    request: crate::WriteRequest {
                        resource_type: "Practitioner".into(),
                        id: format!("p{i:03}"),
                        resource: r.as_object().cloned().unwrap_or_default(),
                        precondition: Precondition::None,
                        method: Method::Put,
                    },
                }
            })
            .collect();
        let mut tx = crate::Store::Sqlite(store.clone())
            .begin(&TenantName::default_tenant())
            .await
            .expect("begin");
        tx.write_batch(writes, OnUnchanged::KeepCurrent)
            .await
            .expect("write");
        tx.commit().await.expect("commit");
        store
    }

    fn parse(query: &str) -> SearchQuery {
        let pairs: Vec<(String, String)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        SearchQuery::parse("Practitioner", &pairs, &Registry::builtin()).expect("parses")
    }

    /// What a caller sees of a page.
    fn seen(page: &SearchPage) -> (Vec<(String, i64)>, Option<u64>, Option<String>) {
        let ids = page.matches.iter().chain(&page.included);
        (
            ids.map(|r| (r.id.clone(), r.version)).collect(),
            page.total,
            page.next.as_ref().map(PageCursor::encode),
        )
    }

    fn inline(
        store: &SqliteStore,
        direct: &DirectSearch,
        q: &SearchQuery,
        cursor: Option<&PageCursor>,
    ) -> Option<Result<SearchPage, StoreError>> {
        let t = TenantName::default_tenant();
        let point = store
            .point
            .as_deref()
            .expect("a file store has point connections");
        direct.search(
            point,
            &store.caches,
            None,
            (&t).into(),
            q,
            &Registry::builtin(),
            cursor,
        )
    }

    /// The sqlx path's answer: every inline connection held, so the store cannot use them.
    async fn pooled(
        store: &SqliteStore,
        q: &SearchQuery,
        cursor: Option<&PageCursor>,
    ) -> SearchPage {
        let t = TenantName::default_tenant();
        let point = store.point.as_deref().expect("point connections");
        let held: Vec<_> = (0..8).filter_map(|_| point.free_connection()).collect();
        assert!(
            inline(store, &DirectSearch::default(), q, cursor).is_none(),
            "no inline connection is free"
        );
        let page = crate::Store::Sqlite(store.clone())
            .search(&t, q, &Registry::builtin(), cursor)
            .await
            .expect("sqlx search");
        drop(held);
        page
    }

    #[tokio::test]
    async fn inline_searches_answer_what_the_sqlx_path_answers_page_by_page() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_with_practitioners(dir.path(), 40).await;
        let direct = DirectSearch::default();
        for query in [
            "",
            "gender=female",
            "gender=female&_count=4",
            "family=Fam3&_total=accurate",
            "_sort=family,-_id&_count=6",
            "gender:not=female&_count=5&_sort=-_id",
            "_id=p001,p004,p999",
            "family=Nobody",
            "_summary=count&gender=male",
        ] {
            let q = parse(query);
            let (mut a, mut b) = (None, None);
            for page in 1..=3 {
                let here = inline(&store, &direct, &q, a.as_ref())
                    .expect("answered inline")
                    .expect("inline search");
                let there = pooled(&store, &q, b.as_ref()).await;
                assert_eq!(seen(&here), seen(&there), "{query}, page {page}");
                assert!(
                    page > 1
                        || !here.matches.is_empty()
                        || query.contains("Nobody")
                        || query.contains("count"),
                    "{query}: something to compare"
                );
                (a, b) = (here.next, there.next);
                if a.is_none() {
                    break;
                }
            }
        }
    }

    #[tokio::test]
    async fn a_search_over_its_budget_is_left_to_sqlx_and_its_shape_skips_the_inline_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_with_practitioners(dir.path(), 300).await;
        let mut direct = DirectSearch {
            budget: 0,
            ..DirectSearch::default()
        };
        let q = parse("gender=female&_count=200");
        assert!(inline(&store, &direct, &q, None).is_none(), "interrupted");
        direct.budget = BUDGET_STEPS;
        assert!(
            inline(&store, &direct, &parse("gender=male"), None).is_none(),
            "the same shape with another value goes to sqlx directly"
        );
        let other = inline(&store, &direct, &parse("family=Fam1"), None);
        assert_eq!(
            other
                .expect("another shape is tried inline")
                .expect("ok")
                .matches
                .len(),
            43
        );
        // The store's own answer is whole, by whichever path.
        let page = crate::Store::Sqlite(store.clone())
            .search(
                &TenantName::default_tenant(),
                &q,
                &Registry::builtin(),
                None,
            )
            .await
            .expect("search");
        assert_eq!(page.matches.len(), 100);
        assert_eq!(seen(&page), seen(&pooled(&store, &q, None).await));
    }

    #[tokio::test]
    async fn an_interrupted_search_leaves_its_connection_usable_and_outside_a_transaction() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_with_practitioners(dir.path(), 300).await;
        let zero = DirectSearch {
            budget: 0,
            ..DirectSearch::default()
        };
        for _ in 0..4 {
            assert!(inline(&store, &zero, &parse("gender=female&_count=200"), None).is_none());
        }
        let point = store.point.as_deref().expect("point connections");
        let held: Vec<_> = (0..8).filter_map(|_| point.free_connection()).collect();
        for conn in &held {
            let conn = conn.as_ref().expect("open");
            assert!(conn.is_autocommit(), "no read transaction left open");
        }
        drop(held);
        let fresh = DirectSearch::default();
        let page = inline(&store, &fresh, &parse("gender=female&_count=200"), None)
            .expect("answered")
            .expect("ok");
        assert_eq!(page.matches.len(), 100);
    }
}
