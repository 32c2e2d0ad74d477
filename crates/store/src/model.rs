//! The store's data types: tenants, stored versions, write requests and their outcomes.

use chrono::{DateTime, Utc};

/// A validated tenant name: `[a-z0-9][a-z0-9-]{0,62}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantName(String);

impl TenantName {
    /// The tenant that always exists.
    pub const DEFAULT: &'static str = "default";

    pub fn parse(name: &str) -> Result<TenantName, crate::StoreError> {
        let b = name.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 63
            && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-');
        if ok {
            Ok(TenantName(name.to_owned()))
        } else {
            Err(crate::StoreError::InvalidTenant(name.to_owned()))
        }
    }

    pub fn default_tenant() -> TenantName {
        TenantName(Self::DEFAULT.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for TenantName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantInfo {
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// How a version came to be; becomes `Bundle.entry.request.method` in history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    pub fn parse(s: &str) -> Option<Method> {
        Some(match s {
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            _ => return None,
        })
    }
}

/// One stored version of a resource.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionRecord {
    pub resource_type: String,
    pub id: String,
    pub version: i64,
    pub last_updated: DateTime<Utc>,
    pub method: Method,
    /// True for a delete tombstone (then `body` is `None`).
    pub deleted: bool,
    /// The resource as JSON text, with the server's `id` and `meta` already in it.
    pub body: Option<String>,
}

/// What the writer expects about the current state of the resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// No expectation (last writer wins, but no write is lost: versions are sequential).
    None,
    /// `If-Match: W/"n"`: the current version must be `n` (and not deleted).
    IfMatch(i64),
    /// Create with a server-assigned id: the id must not exist yet.
    MustNotExist,
}

/// A create or update of one resource.
#[derive(Debug, Clone)]
pub struct WriteRequest {
    pub resource_type: String,
    pub id: String,
    /// The resource as the client sent it (already checked: an object whose
    /// `resourceType` matches). The store stamps `id`, `meta.versionId` and
    /// `meta.lastUpdated` into it and saves it as JSON text.
    pub resource: serde_json::Map<String, serde_json::Value>,
    pub precondition: Precondition,
    pub method: Method,
}

/// Whether a write made a new resource (201) or a new version of an existing one (200).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// No row existed, or the previous version was a delete tombstone.
    Created,
    Updated,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WriteOutcome {
    pub kind: WriteKind,
    /// The version just written, body included.
    pub record: VersionRecord,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DeleteOutcome {
    /// A tombstone version was written.
    Deleted {
        version: i64,
        last_updated: DateTime<Utc>,
    },
    /// The resource was already deleted; nothing was written.
    AlreadyDeleted { version: i64 },
    /// The id never existed; nothing was written.
    NotFound,
}

/// Which history (<https://hl7.org/fhir/R4/http.html#history>).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryScope {
    System,
    Type(String),
    Instance(String, String),
}

/// The period of `_at` (<https://hl7.org/fhir/R4/http.html#history>): `[start, end)`. A
/// date such as `2026-11-21` covers the whole day; an instant is a period of 1 µs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AtPeriod {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl From<DateTime<Utc>> for AtPeriod {
    fn from(instant: DateTime<Utc>) -> Self {
        AtPeriod {
            start: instant,
            end: instant + chrono::Duration::microseconds(1),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct HistoryQuery {
    pub scope: HistoryScope,
    /// `_since`: versions with `last_updated >= since`.
    pub since: Option<DateTime<Utc>>,
    /// `_at`: only versions that were current at some point of this period.
    pub at: Option<AtPeriod>,
    /// Page size (the caller has applied defaults and limits).
    pub count: u32,
    /// Continue after this position (exclusive); `None` starts at the newest.
    pub before_seq: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HistoryPage {
    /// Newest first.
    pub entries: Vec<VersionRecord>,
    /// How many versions match the query in all pages.
    pub total: u64,
    /// Pass as `before_seq` to get the next page; `None` on the last page.
    pub next_before_seq: Option<i64>,
}

/// Connection pool gauges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStats {
    pub size: u32,
    pub idle: u32,
}
