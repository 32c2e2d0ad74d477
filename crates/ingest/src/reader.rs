//! Streaming readers for the import formats, chosen by file name:
//!
//! | name ends with | format |
//! |---|---|
//! | `.ndjson`, `.jsonl` | one resource per line ([FHIR bulk data](https://hl7.org/fhir/uv/bulkdata/)) |
//! | `.ndjson.gz`, `.jsonl.gz` | the same, gzip-compressed (multi-member streams too) |
//! | `.json`, `.json.gz` | a Bundle (every `entry.resource`), or a single resource |
//!
//! NDJSON is read line by line into one reused buffer, so memory stays flat whatever the
//! file size. A Bundle file is parsed whole (a Bundle is one JSON document); each entry is
//! still reported with the line it starts on.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

/// Buffer size for file and gzip reads.
const BUF_SIZE: usize = 1 << 16;

/// How a file is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Ndjson { gzip: bool },
    Bundle { gzip: bool },
}

impl Format {
    /// The format named by the file's extension, or `None` when it is not one we read.
    pub fn of(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        let (stem, gzip) = match name.strip_suffix(".gz") {
            Some(stem) => (stem.to_owned(), true),
            None => (name, false),
        };
        if stem.ends_with(".ndjson") || stem.ends_with(".jsonl") {
            Some(Format::Ndjson { gzip })
        } else if stem.ends_with(".json") {
            Some(Format::Bundle { gzip })
        } else {
            None
        }
    }
}

/// One resource read from a file: the line it starts on (1-based) and its JSON, or what is
/// wrong with it.
#[derive(Debug)]
pub struct Item {
    pub line: u64,
    pub value: Result<Value, String>,
}

/// Reads the resources of one file in order.
pub struct Reader {
    kind: Kind,
}

enum Kind {
    Lines {
        input: Box<dyn BufRead + Send>,
        line: u64,
        buf: Vec<u8>,
    },
    Parsed(std::vec::IntoIter<Item>),
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reader")
    }
}

