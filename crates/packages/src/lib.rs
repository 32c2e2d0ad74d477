//! FHIR packages as the FHIR tooling shares them
//! (<https://confluence.hl7.org/display/FHIR/NPM+Package+Specification>):
//!
//! - a package is named `name#version` ([`PackageId`]) by its `package/package.json`;
//! - the **package cache** ([`PackageCache`]) holds each installed package unpacked at
//!   `{cache}/{name}#{version}/package/`, the layout SUSHI, HAPI and Firely use, by default
//!   `~/.fhir/packages` (`FHIR_PACKAGE_CACHE` overrides it);
//! - a **registry** ([`Registry`]) speaks the npm protocol: `GET {registry}/{name}` lists the
//!   versions, each with its tarball's address and integrity, and the package's
//!   `dependencies` are installed with it.
//!
//! Loading a package's definitions is the `conformance` crate's job; this crate only puts
//! packages where it can find them.

mod cache;
mod error;
mod id;
mod registry;

pub use cache::{Installed, PackageCache};
pub use error::PackageError;
pub use id::PackageId;
pub use registry::Registry;
