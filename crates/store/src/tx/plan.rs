//! Backend-neutral batch planning for `StoreTx::write_batch`: runs of distinct resources,
//! and per write whether to save a new version or keep the current one.

use std::collections::{HashMap, HashSet};

use crate::common::{self, Current};
use crate::{OnUnchanged, Precondition, StoreError, VersionRecord, WriteKind, WriteRequest};

/// `(resource type, id)`.
pub(crate) type Key = (String, String);

/// The current row of a resource, as the batch needs it.
#[derive(Debug, Clone)]
pub(crate) struct CurrentRow {
    pub current: Current,
    pub method: String,
    /// Fetched only for [`OnUnchanged::KeepCurrent`].
    pub content: Option<String>,
}

impl CurrentRow {
    /// From the columns version, deleted, last_updated, method, content.
    pub(crate) fn new(
        version: i64,
        deleted: bool,
        last_updated: i64,
        method: String,
        content: Option<String>,
    ) -> CurrentRow {
        let current = Current {
            version,
            deleted,
            last_updated,
        };
        CurrentRow {
            current,
            method,
            content,
        }
    }
}

/// What the batch does for one write.
#[derive(Debug)]
pub(crate) enum Planned {
    /// Nothing to write: the answer is the current version.
    Unchanged(VersionRecord),
    /// A new version replacing `expected` (`None`: no row yet).
    Write {
        expected: Option<Current>,
        new: common::PreparedWrite,
    },
}

/// For a write, whether the resource may have index rows to replace (a live current
/// version); `None` when nothing is written.
pub(crate) fn replaces_rows(planned: &Planned) -> Option<bool> {
    match planned {
        Planned::Write { expected, .. } => Some(expected.is_some_and(|c| !c.deleted)),
        Planned::Unchanged(_) => None,
    }
}

/// Splits `len` writes into runs of at most `max` in which no resource appears twice, so
/// each run can be planned from one read of the current rows and written with one
/// multi-row upsert.
pub(crate) fn runs(requests: &[&WriteRequest], max: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    for (i, r) in requests.iter().enumerate() {
        let key = (r.resource_type.as_str(), r.id.as_str());
        if i - start >= max || seen.contains(&key) {
            out.push(start..i);
            start = i;
            seen.clear();
        }
        seen.insert(key);
    }
    if start < requests.len() {
        out.push(start..requests.len());
    }
    out
}

/// Plans one run (no resource twice) against the current rows read for it.
pub(crate) fn plan_run(
    requests: &[&WriteRequest],
    currents: &HashMap<Key, CurrentRow>,
    on_unchanged: OnUnchanged,
) -> Result<Vec<Planned>, StoreError> {
    requests
        .iter()
        .map(|req| {
            let row = currents.get(&(req.resource_type.clone(), req.id.clone()));
            if on_unchanged == OnUnchanged::KeepCurrent && req.precondition == Precondition::None {
                if let Some(record) = row.and_then(|row| unchanged(req, row)) {
                    return Ok(Planned::Unchanged(record));
                }
            }
            let expected = row.map(|r| r.current);
            let new = common::prepare_write(expected.as_ref(), req)?;
            Ok(Planned::Write { expected, new })
        })
        .collect()
}

/// The current version when `req` would store the same content, else `None`.
fn unchanged(req: &WriteRequest, row: &CurrentRow) -> Option<VersionRecord> {
    if row.current.deleted {
        return None;
    }
    let stored = row.content.as_deref()?;
    let last_updated = common::from_micros(row.current.last_updated).ok()?;
    // Stamp the candidate exactly as the current version was stamped: then the only
    // differences left are real ones.
    let mut candidate = req.resource.clone();
    fhir::stamp_meta(&mut candidate, &req.id, row.current.version, last_updated);
    let stored_value: serde_json::Value = serde_json::from_str(stored).ok()?;
    if stored_value != serde_json::Value::Object(candidate) {
        return None;
    }
    common::record(
        req.resource_type.clone(),
        req.id.clone(),
        row.current.version,
        false,
        row.current.last_updated,
        &row.method,
        Some(stored.to_owned()),
    )
    .ok()
}

/// The outcome of a planned write once saved.
pub(crate) fn outcome(
    req: WriteRequest,
    new: common::PreparedWrite,
) -> Result<crate::WriteOutcome, StoreError> {
    Ok(crate::WriteOutcome {
        kind: new.kind,
        record: VersionRecord {
            resource_type: req.resource_type,
            id: req.id,
            version: new.version,
            last_updated: common::from_micros(new.last_updated)?,
            method: req.method,
            deleted: false,
            body: Some(new.body),
        },
    })
}

/// The answer for an unchanged write.
pub(crate) fn unchanged_outcome(record: VersionRecord) -> crate::BatchOutcome {
    crate::BatchOutcome {
        outcome: crate::WriteOutcome {
            kind: WriteKind::Updated,
            record,
        },
        unchanged: true,
    }
}

/// The answer for a written version of a batch.
pub(crate) fn written(outcome: crate::WriteOutcome) -> crate::BatchOutcome {
    crate::BatchOutcome {
        outcome,
        unchanged: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Method;

    fn req(id: &str) -> WriteRequest {
        let mut resource = serde_json::Map::new();
        resource.insert("resourceType".into(), "Practitioner".into());
        WriteRequest {
            resource_type: "Practitioner".into(),
            id: id.into(),
            resource,
            precondition: Precondition::None,
            method: Method::Put,
        }
    }

    #[test]
    fn runs_split_on_repeats_and_size() {
        let reqs = [req("a"), req("b"), req("a"), req("c"), req("d")];
        let refs: Vec<&WriteRequest> = reqs.iter().collect();
        assert_eq!(runs(&refs, 10), vec![0..2, 2..5]);
        assert_eq!(runs(&refs, 2), vec![0..2, 2..4, 4..5]);
        assert!(runs(&[], 10).is_empty());
    }

    #[test]
    fn unchanged_ignores_version_and_last_updated_only() {
        let mut r = req("a");
        r.resource.insert("active".into(), true.into());
        let stored = serde_json::json!({"active": true, "resourceType": "Practitioner",
            "id": "a", "meta": {"versionId": "4", "lastUpdated": "2020-01-01T00:00:00.000000Z"}});
        let row = |content: &serde_json::Value| CurrentRow {
            current: Current {
                version: 4,
                deleted: false,
                last_updated: 1_577_836_800_000_000,
            },
            method: "PUT".into(),
            content: Some(content.to_string()),
        };
        let same = unchanged(&r, &row(&stored)).map(|rec| rec.version);
        assert_eq!(same, Some(4), "key order and meta stamps do not matter");
        let mut other = stored.clone();
        other["active"] = false.into();
        assert!(unchanged(&r, &row(&other)).is_none());
        let mut tagged = stored.clone();
        tagged["meta"]["tag"] = serde_json::json!([{"code": "x"}]);
        assert!(unchanged(&r, &row(&tagged)).is_none(), "other meta counts");
        let mut deleted = row(&stored);
        deleted.current.deleted = true;
        assert!(unchanged(&r, &deleted).is_none());
    }
}
