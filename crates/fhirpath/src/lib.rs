//! FHIRPath (normative N1, <http://hl7.org/fhirpath/N1/>) over FHIR R4 JSON held in
//! `serde_json::Value`, with the FHIR-specific additions of
//! <http://hl7.org/fhir/R4/fhirpath.html> (`extension()`, `resolve()`, `hasValue()`, …).
//!
//! Used by the search indexer (SearchParameter expressions), FHIRPath Patch
//! ([`Expression::evaluate_located`] gives JSON Pointers), invariants and subscription
//! filters. Pure: no IO.
//!
//! ```
//! use fhirpath::Expression;
//! let expr = Expression::parse("Organization.name | Organization.alias").unwrap();
//! let org = serde_json::json!({"resourceType": "Organization", "name": "Acme", "alias": ["A"]});
//! let names: Vec<_> = expr.evaluate(&org).unwrap().iter().map(|n| n.value().clone()).collect();
//! assert_eq!(names, vec![serde_json::json!("Acme"), serde_json::json!("A")]);
//! ```
//!
//! # Supported
//! Everything in N1 except what is listed below: paths with choice elements (`value`
//! finds `valueQuantity`) and primitive extensions (`birthDate.extension`), indexers,
//! all operators (`|`, `=`/`!=`, `~`/`!~`, comparisons, `is`/`as`, `in`/`contains`,
//! boolean logic with empty propagation, arithmetic, `&`), literals including partial
//! dates/times and quantities, `$this`/`$index`/`$total`, `%resource`, `%rootResource`,
//! `%context`, `%ucum`, `%sct`, `%loinc`, `%vs-*`, `%ext-*` and caller variables ([`Env`]),
//! and the function library: existence, filtering/projection, subsetting, combining,
//! conversion, string (plus `matchesFull`), math, tree navigation, `aggregate`, `iif`,
//! `trace`, `today`/`now`/`timeOfDay`, `type()`, and FHIR's `extension`, `hasValue`,
//! `getValue`, `resolve`, `htmlChecks`. Unknown functions and wrong argument counts are
//! compile errors.
//!
//! # Deliberate differences and gaps
//! - No schema. An item's FHIR type is known from `resourceType`, a choice suffix,
//!   `ofType()`/`as`, or `resolve()`; otherwise primitives are typed by their JSON kind
//!   (a plain string element `is` any string-like FHIR type) and objects by their keys
//!   (`name.ofType(HumanName)` works, see `typing`). Strict-mode checks of element names
//!   are not done: an unknown element is simply empty.
//! - `as` filters like `ofType()` instead of failing on several items: R4 search
//!   expressions rely on it (`Group.characteristic.value as CodeableConcept`).
//! - Decimals are `f64`; `+ - * mod` round to the operands' decimal places so that
//!   `1.8 - 1.2 = 0.6`, but trailing zeros of literals are not kept (`1.50` prints `1.5`).
//! - Quantities convert within time, mass, length and volume (metric prefixes and a few
//!   customary units); products and quotients of two quantities are not supported.
//! - Regular expressions: a linear-time subset (no back-references or look-around).
//! - `resolve()` has no store: contained resources, Bundle entries, else a stub
//!   `{"resourceType", "id"}` typed by the reference.
//! - `memberOf`, `subsumes`, `subsumedBy`, `conformsTo`, `elementDefinition`, `slice`,
//!   `checkModifiers` fail with [`EvalError::Unsupported`]; the FHIRPath 2.1 additions
//!   (`lowBoundary`, `sort`, `encode`, `defineVariable`, …) are not implemented.
//! - A dateTime with an offset compared to one without is unknown (empty), as the HL7
//!   test suite expects.
//!
//! # Robustness
//! Sources over 64 KiB or nested deeper than 128 are refused; collections over 250,000
//! items, strings over 8 MiB, regex runs over 20 million steps and evaluations doing
//! more than [`DEFAULT_WORK_LIMIT`] units of work (adjustable per [`Env`]) fail with
//! [`EvalError::Limit`]. Arbitrary input yields an error rather than a panic, an overflow
//! or a hang.

mod ast;
mod compare;
mod distinct;
mod error;
mod eval;
mod functions;
mod lexer;
mod node;
mod ops;
mod parser;
#[cfg(test)]
mod printer_tests;
mod quantity;
mod regex;
mod temporal;
mod types;
mod typing;

pub use error::{EvalError, ParseError};
pub use node::Node;
pub use types::CHOICE_STEMS;

