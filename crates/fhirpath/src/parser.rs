//! Pratt parser from tokens to [`Expr`], following the operator precedence table of
//! FHIRPath N1 §“Operator precedence” (<http://hl7.org/fhirpath/N1/#operator-precedence>).
//!
//! Nesting is bounded (`MAX_DEPTH`) so that hostile input cannot overflow the stack here,
//! in the evaluator, or when the tree is dropped.

use crate::ast::{BinOp, Expr, Literal, TypeSpec};
use crate::error::ParseError;
use crate::functions;
use crate::lexer::{tokenize, Tok, Token};
use crate::temporal;

/// Deepest syntax tree accepted. Real expressions stay below 20.
const MAX_DEPTH: usize = 128;
/// Longest source accepted, in bytes.
const MAX_SOURCE: usize = 64 * 1024;

/// Binding power of a prefix `+`/`-`, above multiplicative operators and below `.`/`[]`.
const UNARY_BP: u8 = 11;

/// Calendar duration keywords allowed as quantity units (`4 days`).
const CALENDAR_UNITS: &[&str] = &[
    "year",
    "years",
    "month",
    "months",
    "week",
    "weeks",
    "day",
    "days",
    "hour",
    "hours",
    "minute",
    "minutes",
    "second",
    "seconds",
    "millisecond",
    "milliseconds",
];

pub(crate) fn parse(src: &str) -> Result<Expr, ParseError> {
    if src.len() > MAX_SOURCE {
        return Err(ParseError::new(
            0,
            format!("expression longer than {MAX_SOURCE} bytes"),
        ));
    }
    let tokens = tokenize(src)?;
    let mut p = Parser { tokens, i: 0 };
    let (expr, _) = p.expr(0, 0)?;
    let t = p.peek();
    if t.kind != Tok::Eof {
        return Err(ParseError::new(t.pos, "unexpected token after expression"));
    }
    check_calls(&expr)?;
    Ok(expr)
}

/// Rejects unknown functions, wrong argument counts and non-type arguments to
/// `ofType()`/`as()`/`is()` at compile time. Recursion is bounded by `MAX_DEPTH`.
fn check_calls(e: &Expr) -> Result<(), ParseError> {
    match e {
        Expr::Call {
            target,
            name,
            args,
            pos,
        } => {
            let Some((min, max)) = functions::signature(name) else {
                return Err(ParseError::new(*pos, format!("unknown function '{name}'")));
            };
            if args.len() < min || args.len() > max {
                let want = if min == max {
                    min.to_string()
                } else {
                    format!("{min} to {max}")
                };
                return Err(ParseError::new(
                    *pos,
                    format!("{name}() takes {want} argument(s), not {}", args.len()),
                ));
            }
            if functions::takes_type_argument(name) && args[0].as_type_spec().is_none() {
                return Err(ParseError::new(*pos, format!("{name}() needs a type name")));
            }
            if let Some(t) = target {
                check_calls(t)?;
            }
            args.iter().try_for_each(check_calls)
        }
        Expr::Member(t, _) | Expr::Negate(t) | Expr::Is(t, _) | Expr::As(t, _) => check_calls(t),
        Expr::Index(a, b) | Expr::Binary(_, a, b) => {
            check_calls(a)?;
            check_calls(b)
        }
        _ => Ok(()),
    }
}

struct Parser {
    tokens: Vec<Token>,
    i: usize,
}

/// Precedence of an infix operator token, and the operator; `None` when `t` is not one.
fn infix(t: &Tok) -> Option<(u8, Infix)> {
    let op = |bp, op| Some((bp, Infix::Bin(op)));
    match t {
        Tok::Star => op(10, BinOp::Mul),
        Tok::Slash => op(10, BinOp::Div),
        Tok::Plus => op(9, BinOp::Add),
        Tok::Minus => op(9, BinOp::Sub),
        Tok::Amp => op(9, BinOp::Concat),
        Tok::Pipe => op(7, BinOp::Union),
        Tok::Lt => op(6, BinOp::Lt),
        Tok::Le => op(6, BinOp::Le),
        Tok::Gt => op(6, BinOp::Gt),
        Tok::Ge => op(6, BinOp::Ge),
        Tok::Eq => op(5, BinOp::Eq),
        Tok::NotEq => op(5, BinOp::NotEq),
        Tok::Equiv => op(5, BinOp::Equiv),
        Tok::NotEquiv => op(5, BinOp::NotEquiv),
        Tok::Ident(k) => match k.as_str() {
            "div" => op(10, BinOp::IntDiv),
            "mod" => op(10, BinOp::Mod),
            "is" => Some((8, Infix::Is)),
            "as" => Some((8, Infix::As)),
            "in" => op(4, BinOp::In),
            "contains" => op(4, BinOp::Contains),
            "and" => op(3, BinOp::And),
            "or" => op(2, BinOp::Or),
            "xor" => op(2, BinOp::Xor),
            "implies" => op(1, BinOp::Implies),
            _ => None,
        },
        _ => None,
    }
}

