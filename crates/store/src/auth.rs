//! What authorization keeps (migration 0011): a tenant's access policy, the keys that sign its
//! access tokens, its registered clients and UDAP trust communities, the client-assertion ids
//! it has seen, and its record of authorization events.
//!
//! The store does not interpret clients or communities: each is a JSON `record` the services
//! define, with the columns the store needs to find it. The rules it does own:
//!
//! - **One UDAP registration per issuer and community** (FAST Security STU2 §3.1: the same
//!   `iss` registering again in the same community replaces its registration): a unique index
//!   on `(tenant, community, iss)`, and [`Store::put_client`] upserts on the client id.
//! - **A client-assertion `jti` is accepted once until it expires** (RFC 7523 §3 item 7):
//!   [`Store::record_jti`] answers `false` for one already seen and not yet expired, in one
//!   statement, so two processes cannot both accept it.
//!
//! Every call takes the tenant first. Reads go to the reader pool: they sit on requests' paths
//! (the policy, a tenant's keys, a client at the token endpoint), and on SQLite the writer pool
//! is the one connection every write transaction holds.

use crate::search::Sql;
use crate::{Store, StoreError, TenantName};

/// One key that signs (or signed) a tenant's access tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRow {
    pub kid: String,
    /// PKCS#8 DER, base64. Never logged (see the `Debug` impl).
    pub private_key: String,
    /// Epoch microseconds.
    pub created_at: i64,
    /// When a newer key replaced it; `None` for the key in use.
    pub retired_at: Option<i64>,
}

impl std::fmt::Debug for SigningKeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRow")
            .field("kid", &self.kid)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

/// A registered client, or a trust community: the services' JSON record and when it was
/// written.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthRecord {
    /// The client id, or the community's name.
    pub key: String,
    pub record: serde_json::Value,
    /// Epoch microseconds.
    pub created_at: i64,
    pub updated_at: i64,
}

/// Where a UDAP registration belongs: one per `(community, iss)`.
#[derive(Debug, Clone, Copy)]
pub struct UdapIdentity<'a> {
    pub community: &'a str,
    pub iss: &'a str,
}

/// One authorization event (registration, token issued or refused, access denied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthEvent {
    /// Epoch microseconds.
    pub at: i64,
    /// `registration`, `token`, `access`, ...
    pub event: String,
    pub client_id: Option<String>,
    /// `success` or `refused`.
    pub outcome: String,
    pub reason: Option<String>,
}

/// Which authorization events to read (AuditEvent's security events). Empty lists: any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthEventFilter {
    /// Events of any of these clients.
    pub clients: Vec<String>,
    /// Any of these kinds (`token`, `access`, ...).
    pub events: Vec<String>,
    /// Any of these outcomes (`success`, `refused`).
    pub outcomes: Vec<String>,
    /// `at >=` each of these (epoch microseconds).
    pub at_least: Vec<i64>,
    /// `at <` each of these.
    pub before: Vec<i64>,
    /// Numbers above this.
    pub after_seq: Option<i64>,
    /// Numbers below this.
    pub below_seq: Option<i64>,
}

impl AuthEventFilter {
    fn push_where(&self, sql: &mut Sql, tenant: &TenantName) {
        sql.push(" WHERE tenant = ").text(tenant.as_str());
        let lists = [
            (" AND client_id IN ", &self.clients),
            (" AND event IN ", &self.events),
            (" AND outcome IN ", &self.outcomes),
        ];
        for (clause, values) in lists {
            if !values.is_empty() {
                sql.push(clause)
                    .text_list(values.iter().map(String::as_str));
            }
        }
        for low in &self.at_least {
            sql.push(" AND at >= ").int(*low);
        }
        for high in &self.before {
            sql.push(" AND at < ").int(*high);
        }
        if let Some(n) = self.after_seq {
            sql.push(" AND seq > ").int(n);
        }
        if let Some(n) = self.below_seq {
            sql.push(" AND seq < ").int(n);
        }
    }
}

/// `auth_events` columns: seq, at, event, client_id, outcome, reason.
type NumberedEventRow = (i64, i64, String, Option<String>, String, Option<String>);

/// `auth_events` columns: at, event, client_id, outcome, reason.
type EventRow = (i64, String, Option<String>, String, Option<String>);

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

fn parse_record(
    key: String,
    text: &str,
    created: i64,
    updated: i64,
) -> Result<AuthRecord, StoreError> {
    let record = serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("authorization record {key}: {e}")))?;
    Ok(AuthRecord {
        key,
        record,
        created_at: created,
        updated_at: updated,
    })
}

