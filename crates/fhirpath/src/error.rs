//! Error types: one enum for compiling an expression, one for evaluating it.

use thiserror::Error;

/// An expression could not be compiled. `position` is a byte offset into the source.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("FHIRPath syntax error at offset {position}: {message}")]
pub struct ParseError {
    pub position: usize,
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(position: usize, message: impl Into<String>) -> Self {
        Self {
            position,
            message: message.into(),
        }
    }
}

/// Evaluation failed. FHIRPath mostly answers “empty” for odd input; these are the cases
/// where the specification says the expression is in error, or where we refuse to go on.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EvalError {
    /// A function needing at most one item (or an operator operand) received several.
    #[error("{context}: expected a single item, got {count}")]
    NotSingleton { context: String, count: usize },
    /// Operand types that the operator or function cannot combine.
    #[error("{0}")]
    Type(String),
    #[error("unknown function '{name}' with {arity} argument(s)")]
    UnknownFunction { name: String, arity: usize },
    #[error("function '{name}': {message}")]
    BadArgument { name: String, message: String },
    #[error("undefined environment variable '%{0}'")]
    UndefinedVariable(String),
    /// A function this implementation does not provide (terminology, profiles).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Resource limits (collection size, string size, nesting) that protect the server.
    #[error("evaluation limit exceeded: {0}")]
    Limit(String),
}
