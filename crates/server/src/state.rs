//! The state every handler shares: the services' [`App`] and what only the HTTP layer needs
//! (its configuration and metrics), as `AppState(Arc<ServerState>)` (crates.io style).

use std::ops::Deref;
use std::sync::Arc;

pub use services::App;

use crate::config::ServerConfig;
use crate::metrics::Metrics;

pub struct ServerState {
    pub app: Arc<App>,
    pub config: ServerConfig,
    pub metrics: Metrics,
}

impl Deref for ServerState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.app
    }
}

#[derive(Clone)]
pub struct AppState(pub Arc<ServerState>);

impl Deref for AppState {
    type Target = ServerState;
    fn deref(&self) -> &ServerState {
        &self.0
    }
}
