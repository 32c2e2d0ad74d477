//! Server configuration: what `fhirdir serve` reads from flags, environment and the TOML file.

use serde::Deserialize;

/// Everything the HTTP layer needs to know; the CLI fills it.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Public base URL used in links and `fullUrl`s, without a trailing slash. `None`:
    /// `http://{bound address}`.
    pub base_url: Option<String>,
    /// Bearer token for `/admin/...`; `None` disables the admin API.
    pub admin_token: Option<String>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Page size when `_count` is absent.
    pub default_count: u32,
    /// Largest honoured `_count`.
    pub max_count: u32,
    /// Origins allowed by CORS; `["*"]` allows any.
    pub cors_origins: Vec<String>,
    /// Key that signs paging cursors. `None`: a random key per process (cursors then do not
    /// survive a restart; several servers behind one address need the same secret).
    pub cursor_secret: Option<String>,
    /// Most entries accepted in one batch or transaction Bundle.
    pub max_bundle_entries: usize,
    /// Whether authorization is enforced: writes need a token, tenants may require one for
    /// reads. `false` (`--auth off`) serves everything to everyone, for local trials.
    pub auth_enforced: bool,
    /// Hosts that outbound fetches (client JWK Sets, CRLs) may reach although they are
    /// loopback or private, and over plain http.
    pub outbound_allow: Vec<String>,
    /// How old a network's data may be before `$find-providers` flags it stale.
    #[serde(skip, default = "default_stale_after")]
    pub stale_after: std::time::Duration,
    /// How long a subscriber may keep failing before its Subscription is set to `error`.
    #[serde(skip, default = "default_subscription_give_up")]
    pub subscription_give_up: std::time::Duration,
    /// Header-read timeout and connection cap of the listener.
    #[serde(skip)]
    pub connections: crate::listener::ConnectionLimits,
    /// Bulk export's folder, file size, retention and per-client job cap.
    #[serde(skip)]
    pub export: services::bulk::ExportSettings,
    /// The folder `$import` may read files from; `None`: only http(s) inputs.
    #[serde(skip)]
    pub import_dir: Option<std::path::PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            admin_token: None,
            cursor_secret: None,
            max_body_bytes: 32 * 1024 * 1024,
            default_count: 50,
            max_count: 1000,
            cors_origins: vec!["*".to_owned()],
            max_bundle_entries: 10_000,
            auth_enforced: true,
            outbound_allow: Vec::new(),
            stale_after: default_stale_after(),
            subscription_give_up: default_subscription_give_up(),
            connections: crate::listener::ConnectionLimits::default(),
            export: services::bulk::ExportSettings::default(),
            import_dir: None,
        }
    }
}

/// `--stale-after` when none is given (90 days).
pub fn default_stale_after() -> std::time::Duration {
    finder::DEFAULT_STALE_AFTER_DURATION
}

/// `--subscription-give-up` when none is given (an hour).
pub fn default_subscription_give_up() -> std::time::Duration {
    std::time::Duration::from_secs(3600)
}

impl ServerConfig {
    /// The defaults with authorization off (`--auth off`): for tests and trials that are not
    /// about authorization.
    pub fn auth_off() -> Self {
        Self {
            auth_enforced: false,
            ..Self::default()
        }
    }
}
