//! Application state shared by every handler: `AppState(Arc<App>)` (crates.io style).

use std::ops::Deref;
use std::sync::Arc;

use store::Store;

use crate::config::ServerConfig;
use crate::metrics::Metrics;

pub struct App {
    pub store: Store,
    pub config: ServerConfig,
    /// Resolved public base URL, no trailing slash.
    pub base_url: String,
    pub metrics: Metrics,
    /// Search parameters: the server-wide registry (built-in R4, Plan-Net, NDH, VHDir, plus
    /// `profiles/`) and each tenant's view of it ([`App::conformance`]).
    pub conformance: crate::tenant_conformance::ConformanceCache,
    /// The background `$reindex` runner's controls.
    pub reindexer: crate::service::reindex::Reindexer,
    /// Seals paging cursors (history and search).
    pub cursors: crate::cursor::CursorKey,
    /// When this process started, as a FHIR dateTime (CapabilityStatement.date).
    pub started: String,
}

impl App {
    /// The FHIR base of a tenant: `{base}/fhir/{tenant}`.
    pub fn tenant_base(&self, tenant: &store::TenantName) -> String {
        format!("{}/fhir/{}", self.base_url, tenant)
    }
}

#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}
