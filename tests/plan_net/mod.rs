//! The Plan-Net search conformance suite's machinery: the inputs ([`data`]), an independent
//! evaluator of the IG's search expressions ([`path`]) and of the FHIR matching rules
//! ([`matching`]), the values tried per parameter ([`values`]), the query plan with its
//! expected result sets ([`cases`]) and the runner that pages through the server's answers
//! ([`run`]). Nothing here calls fhirdir's `fhirpath` or `search` crates: the expectations
//! are computed from the data alone.

pub mod cases;
pub mod data;
pub mod matching;
pub mod path;
pub mod run;
pub mod values;
