//! An export's files on disk: `{export dir}/{tenant}/{job}/{name}.ndjson`, one resource type
//! per file, split when a file reaches the configured size.
//!
//! The job's cursor is the record of what is complete: each [`OutputFile`] with its line count
//! and byte length at the last recorded step. A step appends lines ([`Appender`]); before
//! appending, a file is cut back to its recorded length, so the lines a process wrote before
//! dying, after its last recorded step, are dropped and written again by the step that
//! resumes.
//!
//! Steps do not sync the files: a process that dies leaves what it wrote in the operating
//! system's cache, which the next step reads. Only a machine crash can lose written bytes,
//! and then a file is shorter than its record: the step that finds it so fails the job
//! rather than serve a file with a hole ([`Appender::flush`]). The last step syncs every file
//! ([`sync_all`]) before the job is recorded complete. Nothing is served before the job has
//! completed, so a file is never read while it may still grow or be cut.

use std::collections::BTreeMap;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What an output file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Section {
    /// Resources (`output`).
    Output,
    /// Bundles of DELETE entries (`deleted`).
    Deleted,
    /// OperationOutcomes (`error`).
    Error,
}

/// One output file as the job's cursor records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputFile {
    pub section: Section,
    /// The resource type of its lines.
    #[serde(rename = "type")]
    pub rtype: String,
    /// 1, 2, ... within its type and section.
    pub part: u32,
    /// Lines (resources).
    pub count: u64,
    /// Bytes at the last recorded step.
    pub bytes: u64,
}

impl OutputFile {
    /// Its file name: `Practitioner-1.ndjson`, `Bundle-deleted-1.ndjson`,
    /// `OperationOutcome-error-1.ndjson`.
    pub fn name(&self) -> String {
        match self.section {
            Section::Output => format!("{}-{}.ndjson", self.rtype, self.part),
            Section::Deleted => format!("{}-deleted-{}.ndjson", self.rtype, self.part),
            Section::Error => format!("{}-error-{}.ndjson", self.rtype, self.part),
        }
    }
}

/// The folder of one job's files.
pub fn job_dir(root: &Path, tenant: &str, job: &str) -> PathBuf {
    root.join(tenant).join(job)
}

/// Whether `name` could be one of an export's file names (it is joined to a path: no
/// separators, no dots but the extension's).
pub fn is_file_name(name: &str) -> bool {
    name.strip_suffix(".ndjson").is_some_and(|stem| {
        !stem.is_empty() && stem.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    })
}

/// The lines one step adds to the files under one folder. What is added is written by a
/// blocking task while the step reads on ([`Appender::spill`]), one write at a time, so the
/// database reads and the file writes of a step use two cores; [`Appender::flush`] waits for
/// all of it.
#[derive(Debug)]
pub struct Appender<'a> {
    files: &'a mut Vec<OutputFile>,
    max_bytes: u64,
    dir: PathBuf,
    /// Index in `files` -> (the file's length where these bytes start, the bytes in pieces).
    pending: BTreeMap<usize, (u64, Vec<Vec<u8>>)>,
    /// The write of what was spilled last.
    writing: Option<tokio::task::JoinHandle<Result<()>>>,
}

