//! Change events: one per version written or deleted, appended in the write's own transaction
//! (migration 0015), so an event exists exactly when its write commits. They are the one
//! source of AuditEvent, subscriptions and replication.
//!
//! Numbering: each tenant numbers its events 1, 2, 3, ... from its row of `change_counters`,
//! taken as the last statement of the write transaction ([`append`]). On Postgres that row
//! stays locked until the commit, so a second writer gets its numbers only after the first
//! has committed: numbers commit in order, and a reader that has seen event N never later
//! finds a smaller one appear (a sequence, taken at insert, would not promise this; the lock
//! is held from the end of the write to its commit, not for the whole write). On SQLite the
//! one writer gives the same order.
//!
//! Reading ([`Store::change_events`]) goes through [`crate::Scope`]: the events of a resource
//! the viewer may not see now are left out, as its history is.

use chrono::{DateTime, Utc};

use crate::backend::{Backend, Conn};
use crate::db::SqlDb;
use crate::restricted::{visible_terms, Sight, Term};
use crate::search::Sql;
use crate::{common, Method, Scope, Store, StoreError, TenantName};

/// How long a tenant keeps its events when it has not said (the default, 30 days).
pub const DEFAULT_RETENTION_DAYS: i64 = 30;

/// What a change did to its resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeAction {
    /// The first version, or a version after a delete.
    Create,
    Update,
    Delete,
}

impl ChangeAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeAction::Create => "create",
            ChangeAction::Update => "update",
            ChangeAction::Delete => "delete",
        }
    }

    pub fn parse(s: &str) -> Option<ChangeAction> {
        Some(match s {
            "create" => ChangeAction::Create,
            "update" => ChangeAction::Update,
            "delete" => ChangeAction::Delete,
            _ => return None,
        })
    }
}

/// One committed change.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeEvent {
    /// The tenant's event number.
    pub number: i64,
    pub resource_type: String,
    pub id: String,
    /// The version written (the tombstone's, for a delete).
    pub version: i64,
    pub action: ChangeAction,
    /// The interaction that wrote it.
    pub method: Method,
    /// The version's `lastUpdated`.
    pub at: DateTime<Utc>,
    /// Who wrote it.
    pub agent: Agent,
}

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Agent {
    /// A caller without credentials (or any caller, with authorization off).
    #[default]
    Anonymous,
    /// A client with an access token: its `client_id`.
    Client(String),
    /// fhirdir itself: an import, a background job.
    System,
}

impl Agent {
    /// The `agent` column (migration 0015).
    pub(crate) fn column(&self) -> String {
        match self {
            Agent::Anonymous => "anonymous".to_owned(),
            Agent::System => "fhirdir".to_owned(),
            Agent::Client(id) => format!("client:{id}"),
        }
    }

    pub(crate) fn from_column(text: &str) -> Result<Agent, StoreError> {
        match text {
            "anonymous" => Ok(Agent::Anonymous),
            "fhirdir" => Ok(Agent::System),
            _ => text
                .strip_prefix("client:")
                .map(|id| Agent::Client(id.to_owned()))
                .ok_or_else(|| StoreError::Corrupt(format!("change event agent {text:?}"))),
        }
    }
}

/// A change of the open transaction, numbered when it commits.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub resource_type: String,
    pub id: String,
    pub version: i64,
    pub action: ChangeAction,
    pub method: Method,
    /// Epoch microseconds.
    pub at: i64,
}

/// Which events to read ([`Store::change_events`]); every condition given must hold.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Events of any of these resources: type, id, and optionally one version.
    pub entities: Vec<(String, String, Option<i64>)>,
    /// Events of resources of any of these types.
    pub resource_types: Vec<String>,
    /// Events of writes by any of these agents.
    pub agents: Vec<Agent>,
    /// Any of these actions (empty: any).
    pub actions: Vec<ChangeAction>,
    /// Any of these interactions (empty: any).
    pub methods: Vec<Method>,
    /// `at >= ` each of these (epoch microseconds).
    pub at_least: Vec<i64>,
    /// `at < ` each of these.
    pub before: Vec<i64>,
    /// Numbers above this.
    pub after_number: Option<i64>,
    /// Numbers below this.
    pub below_number: Option<i64>,
}

/// `noted` of an upsert into `change_counters`: the new time, or one microsecond after the
/// row's last when the clock has not moved past it (the times never go back).
pub(crate) fn later(sql: &mut Sql) -> &mut Sql {
    let mut sqlite = Sql::new();
    sqlite.push("MAX(change_counters.noted + 1, excluded.noted)");
    let mut postgres = Sql::new();
    postgres.push("GREATEST(change_counters.noted + 1, excluded.noted)");
    sql.dialect(sqlite, postgres)
}

