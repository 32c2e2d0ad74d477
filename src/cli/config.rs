//! Resolving configuration: flag > environment variable > `--config` TOML file > default.

use std::path::PathBuf;

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
    pub admin_token: Option<String>,
    pub cursor_secret: Option<String>,
    pub max_body_bytes: Option<usize>,
    pub default_count: Option<u32>,
    pub max_count: Option<u32>,
    pub cors_origins: Option<Vec<String>>,
    pub max_bundle_entries: Option<usize>,
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
    pub file: FileConfig,
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
            file,
        })
    }
}

impl DbConfig {
    pub async fn connect(&self, migrate: bool) -> anyhow::Result<store::Store> {
        let opts = store::StoreOptions {
            max_connections: self.max_connections,
            migrate,
        };
        store::Store::connect(&self.database, &opts)
            .await
            .with_context(|| format!("opening database {}", store::redact(&self.database)))
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