impl<'a> Appender<'a> {
    pub fn new(files: &'a mut Vec<OutputFile>, max_bytes: u64, dir: PathBuf) -> Appender<'a> {
        Appender {
            files,
            max_bytes: max_bytes.max(1),
            dir,
            pending: BTreeMap::new(),
            writing: None,
        }
    }

    /// Adds one line (a resource's JSON, without newline) to the current file of
    /// `section`/`rtype`, starting the next part when that one is full.
    pub fn line(&mut self, section: Section, rtype: &str, json: &[u8]) {
        let (file, pieces) = self.target(section, rtype);
        file.count += 1;
        file.bytes += json.len() as u64 + 1;
        // The last piece is always one that takes small lines.
        if let Some(last) = pieces.last_mut() {
            last.extend_from_slice(json);
            last.push(b'\n');
        }
    }

    /// Adds `count` lines joined by newlines (without the last one), taking `text` as it is
    /// (a page's worth, not copied again): a file is split between blocks, so a part may pass
    /// the size by one block.
    pub fn block(&mut self, section: Section, rtype: &str, text: Vec<u8>, count: u64) {
        if count == 0 {
            return;
        }
        let (file, pieces) = self.target(section, rtype);
        file.count += count;
        file.bytes += text.len() as u64 + 1;
        pieces.push(text);
        pieces.push(vec![b'\n']);
    }

    /// The file that takes the next lines of `section`/`rtype`, and its pending pieces.
    fn target(&mut self, section: Section, rtype: &str) -> (&mut OutputFile, &mut Vec<Vec<u8>>) {
        let current = self
            .files
            .iter()
            .rposition(|f| f.section == section && f.rtype == rtype);
        let index = match current {
            Some(i) if self.files[i].bytes < self.max_bytes => i,
            other => {
                let part = other.map_or(1, |i| self.files[i].part + 1);
                self.files.push(OutputFile {
                    section,
                    rtype: rtype.to_owned(),
                    part,
                    count: 0,
                    bytes: 0,
                });
                self.files.len() - 1
            }
        };
        let file = &mut self.files[index];
        let (_, pieces) = self
            .pending
            .entry(index)
            .or_insert_with(|| (file.bytes, vec![Vec::new()]));
        (file, pieces)
    }

    /// Starts writing what was added since the last spill, once the previous write is done.
    /// Each file is first cut back to where the new bytes start; one found shorter than that
    /// is an error (see the module documentation).
    pub async fn spill(&mut self) -> Result<()> {
        let writes: Vec<(PathBuf, u64, Vec<Vec<u8>>)> = std::mem::take(&mut self.pending)
            .into_iter()
            .map(|(i, (from, bytes))| (self.dir.join(self.files[i].name()), from, bytes))
            .collect();
        if let Some(previous) = self.writing.take() {
            joined(previous.await)?;
        }
        if !writes.is_empty() {
            let dir = self.dir.clone();
            self.writing = Some(tokio::task::spawn_blocking(move || write_all(&dir, writes)));
        }
        Ok(())
    }

    /// Writes everything added and waits until it is written.
    pub async fn flush(mut self) -> Result<()> {
        self.spill().await?;
        match self.writing.take() {
            Some(last) => joined(last.await),
            None => Ok(()),
        }
    }
}

fn joined(r: std::result::Result<Result<()>, tokio::task::JoinError>) -> Result<()> {
    r.map_err(|e| Error::internal(format!("export writer: {e}")))?
}

fn write_all(dir: &Path, writes: Vec<(PathBuf, u64, Vec<Vec<u8>>)>) -> Result<()> {
    let io = |what: &str, path: &Path, e: std::io::Error| {
        Error::internal(format!("export file {}: {what}: {e}", path.display()))
    };
    std::fs::create_dir_all(dir).map_err(|e| io("creating the folder", dir, e))?;
    for (path, from, bytes) in writes {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| io("opening", &path, e))?;
        let len = f.metadata().map_err(|e| io("reading", &path, e))?.len();
        if len < from {
            return Err(Error::internal(format!(
                "export file {} holds {len} bytes, fewer than the {from} recorded: bytes were \
                 lost (a machine crash?), so the export cannot complete",
                path.display()
            )));
        }
        f.set_len(from).map_err(|e| io("cutting back", &path, e))?;
        f.seek(SeekFrom::Start(from))
            .map_err(|e| io("seeking", &path, e))?;
        for piece in bytes {
            f.write_all(&piece).map_err(|e| io("writing", &path, e))?;
        }
    }
    Ok(())
}