enum Infix {
    Bin(BinOp),
    Is,
    As,
}

impl Parser {
    fn peek(&self) -> &Token {
        // tokenize() always ends with Eof and we never advance past it.
        &self.tokens[self.i.min(self.tokens.len() - 1)]
    }

    fn peek_at(&self, offset: usize) -> &Tok {
        let idx = (self.i + offset).min(self.tokens.len() - 1);
        &self.tokens[idx].kind
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if t.kind != Tok::Eof {
            self.i += 1;
        }
        t
    }

    fn expect(&mut self, kind: Tok, what: &str) -> Result<(), ParseError> {
        let t = self.bump();
        if t.kind == kind {
            Ok(())
        } else {
            Err(ParseError::new(t.pos, format!("expected {what}")))
        }
    }

    /// Parses an expression whose operators bind tighter than `min_bp`. Returns the tree
    /// and its depth.
    fn expr(&mut self, min_bp: u8, depth: usize) -> Result<(Expr, usize), ParseError> {
        if depth > MAX_DEPTH {
            return Err(ParseError::new(
                self.peek().pos,
                "expression nested too deeply",
            ));
        }
        let (mut lhs, mut d) = self.prefix(depth)?;
        loop {
            let t = self.peek().clone();
            match &t.kind {
                Tok::Dot => {
                    self.bump();
                    let (name, pos) = self.member_name()?;
                    if *self.peek_at(0) == Tok::LParen {
                        let (args, ad) = self.args(depth + d)?;
                        lhs = Expr::Call {
                            target: Some(Box::new(lhs)),
                            name,
                            args,
                            pos,
                        };
                        d = d.max(ad) + 1;
                    } else {
                        lhs = Expr::Member(Box::new(lhs), name);
                        d += 1;
                    }
                }
                Tok::LBracket => {
                    self.bump();
                    let (index, id) = self.expr(0, depth + d + 1)?;
                    self.expect(Tok::RBracket, "']'")?;
                    lhs = Expr::Index(Box::new(lhs), Box::new(index));
                    d = d.max(id) + 1;
                }
                kind => {
                    let Some((bp, op)) = infix(kind) else { break };
                    if bp <= min_bp {
                        break;
                    }
                    self.bump();
                    match op {
                        Infix::Is | Infix::As => {
                            let ty = self.type_spec()?;
                            lhs = match op {
                                Infix::Is => Expr::Is(Box::new(lhs), ty),
                                _ => Expr::As(Box::new(lhs), ty),
                            };
                            d += 1;
                        }
                        Infix::Bin(op) => {
                            let (rhs, rd) = self.expr(bp, depth + d + 1)?;
                            lhs = Expr::Binary(op, Box::new(lhs), Box::new(rhs));
                            d = d.max(rd) + 1;
                        }
                    }
                }
            }
            if depth + d > MAX_DEPTH {
                return Err(ParseError::new(t.pos, "expression nested too deeply"));
            }
        }
        Ok((lhs, d))
    }

    fn prefix(&mut self, depth: usize) -> Result<(Expr, usize), ParseError> {
        let t = self.bump();
        let leaf = |e| Ok((e, 1));
        match t.kind {
            Tok::Minus | Tok::Plus => {
                let (inner, d) = self.expr(UNARY_BP, depth + 1)?;
                if t.kind == Tok::Plus {
                    Ok((inner, d))
                } else {
                    Ok((Expr::Negate(Box::new(inner)), d + 1))
                }
            }
            Tok::LParen => {
                let (inner, d) = self.expr(0, depth + 1)?;
                self.expect(Tok::RParen, "')'")?;
                Ok((inner, d))
            }
            Tok::LBrace => {
                self.expect(
                    Tok::RBrace,
                    "'}' (only the empty collection '{}' is allowed)",
                )?;
                leaf(Expr::Empty)
            }
            Tok::Str(s) => leaf(Expr::Literal(Literal::String(s))),
            Tok::Number(text) => self.number(&text, t.pos).map(|e| (e, 1)),
            Tok::DateTime(text) => temporal_literal(&text, t.pos).map(|e| (e, 1)),
            Tok::Env(name) => leaf(Expr::Env(name)),
            Tok::Special(name) => leaf(match name.as_str() {
                "this" => Expr::This,
                "index" => Expr::IndexVar,
                _ => Expr::Total,
            }),
            Tok::Ident(name) => match name.as_str() {
                "true" => leaf(Expr::Literal(Literal::Bool(true))),
                "false" => leaf(Expr::Literal(Literal::Bool(false))),
                "and" | "or" | "xor" | "implies" | "div" | "mod" => Err(ParseError::new(
                    t.pos,
                    format!("operator '{name}' where an operand was expected"),
                )),
                _ => self.ident_or_call(name, t.pos, depth),
            },
            Tok::Delimited(name) => self.ident_or_call(name, t.pos, depth),
            Tok::Eof => Err(ParseError::new(t.pos, "unexpected end of expression")),
            _ => Err(ParseError::new(t.pos, "expected an operand")),
        }
    }

