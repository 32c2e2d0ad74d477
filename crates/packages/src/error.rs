//! What can go wrong installing or finding a package; every message names the package, the
//! file or the address.

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// A package name or `name#version` that cannot be one.
    #[error("{0}")]
    InvalidId(String),
    /// A file or archive that is not a usable package.
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    /// Reading or writing the cache.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The registry could not be asked, or answered something unusable.
    #[error("{url}: {message}")]
    Registry { url: String, message: String },
}

impl PackageError {
    pub(crate) fn io(path: impl std::fmt::Display, source: std::io::Error) -> PackageError {
        PackageError::Io {
            path: path.to_string(),
            source,
        }
    }

    pub(crate) fn invalid(
        path: impl std::fmt::Display,
        message: impl Into<String>,
    ) -> PackageError {
        PackageError::Invalid {
            path: path.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn registry(
        url: impl std::fmt::Display,
        message: impl Into<String>,
    ) -> PackageError {
        PackageError::Registry {
            url: url.to_string(),
            message: message.into(),
        }
    }
}
