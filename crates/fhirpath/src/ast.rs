//! Syntax tree of a compiled expression, as produced by the parser and walked by `eval`.

/// A literal, already validated and normalised by the parser.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    Bool(bool),
    String(String),
    Integer(i64),
    Decimal(f64),
    /// Text without `@`, e.g. `2020-01`.
    Date(String),
    /// Text without `@`, e.g. `2020-01-01T10:00:00Z`; may end with `T` (`@2020T`) — the
    /// parser strips that, so this is a valid partial dateTime.
    DateTime(String),
    /// Text without `@T`, e.g. `10:00`.
    Time(String),
    /// `value unit`, unit being a UCUM code or a calendar keyword (`days`).
    Quantity(f64, String),
}

/// A type name as written after `is`/`as` or inside `ofType()`: `Quantity`, `FHIR.string`,
/// `System.Integer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TypeSpec {
    pub namespace: Option<String>,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Mul,
    Div,
    IntDiv,
    Mod,
    Add,
    Sub,
    Concat,
    Union,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    NotEq,
    Equiv,
    NotEquiv,
    In,
    Contains,
    And,
    Or,
    Xor,
    Implies,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    /// `{}`
    Empty,
    Literal(Literal),
    /// Identifier evaluated against the focus (type name of the root, or member).
    Ident(String),
    /// `target.name`
    Member(Box<Expr>, String),
    /// `name(args)` with an optional target (`target.name(args)`); without one the function
    /// applies to the current focus.
    Call {
        target: Option<Box<Expr>>,
        name: String,
        args: Vec<Expr>,
        pos: usize,
    },
    Index(Box<Expr>, Box<Expr>),
    Negate(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Is(Box<Expr>, TypeSpec),
    As(Box<Expr>, TypeSpec),
    /// `%name`
    Env(String),
    This,
    IndexVar,
    Total,
}

impl Expr {
    /// Interprets an argument expression as a type specifier (`ofType(FHIR.Quantity)`).
    pub(crate) fn as_type_spec(&self) -> Option<TypeSpec> {
        match self {
            Expr::Ident(name) => Some(TypeSpec {
                namespace: None,
                name: name.clone(),
            }),
            Expr::Member(target, name) => match target.as_ref() {
                Expr::Ident(ns) => Some(TypeSpec {
                    namespace: Some(ns.clone()),
                    name: name.clone(),
                }),
                _ => None,
            },
            _ => None,
        }
    }
}