/// Rows per `INSERT` of [`append`] (10 values each; well under SQLite's bound-value limit).
const ROWS_PER_INSERT: usize = 500;

/// Numbers and saves `events` of `tenant`'s open transaction: the last statements before
/// its commit (see the module documentation for why last).
pub(crate) async fn append<B: Backend>(
    conn: &mut Conn<B>,
    tenant: &TenantName,
    agent: &Agent,
    events: &[Pending],
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let n = events.len() as i64;
    let mut take = Sql::new();
    take.push("INSERT INTO change_counters (tenant, last, noted) VALUES (")
        .text(tenant.as_str())
        .push(", ")
        .int(n)
        .push(", ")
        .int(chrono::Utc::now().timestamp_micros())
        .push(
            ") ON CONFLICT (tenant) DO UPDATE SET last = change_counters.last + excluded.last, \
             noted = ",
        );
    later(&mut take).push(" RETURNING last, noted");
    let (last, noted): (i64, i64) = B::Db::fetch_optional(conn, &take)
        .await?
        .ok_or_else(|| StoreError::Corrupt("change counter: no row returned".into()))?;
    let mut number = last - n;
    for chunk in events.chunks(ROWS_PER_INSERT) {
        let mut sql = Sql::new();
        sql.push(
            "INSERT INTO change_events \
             (tenant, event_no, res_type, id, version, action, method, at, agent, noted) VALUES ",
        );
        for (i, e) in chunk.iter().enumerate() {
            number += 1;
            if i > 0 {
                sql.push(", ");
            }
            sql.push("(")
                .text(tenant.as_str())
                .push(", ")
                .int(number)
                .push(", ")
                .text(e.resource_type.as_str())
                .push(", ")
                .text(e.id.as_str())
                .push(", ")
                .int(e.version)
                .push(", ")
                .text(e.action.as_str())
                .push(", ")
                .text(e.method.as_str())
                .push(", ")
                .int(e.at)
                .push(", ")
                .text(agent.column())
                .push(", ")
                .int(noted)
                .push(")");
        }
        B::Db::execute(conn, &sql).await?;
    }
    Ok(())
}

/// Newest first, or oldest first ([`Store::change_events`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOrder {
    NewestFirst,
    OldestFirst,
}

type EventRow = (i64, String, String, i64, String, String, i64, String);

const EVENT_COLUMNS: &str =
    "SELECT e.event_no, e.res_type, e.id, e.version, e.action, e.method, e.at, e.agent \
     FROM change_events e";

/// Appends ` WHERE ...`: the events of `scope`'s tenant that `filter` selects, of resources
/// its viewer may see now (as their history: [`crate::restricted::visible_terms`]).
fn push_where(sql: &mut Sql, scope: &Scope<'_>, filter: &EventFilter) {
    let tenant = scope.tenant().as_str();
    sql.push(" WHERE e.tenant = ").text(tenant);
    let sight = Sight::new(restrict::Seer::of(scope.viewer()), true);
    let (ty, id) = (Term::Raw("e.res_type"), Term::Raw("e.id"));
    visible_terms(sql, &sight, tenant, ty, id, None);
    if !filter.entities.is_empty() {
        sql.push(" AND (");
        for (i, (t, id, version)) in filter.entities.iter().enumerate() {
            if i > 0 {
                sql.push(" OR ");
            }
            sql.push("(e.res_type = ")
                .text(t.as_str())
                .push(" AND e.id = ")
                .text(id.as_str());
            if let Some(v) = version {
                sql.push(" AND e.version = ").int(*v);
            }
            sql.push(")");
        }
        sql.push(")");
    }
    if !filter.resource_types.is_empty() {
        sql.push(" AND e.res_type IN ")
            .text_list(filter.resource_types.iter().map(String::as_str));
    }
    if !filter.agents.is_empty() {
        let agents: Vec<String> = filter.agents.iter().map(Agent::column).collect();
        sql.push(" AND e.agent IN ")
            .text_list(agents.iter().map(String::as_str));
    }
    if !filter.actions.is_empty() {
        sql.push(" AND e.action IN ")
            .text_list(filter.actions.iter().map(|a| a.as_str()));
    }
    if !filter.methods.is_empty() {
        sql.push(" AND e.method IN ")
            .text_list(filter.methods.iter().map(|m| m.as_str()));
    }
    for at in &filter.at_least {
        sql.push(" AND e.at >= ").int(*at);
    }
    for at in &filter.before {
        sql.push(" AND e.at < ").int(*at);
    }
    if let Some(n) = filter.after_number {
        sql.push(" AND e.event_no > ").int(n);
    }
    if let Some(n) = filter.below_number {
        sql.push(" AND e.event_no < ").int(n);
    }
}