use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A compiled FHIRPath expression: cheap to clone, shareable across threads.
#[derive(Debug, Clone)]
pub struct Expression {
    source: Arc<str>,
    ast: Arc<ast::Expr>,
}

impl Expression {
    /// Compiles `src`. Errors carry the byte offset of the problem.
    pub fn parse(src: &str) -> Result<Expression, ParseError> {
        let ast = parser::parse(src)?;
        Ok(Expression {
            source: Arc::from(src),
            ast: Arc::new(ast),
        })
    }

    /// The text this expression was compiled from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates with `%resource`, `%rootResource` and `%context` all set to `resource`.
    pub fn evaluate<'a>(&self, resource: &'a Value) -> Result<Vec<Node<'a>>, EvalError> {
        self.evaluate_with(resource, &Env::default())
    }

    /// Evaluates with extra environment variables (`%name`).
    pub fn evaluate_with<'a>(
        &self,
        resource: &'a Value,
        env: &Env,
    ) -> Result<Vec<Node<'a>>, EvalError> {
        eval::evaluate(&self.ast, resource, env, false)
    }

    /// Like [`Expression::evaluate_with`], and items taken from the resource also know
    /// where they are ([`Node::json_pointer`]), as FHIRPath Patch needs. Slightly slower.
    pub fn evaluate_located<'a>(
        &self,
        resource: &'a Value,
        env: &Env,
    ) -> Result<Vec<Node<'a>>, EvalError> {
        eval::evaluate(&self.ast, resource, env, true)
    }

    /// Evaluates with `context` (an item previously taken from `resource`, e.g. by
    /// [`Expression::evaluate_located`]) as the focus and `%context`, and `resource` as
    /// `%resource` — how invariants on elements are evaluated.
    pub fn evaluate_at<'a>(
        &self,
        resource: &'a Value,
        context: &Node<'a>,
        env: &Env,
    ) -> Result<Vec<Node<'a>>, EvalError> {
        eval::evaluate_at(&self.ast, resource, context, env)
    }

    /// Evaluates and interprets the result as a boolean the way FHIRPath does for
    /// invariants: empty -> `None`, one boolean -> it, one other item -> `true`, several
    /// items -> error.
    pub fn evaluate_bool(&self, resource: &Value) -> Result<Option<bool>, EvalError> {
        to_boolean(&self.evaluate(resource)?)
    }
}

/// FHIRPath's boolean reading of a result (for invariants evaluated with
/// [`Expression::evaluate_at`]): empty -> `None`, one boolean -> it, one other item ->
/// `true`, several items -> error.
pub fn to_boolean(items: &[Node<'_>]) -> Result<Option<bool>, EvalError> {
    eval::singleton_bool(items, "result")
}

/// Environment variables available to an evaluation as `%name`, in addition to the
/// built-ins (`%resource`, `%rootResource`, `%context`, `%ucum`, `%sct`, `%loinc`,
/// `%vs-…`, `%ext-…`).
#[derive(Debug, Clone)]
pub struct Env {
    vars: BTreeMap<String, Value>,
    work_limit: u64,
}

/// Default bound on the work of one evaluation, in items produced by sub-expressions.
/// Ordinary expressions stay below a few thousand; this stops quadratic hostile ones
/// (`descendants().where(%resource.descendants()…)` on a large resource).
pub const DEFAULT_WORK_LIMIT: u64 = 50_000_000;

impl Default for Env {
    fn default() -> Env {
        Env {
            vars: BTreeMap::new(),
            work_limit: DEFAULT_WORK_LIMIT,
        }
    }
}

impl Env {
    pub fn new() -> Env {
        Env::default()
    }

    /// Sets the work bound of each evaluation (see [`DEFAULT_WORK_LIMIT`]); exceeding it
    /// fails with [`EvalError::Limit`].
    pub fn with_work_limit(mut self, limit: u64) -> Env {
        self.work_limit = limit;
        self
    }

    /// Adds or replaces `%name`.
    pub fn with_var(mut self, name: impl Into<String>, value: Value) -> Env {
        self.vars.insert(name.into(), value);
        self
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        self.vars.get(name)
    }

    pub(crate) fn work_limit(&self) -> u64 {
        self.work_limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expression_is_send_sync_clone() {
        fn assert_traits<T: Send + Sync + Clone>() {}
        assert_traits::<Expression>();
        assert_traits::<Node<'static>>();
    }

    #[test]
    fn parse_error_displays_position() {
        let err = Expression::parse("Organization.name |").expect_err("incomplete");
        assert_eq!(
            err.to_string(),
            "FHIRPath syntax error at offset 19: unexpected end of expression"
        );
    }
}