impl Reader {
    /// Opens `path` in `format`. Fails only when the file cannot be opened (or, for a
    /// Bundle, read); bad content shows up as items with an error.
    pub fn open(path: &Path, format: Format) -> io::Result<Reader> {
        let file = File::open(path)?;
        let raw: Box<dyn Read + Send> = match format {
            Format::Ndjson { gzip: true } | Format::Bundle { gzip: true } => Box::new(
                flate2::read::MultiGzDecoder::new(BufReader::with_capacity(BUF_SIZE, file)),
            ),
            _ => Box::new(file),
        };
        let input = BufReader::with_capacity(BUF_SIZE, raw);
        let kind = match format {
            Format::Ndjson { .. } => Kind::Lines {
                input: Box::new(input),
                line: 0,
                buf: Vec::new(),
            },
            Format::Bundle { .. } => {
                let mut text = String::new();
                let mut input = input;
                match input.read_to_string(&mut text) {
                    Ok(_) => Kind::Parsed(bundle_items(&text).into_iter()),
                    Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                        Kind::Parsed(vec![error_item(1, "the file is not UTF-8 text")].into_iter())
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        Ok(Reader { kind })
    }

    /// The next resource, `None` at the end of the file, or a read error (an IO error or a
    /// corrupt gzip stream: the rest of the file cannot be read).
    pub fn next_item(&mut self) -> io::Result<Option<Item>> {
        match &mut self.kind {
            Kind::Parsed(items) => Ok(items.next()),
            Kind::Lines { input, line, buf } => loop {
                buf.clear();
                if input.read_until(b'\n', buf)? == 0 {
                    return Ok(None);
                }
                *line += 1;
                let text = buf.trim_ascii();
                if text.is_empty() {
                    // Blank lines (a trailing newline, separators) are not resources.
                    continue;
                }
                let value = serde_json::from_slice(text).map_err(|e| format!("invalid JSON: {e}"));
                return Ok(Some(Item { line: *line, value }));
            },
        }
    }

    /// The line the reader is at (for errors that are not about one item).
    pub fn line(&self) -> u64 {
        match &self.kind {
            Kind::Lines { line, .. } => *line + 1,
            Kind::Parsed(_) => 1,
        }
    }
}

fn error_item(line: u64, message: impl Into<String>) -> Item {
    Item {
        line,
        value: Err(message.into()),
    }
}

#[derive(Deserialize)]
struct Probe {
    #[serde(rename = "resourceType")]
    resource_type: Option<Value>,
}

#[derive(Deserialize)]
struct BundleShape<'a> {
    #[serde(default, borrow)]
    entry: Vec<EntryShape<'a>>,
}

#[derive(Deserialize)]
struct EntryShape<'a> {
    #[serde(default, borrow)]
    resource: Option<&'a RawValue>,
}

/// The items of a Bundle file (or of a file holding one resource).
fn bundle_items(text: &str) -> Vec<Item> {
    let probe: Probe = match serde_json::from_str(text) {
        Ok(p) => p,
        Err(e) => return vec![json_error(&e)],
    };
    if probe.resource_type.as_ref().and_then(Value::as_str) != Some("Bundle") {
        // Not a Bundle: the file is one resource (validation says what is wrong with it).
        let value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"));
        return vec![Item { line: 1, value }];
    }
    let bundle: BundleShape<'_> = match serde_json::from_str(text) {
        Ok(b) => b,
        Err(e) => return vec![json_error(&e)],
    };
    let mut items = Vec::with_capacity(bundle.entry.len());
    let (mut line, mut counted_to) = (1_u64, 0_usize);
    for (n, entry) in bundle.entry.iter().enumerate() {
        let Some(raw) = entry.resource else {
            items.push(error_item(
                line,
                format!("Bundle.entry[{n}] has no resource"),
            ));
            continue;
        };
        // `raw` borrows from `text`, so its address gives its offset: count the newlines
        // before it to report the line the resource starts on.
        let offset = (raw.get().as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
        let offset = offset.min(text.len());
        if offset >= counted_to {
            line += text.as_bytes()[counted_to..offset]
                .iter()
                .filter(|b| **b == b'\n')
                .count() as u64;
            counted_to = offset;
        }
        let value = serde_json::from_str(raw.get()).map_err(|e| format!("invalid JSON: {e}"));
        items.push(Item { line, value });
    }
    items
}

fn json_error(e: &serde_json::Error) -> Item {
    error_item(
        u64::try_from(e.line()).unwrap_or(1).max(1),
        format!("invalid JSON: {e}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn read_all(path: &Path) -> Vec<(u64, Result<Value, String>)> {
        let format = Format::of(path).expect("format");
        let mut r = Reader::open(path, format).expect("open");
        let mut out = Vec::new();
        while let Some(item) = r.next_item().expect("read") {
            out.push((item.line, item.value));
        }
        out
    }

    #[test]
    fn formats_follow_the_file_name() {
        let f = |s: &str| Format::of(Path::new(s));
        assert_eq!(
            f("a/Practitioner.ndjson"),
            Some(Format::Ndjson { gzip: false })
        );
        assert_eq!(f("x.NDJSON.GZ"), Some(Format::Ndjson { gzip: true }));
        assert_eq!(f("x.jsonl"), Some(Format::Ndjson { gzip: false }));
        assert_eq!(f("bundle.json"), Some(Format::Bundle { gzip: false }));
        assert_eq!(f("bundle.json.gz"), Some(Format::Bundle { gzip: true }));
        assert_eq!(f("notes.txt"), None);
        assert_eq!(f("x.gz"), None);
    }

    #[test]
    fn ndjson_lines_are_numbered_and_blank_lines_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.ndjson");
        std::fs::write(&p, "{\"a\":1}\r\n\n{oops\n  {\"b\":2}").unwrap();
        let items = read_all(&p);
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].0, 1);
        assert_eq!((items[1].0, items[1].1.is_err()), (3, true));
        assert_eq!(items[2].0, 4);
        assert_eq!(items[2].1.as_ref().ok(), Some(&serde_json::json!({"b": 2})));
    }

    #[test]
    fn gzip_ndjson_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.ndjson.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"{\"a\":1}\n{\"a\":2}\n").unwrap();
        std::fs::write(&p, gz.finish().unwrap()).unwrap();
        assert_eq!(read_all(&p).len(), 2);
    }

    #[test]
    fn bundle_entries_report_the_line_they_start_on() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.json");
        let text = "{\"resourceType\": \"Bundle\",\n \"entry\": [\n  {\"resource\":\n   {\"resourceType\": \"Patient\", \"id\": \"a\"}},\n  {\"request\": {}},\n  {\"resource\": {\"resourceType\": \"Patient\",\n \"id\": \"b\"}}\n]}\n";
        std::fs::write(&p, text).unwrap();
        let items = read_all(&p);
        let lines: Vec<u64> = items.iter().map(|i| i.0).collect();
        assert_eq!(lines, vec![4, 4, 6]);
        assert!(items[1].1.as_ref().is_err_and(|e| e.contains("entry[1]")));
        assert_eq!(
            items[2].1.as_ref().ok().map(|v| v["id"].clone()),
            Some("b".into())
        );
    }

    #[test]
    fn a_broken_bundle_is_one_error_at_its_line_and_a_plain_resource_is_one_item() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.json");
        std::fs::write(&p, "{\"resourceType\": \"Bundle\",\n\"entry\": [,]}").unwrap();
        let items = read_all(&p);
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].0, 2);
        std::fs::write(&p, "{\"resourceType\": \"Patient\", \"id\": \"x\"}").unwrap();
        assert_eq!(read_all(&p).len(), 1);
    }
}
