//! Directory-to-directory federation (migration 0017): a tenant made the replica of an
//! upstream FHIR directory keeps here the upstream's setting and, per copied resource type,
//! its feed: our Subscription on the upstream and how far its events have been applied. The
//! resources themselves are ordinary resources; the services' federation worker writes them.
//!
//! A feed's position moves in the transaction that applies its events
//! ([`crate::StoreTx::advance_feed`]), so after any crash the replica resumes exactly after
//! the last event it committed.

use crate::search::Sql;
use crate::{Store, StoreError, TenantName};

/// A tenant's upstream setting and where its replication stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub tenant: TenantName,
    /// The upstream's FHIR base, without a trailing slash.
    pub url: String,
    /// The resource types copied.
    pub types: Vec<String>,
    /// SMART backend services client id, for an upstream that wants a token.
    pub client_id: Option<String>,
    /// Its private key (PEM).
    pub private_key: Option<String>,
    /// What the upstream must send back with each notification.
    pub secret: String,
    /// `subscribe`, `seed` or `follow`.
    pub phase: String,
    pub error: Option<String>,
    /// When the setting was written (epoch microseconds): a worker's phase change applies
    /// only to the setting it read.
    pub updated: i64,
}

/// One copied type's feed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Feed {
    pub resource_type: String,
    /// Our Subscription on the upstream (absolute URL).
    pub subscription: String,
    /// The last of its events applied here.
    pub applied: i64,
    /// The events the upstream last said it had numbered for it.
    pub announced: i64,
    /// The upstream commit time of the last event applied (epoch microseconds).
    pub committed_at: Option<i64>,
    /// When the last event was applied here.
    pub applied_at: Option<i64>,
    /// The upstream commit time of the oldest event announced and not yet applied.
    pub pending_since: Option<i64>,
    /// When the upstream last reached us.
    pub contact: Option<i64>,
}

type UpstreamRow = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
    Option<String>,
    i64,
);

const UPSTREAM_COLUMNS: &str = "SELECT tenant, url, types, client_id, private_key, secret, \
     phase, error, updated FROM tenant_upstreams";

fn upstream(row: UpstreamRow) -> Result<Upstream, StoreError> {
    let (tenant, url, types, client_id, private_key, secret, phase, error, updated) = row;
    Ok(Upstream {
        tenant: TenantName::parse(&tenant)?,
        url,
        types: types
            .split(',')
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect(),
        client_id,
        private_key,
        secret,
        phase,
        error,
        updated,
    })
}

