//! Postgres's batch path of `StoreTx::write_batch` (the rules are `tx/rules.rs`): `UNNEST`
//! arrays, one statement per table and run, whatever the run's size.
//!
//! A batch locks the current rows of a run (`FOR UPDATE`, in key order), plans against them,
//! updates the locked rows, and inserts the new ones with `ON CONFLICT DO NOTHING`: a
//! resource that a concurrent transaction created in the meantime is reported back and then
//! written through the single-write path, which handles the race.

use std::collections::{HashMap, HashSet};

use sqlx::PgConnection;

use crate::common;
use crate::tx::plan::{CurrentRow, Key, Planned};
use crate::{OnUnchanged, StoreError, TenantName, WriteRequest};

/// Resources per run: bounds the rows locked and the arrays sent per statement.
pub(super) const ROWS_PER_RUN: usize = 1000;

/// `lock_current_rows` columns: res_type, id, version, deleted, last_updated, method, content.
type LockedRow = (String, String, i64, bool, i64, String, Option<String>);

/// The columns of written rows, as arrays for `UNNEST`.
#[derive(Default)]
struct Columns<'a> {
    types: Vec<&'a str>,
    ids: Vec<&'a str>,
    versions: Vec<i64>,
    last_updated: Vec<i64>,
    methods: Vec<&'a str>,
    bodies: Vec<&'a str>,
    expected: Vec<i64>,
}

impl<'a> Columns<'a> {
    fn push(&mut self, req: &'a WriteRequest, new: &'a common::PreparedWrite, expected: i64) {
        self.types.push(&req.resource_type);
        self.ids.push(&req.id);
        self.versions.push(new.version);
        self.last_updated.push(new.last_updated);
        self.methods.push(req.method.as_str());
        self.bodies.push(&new.body);
        self.expected.push(expected);
    }

    fn len(&self) -> usize {
        self.ids.len()
    }
}

/// Locks and returns the current rows of a run's resources (content only when it is
/// compared). Locking in key order keeps two batches over the same resources from
/// deadlocking each other.
pub(super) async fn lock_current_rows(
    conn: &mut PgConnection,
    tenant: &TenantName,
    requests: &[&WriteRequest],
    on_unchanged: OnUnchanged,
) -> Result<HashMap<Key, CurrentRow>, StoreError> {
    let types: Vec<&str> = requests.iter().map(|r| r.resource_type.as_str()).collect();
    let ids: Vec<&str> = requests.iter().map(|r| r.id.as_str()).collect();
    let sql = if on_unchanged == OnUnchanged::KeepCurrent {
        "SELECT r.res_type, r.id, r.version, r.deleted, r.last_updated, r.method, \
         r.content::text FROM resources r \
         JOIN UNNEST($2::text[], $3::text[]) AS k(res_type, id) \
         ON r.res_type = k.res_type AND r.id = k.id \
         WHERE r.tenant = $1 ORDER BY r.res_type, r.id FOR UPDATE OF r"
    } else {
        "SELECT r.res_type, r.id, r.version, r.deleted, r.last_updated, r.method, \
         NULL::text FROM resources r \
         JOIN UNNEST($2::text[], $3::text[]) AS k(res_type, id) \
         ON r.res_type = k.res_type AND r.id = k.id \
         WHERE r.tenant = $1 ORDER BY r.res_type, r.id FOR UPDATE OF r"
    };
    let rows: Vec<LockedRow> = sqlx::query_as(sql)
        .bind(tenant.as_str())
        .bind(&types)
        .bind(&ids)
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(t, id, version, deleted, last_updated, method, content)| {
            let row = CurrentRow::new(version, deleted, last_updated, method, content);
            ((t, id), row)
        })
        .collect())
}