/// `INSERT … SELECT … WHERE the tenant exists`: a write to a tenant deleted meanwhile
/// changes nothing, and the caller answers [`StoreError::UnknownTenant`].
const IF_TENANT: &str = " WHERE EXISTS (SELECT 1 FROM tenants WHERE name = $1)";

impl Store {
    // ---- access policy ----

    /// Whether anonymous callers may read `tenant`; `None` when the tenant has no policy of
    /// its own (the default applies).
    pub async fn anonymous_read(&self, tenant: &TenantName) -> Result<Option<bool>, StoreError> {
        let mut sql = Sql::new();
        sql.push("SELECT anonymous_read FROM tenant_access WHERE tenant = ")
            .text(tenant.as_str());
        let row: Option<(bool,)> = self.read_optional(&sql).await?;
        Ok(row.map(|(b,)| b))
    }

    /// Sets whether anonymous callers may read `tenant`.
    pub async fn set_anonymous_read(
        &self,
        tenant: &TenantName,
        anonymous_read: bool,
    ) -> Result<(), StoreError> {
        let mut sql = Sql::numbered(
            "INSERT INTO tenant_access (tenant, anonymous_read) SELECT $1, $2 \
             WHERE EXISTS (SELECT 1 FROM tenants WHERE name = $1) \
             ON CONFLICT (tenant) DO UPDATE SET anonymous_read = excluded.anonymous_read",
        );
        sql.arg(tenant.as_str()).arg(anonymous_read);
        match self.execute(&sql).await? {
            0 => Err(StoreError::UnknownTenant(tenant.to_string())),
            _ => Ok(()),
        }
    }

    // ---- token-signing keys ----

    /// Every signing key of `tenant`, newest first.
    pub async fn signing_keys(
        &self,
        tenant: &TenantName,
    ) -> Result<Vec<SigningKeyRow>, StoreError> {
        let mut sql = Sql::new();
        sql.push(
            "SELECT kid, private_key, created_at, retired_at FROM auth_signing_keys \
             WHERE tenant = ",
        )
        .text(tenant.as_str())
        .push(" ORDER BY created_at DESC, kid");
        let rows: Vec<(String, String, i64, Option<i64>)> = self.read_all(&sql).await?;
        Ok(rows
            .into_iter()
            .map(|(kid, private_key, created_at, retired_at)| SigningKeyRow {
                kid,
                private_key,
                created_at,
                retired_at,
            })
            .collect())
    }

    /// Adds a signing key to `tenant` and retires the ones in use, in one transaction; with
    /// `only_if_none`, adds it only when the tenant has no key in use yet (two processes
    /// creating a tenant's first key at once: one wins, both then read the winner's).
    pub async fn add_signing_key(
        &self,
        tenant: &TenantName,
        kid: &str,
        private_key: &str,
        only_if_none: bool,
    ) -> Result<(), StoreError> {
        let now = now_micros();
        let mut retire = Sql::numbered(
            "UPDATE auth_signing_keys SET retired_at = $2 \
             WHERE tenant = $1 AND retired_at IS NULL",
        );
        retire.arg(tenant.as_str()).arg(now);
        let mut insert = Sql::numbered(
            "INSERT INTO auth_signing_keys (tenant, kid, private_key, created_at) \
             SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM tenants WHERE name = $1)",
        );
        insert
            .arg(tenant.as_str())
            .arg(kid)
            .arg(private_key)
            .arg(now);
        if only_if_none {
            insert.push(
                " AND NOT EXISTS (SELECT 1 FROM auth_signing_keys \
                 WHERE tenant = $1 AND retired_at IS NULL)",
            );
            self.execute(&insert).await?;
        } else {
            self.execute_all(&[retire, insert]).await?;
        }
        Ok(())
    }

    /// Forgets keys retired before `before` (epoch microseconds): no token they signed is
    /// still valid.
    pub async fn drop_retired_keys(
        &self,
        tenant: &TenantName,
        before: i64,
    ) -> Result<u64, StoreError> {
        let mut sql =
            Sql::numbered("DELETE FROM auth_signing_keys WHERE tenant = $1 AND retired_at < $2");
        sql.arg(tenant.as_str()).arg(before);
        self.execute(&sql).await
    }

    // ---- clients ----