fn event(row: EventRow) -> Result<ChangeEvent, StoreError> {
    let (number, resource_type, id, version, action, method, at, agent) = row;
    Ok(ChangeEvent {
        action: ChangeAction::parse(&action)
            .ok_or_else(|| StoreError::Corrupt(format!("change event {number}: {action:?}")))?,
        method: Method::parse(&method)
            .ok_or_else(|| StoreError::Corrupt(format!("change event {number}: {method:?}")))?,
        at: common::from_micros(at)?,
        agent: Agent::from_column(&agent)?,
        number,
        resource_type,
        id,
        version,
    })
}

async fn read<B: Backend>(
    store: &B,
    scope: Scope<'_>,
    filter: &EventFilter,
    order: EventOrder,
    limit: u32,
) -> Result<Vec<ChangeEvent>, StoreError> {
    let mut sql = Sql::new();
    sql.push(EVENT_COLUMNS);
    push_where(&mut sql, &scope, filter);
    sql.push(match order {
        EventOrder::NewestFirst => " ORDER BY e.event_no DESC LIMIT ",
        EventOrder::OldestFirst => " ORDER BY e.event_no LIMIT ",
    })
    .int(i64::from(limit));
    let mut conn = store.reader().acquire().await?;
    let rows: Vec<EventRow> = B::Db::fetch_all(&mut conn, &sql).await?;
    rows.into_iter().map(event).collect()
}

async fn count<B: Backend>(
    store: &B,
    scope: Scope<'_>,
    filter: &EventFilter,
) -> Result<u64, StoreError> {
    let mut sql = Sql::new();
    sql.push("SELECT COUNT(*) FROM change_events e");
    push_where(&mut sql, &scope, filter);
    let mut conn = store.reader().acquire().await?;
    let row: Option<(i64,)> = B::Db::fetch_optional(&mut conn, &sql).await?;
    Ok(row.map_or(0, |(n,)| n.max(0) as u64))
}

impl Store {
    /// Up to `limit` of the events `filter` selects in `scope`'s tenant, of resources its
    /// viewer may see now, in `order` of their numbers. An unknown tenant has none.
    pub async fn change_events(
        &self,
        scope: impl Into<Scope<'_>>,
        filter: &EventFilter,
        order: EventOrder,
        limit: u32,
    ) -> Result<Vec<ChangeEvent>, StoreError> {
        let scope = scope.into();
        dispatch!(self, s => read(s, scope, filter, order, limit).await)
    }

    /// Completes when a write in this process commits change events after this call (the
    /// future is registered when made, not when first polled): the subscription worker waits
    /// on it between polls.
    pub fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        dispatch!(self, s => s.caches().changes.notified())
    }

    /// How many events [`Store::change_events`] would answer without a limit.
    pub async fn count_change_events(
        &self,
        scope: impl Into<Scope<'_>>,
        filter: &EventFilter,
    ) -> Result<u64, StoreError> {
        let scope = scope.into();
        dispatch!(self, s => count(s, scope, filter).await)
    }
}

/// `SELECT retention_days` of a tenant's settings.
pub(crate) fn retention_of(tenant: &str) -> Sql {
    let mut sql = Sql::new();
    sql.push("SELECT retention_days FROM tenant_event_settings WHERE tenant = ")
        .text(tenant);
    sql
}

/// Saves a tenant's retention.
pub(crate) fn set_retention(tenant: &str, days: i64) -> Sql {
    let mut sql = Sql::new();
    sql.push("INSERT INTO tenant_event_settings (tenant, retention_days) VALUES (")
        .text(tenant)
        .push(", ")
        .int(days)
        .push(") ON CONFLICT (tenant) DO UPDATE SET retention_days = excluded.retention_days");
    sql
}

/// Deletes a tenant's events recorded before `cutoff` (epoch microseconds).
pub(crate) fn trim(tenant: &str, cutoff: i64) -> Sql {
    let mut sql = Sql::new();
    sql.push("DELETE FROM change_events WHERE tenant = ")
        .text(tenant)
        .push(" AND at < ")
        .int(cutoff);
    sql
}

/// After [`trim`]: the subscriptions' numbered events whose change event is gone (`$events`
/// has nothing left to replay for them).
pub(crate) fn trim_numbered(tenant: &str) -> Sql {
    let mut sql = Sql::new();
    sql.push("DELETE FROM subscription_events WHERE tenant = ")
        .text(tenant)
        .push(
            " AND event_no < COALESCE((SELECT MIN(c.event_no) FROM change_events c \
             WHERE c.tenant = ",
        )
        .text(tenant)
        .push("), (SELECT k.last + 1 FROM change_counters k WHERE k.tenant = ")
        .text(tenant)
        .push("), 0)");
    sql
}
