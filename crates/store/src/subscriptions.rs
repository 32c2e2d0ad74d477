//! The delivery state of topic-based Subscriptions (migration 0016): where each stands in its
//! tenant's change events, how many events it has numbered, the status the server keeps, and
//! its failure streak. The Subscription resource itself is an ordinary resource; the services'
//! delivery worker reads both.
//!
//! A row is made when a client writes a Subscription ([`crate::StoreTx::note_subscription`],
//! in the write's transaction), starting after the last event committed then; fhirdir's own
//! writes (an import, the worker's status updates) make none, so an imported Subscription
//! stays inert until a client writes it.

use crate::backend::{Backend, Conn};
use crate::db::SqlDb;
use crate::events::Agent;
use crate::search::Sql;
use crate::{Store, StoreError, TenantName};

/// One Subscription's delivery state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionState {
    pub id: String,
    /// Who wrote it first: whose view of the tenant its notifications carry.
    pub owner: Agent,
    /// The last change event examined for it.
    pub position: i64,
    /// Events numbered for it so far (its last event's number).
    pub events_since_start: i64,
    /// `requested`, `active`, `error` or `off`, as the server keeps it.
    pub status: String,
    /// When the current streak of failed sends began (epoch microseconds).
    pub failing_since: Option<i64>,
    /// No attempt before this (epoch microseconds).
    pub next_attempt: i64,
    /// The last notification or heartbeat sent (epoch microseconds).
    pub last_sent: i64,
    /// The Subscription's heartbeat period when the worker last read it, in seconds.
    pub heartbeat_secs: Option<i64>,
    pub error: Option<String>,
}

type StateRow = (
    String,
    String,
    i64,
    i64,
    String,
    Option<i64>,
    i64,
    i64,
    Option<i64>,
    Option<String>,
);

const STATE_COLUMNS: &str = "SELECT id, owner, position, events_since_start, status, \
     failing_since, next_attempt, last_sent, heartbeat_secs, error FROM subscription_state \
     WHERE tenant = ";

fn state(row: StateRow) -> Result<SubscriptionState, StoreError> {
    let (
        id,
        owner,
        position,
        events_since_start,
        status,
        failing_since,
        next_attempt,
        last_sent,
        heartbeat_secs,
        error,
    ) = row;
    Ok(SubscriptionState {
        owner: Agent::from_column(&owner)?,
        id,
        position,
        events_since_start,
        status,
        failing_since,
        next_attempt,
        last_sent,
        heartbeat_secs,
        error,
    })
}

async fn states<B: Backend>(
    store: &B,
    tenant: &TenantName,
    id: Option<&str>,
) -> Result<Vec<SubscriptionState>, StoreError> {
    let mut sql = Sql::new();
    sql.push(STATE_COLUMNS).text(tenant.as_str());
    if let Some(id) = id {
        sql.push(" AND id = ").text(id);
    }
    sql.push(" ORDER BY id");
    let mut conn = store.reader().acquire().await?;
    let rows: Vec<StateRow> = B::Db::fetch_all(&mut conn, &sql).await?;
    rows.into_iter().map(state).collect()
}

async fn numbered<B: Backend>(
    store: &B,
    tenant: &TenantName,
    id: &str,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, i64)>, StoreError> {
    let mut sql = Sql::new();
    sql.push("SELECT number, event_no FROM subscription_events WHERE tenant = ")
        .text(tenant.as_str())
        .push(" AND subscription_id = ")
        .text(id)
        .push(" AND number >= ")
        .int(from)
        .push(" AND number <= ")
        .int(to)
        .push(" ORDER BY number LIMIT 1000");
    let mut conn = store.reader().acquire().await?;
    Ok(B::Db::fetch_all(&mut conn, &sql).await?)
}

impl Store {
    /// The delivery state of `tenant`'s Subscriptions (of `id` alone, when given), by id.
    pub async fn subscription_states(
        &self,
        tenant: &TenantName,
        id: Option<&str>,
    ) -> Result<Vec<SubscriptionState>, StoreError> {
        dispatch!(self, s => states(s, tenant, id).await)
    }

    /// The tenants with a Subscription waiting for delivery (`requested` or `active`) whose
    /// next attempt is due at `now` (epoch microseconds): the worker's one look per pass,
    /// answering tenant names only.
    pub async fn tenants_with_due_subscriptions(
        &self,
        now: i64,
    ) -> Result<Vec<TenantName>, StoreError> {
        let mut sql = Sql::new();
        sql.push(
            "SELECT DISTINCT tenant FROM subscription_state \
             WHERE status IN ('requested', 'active') AND next_attempt <= ",
        )
        .int(now)
        .push(" ORDER BY tenant");
        let rows: Vec<(String,)> = self.fetch_all(&sql).await?;
        rows.into_iter().map(|(t,)| TenantName::parse(&t)).collect()
    }

    /// The number of the tenant's last change event (0: none yet).
    pub async fn last_change_number(&self, tenant: &TenantName) -> Result<i64, StoreError> {
        let mut sql = Sql::new();
        sql.push("SELECT last FROM change_counters WHERE tenant = ")
            .text(tenant.as_str());
        let rows: Vec<(i64,)> = self.fetch_all(&sql).await?;
        Ok(rows.first().map_or(0, |(n,)| *n))
    }

    /// The events numbered `from..=to` for Subscription `id` (at most 1000): (its number,
    /// the change event's number), in order.
    pub async fn subscription_events(
        &self,
        tenant: &TenantName,
        id: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        dispatch!(self, s => numbered(s, tenant, id, from, to).await)
    }
}