type FeedRow = (
    String,
    String,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

fn opt_int(sql: &mut Sql, v: Option<i64>) {
    match v {
        Some(n) => sql.int(n),
        None => sql.push("NULL"),
    };
}

impl Store {
    /// Every replica tenant's setting, by tenant.
    pub async fn upstreams(&self) -> Result<Vec<Upstream>, StoreError> {
        let mut sql = Sql::new();
        sql.push(UPSTREAM_COLUMNS).push(" ORDER BY tenant");
        let rows: Vec<UpstreamRow> = self.fetch_all(&sql).await?;
        rows.into_iter().map(upstream).collect()
    }

    /// `tenant`'s upstream setting, if it is a replica.
    pub async fn upstream(&self, tenant: &TenantName) -> Result<Option<Upstream>, StoreError> {
        let mut sql = Sql::new();
        sql.push(UPSTREAM_COLUMNS)
            .push(" WHERE tenant = ")
            .text(tenant.as_str());
        let row: Option<UpstreamRow> = self.read_optional(&sql).await?;
        row.map(upstream).transpose()
    }

    /// Makes `u.tenant` a replica of `u.url` (replacing any setting, and forgetting the
    /// feeds of the previous one: the caller has read them to unsubscribe).
    pub async fn set_upstream(&self, u: &Upstream) -> Result<(), StoreError> {
        let t = u.tenant.as_str();
        let mut delete = Sql::new();
        delete
            .push("DELETE FROM tenant_upstreams WHERE tenant = ")
            .text(t);
        let mut feeds = Sql::new();
        feeds
            .push("DELETE FROM upstream_feeds WHERE tenant = ")
            .text(t);
        let mut insert = Sql::new();
        insert
            .push(
                "INSERT INTO tenant_upstreams (tenant, url, types, client_id, private_key, \
                 secret, phase, error, updated) VALUES (",
            )
            .text(t)
            .push(", ")
            .text(u.url.as_str())
            .push(", ")
            .text(u.types.join(","))
            .push(", ")
            .opt_text(u.client_id.clone())
            .push(", ")
            .opt_text(u.private_key.clone())
            .push(", ")
            .text(u.secret.as_str())
            .push(", ")
            .text(u.phase.as_str())
            .push(", ")
            .opt_text(u.error.clone())
            .push(", ")
            .int(u.updated)
            .push(")");
        self.execute_all(&[delete, feeds, insert]).await
    }

    /// Stops `tenant` being a replica; answers whether it was one.
    pub async fn remove_upstream(&self, tenant: &TenantName) -> Result<bool, StoreError> {
        let mut feeds = Sql::new();
        feeds
            .push("DELETE FROM upstream_feeds WHERE tenant = ")
            .text(tenant.as_str());
        self.execute(&feeds).await?;
        let mut sql = Sql::new();
        sql.push("DELETE FROM tenant_upstreams WHERE tenant = ")
            .text(tenant.as_str());
        Ok(self.execute(&sql).await? > 0)
    }

    /// Sets the phase and error of the setting written at `updated`; answers false when the
    /// setting has changed since (the caller's work is for a setting that is gone).
    pub async fn set_upstream_phase(
        &self,
        tenant: &TenantName,
        updated: i64,
        phase: &str,
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut sql = Sql::new();
        sql.push("UPDATE tenant_upstreams SET phase = ")
            .text(phase)
            .push(", error = ")
            .opt_text(error.map(str::to_owned))
            .push(" WHERE tenant = ")
            .text(tenant.as_str())
            .push(" AND updated = ")
            .int(updated);
        Ok(self.execute(&sql).await? > 0)
    }

    /// `tenant`'s feeds, by type.
    pub async fn feeds(&self, tenant: &TenantName) -> Result<Vec<Feed>, StoreError> {
        let mut sql = Sql::new();
        sql.push(
            "SELECT resource_type, subscription, applied, announced, committed_at, applied_at, \
             pending_since, contact FROM upstream_feeds WHERE tenant = ",
        )
        .text(tenant.as_str())
        .push(" ORDER BY resource_type");
        let rows: Vec<FeedRow> = self.read_all(&sql).await?;
        Ok(rows
            .into_iter()
            .map(
                |(
                    resource_type,
                    subscription,
                    applied,
                    announced,
                    committed_at,
                    applied_at,
                    pending_since,
                    contact,
                )| Feed {
                    resource_type,
                    subscription,
                    applied,
                    announced,
                    committed_at,
                    applied_at,
                    pending_since,
                    contact,
                },
            )
            .collect())
    }

    /// Starts a feed (a Subscription just made on the upstream), or replaces it.
    pub async fn save_feed(&self, tenant: &TenantName, f: &Feed) -> Result<(), StoreError> {
        let mut delete = Sql::new();
        delete
            .push("DELETE FROM upstream_feeds WHERE tenant = ")
            .text(tenant.as_str())
            .push(" AND resource_type = ")
            .text(f.resource_type.as_str());
        let mut insert = Sql::new();
        insert
            .push(
                "INSERT INTO upstream_feeds (tenant, resource_type, subscription, applied, \
                 announced, committed_at, applied_at, pending_since, contact) VALUES (",
            )
            .text(tenant.as_str())
            .push(", ")
            .text(f.resource_type.as_str())
            .push(", ")
            .text(f.subscription.as_str())
            .push(", ")
            .int(f.applied)
            .push(", ")
            .int(f.announced)
            .push(", ");
        opt_int(&mut insert, f.committed_at);
        insert.push(", ");
        opt_int(&mut insert, f.applied_at);
        insert.push(", ");
        opt_int(&mut insert, f.pending_since);
        insert.push(", ");
        opt_int(&mut insert, f.contact);
        insert.push(")");
        self.execute_all(&[delete, insert]).await
    }

    /// Forgets `resource_type`'s feed (its Subscription is gone upstream).
    pub async fn delete_feed(
        &self,
        tenant: &TenantName,
        resource_type: &str,
    ) -> Result<(), StoreError> {
        let mut sql = Sql::new();
        sql.push("DELETE FROM upstream_feeds WHERE tenant = ")
            .text(tenant.as_str())
            .push(" AND resource_type = ")
            .text(resource_type);
        self.execute(&sql).await?;
        Ok(())
    }

    /// Records that the upstream reached us at `at` about `resource_type`'s feed, saying it
    /// has numbered `announced` events, the oldest not applied committed at `pending_since`.
    pub async fn note_feed_contact(
        &self,
        tenant: &TenantName,
        resource_type: &str,
        announced: i64,
        pending_since: Option<i64>,
        at: i64,
    ) -> Result<(), StoreError> {
        let mut sql = Sql::new();
        sql.push("UPDATE upstream_feeds SET announced = ")
            .int(announced)
            .push(", contact = ")
            .int(at)
            .push(", pending_since = ");
        opt_int(&mut sql, pending_since);
        sql.push(" WHERE tenant = ")
            .text(tenant.as_str())
            .push(" AND resource_type = ")
            .text(resource_type);
        self.execute(&sql).await?;
        Ok(())
    }
}

/// [`crate::StoreTx::advance_feed`]: the feed's position after the events applied in the
/// same transaction.
pub(crate) fn advance(
    tenant: &str,
    resource_type: &str,
    applied: i64,
    committed_at: Option<i64>,
    now: i64,
) -> Sql {
    let mut sql = Sql::new();
    sql.push("UPDATE upstream_feeds SET applied = ")
        .int(applied)
        .push(", applied_at = ")
        .int(now)
        .push(", committed_at = ");
    opt_int(&mut sql, committed_at);
    sql.push(", pending_since = NULL WHERE tenant = ")
        .text(tenant)
        .push(" AND resource_type = ")
        .text(resource_type)
        .push(" AND applied < ")
        .int(applied);
    sql
}