    fn ident_or_call(
        &mut self,
        name: String,
        pos: usize,
        depth: usize,
    ) -> Result<(Expr, usize), ParseError> {
        if *self.peek_at(0) == Tok::LParen {
            let (args, d) = self.args(depth)?;
            Ok((
                Expr::Call {
                    target: None,
                    name,
                    args,
                    pos,
                },
                d + 1,
            ))
        } else {
            Ok((Expr::Ident(name), 1))
        }
    }

    /// Parses `( expr, expr, ... )`; returns the arguments and their maximum depth.
    fn args(&mut self, depth: usize) -> Result<(Vec<Expr>, usize), ParseError> {
        self.expect(Tok::LParen, "'('")?;
        let mut args = Vec::new();
        let mut max_d = 0;
        if *self.peek_at(0) == Tok::RParen {
            self.bump();
            return Ok((args, 0));
        }
        loop {
            let (a, d) = self.expr(0, depth + 1)?;
            args.push(a);
            max_d = max_d.max(d);
            let t = self.bump();
            match t.kind {
                Tok::Comma => continue,
                Tok::RParen => return Ok((args, max_d)),
                _ => return Err(ParseError::new(t.pos, "expected ',' or ')'")),
            }
        }
    }

    fn member_name(&mut self) -> Result<(String, usize), ParseError> {
        let t = self.bump();
        match t.kind {
            Tok::Ident(n) | Tok::Delimited(n) => Ok((n, t.pos)),
            _ => Err(ParseError::new(t.pos, "expected a name after '.'")),
        }
    }

    fn type_spec(&mut self) -> Result<TypeSpec, ParseError> {
        let (first, _) = self.member_name_or("a type name")?;
        if *self.peek_at(0) == Tok::Dot
            && matches!(self.peek_at(1), Tok::Ident(_) | Tok::Delimited(_))
        {
            self.bump();
            let (name, _) = self.member_name_or("a type name")?;
            return Ok(TypeSpec {
                namespace: Some(first),
                name,
            });
        }
        Ok(TypeSpec {
            namespace: None,
            name: first,
        })
    }

    fn member_name_or(&mut self, what: &str) -> Result<(String, usize), ParseError> {
        let t = self.bump();
        match t.kind {
            Tok::Ident(n) | Tok::Delimited(n) => Ok((n, t.pos)),
            _ => Err(ParseError::new(t.pos, format!("expected {what}"))),
        }
    }

    fn number(&mut self, text: &str, pos: usize) -> Result<Expr, ParseError> {
        let value: f64 = text
            .parse()
            .map_err(|_| ParseError::new(pos, "invalid number"))?;
        // A number followed by a unit string or calendar keyword is a quantity literal.
        let unit = match self.peek_at(0) {
            Tok::Str(u) => Some(u.clone()),
            Tok::Ident(u) if CALENDAR_UNITS.contains(&u.as_str()) => Some(u.clone()),
            _ => None,
        };
        if let Some(unit) = unit {
            self.bump();
            return Ok(Expr::Literal(Literal::Quantity(value, unit)));
        }
        if text.contains('.') {
            Ok(Expr::Literal(Literal::Decimal(value)))
        } else {
            text.parse::<i64>()
                .map(|i| Expr::Literal(Literal::Integer(i)))
                .map_err(|_| ParseError::new(pos, "integer literal out of range"))
        }
    }
}