/// [`crate::StoreTx::note_subscription`].
pub(crate) async fn note<B: Backend>(
    conn: &mut Conn<B>,
    tenant: &TenantName,
    agent: &Agent,
    id: &str,
    status: &str,
    now: i64,
) -> Result<(), StoreError> {
    let t = tenant.as_str();
    let mut existing = Sql::new();
    existing
        .push("SELECT owner FROM subscription_state WHERE tenant = ")
        .text(t)
        .push(" AND id = ")
        .text(id);
    let found: Option<(String,)> = B::Db::fetch_optional(conn, &existing).await?;
    // Only its owner (or fhirdir itself) changes a Subscription: another client's write
    // would point its notifications, which carry the owner's view, elsewhere.
    if let Some((owner,)) = &found {
        if *agent != Agent::System && *owner != agent.column() {
            return Err(StoreError::NotOwner(format!(
                "Subscription/{id} belongs to another client; only its owner may change it"
            )));
        }
    }
    match (found, status) {
        (None, _) if *agent == Agent::System => Ok(()),
        (None, "requested" | "off") => {
            // Numbers taken after this read belong to writes committing after it: they are
            // this subscription's to examine (at least once).
            let mut sql = Sql::new();
            sql.push(
                "INSERT INTO subscription_state (tenant, id, owner, position, \
                 events_since_start, status, failing_since, next_attempt, last_sent, \
                 heartbeat_secs, error) \
                 VALUES (",
            )
            .text(t)
            .push(", ")
            .text(id)
            .push(", ")
            .text(agent.column())
            .push(", COALESCE((SELECT last FROM change_counters WHERE tenant = ")
            .text(t)
            .push("), 0), 0, ")
            .text(status)
            .push(", NULL, 0, ")
            .int(now)
            .push(", NULL, NULL)");
            B::Db::execute(conn, &sql).await?;
            Ok(())
        }
        // A client asks again (after an error, or with a changed channel): a new handshake,
        // resuming from the first event not delivered.
        (Some(_), "requested") | (Some(_), "off") => {
            let mut sql = Sql::new();
            sql.push("UPDATE subscription_state SET status = ")
                .text(status)
                .push(", failing_since = NULL, next_attempt = 0, error = NULL WHERE tenant = ")
                .text(t)
                .push(" AND id = ")
                .text(id);
            B::Db::execute(conn, &sql).await?;
            Ok(())
        }
        // `active` / `error`: the server's own status writes; the row already says so.
        _ => Ok(()),
    }
}

/// [`crate::StoreTx::forget_subscription`].
pub(crate) async fn forget<B: Backend>(
    conn: &mut Conn<B>,
    tenant: &TenantName,
    agent: &Agent,
    id: &str,
) -> Result<(), StoreError> {
    let mut existing = Sql::new();
    existing
        .push("SELECT owner FROM subscription_state WHERE tenant = ")
        .text(tenant.as_str())
        .push(" AND id = ")
        .text(id);
    let found: Option<(String,)> = B::Db::fetch_optional(conn, &existing).await?;
    if let Some((owner,)) = found {
        if *agent != Agent::System && owner != agent.column() {
            return Err(StoreError::NotOwner(format!(
                "Subscription/{id} belongs to another client; only its owner may delete it"
            )));
        }
    }
    for table in ["subscription_state", "subscription_events"] {
        let mut sql = Sql::new();
        sql.push("DELETE FROM ")
            .push(table)
            .push(" WHERE tenant = ")
            .text(tenant.as_str())
            .push(if table == "subscription_state" {
                " AND id = "
            } else {
                " AND subscription_id = "
            })
            .text(id);
        B::Db::execute(conn, &sql).await?;
    }
    Ok(())
}

/// [`crate::StoreTx::save_subscription_state`].
pub(crate) async fn save<B: Backend>(
    conn: &mut Conn<B>,
    tenant: &TenantName,
    s: &SubscriptionState,
    numbered: &[(i64, i64)],
    from_status: &str,
) -> Result<bool, StoreError> {
    let t = tenant.as_str();
    let mut sql = Sql::new();
    sql.push("UPDATE subscription_state SET position = ")
        .int(s.position)
        .push(", events_since_start = ")
        .int(s.events_since_start)
        .push(", status = ")
        .text(s.status.as_str())
        .push(", failing_since = ");
    match s.failing_since {
        Some(v) => sql.int(v),
        None => sql.push("NULL"),
    };
    sql.push(", next_attempt = ")
        .int(s.next_attempt)
        .push(", last_sent = ")
        .int(s.last_sent)
        .push(", heartbeat_secs = ");
    match s.heartbeat_secs {
        Some(v) => sql.int(v),
        None => sql.push("NULL"),
    };
    sql.push(", error = ")
        .opt_text(s.error.clone())
        .push(" WHERE tenant = ")
        .text(t)
        .push(" AND id = ")
        .text(s.id.as_str())
        .push(" AND status = ")
        .text(from_status);
    if B::Db::execute(conn, &sql).await? == 0 {
        return Ok(false);
    }
    for chunk in numbered.chunks(500) {
        let mut sql = Sql::new();
        sql.push(
            "INSERT INTO subscription_events (tenant, subscription_id, number, event_no) VALUES ",
        );
        for (i, (number, event_no)) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push("(")
                .text(t)
                .push(", ")
                .text(s.id.as_str())
                .push(", ")
                .int(*number)
                .push(", ")
                .int(*event_no)
                .push(")");
        }
        B::Db::execute(conn, &sql).await?;
    }
    Ok(true)
}