    /// Creates or replaces client `client_id` of `tenant`. A UDAP registration names its
    /// `udap` identity; another client already holding that identity is an
    /// [`StoreError::Conflict`].
    pub async fn put_client(
        &self,
        tenant: &TenantName,
        client_id: &str,
        udap: Option<UdapIdentity<'_>>,
        record: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let now = now_micros();
        let mut sql = Sql::numbered(
            "INSERT INTO auth_clients (tenant, client_id, community, iss, record, created_at, \
             updated_at) SELECT $1, $2, $3, $4, $5, $6, $6",
        );
        sql.arg(tenant.as_str())
            .arg(client_id)
            .arg(udap.map(|u| u.community))
            .arg(udap.map(|u| u.iss))
            .arg(record.to_string())
            .arg(now)
            .push(IF_TENANT)
            .push(
                " ON CONFLICT (tenant, client_id) DO UPDATE SET record = excluded.record, \
                 community = excluded.community, iss = excluded.iss, \
                 updated_at = excluded.updated_at",
            );
        match self.execute(&sql).await {
            Ok(0) => Err(StoreError::UnknownTenant(tenant.to_string())),
            Ok(_) => Ok(()),
            Err(StoreError::Database(e)) if is_unique_violation(&e) => Err(StoreError::Conflict(
                "another client holds this UDAP registration".into(),
            )),
            Err(e) => Err(e),
        }
    }

    /// Client `client_id` of `tenant`.
    pub async fn client(
        &self,
        tenant: &TenantName,
        client_id: &str,
    ) -> Result<Option<AuthRecord>, StoreError> {
        let mut sql = Sql::new();
        sql.push(
            "SELECT client_id, record, created_at, updated_at FROM auth_clients WHERE tenant = ",
        )
        .text(tenant.as_str())
        .push(" AND client_id = ")
        .text(client_id);
        self.one_record(&sql).await
    }

    /// The client registered by UDAP as `udap`.
    pub async fn udap_client(
        &self,
        tenant: &TenantName,
        udap: UdapIdentity<'_>,
    ) -> Result<Option<AuthRecord>, StoreError> {
        let mut sql = Sql::new();
        sql.push(
            "SELECT client_id, record, created_at, updated_at FROM auth_clients WHERE tenant = ",
        )
        .text(tenant.as_str())
        .push(" AND community = ")
        .text(udap.community)
        .push(" AND iss = ")
        .text(udap.iss);
        self.one_record(&sql).await
    }

    /// Every client of `tenant`, oldest first.
    pub async fn clients(&self, tenant: &TenantName) -> Result<Vec<AuthRecord>, StoreError> {
        let mut sql = Sql::new();
        sql.push(
            "SELECT client_id, record, created_at, updated_at FROM auth_clients WHERE tenant = ",
        )
        .text(tenant.as_str())
        .push(" ORDER BY created_at, client_id");
        self.records(&sql).await
    }

    /// Removes a client; `false` when there was none.
    pub async fn delete_client(
        &self,
        tenant: &TenantName,
        client_id: &str,
    ) -> Result<bool, StoreError> {
        let mut sql =
            Sql::numbered("DELETE FROM auth_clients WHERE tenant = $1 AND client_id = $2");
        sql.arg(tenant.as_str()).arg(client_id);
        Ok(self.execute(&sql).await? == 1)
    }

    // ---- UDAP trust communities ----

    /// Creates or replaces community `name` of `tenant`.
    pub async fn put_community(
        &self,
        tenant: &TenantName,
        name: &str,
        record: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let mut sql = Sql::numbered(
            "INSERT INTO udap_communities (tenant, name, record, created_at) \
             SELECT $1, $2, $3, $4",
        );
        sql.arg(tenant.as_str())
            .arg(name)
            .arg(record.to_string())
            .arg(now_micros())
            .push(IF_TENANT)
            .push(" ON CONFLICT (tenant, name) DO UPDATE SET record = excluded.record");
        match self.execute(&sql).await? {
            0 => Err(StoreError::UnknownTenant(tenant.to_string())),
            _ => Ok(()),
        }
    }

    /// Every community of `tenant`, oldest first.
    pub async fn communities(&self, tenant: &TenantName) -> Result<Vec<AuthRecord>, StoreError> {
        let mut sql = Sql::new();
        sql.push(
            "SELECT name, record, created_at, created_at FROM udap_communities WHERE tenant = ",
        )
        .text(tenant.as_str())
        .push(" ORDER BY created_at, name");
        self.records(&sql).await
    }

    /// Removes a community; `false` when there was none.
    pub async fn delete_community(
        &self,
        tenant: &TenantName,
        name: &str,
    ) -> Result<bool, StoreError> {
        let mut sql = Sql::numbered("DELETE FROM udap_communities WHERE tenant = $1 AND name = $2");
        sql.arg(tenant.as_str()).arg(name);
        Ok(self.execute(&sql).await? == 1)
    }

    // ---- assertion ids ----