fn temporal_literal(text: &str, pos: usize) -> Result<Expr, ParseError> {
    let bad = || ParseError::new(pos, format!("invalid date/time literal '@{text}'"));
    if let Some(time) = text.strip_prefix('T') {
        temporal::Time::parse(time).ok_or_else(bad)?;
        return Ok(Expr::Literal(Literal::Time(time.to_string())));
    }
    if text.contains('T') {
        // `@2020T` is a dateTime with year precision.
        let trimmed = text.strip_suffix('T').unwrap_or(text);
        temporal::DateTime::parse(trimmed).ok_or_else(bad)?;
        return Ok(Expr::Literal(Literal::DateTime(trimmed.to_string())));
    }
    temporal::DateTime::parse(text)
        .filter(|d| d.is_date_only())
        .ok_or_else(bad)?;
    Ok(Expr::Literal(Literal::Date(text.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(src: &str) -> Expr {
        parse(src).unwrap_or_else(|e| panic!("{src}: {e}"))
    }

    fn id(s: &str) -> Box<Expr> {
        Box::new(Expr::Ident(s.into()))
    }

    #[test]
    fn precedence_follows_the_specification() {
        // `is` binds tighter than `|`, which binds tighter than `=`, then `and`, then `or`.
        assert_eq!(
            p("a | b is T"),
            Expr::Binary(
                BinOp::Union,
                id("a"),
                Box::new(Expr::Is(
                    id("b"),
                    TypeSpec {
                        namespace: None,
                        name: "T".into()
                    }
                ))
            )
        );
        assert_eq!(
            p("a = b and c or d"),
            Expr::Binary(
                BinOp::Or,
                Box::new(Expr::Binary(
                    BinOp::And,
                    Box::new(Expr::Binary(BinOp::Eq, id("a"), id("b"))),
                    id("c")
                )),
                id("d")
            )
        );
        assert_eq!(
            p("1 + 2 * 3"),
            Expr::Binary(
                BinOp::Add,
                Box::new(Expr::Literal(Literal::Integer(1))),
                Box::new(Expr::Binary(
                    BinOp::Mul,
                    Box::new(Expr::Literal(Literal::Integer(2))),
                    Box::new(Expr::Literal(Literal::Integer(3)))
                ))
            )
        );
        assert_eq!(
            p("a - b - c"),
            Expr::Binary(
                BinOp::Sub,
                Box::new(Expr::Binary(BinOp::Sub, id("a"), id("b"))),
                id("c")
            )
        );
        assert_eq!(
            p("-a.b"),
            Expr::Negate(Box::new(Expr::Member(id("a"), "b".into())))
        );
    }

    #[test]
    fn keywords_are_member_names_after_a_dot() {
        assert_eq!(
            p("ValueSet.expansion.contains.code"),
            Expr::Member(
                Box::new(Expr::Member(
                    Box::new(Expr::Member(id("ValueSet"), "expansion".into())),
                    "contains".into()
                )),
                "code".into()
            )
        );
        assert!(matches!(
            p("a contains 'x'"),
            Expr::Binary(BinOp::Contains, _, _)
        ));
    }

    #[test]
    fn literals() {
        let cases: &[(&str, Literal)] = &[
            ("'a\\tb'", Literal::String("a\tb".into())),
            ("42", Literal::Integer(42)),
            ("4.50", Literal::Decimal(4.5)),
            ("true", Literal::Bool(true)),
            ("@2020-01", Literal::Date("2020-01".into())),
            (
                "@2020-01-02T10:30",
                Literal::DateTime("2020-01-02T10:30".into()),
            ),
            ("@2020T", Literal::DateTime("2020".into())),
            ("@T10:30:00.123", Literal::Time("10:30:00.123".into())),
            ("4 days", Literal::Quantity(4.0, "days".into())),
            ("1.5 'mg'", Literal::Quantity(1.5, "mg".into())),
        ];
        for (src, lit) in cases {
            assert_eq!(p(src), Expr::Literal(lit.clone()), "{src}");
        }
    }

    #[test]
    fn type_specifiers_and_calls() {
        assert_eq!(
            p("x as FHIR.Quantity"),
            Expr::As(
                id("x"),
                TypeSpec {
                    namespace: Some("FHIR".into()),
                    name: "Quantity".into()
                }
            )
        );
        assert!(matches!(
            p("x.where(a = 'b').exists()"),
            Expr::Call { ref name, ref args, .. } if name == "exists" && args.is_empty()
        ));
        assert!(matches!(p("a[0]"), Expr::Index(_, _)));
        assert_eq!(p("{}"), Expr::Empty);
    }

    #[test]
    fn syntax_errors_report_the_offset() {
        let cases = [
            ("a.", 2),
            ("a +", 3),
            ("(a", 2),
            ("a b", 2),
            ("where(a,", 8),
            ("@2020-13-01", 0),
            ("a is 1", 5),
            ("and", 0),
            ("99999999999999999999", 0),
            ("{ a }", 2),
            ("a.frobnicate()", 2),
            ("a.where()", 2),
            ("substring(1, 2, 3)", 0),
            ("a.ofType('x')", 2),
        ];
        for (src, pos) in cases {
            let err = parse(src).expect_err(src);
            assert_eq!(err.position, pos, "{src}: {err}");
        }
    }

    #[test]
    fn deep_nesting_is_rejected_not_overflowing() {
        let deep = format!("{}a{}", "(".repeat(5000), ")".repeat(5000));
        assert!(parse(&deep).is_err());
        let long_chain = format!("a{}", ".b".repeat(5000));
        assert!(parse(&long_chain).is_err());
        let minus = format!("{}1", "-".repeat(5000));
        assert!(parse(&minus).is_err());
        let ok_chain = format!("a{}", ".b".repeat(50));
        assert!(parse(&ok_chain).is_ok());
    }
}
