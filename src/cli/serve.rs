//! `fhirdir serve`.

use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::config::{init_logging, seconds, DbArgs, DEFAULT_LISTEN};

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "FHIRDIR_LISTEN")]
    listen: Option<String>,
    /// Public base URL used in links and fullUrls (default http://{listen}).
    #[arg(long, env = "FHIRDIR_BASE_URL")]
    base_url: Option<String>,
    /// Bearer token for /admin (unset: the admin API is disabled).
    #[arg(long, env = "FHIRDIR_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Key that signs paging cursors (default: random per process; set it when several
    /// servers share one address, or for cursors that survive a restart).
    #[arg(long, env = "FHIRDIR_CURSOR_SECRET", hide_env_values = true)]
    cursor_secret: Option<String>,
    /// Largest accepted request body in bytes (default 32 MiB).
    #[arg(long, env = "FHIRDIR_MAX_BODY_BYTES")]
    max_body_bytes: Option<usize>,
    /// Default page size.
    #[arg(long, env = "FHIRDIR_DEFAULT_COUNT")]
    default_count: Option<u32>,
    /// Largest page size honoured.
    #[arg(long, env = "FHIRDIR_MAX_COUNT")]
    max_count: Option<u32>,
    /// Most entries accepted in one batch or transaction Bundle (default 10000).
    #[arg(long, env = "FHIRDIR_MAX_BUNDLE_ENTRIES")]
    max_bundle_entries: Option<usize>,
    /// Load a generated demo directory into tenant `default` when it is empty.
    #[arg(long)]
    demo: bool,
    /// Comma-separated CORS origins, or * (default).
    #[arg(long, env = "FHIRDIR_CORS_ORIGINS", value_delimiter = ',')]
    cors_origins: Option<Vec<String>>,
    #[command(flatten)]
    profiles: super::profiles::ProfileArgs,
    /// Seconds one database statement of a search or write may run before it is stopped and
    /// answered 503 (default 10).
    #[arg(long, env = "FHIRDIR_QUERY_TIMEOUT", value_name = "SECONDS")]
    query_timeout: Option<f64>,
    /// Seconds a client may take to send a request's headers before its connection is closed
    /// (default 10).
    #[arg(long, env = "FHIRDIR_HEADER_READ_TIMEOUT", value_name = "SECONDS")]
    header_read_timeout: Option<f64>,
    /// Authorization: `on` (default) needs a bearer token for writes (and for reads where a
    /// tenant requires it); `off` serves everything to everyone, for local trials only.
    #[arg(long, env = "FHIRDIR_AUTH", value_parser = ["on", "off"])]
    auth: Option<String>,
    /// Comma-separated hosts that outbound fetches (client JWK Sets, CRLs) may reach although
    /// they are loopback or private, and over plain http.
    #[arg(long, env = "FHIRDIR_OUTBOUND_ALLOW", value_delimiter = ',')]
    outbound_allow: Option<Vec<String>>,
    /// How old a network's data may be (the last write or import of the network or of a
    /// resource citing it) before `$find-providers` and the find-a-doctor page flag it
    /// stale: a number and a unit, `90d`, `12h`, `30m`, `5s` (default 90d).
    #[arg(long, env = "FHIRDIR_STALE_AFTER")]
    stale_after: Option<String>,
    /// Seconds a rest-hook subscriber may keep failing before its Subscription is set to
    /// `error` (default 3600); delivery resumes when the client sets it to `requested`.
    #[arg(long, env = "FHIRDIR_SUBSCRIPTION_GIVE_UP")]
    subscription_give_up: Option<f64>,
    /// Folder for bulk export files (default `fhirdir-exports` in the working directory);
    /// every server process on the same database must see the same folder.
    #[arg(long, env = "FHIRDIR_EXPORT_DIR")]
    export_dir: Option<std::path::PathBuf>,
    /// Unfinished bulk exports one client may have at once; one more is answered 429
    /// (default 2).
    #[arg(long, env = "FHIRDIR_EXPORT_MAX_JOBS")]
    export_max_jobs: Option<usize>,
    /// Bytes at which a bulk export file is split into the next part (default 268435456).
    #[arg(long, env = "FHIRDIR_EXPORT_FILE_SIZE")]
    export_file_size: Option<u64>,
    /// How long a finished export's files are kept: `24h`, `7d`, `30m` (default 24h).
    #[arg(long, env = "FHIRDIR_EXPORT_KEEP")]
    export_keep: Option<String>,
    /// Folder whose NDJSON files `$import` may load (relative paths or file:// URLs in its
    /// inputs); without it, `$import` fetches only http(s) URLs.
    #[arg(long, env = "FHIRDIR_IMPORT_DIR")]
    import_dir: Option<std::path::PathBuf>,
    /// Client connections served at once; more wait to be accepted (default 1024).
    #[arg(long, env = "FHIRDIR_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
}

