//! Resolving configuration: flag > environment variable > `--config` TOML file > default.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use serde::Deserialize;

pub const DEFAULT_DATABASE: &str = "sqlite://fhirdir-data/fhirdir.db";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Options every database-touching subcommand takes.
#[derive(Args, Debug, Clone)]
pub struct DbArgs {
    /// Database URL: sqlite://PATH (default sqlite://fhirdir-data/fhirdir.db) or postgres://...
    #[arg(long, env = "FHIRDIR_DATABASE_URL")]
    pub database: Option<String>,
    /// TOML configuration file; flags and environment variables override it.
    #[arg(long, env = "FHIRDIR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long, env = "FHIRDIR_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Most database connections in the pool.
    #[arg(long, env = "FHIRDIR_DB_MAX_CONNECTIONS")]
    pub db_max_connections: Option<u32>,
    /// Postgres: seconds a request waits for a database connection (connecting included)
    /// before it is answered 503 (default 5).
    #[arg(long, env = "FHIRDIR_DB_ACQUIRE_TIMEOUT", value_name = "SECONDS")]
    pub db_acquire_timeout: Option<f64>,
}

/// The `--config` file. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub database: Option<String>,
    pub base_url: Option<String>,
    pub log_format: Option<String>,
    pub db_max_connections: Option<u32>,
    /// Seconds; see [`DbArgs::db_acquire_timeout`].
    pub db_acquire_timeout: Option<f64>,
    pub admin_token: Option<String>,
    pub cursor_secret: Option<String>,
    pub max_body_bytes: Option<usize>,
    pub default_count: Option<u32>,
    pub max_count: Option<u32>,
    pub cors_origins: Option<Vec<String>>,
    pub max_bundle_entries: Option<usize>,
    /// Seconds; see `ServeArgs::query_timeout`.
    pub query_timeout: Option<f64>,
    /// Seconds; see `ServeArgs::header_read_timeout`.
    pub header_read_timeout: Option<f64>,
    pub max_connections: Option<usize>,
    /// `on` or `off`; see `ServeArgs::auth`.
    pub auth: Option<String>,
    pub outbound_allow: Option<Vec<String>>,
    /// A duration such as `90d`; see `ServeArgs::stale_after`.
    pub stale_after: Option<String>,
    /// Seconds; see `ServeArgs::subscription_give_up`.
    pub subscription_give_up: Option<f64>,
    pub export_dir: Option<PathBuf>,
    pub export_max_jobs: Option<usize>,
    pub export_file_size: Option<u64>,
    /// A duration such as `24h`; see `ServeArgs::export_keep`.
    pub export_keep: Option<String>,
    pub import_dir: Option<PathBuf>,
}