/// Saves one planned run; answers the positions (in the run) of new resources that a
/// concurrent transaction created first, which were not written.
pub(super) async fn save_run(
    conn: &mut PgConnection,
    tenant: &TenantName,
    requests: &[&WriteRequest],
    planned: &[Planned],
) -> Result<HashSet<usize>, StoreError> {
    let (mut updates, mut inserts) = (Columns::default(), Columns::default());
    let mut insert_pos = Vec::new();
    for (i, (req, p)) in requests.iter().zip(planned).enumerate() {
        match p {
            Planned::Write {
                expected: Some(c),
                new,
            } => updates.push(req, new, c.version),
            Planned::Write {
                expected: None,
                new,
            } => {
                inserts.push(req, new, 0);
                insert_pos.push(i);
            }
            Planned::Unchanged(_) => {}
        }
    }
    let tenant = tenant.as_str();
    if updates.len() > 0 {
        let done = sqlx::query(
            "UPDATE resources r SET version = u.version, deleted = false, \
             last_updated = u.last_updated, method = u.method, content = u.content::jsonb \
             FROM UNNEST($2::text[], $3::text[], $4::int8[], $5::int8[], $6::text[], \
             $7::text[], $8::int8[]) AS u(res_type, id, version, last_updated, method, \
             content, expected) \
             WHERE r.tenant = $1 AND r.res_type = u.res_type AND r.id = u.id \
             AND r.version = u.expected",
        )
        .bind(tenant)
        .bind(&updates.types)
        .bind(&updates.ids)
        .bind(&updates.versions)
        .bind(&updates.last_updated)
        .bind(&updates.methods)
        .bind(&updates.bodies)
        .bind(&updates.expected)
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() != updates.len() as u64 {
            // The rows are locked since we read them: only tampering gets here.
            return Err(StoreError::Corrupt(format!(
                "batch update changed {} of {} locked rows",
                done.rows_affected(),
                updates.len()
            )));
        }
    }
    let mut raced = HashSet::new();
    if inserts.len() > 0 {
        let created: Vec<(String, String)> = sqlx::query_as(
            "INSERT INTO resources \
             (tenant, res_type, id, version, deleted, last_updated, method, content) \
             SELECT $1, u.res_type, u.id, u.version, false, u.last_updated, u.method, \
             u.content::jsonb FROM UNNEST($2::text[], $3::text[], $4::int8[], $5::int8[], \
             $6::text[], $7::text[]) AS u(res_type, id, version, last_updated, method, \
             content) ON CONFLICT (tenant, res_type, id) DO NOTHING RETURNING res_type, id",
        )
        .bind(tenant)
        .bind(&inserts.types)
        .bind(&inserts.ids)
        .bind(&inserts.versions)
        .bind(&inserts.last_updated)
        .bind(&inserts.methods)
        .bind(&inserts.bodies)
        .fetch_all(&mut *conn)
        .await?;
        if created.len() != inserts.len() {
            let created: HashSet<(String, String)> = created.into_iter().collect();
            for (k, pos) in insert_pos.iter().enumerate() {
                let key = (inserts.types[k].to_owned(), inserts.ids[k].to_owned());
                if !created.contains(&key) {
                    raced.insert(*pos);
                }
            }
        }
    }
    // History rows in request order (skipping unchanged and raced writes), so `seq`
    // follows the order of the batch as it would for single writes.
    let mut history = Columns::default();
    for (i, (req, p)) in requests.iter().zip(planned).enumerate() {
        if let Planned::Write { new, .. } = p {
            if !raced.contains(&i) {
                history.push(req, new, 0);
            }
        }
    }
    if history.len() > 0 {
        sqlx::query(
            "INSERT INTO resource_versions \
             (tenant, res_type, id, version, deleted, last_updated, method, content) \
             SELECT $1, u.res_type, u.id, u.version, false, u.last_updated, u.method, \
             u.content::jsonb FROM UNNEST($2::text[], $3::text[], $4::int8[], $5::int8[], \
             $6::text[], $7::text[]) WITH ORDINALITY AS u(res_type, id, version, \
             last_updated, method, content, ord) ORDER BY u.ord",
        )
        .bind(tenant)
        .bind(&history.types)
        .bind(&history.ids)
        .bind(&history.versions)
        .bind(&history.last_updated)
        .bind(&history.methods)
        .bind(&history.bodies)
        .execute(&mut *conn)
        .await
        .map_err(common::batch_version_insert_error)?;
    }
    Ok(raced)
}
