//! When each network of a tenant last changed (migration 0013, `network_activity`): the
//! provider finder's "last imported" date per network. The write pipeline says which networks
//! a write touches ([`crate::StoreTx::touch_networks`]); the finder reads the dates
//! ([`Store::network_activity`]).

use chrono::{DateTime, Utc};

use crate::common;
use crate::search::Sql;
use crate::{Store, StoreError, TenantName};

/// Most networks one statement names (a bound on the statement's size, far above what one
/// page of finder results or one import batch touches).
const MAX_NETWORKS_PER_STATEMENT: usize = 500;

/// `INSERT`s or moves forward the `last_written` of each of `networks` (distinct references,
/// `Organization/id`). An older time never replaces a newer one, so concurrent writers and
/// imports of old exports leave the latest.
pub(crate) fn touch(tenant: &str, networks: &[&str], at: DateTime<Utc>) -> Vec<Sql> {
    networks
        .chunks(MAX_NETWORKS_PER_STATEMENT)
        .map(|chunk| {
            let mut sql = Sql::new();
            sql.push("INSERT INTO network_activity (tenant, network, last_written) VALUES ");
            for (i, network) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.push("(")
                    .text(tenant)
                    .push(", ")
                    .text(*network)
                    .push(", ")
                    .int(at.timestamp_micros())
                    .push(")");
            }
            sql.push(
                " ON CONFLICT (tenant, network) DO UPDATE SET last_written = \
                 excluded.last_written WHERE network_activity.last_written < \
                 excluded.last_written",
            );
            sql
        })
        .collect()
}

impl Store {
    /// The last time each of `networks` (`Organization/id`) or a resource citing it was
    /// written into `tenant`; networks never written are left out.
    pub async fn network_activity(
        &self,
        tenant: &TenantName,
        networks: &[String],
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        let mut out = Vec::with_capacity(networks.len());
        for chunk in networks.chunks(MAX_NETWORKS_PER_STATEMENT) {
            let mut sql = Sql::new();
            sql.push("SELECT network, last_written FROM network_activity WHERE tenant = ")
                .text(tenant.as_str())
                .push(" AND network IN ")
                .text_list(chunk.iter().map(String::as_str));
            let rows: Vec<(String, i64)> = self.read_all(&sql).await?;
            for (network, micros) in rows {
                out.push((network, common::from_micros(micros)?));
            }
        }
        Ok(out)
    }
}
