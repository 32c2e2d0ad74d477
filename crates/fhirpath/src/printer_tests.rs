//! Parser property test: random syntax trees are printed fully parenthesised, parsed
//! back, and must print identically — which checks precedence, associativity, literal
//! lexing and escaping together. Deterministic xorshift so failures reproduce.

use crate::ast::{BinOp, Expr, Literal, TypeSpec};
use crate::parser::parse;

fn is_plain_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
        && !matches!(
            s,
            "and"
                | "or"
                | "xor"
                | "implies"
                | "div"
                | "mod"
                | "is"
                | "as"
                | "in"
                | "contains"
                | "true"
                | "false"
        )
}

fn ident(s: &str) -> String {
    if is_plain_ident(s) {
        s.to_string()
    } else {
        format!("`{}`", escape(s, '`'))
    }
}

fn escape(s: &str, quote: char) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

fn number(f: f64) -> String {
    let t = f.to_string();
    if t.contains('.') {
        t
    } else {
        format!("{t}.0")
    }
}

fn type_spec(t: &TypeSpec) -> String {
    match &t.namespace {
        Some(ns) => format!("{}.{}", ident(ns), ident(&t.name)),
        None => ident(&t.name),
    }
}

fn op(o: BinOp) -> &'static str {
    match o {
        BinOp::Mul => "*",
        BinOp::Div => "/",
        BinOp::IntDiv => "div",
        BinOp::Mod => "mod",
        BinOp::Add => "+",
        BinOp::Sub => "-",
        BinOp::Concat => "&",
        BinOp::Union => "|",
        BinOp::Lt => "<",
        BinOp::Le => "<=",
        BinOp::Gt => ">",
        BinOp::Ge => ">=",
        BinOp::Eq => "=",
        BinOp::NotEq => "!=",
        BinOp::Equiv => "~",
        BinOp::NotEquiv => "!~",
        BinOp::In => "in",
        BinOp::Contains => "contains",
        BinOp::And => "and",
        BinOp::Or => "or",
        BinOp::Xor => "xor",
        BinOp::Implies => "implies",
    }
}