/// `--query-timeout` when none is given.
const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let db = args.db.resolve()?;
    init_logging(&db.log_format);
    let f = &db.file;
    let defaults = server::ServerConfig::default();
    let config = server::ServerConfig {
        base_url: args.base_url.or_else(|| f.base_url.clone()),
        admin_token: args.admin_token.or_else(|| f.admin_token.clone()),
        cursor_secret: args.cursor_secret.or_else(|| f.cursor_secret.clone()),
        max_body_bytes: args
            .max_body_bytes
            .or(f.max_body_bytes)
            .unwrap_or(defaults.max_body_bytes),
        default_count: args
            .default_count
            .or(f.default_count)
            .unwrap_or(defaults.default_count),
        max_count: args.max_count.or(f.max_count).unwrap_or(defaults.max_count),
        cors_origins: args
            .cors_origins
            .or_else(|| f.cors_origins.clone())
            .unwrap_or(defaults.cors_origins),
        max_bundle_entries: args
            .max_bundle_entries
            .or(f.max_bundle_entries)
            .unwrap_or(defaults.max_bundle_entries),
        auth_enforced: args.auth.or_else(|| f.auth.clone()).as_deref() != Some("off"),
        outbound_allow: args
            .outbound_allow
            .or_else(|| f.outbound_allow.clone())
            .unwrap_or_default(),
        stale_after: match args.stale_after.or_else(|| f.stale_after.clone()) {
            None => defaults.stale_after,
            Some(text) => {
                finder::parse_duration(&text).map_err(|e| anyhow::anyhow!("--stale-after: {e}"))?
            }
        },
        subscription_give_up: seconds(
            "subscription-give-up",
            args.subscription_give_up.or(f.subscription_give_up),
            defaults.subscription_give_up,
        )?,
        connections: server::listener::ConnectionLimits {
            header_read_timeout: seconds(
                "header-read-timeout",
                args.header_read_timeout.or(f.header_read_timeout),
                defaults.connections.header_read_timeout,
            )?,
            max_connections: args
                .max_connections
                .or(f.max_connections)
                .unwrap_or(defaults.connections.max_connections),
        },
        export: services::bulk::ExportSettings {
            dir: args
                .export_dir
                .or_else(|| f.export_dir.clone())
                .unwrap_or(defaults.export.dir),
            max_jobs: args
                .export_max_jobs
                .or(f.export_max_jobs)
                .unwrap_or(defaults.export.max_jobs)
                .max(1),
            file_bytes: args
                .export_file_size
                .or(f.export_file_size)
                .unwrap_or(defaults.export.file_bytes)
                .max(1),
            keep: match args.export_keep.or_else(|| f.export_keep.clone()) {
                None => defaults.export.keep,
                Some(text) => finder::parse_duration(&text)
                    .map_err(|e| anyhow::anyhow!("--export-keep: {e}"))?,
            },
        },
        import_dir: args.import_dir.or_else(|| f.import_dir.clone()),
    };
    let query_timeout = seconds(
        "query-timeout",
        args.query_timeout.or(f.query_timeout),
        DEFAULT_QUERY_TIMEOUT,
    )?;
    let listen = args
        .listen
        .or_else(|| f.listen.clone())
        .unwrap_or_else(|| DEFAULT_LISTEN.into());

    if !config.auth_enforced {
        tracing::warn!(
            "authorization is OFF (--auth off): anyone who can reach this server may read and \
             write every tenant; use it for local trials only"
        );
    }
    let profiles = super::profiles::load(args.profiles)?;
    let store = db.connect_with_timeout(true, Some(query_timeout)).await?;
    if args.demo {
        super::demo::load_if_empty(&store).await?;
    }
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    let base = config
        .base_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    tracing::info!(%addr, backend = store.backend(), "fhirdir listening");
    // Scripts and tests read this line to learn the port when --listen ends in :0.
    println!(
        "fhirdir listening on http://{addr} (FHIR base {base}/fhir/default, {} backend)",
        store.backend()
    );

    let state = server::app_state_with(
        store.clone(),
        config,
        addr,
        profiles.params,
        profiles.library,
    );
    server::serve_state(listener, state, shutdown_signal()).await?;
    store.close().await;
    tracing::info!("fhirdir stopped");
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C; in-flight requests then finish.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
