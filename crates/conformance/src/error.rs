//! The conformance crate's error type.

/// Everything that can go wrong while loading conformance definitions.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConformanceError {
    /// A row of a search parameter table is malformed.
    #[error("{table} line {line}: {message}")]
    Table {
        /// Table name, e.g. `r4.tsv`.
        table: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the row.
        message: String,
    },
    /// A file (or an entry of a package archive) holds something that cannot be loaded.
    #[error("{path}: {message}")]
    Load {
        /// The file, `archive.tgz!package/entry.json` inside an archive.
        path: String,
        /// What is wrong with it.
        message: String,
    },
}