/// Fully parenthesised source text of a tree.
fn print(e: &Expr) -> String {
    match e {
        Expr::Empty => "{}".into(),
        Expr::Literal(l) => match l {
            Literal::Bool(b) => b.to_string(),
            Literal::String(s) => format!("'{}'", escape(s, '\'')),
            Literal::Integer(i) => i.to_string(),
            Literal::Decimal(d) => number(*d),
            Literal::Date(d) => format!("@{d}"),
            Literal::DateTime(d) if d.contains('T') => format!("@{d}"),
            Literal::DateTime(d) => format!("@{d}T"),
            Literal::Time(t) => format!("@T{t}"),
            Literal::Quantity(v, u) if crate::quantity::is_calendar_keyword(u) => {
                format!("({} {u})", number(*v))
            }
            Literal::Quantity(v, u) => format!("({} '{}')", number(*v), escape(u, '\'')),
        },
        Expr::Ident(n) => ident(n),
        Expr::Member(t, n) => format!("({}).{}", print(t), ident(n)),
        Expr::Call {
            target, name, args, ..
        } => {
            let args: Vec<String> = args.iter().map(print).collect();
            let call = format!("{}({})", ident(name), args.join(", "));
            match target {
                Some(t) => format!("({}).{call}", print(t)),
                None => call,
            }
        }
        Expr::Index(t, i) => format!("({})[{}]", print(t), print(i)),
        Expr::Negate(x) => format!("(-({}))", print(x)),
        Expr::Binary(o, a, b) => format!("(({}) {} ({}))", print(a), op(*o), print(b)),
        Expr::Is(x, t) => format!("(({}) is {})", print(x), type_spec(t)),
        Expr::As(x, t) => format!("(({}) as {})", print(x), type_spec(t)),
        Expr::Env(n) if is_plain_ident(n) => format!("%{n}"),
        Expr::Env(n) => format!("%`{}`", escape(n, '`')),
        Expr::This => "$this".into(),
        Expr::IndexVar => "$index".into(),
        Expr::Total => "$total".into(),
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'t, T>(&mut self, items: &'t [T]) -> &'t T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

const NAMES: &[&str] = &[
    "name", "given", "contains", "as", "is", "in", "a b", "x`y", "_z9", "Patient",
];
const STRINGS: &[&str] = &[
    "",
    "x",
    "it's",
    "back\\slash",
    "line\nbreak",
    "tab\t",
    "ünï",
    "`q`",
];
const OPS: &[BinOp] = &[
    BinOp::Mul,
    BinOp::Div,
    BinOp::IntDiv,
    BinOp::Mod,
    BinOp::Add,
    BinOp::Sub,
    BinOp::Concat,
    BinOp::Union,
    BinOp::Lt,
    BinOp::Le,
    BinOp::Gt,
    BinOp::Ge,
    BinOp::Eq,
    BinOp::NotEq,
    BinOp::Equiv,
    BinOp::NotEquiv,
    BinOp::In,
    BinOp::Contains,
    BinOp::And,
    BinOp::Or,
    BinOp::Xor,
    BinOp::Implies,
];

fn gen(r: &mut Rng, depth: u32) -> Expr {
    let leaf = depth == 0 || r.next().is_multiple_of(3);
    let b = |r: &mut Rng| Box::new(gen(r, depth.saturating_sub(1)));
    if leaf {
        return match r.next() % 12 {
            0 => Expr::Empty,
            1 => Expr::Literal(Literal::Bool(r.next().is_multiple_of(2))),
            2 => Expr::Literal(Literal::String(r.pick(STRINGS).to_string())),
            3 => Expr::Literal(Literal::Integer((r.next() % 2000) as i64)),
            4 => Expr::Literal(Literal::Decimal((r.next() % 100_000) as f64 / 100.0)),
            5 => Expr::Literal(Literal::Date(
                r.pick(&["2020", "2020-02", "2020-02-29"]).to_string(),
            )),
            6 => Expr::Literal(Literal::DateTime(
                r.pick(&[
                    "2020",
                    "2020-01-01T10",
                    "2020-01-01T10:00:00.5Z",
                    "2020-01-01T10:00+05:30",
                ])
                .to_string(),
            )),
            7 => Expr::Literal(Literal::Time(
                r.pick(&["10", "10:30", "10:30:00.001"]).to_string(),
            )),
            8 => Expr::Literal(Literal::Quantity(
                (r.next() % 50) as f64,
                r.pick(&["mg", "days", "year", "it's"]).to_string(),
            )),
            9 => Expr::Ident(r.pick(NAMES).to_string()),
            10 => Expr::Env(r.pick(&["resource", "vs-x", "a`b"]).to_string()),
            _ => r.pick(&[Expr::This, Expr::IndexVar, Expr::Total]).clone(),
        };
    }
    let ty = |r: &mut Rng| TypeSpec {
        namespace: r.pick(&[None, Some("FHIR".to_string())]).clone(),
        name: r.pick(&["Quantity", "string", "is"]).to_string(),
    };
    match r.next() % 8 {
        0 => Expr::Member(b(r), r.pick(NAMES).to_string()),
        1 => {
            let (name, arity) =
                *r.pick(&[("where", 1), ("first", 0), ("iif", 3), ("substring", 2)]);
            let args = (0..arity).map(|_| gen(r, depth - 1)).collect();
            let target = if r.next().is_multiple_of(2) {
                Some(b(r))
            } else {
                None
            };
            Expr::Call {
                target,
                name: name.to_string(),
                args,
                pos: 0,
            }
        }
        2 => Expr::Index(b(r), b(r)),
        3 => Expr::Negate(b(r)),
        4 => Expr::Is(b(r), ty(r)),
        5 => Expr::As(b(r), ty(r)),
        _ => Expr::Binary(*r.pick(OPS), b(r), b(r)),
    }
}

#[test]
fn printed_trees_parse_back_to_the_same_tree() {
    let mut r = Rng(0x2545_F491_4F6C_DD1D);
    for _ in 0..3_000 {
        let tree = gen(&mut r, 5);
        let text = print(&tree);
        let reparsed = parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(print(&reparsed), text);
    }
}

#[test]
fn precedence_without_parentheses_matches_the_table() {
    // Each source must group like its explicitly parenthesised twin.
    let cases = [
        ("a or b and c", "a or (b and c)"),
        ("a implies b or c", "a implies (b or c)"),
        ("a = b | c", "a = (b | c)"),
        ("a | b < c", "(a | b) < c"),
        ("a in b | c", "a in (b | c)"),
        ("-a * b", "(-a) * b"),
        ("a * b + c & d", "((a * b) + c) & d"),
        ("a + b is T", "(a + b) is T"),
        ("a xor b or c", "(a xor b) or c"),
        ("a - b - c", "(a - b) - c"),
        ("a.b[0].first()", "((a.b)[0]).first()"),
    ];
    for (src, grouped) in cases {
        let got = print(&parse(src).unwrap_or_else(|e| panic!("{src}: {e}")));
        let want = print(&parse(grouped).unwrap_or_else(|e| panic!("{grouped}: {e}")));
        assert_eq!(got, want, "{src}");
    }
}