/// Syncs every file of `files` under `dir` to disk (the last step, before completion).
pub async fn sync_all(dir: PathBuf, files: &[OutputFile]) -> Result<()> {
    let paths: Vec<PathBuf> = files.iter().map(|f| dir.join(f.name())).collect();
    tokio::task::spawn_blocking(move || {
        for path in paths {
            std::fs::File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::internal(format!("syncing {}: {e}", path.display())))?;
        }
        Ok(())
    })
    .await
    .map_err(|e| Error::internal(format!("export writer: {e}")))?
}

/// Removes a job's folder (cancelled, expired or deleted); missing is fine.
pub async fn remove_job_dir(dir: PathBuf) {
    let result = tokio::task::spawn_blocking(move || match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err((dir, e)),
        _ => Ok(()),
    })
    .await;
    if let Ok(Err((dir, e))) = result {
        tracing::warn!(dir = %dir.display(), error = %e, "removing an export's files failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn parts_split_at_the_size_and_a_resumed_step_cuts_back_what_was_not_recorded() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("t").join("job");
        let mut files = Vec::new();
        let mut a = Appender::new(&mut files, 20, dir.clone());
        a.line(Section::Output, "Practitioner", br#"{"id":"a"}"#);
        a.line(Section::Output, "Practitioner", br#"{"id":"b"}"#);
        a.line(Section::Output, "Practitioner", br#"{"id":"c"}"#);
        a.spill().await.unwrap();
        a.line(Section::Deleted, "Bundle", br#"{"d":1}"#);
        a.block(
            Section::Output,
            "Location",
            br#"{"id":"x"}
{"id":"y"}"#
                .to_vec(),
            2,
        );
        a.line(Section::Output, "Location", br#"{"id":"z"}"#);
        a.flush().await.unwrap();
        // A block goes whole into a part; the part is then full, so the next line starts one.
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
        assert_eq!(
            read("Location-1.ndjson"),
            "{\"id\":\"x\"}\n{\"id\":\"y\"}\n"
        );
        assert_eq!(read("Location-2.ndjson"), "{\"id\":\"z\"}\n");
        let counts: Vec<(u64, u64)> = files[3..].iter().map(|f| (f.count, f.bytes)).collect();
        assert_eq!(counts, [(2, 22), (1, 11)]);
        files.truncate(3);
        let names: Vec<(String, u64)> = files.iter().map(|f| (f.name(), f.count)).collect();
        assert_eq!(
            names,
            [
                ("Practitioner-1.ndjson".to_owned(), 2),
                ("Practitioner-2.ndjson".to_owned(), 1),
                ("Bundle-deleted-1.ndjson".to_owned(), 1)
            ]
        );
        // A process that died after writing more, before recording it.
        let p2 = dir.join("Practitioner-2.ndjson");
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p2)
            .unwrap()
            .write_all(b"{\"id\":\"lost\"}\n")
            .unwrap();
        let mut a = Appender::new(&mut files, 20, dir.clone());
        a.line(Section::Output, "Practitioner", br#"{"id":"d"}"#);
        a.flush().await.unwrap();
        assert_eq!(
            std::fs::read_to_string(&p2).unwrap(),
            "{\"id\":\"c\"}\n{\"id\":\"d\"}\n"
        );
        assert_eq!(files[1].count, 2);
        sync_all(dir.clone(), &files).await.unwrap();

        // A file shorter than its record lost bytes: the step fails rather than leave a hole.
        std::fs::write(dir.join("Bundle-deleted-1.ndjson"), b"").unwrap();
        let mut a = Appender::new(&mut files, 20, dir.clone());
        a.line(Section::Deleted, "Bundle", br#"{"d":2}"#);
        // An internal error: the job fails, and the log has the detail.
        let e = a.flush().await.unwrap_err();
        assert_eq!(e.status(), 500);
    }

    #[test]
    fn file_names() {
        assert!(is_file_name("Practitioner-1.ndjson"));
        for bad in [
            "../x.ndjson",
            "a/b.ndjson",
            ".ndjson",
            "x.json",
            "a.b.ndjson",
        ] {
            assert!(!is_file_name(bad), "{bad}");
        }
    }
}