    /// Records that `iss` used `jti` in a client assertion valid until `expires_at` (epoch
    /// microseconds). `false`: the id was already used and has not expired, so the assertion
    /// is a replay. An expired record is replaced, so the id is accepted again afterwards.
    pub async fn record_jti(
        &self,
        tenant: &TenantName,
        iss: &str,
        jti: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let mut sql = Sql::numbered(
            "INSERT INTO auth_jti (tenant, iss, jti, expires_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant, iss, jti) DO UPDATE SET expires_at = excluded.expires_at \
             WHERE auth_jti.expires_at < $5",
        );
        sql.arg(tenant.as_str())
            .arg(iss)
            .arg(jti)
            .arg(expires_at)
            .arg(now_micros());
        Ok(self.execute(&sql).await? == 1)
    }

    /// Forgets assertion ids that expired before `before`.
    pub async fn drop_expired_jtis(&self, before: i64) -> Result<u64, StoreError> {
        let mut sql = Sql::numbered("DELETE FROM auth_jti WHERE expires_at < $1");
        sql.arg(before);
        self.execute(&sql).await
    }

    // ---- events ----

    /// Appends an authorization event of `tenant`.
    pub async fn record_auth_event(
        &self,
        tenant: &TenantName,
        event: &AuthEvent,
    ) -> Result<(), StoreError> {
        let mut sql = Sql::numbered(
            "INSERT INTO auth_events (tenant, at, event, client_id, outcome, reason) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        );
        sql.arg(tenant.as_str())
            .arg(event.at)
            .arg(event.event.as_str())
            .arg(event.client_id.as_deref())
            .arg(event.outcome.as_str())
            .arg(event.reason.as_deref());
        self.execute(&sql).await?;
        Ok(())
    }

    /// The latest `limit` authorization events of `tenant`, newest first.
    pub async fn auth_events(
        &self,
        tenant: &TenantName,
        limit: u32,
    ) -> Result<Vec<AuthEvent>, StoreError> {
        let mut sql = Sql::new();
        sql.push("SELECT at, event, client_id, outcome, reason FROM auth_events WHERE tenant = ")
            .text(tenant.as_str())
            .push(" ORDER BY seq DESC LIMIT ")
            .int(i64::from(limit));
        let rows: Vec<EventRow> = self.read_all(&sql).await?;
        Ok(rows
            .into_iter()
            .map(|(at, event, client_id, outcome, reason)| AuthEvent {
                at,
                event,
                client_id,
                outcome,
                reason,
            })
            .collect())
    }

    /// `tenant`'s authorization events that `filter` admits, with their numbers (`seq`),
    /// newest first or oldest first, at most `limit`.
    pub async fn auth_events_page(
        &self,
        tenant: &TenantName,
        filter: &AuthEventFilter,
        newest_first: bool,
        limit: u32,
    ) -> Result<Vec<(i64, AuthEvent)>, StoreError> {
        let mut sql = Sql::new();
        sql.push("SELECT seq, at, event, client_id, outcome, reason FROM auth_events");
        filter.push_where(&mut sql, tenant);
        sql.push(if newest_first {
            " ORDER BY seq DESC LIMIT "
        } else {
            " ORDER BY seq LIMIT "
        })
        .int(i64::from(limit));
        let rows: Vec<NumberedEventRow> = self.read_all(&sql).await?;
        Ok(rows
            .into_iter()
            .map(|(seq, at, event, client_id, outcome, reason)| {
                let e = AuthEvent {
                    at,
                    event,
                    client_id,
                    outcome,
                    reason,
                };
                (seq, e)
            })
            .collect())
    }

    /// How many of `tenant`'s authorization events `filter` admits.
    pub async fn count_auth_events(
        &self,
        tenant: &TenantName,
        filter: &AuthEventFilter,
    ) -> Result<u64, StoreError> {
        let mut sql = Sql::new();
        sql.push("SELECT COUNT(*) FROM auth_events");
        filter.push_where(&mut sql, tenant);
        let (n,): (i64,) = self.read_optional(&sql).await?.unwrap_or((0,));
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn one_record(&self, sql: &Sql) -> Result<Option<AuthRecord>, StoreError> {
        let row: Option<(String, String, i64, i64)> = self.read_optional(sql).await?;
        row.map(|(key, text, c, u)| parse_record(key, &text, c, u))
            .transpose()
    }

    async fn records(&self, sql: &Sql) -> Result<Vec<AuthRecord>, StoreError> {
        let rows: Vec<(String, String, i64, i64)> = self.read_all(sql).await?;
        rows.into_iter()
            .map(|(key, text, c, u)| parse_record(key, &text, c, u))
            .collect()
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.kind() == sqlx::error::ErrorKind::UniqueViolation)
}