impl FileConfig {
    pub fn load(path: Option<&PathBuf>) -> anyhow::Result<FileConfig> {
        let Some(path) = path else {
            return Ok(FileConfig::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
    }
}

/// Database settings after precedence is applied.
pub struct DbConfig {
    pub database: String,
    pub log_format: String,
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    pub file: FileConfig,
}

/// A positive number of seconds from a flag or the file, or `default`.
pub fn seconds(name: &str, value: Option<f64>, default: Duration) -> anyhow::Result<Duration> {
    match value {
        None => Ok(default),
        Some(secs) => Duration::try_from_secs_f64(secs)
            .ok()
            .filter(|d| !d.is_zero())
            .with_context(|| format!("--{name} must be a positive number of seconds, not {secs}")),
    }
}

impl DbArgs {
    pub fn resolve(&self) -> anyhow::Result<DbConfig> {
        let file = FileConfig::load(self.config.as_ref())?;
        let log_format = self
            .log_format
            .clone()
            .or_else(|| file.log_format.clone())
            .unwrap_or_else(|| "text".into());
        anyhow::ensure!(
            log_format == "text" || log_format == "json",
            "--log-format must be text or json, not {log_format:?}"
        );
        let acquire_timeout = seconds(
            "db-acquire-timeout",
            self.db_acquire_timeout.or(file.db_acquire_timeout),
            store::StoreOptions::DEFAULT_ACQUIRE_TIMEOUT,
        )?;
        Ok(DbConfig {
            database: self
                .database
                .clone()
                .or_else(|| file.database.clone())
                .unwrap_or_else(|| DEFAULT_DATABASE.into()),
            log_format,
            max_connections: self
                .db_max_connections
                .or(file.db_max_connections)
                .unwrap_or(16),
            acquire_timeout,
            file,
        })
    }
}

impl DbConfig {
    pub async fn connect(&self, migrate: bool) -> anyhow::Result<store::Store> {
        self.connect_with_timeout(migrate, None).await
    }

    /// [`DbConfig::connect`] with a statement timeout for searches and write transactions
    /// (the server's; the CLI's bulk paths run without one).
    pub async fn connect_with_timeout(
        &self,
        migrate: bool,
        statement_timeout: Option<Duration>,
    ) -> anyhow::Result<store::Store> {
        let opts = store::StoreOptions {
            max_connections: self.max_connections,
            migrate,
            acquire_timeout: self.acquire_timeout,
            statement_timeout,
        };
        store::Store::connect(&self.database, &opts)
            .await
            .with_context(|| format!("opening database {}", store::redact(&self.database)))
    }
}

impl DbConfig {
    /// The application over `store` for a CLI command that uses the services (not serving:
    /// the limits that only requests need are left at zero), with the file's base URL and
    /// outbound allow list.
    pub fn cli_app(&self, store: store::Store) -> std::sync::Arc<services::App> {
        let settings = services::Settings {
            base_url: self.file.base_url.clone().unwrap_or_default(),
            // What a harvest reads a page with, as the server would.
            max_body_bytes: self
                .file
                .max_body_bytes
                .unwrap_or(server::ServerConfig::default().max_body_bytes),
            default_count: 0,
            max_count: 0,
            max_bundle_entries: 0,
            cursor_secret: None,
            auth_enforced: true,
            outbound_allow: self.file.outbound_allow.clone().unwrap_or_default(),
            stale_after: server::default_stale_after(),
            subscription_give_up: server::ServerConfig::default().subscription_give_up,
            export: services::bulk::ExportSettings::default(),
            import_dir: None,
        };
        std::sync::Arc::new(services::App::new(store, settings, Vec::new()))
    }
}

/// Logs go to stderr (stdout carries the one-line announcements scripts read).
pub fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FHIRDIR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(acquire: Option<f64>, config: Option<PathBuf>) -> DbArgs {
        DbArgs {
            database: None,
            config,
            log_format: None,
            db_max_connections: None,
            db_acquire_timeout: acquire,
        }
    }

    #[test]
    fn acquire_timeout_comes_from_the_flag_then_the_file_then_the_default() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("fhirdir.toml");
        std::fs::write(&file, "db_acquire_timeout = 2\n").expect("write config");

        let default = args(None, None).resolve().expect("resolve");
        assert_eq!(
            default.acquire_timeout,
            store::StoreOptions::DEFAULT_ACQUIRE_TIMEOUT
        );
        let from_file = args(None, Some(file.clone())).resolve().expect("resolve");
        assert_eq!(from_file.acquire_timeout, Duration::from_secs(2));
        let from_flag = args(Some(0.5), Some(file)).resolve().expect("resolve");
        assert_eq!(from_flag.acquire_timeout, Duration::from_millis(500));
    }

    #[test]
    fn acquire_timeout_must_be_a_positive_number_of_seconds() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let err = args(Some(bad), None)
                .resolve()
                .err()
                .unwrap_or_else(|| panic!("{bad} was accepted"));
            assert!(
                err.to_string().contains("--db-acquire-timeout"),
                "{bad}: {err}"
            );
        }
    }
}
