//! A package registry spoken to by the npm protocol, as FHIR package registries serve it:
//! `GET {registry}/{name}` answers the package's versions, each with `dist.tarball` (the
//! archive's address) and usually `dist.integrity` (`sha512-` and the base64 digest, checked
//! here), and `dist-tags.latest`.

use std::collections::BTreeSet;
use std::time::Duration;

use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha512};

use crate::{Installed, PackageCache, PackageError, PackageId};

/// The longest one registry request (listing or archive) may take.
const TIMEOUT: Duration = Duration::from_secs(120);

/// A registry at a base address (the operator's choice: there is no default).
#[derive(Debug, Clone)]
pub struct Registry {
    base: String,
    client: reqwest::Client,
}

impl Registry {
    pub fn new(base: &str) -> Result<Registry, PackageError> {
        let base = base.trim_end_matches('/').to_owned();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(PackageError::registry(
                &base,
                "a registry address starts with https:// (or http://)",
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| PackageError::registry(&base, e.to_string()))?;
        Ok(Registry { base, client })
    }

    /// Installs `name` at `version` (`latest`: the registry's latest) into `cache`, then the
    /// packages it depends on, transitively; packages already in the cache are not fetched
    /// again (nor are their dependencies). Answers what was installed, the asked one first.
    pub async fn install(
        &self,
        cache: &PackageCache,
        name: &str,
        version: &str,
    ) -> Result<Vec<Installed>, PackageError> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let mut queue = vec![(name.to_owned(), version.to_owned())];
        while let Some((name, version)) = queue.pop() {
            if !seen.insert((name.clone(), version.clone())) {
                continue;
            }
            if let Ok(id) = PackageId::new(&name, &version) {
                if cache.contains(&id) {
                    continue;
                }
            }
            let (id, bytes, url) = self.fetch(&name, &version).await?;
            let installed = cache.install_tgz_as(&bytes, &url, Some(&id))?;
            for d in installed.dependencies.iter().rev() {
                queue.push((d.name.clone(), d.version.clone()));
            }
            out.push(installed);
        }
        Ok(out)
    }

    /// The archive of `name` at `version`, checked against the registry's integrity digest
    /// when it gives one, with the id it was listed as and its address.
    async fn fetch(
        &self,
        name: &str,
        version: &str,
    ) -> Result<(PackageId, Vec<u8>, String), PackageError> {
        // `latest` passes as a version: the name is what must be checked before it is
        // put in an address.
        PackageId::new(name, version)?;
        let url = format!("{}/{name}", self.base);
        let listing: Value = serde_json::from_slice(&self.get(&url).await?).map_err(|e| {
            PackageError::registry(&url, format!("not a JSON package listing: {e}"))
        })?;
        let version = if version == "latest" {
            listing["dist-tags"]["latest"]
                .as_str()
                .ok_or_else(|| PackageError::registry(&url, "no dist-tags.latest"))?
                .to_owned()
        } else {
            version.to_owned()
        };
        let entry = listing["versions"].get(&version).ok_or_else(|| {
            let mut known: Vec<&str> = listing["versions"]
                .as_object()
                .map(|o| o.keys().map(String::as_str).collect())
                .unwrap_or_default();
            known.sort_unstable();
            PackageError::registry(
                &url,
                format!(
                    "{name} has no version {version} (versions: {})",
                    known.join(", ")
                ),
            )
        })?;
        let id = PackageId::new(name, &version)?;
        let tarball = entry["dist"]["tarball"]
            .as_str()
            .ok_or_else(|| PackageError::registry(&url, format!("{id}: no dist.tarball")))?
            .to_owned();
        let bytes = self.get(&tarball).await?;
        if let Some(integrity) = entry["dist"]["integrity"].as_str() {
            check_integrity(&tarball, integrity, &bytes)?;
        }
        Ok((id, bytes, tarball))
    }

    async fn get(&self, url: &str) -> Result<Vec<u8>, PackageError> {
        let response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| PackageError::registry(url, e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(PackageError::registry(url, format!("answered {status}")));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| PackageError::registry(url, e.to_string()))?;
        Ok(body.to_vec())
    }
}

/// npm's Subresource Integrity text: `sha512-<base64 digest>`; other algorithms are not
/// checked (and say so), a mismatch is an error.
fn check_integrity(url: &str, integrity: &str, bytes: &[u8]) -> Result<(), PackageError> {
    let Some(expected) = integrity.strip_prefix("sha512-") else {
        return Ok(());
    };
    let actual = base64::engine::general_purpose::STANDARD.encode(Sha512::digest(bytes));
    if actual == expected {
        Ok(())
    } else {
        Err(PackageError::registry(
            url,
            format!("the archive does not match its integrity {integrity}"),
        ))
    }
}
