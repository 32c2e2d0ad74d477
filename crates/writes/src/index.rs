//! Stage 4 of the pipeline: a resource's search index entries, for one write or for a batch
//! on several threads.

use search::Extractor;
use serde_json::Value;
use store::{BatchWrite, WriteRequest};

use crate::{Source, WriteError};

/// Most search index entries one resource written through the API may have. Writing them is
/// linear (about 50,000 identifiers a second in a debug build), and this bounds how long one
/// write can hold SQLite's single writer whatever `--max-body-bytes` allows; a Group of
/// 100,000 members still fits.
pub const MAX_INDEX_ENTRIES: usize = 250_000;

/// Below this many resources a batch is indexed on the calling thread (threads cost more
/// than they save).
const MIN_PARALLEL_BATCH: usize = 64;

/// Indexes one write (see [`Source`] for how strictly).
pub(crate) fn index_one(
    extractor: &Extractor,
    source: Source,
    request: WriteRequest,
) -> Result<BatchWrite, WriteError> {
    let resource = Value::Object(request.resource);
    let index = match source {
        Source::Import => extractor.extract(&resource),
        Source::Api => {
            let named = || format!("{}/{}", request.resource_type, request.id);
            let index = extractor.extract_all(&resource).map_err(|(param, error)| {
                WriteError::NotIndexable {
                    resource: named(),
                    param,
                    error,
                }
            })?;
            if index.len() > MAX_INDEX_ENTRIES {
                return Err(WriteError::TooManyIndexEntries {
                    resource: named(),
                    count: index.len(),
                });
            }
            index
        }
    };
    let settings = restrict::Settings::default();
    let (rt, id) = (&request.resource_type, &request.id);
    let restriction =
        crate::restriction::read(extractor, &settings, rt, id, &resource, Some(&index));
    let Value::Object(body) = resource else {
        unreachable!("built from an object just above")
    };
    Ok(BatchWrite {
        request: WriteRequest {
            resource: body,
            ..request
        },
        index,
        restriction: Some(restriction),
        hidden: Default::default(),
    })
}

/// Stage 4 for a batch of checked writes of an import ([`Source::Import`]: lenient, so it
/// cannot fail), on up to `workers` threads, keeping the batch's order. Extraction evaluates
/// the FHIRPath expression of every search parameter of the type and is an import's main CPU
/// cost, so on a machine with cores to spare it is what parallelism buys most.
pub fn index_many(
    extractor: &Extractor,
    requests: Vec<WriteRequest>,
    workers: usize,
) -> Vec<BatchWrite> {
    let index = |r: WriteRequest| {
        index_one(extractor, Source::Import, r)
            .unwrap_or_else(|_| unreachable!("lenient indexing does not fail"))
    };
    if workers <= 1 || requests.len() < MIN_PARALLEL_BATCH {
        return requests.into_iter().map(index).collect();
    }
    let per = requests.len().div_ceil(workers);
    let (mut chunks, mut rest) = (Vec::with_capacity(workers), requests);
    while rest.len() > per {
        let tail = rest.split_off(per);
        chunks.push(rest);
        rest = tail;
    }
    chunks.push(rest);
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| scope.spawn(move || chunk.into_iter().map(index).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            // A panic in a worker is re-raised here.
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::{Method, Precondition};

    fn request(i: usize) -> WriteRequest {
        let serde_json::Value::Object(resource) = serde_json::json!({
            "resourceType": "Practitioner", "id": format!("p{i}"),
            "name": [{"family": format!("Name{i}")}]
        }) else {
            unreachable!()
        };
        WriteRequest {
            resource_type: "Practitioner".into(),
            id: format!("p{i}"),
            resource,
            precondition: Precondition::None,
            method: Method::Put,
        }
    }

    #[test]
    fn parallel_indexing_keeps_the_batch_order_and_indexes_everything() {
        let extractor = Extractor::new(conformance::Registry::builtin());
        let writes = index_many(&extractor, (0..203).map(request).collect(), 4);
        let ids: Vec<&str> = writes.iter().map(|w| w.request.id.as_str()).collect();
        let want: Vec<String> = (0..203).map(|i| format!("p{i}")).collect();
        assert_eq!(ids, want.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(writes
            .iter()
            .all(|w| w.index.iter().any(|e| e.param.code == "family")));
    }
}
