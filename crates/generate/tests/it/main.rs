//! Integration tests of the generator, in one binary (one link, shared helpers).

mod common;
mod conformance;
mod determinism;
mod references;
mod shape;
mod terminology;
