//! A tiny SQL fragment builder that makes "never format user input into SQL" a type rule.
//!
//! Search SQL is assembled from [`Sql`] fragments whose text pieces are `&'static str`
//! (written in this crate) or generated table aliases; everything that comes from a request
//! or a resource is an [`Arg`] and becomes a bound parameter when the fragment is rendered
//! for one backend ([`Sql::render`]: the text with that database's placeholders, and its
//! arguments). Building backend-neutral
//! fragments first keeps one query builder for SQLite and Postgres and lets unit tests look
//! at the generated SQL.

use sqlx::error::BoxDynError;
use sqlx::{Arguments, Database, Encode, Type};

/// A bound value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    Float(f64),
    OptFloat(Option<f64>),
    Bool(bool),
}

/// Arguments of a database that every [`Arg`] binds to: sqlx's encoding bounds, stated once.
pub(crate) trait BindArgs<'a>: Arguments<'a> {
    fn bind_arg(&mut self, arg: &Arg) -> Result<(), BoxDynError>;
}

impl<'a, A> BindArgs<'a> for A
where
    A: Arguments<'a>,
    String: Encode<'a, A::Database> + Type<A::Database>,
    Option<String>: Encode<'a, A::Database> + Type<A::Database>,
    i64: Encode<'a, A::Database> + Type<A::Database>,
    f64: Encode<'a, A::Database> + Type<A::Database>,
    Option<f64>: Encode<'a, A::Database> + Type<A::Database>,
    bool: Encode<'a, A::Database> + Type<A::Database>,
{
    fn bind_arg(&mut self, arg: &Arg) -> Result<(), BoxDynError> {
        match arg {
            Arg::Text(s) => self.add(s.clone()),
            Arg::OptText(s) => self.add(s.clone()),
            Arg::Int(n) => self.add(*n),
            Arg::Float(n) => self.add(*n),
            Arg::OptFloat(n) => self.add(*n),
            Arg::Bool(b) => self.add(*b),
        }
    }
}

/// A generated table alias, rendered `t<n>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Alias(pub u32);

/// Which SQL dialect a fragment is rendered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Static(&'static str),
    Alias(Alias),
    /// `<alias>.content` as text (`::text` on Postgres, where it is `jsonb`).
    Content(Alias),
    Arg(Arg),
    /// A fragment that differs between the backends: (SQLite, Postgres).
    Dialect(Box<Sql>, Box<Sql>),
    /// A value for a numbered placeholder already in the text ([`Sql::numbered`]).
    Numbered(Arg),
}

impl From<&str> for Arg {
    fn from(s: &str) -> Arg {
        Arg::Text(s.to_owned())
    }
}

impl From<String> for Arg {
    fn from(s: String) -> Arg {
        Arg::Text(s)
    }
}

impl From<Option<String>> for Arg {
    fn from(s: Option<String>) -> Arg {
        Arg::OptText(s)
    }
}

impl From<Option<&str>> for Arg {
    fn from(s: Option<&str>) -> Arg {
        Arg::OptText(s.map(str::to_owned))
    }
}

impl From<bool> for Arg {
    fn from(b: bool) -> Arg {
        Arg::Bool(b)
    }
}

impl From<i64> for Arg {
    fn from(n: i64) -> Arg {
        Arg::Int(n)
    }
}

/// A SQL fragment: static text, generated aliases and bound values.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Sql {
    parts: Vec<Part>,
}

impl Sql {
    pub fn new() -> Sql {
        Sql::default()
    }

    /// A whole statement written with numbered placeholders (`$1`, `$2`, …, repeats
    /// allowed; SQLite reads them too), bound by [`Sql::arg`] in number order. Not for
    /// mixing with the methods that bind at the end of the text ([`Sql::text`], …).
    pub fn numbered(text: &'static str) -> Sql {
        let mut sql = Sql::new();
        sql.push(text);
        sql
    }

    /// Binds the next numbered placeholder of a [`Sql::numbered`] statement.
    pub fn arg(&mut self, arg: impl Into<Arg>) -> &mut Sql {
        self.parts.push(Part::Numbered(arg.into()));
        self
    }

    /// Appends SQL text written in this crate.
    pub fn push(&mut self, text: &'static str) -> &mut Sql {
        self.parts.push(Part::Static(text));
        self
    }

    /// Appends `alias.column`.
    pub fn col(&mut self, alias: Alias, column: &'static str) -> &mut Sql {
        self.parts.push(Part::Alias(alias));
        self.parts.push(Part::Static("."));
        self.parts.push(Part::Static(column));
        self
    }

    /// Appends a bare alias (for `FROM table alias`).
    pub fn alias(&mut self, alias: Alias) -> &mut Sql {
        self.parts.push(Part::Alias(alias));
        self
    }

    /// Appends the resource body column of `alias` as text.
    pub fn content(&mut self, alias: Alias) -> &mut Sql {
        self.parts.push(Part::Content(alias));
        self
    }

    pub fn bind(&mut self, arg: Arg) -> &mut Sql {
        self.parts.push(Part::Arg(arg));
        self
    }

    pub fn text(&mut self, s: impl Into<String>) -> &mut Sql {
        self.bind(Arg::Text(s.into()))
    }

    pub fn opt_text(&mut self, s: Option<String>) -> &mut Sql {
        self.bind(Arg::OptText(s))
    }

    pub fn bool(&mut self, b: bool) -> &mut Sql {
        self.bind(Arg::Bool(b))
    }

    /// Appends a resource body column (`content`, `r.content`) as text: on Postgres it is
    /// `jsonb`, read back with `::text`.
    pub fn content_col(&mut self, column: &'static str) -> &mut Sql {
        self.push(column).postgres_only("::text")
    }

    /// Binds a resource body (`NULL` for a tombstone) for a `content` column: on Postgres the
    /// text is cast to `jsonb`.
    pub fn json(&mut self, body: Option<String>) -> &mut Sql {
        self.opt_text(body).postgres_only("::jsonb")
    }

    /// Appends `text` on Postgres only.
    pub fn postgres_only(&mut self, text: &'static str) -> &mut Sql {
        let mut postgres = Sql::new();
        postgres.push(text);
        self.dialect(Sql::new(), postgres)
    }

    /// `x.tenant = ? AND x.res_type = ?`: the rows of one tenant's resources of one type, the
    /// condition every table of a search is scoped by.
    pub fn scope_rows(&mut self, x: Alias, tenant: &str, resource_type: &str) -> &mut Sql {
        self.col(x, "tenant")
            .push(" = ")
            .text(tenant)
            .push(" AND ")
            .col(x, "res_type")
            .push(" = ")
            .text(resource_type)
    }

    pub fn int(&mut self, n: i64) -> &mut Sql {
        self.bind(Arg::Int(n))
    }

    pub fn float(&mut self, n: f64) -> &mut Sql {
        self.bind(Arg::Float(n))
    }

    /// Appends `(?, ?, …)` binding each text value; `(NULL)` for an empty list (which matches
    /// nothing, as `IN ()` would if SQL allowed it).
    pub fn text_list<'s>(&mut self, values: impl IntoIterator<Item = &'s str>) -> &mut Sql {
        self.push("(");
        let mut first = true;
        for v in values {
            if !first {
                self.push(", ");
            }
            first = false;
            self.text(v);
        }
        if first {
            self.push("NULL");
        }
        self.push(")")
    }

    /// ` JOIN resources ` with the left side (a page's or an include round's ids) driving
    /// the loop. On SQLite ` CROSS JOIN`, which fixes that order: with `sqlite_stat4`
    /// describing other tenants, its planner took a small tenant's `resources` rows as the
    /// outer loop and ran the id subquery once per row (2.4 s for 17 rows; BENCHMARKS.md
    /// "Statistics after API writes"). Postgres has no such spelling and needs none.
    pub fn join_resources(&mut self) -> &mut Sql {
        self.join_in_order("resources")
    }

    /// ` JOIN <table> ` with the tables before it driving the loop: ` CROSS JOIN ` on SQLite,
    /// whose planner keeps that order (see [`Sql::join_resources`]).
    pub fn join_in_order(&mut self, table: &'static str) -> &mut Sql {
        let mut sqlite = Sql::new();
        sqlite.push(" CROSS JOIN ").push(table).push(" ");
        let mut postgres = Sql::new();
        postgres.push(" JOIN ").push(table).push(" ");
        self.dialect(sqlite, postgres)
    }

    /// Appends `sqlite` on SQLite and `postgres` on Postgres (for JSON functions, which the
    /// two spell differently).
    pub fn dialect(&mut self, sqlite: Sql, postgres: Sql) -> &mut Sql {
        self.parts
            .push(Part::Dialect(Box::new(sqlite), Box::new(postgres)));
        self
    }

    pub fn append(&mut self, other: Sql) -> &mut Sql {
        self.parts.extend(other.parts);
        self
    }

    /// How many values this fragment binds.
    #[cfg(test)]
    pub fn bind_count(&self) -> usize {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Arg(_) | Part::Numbered(_) => 1,
                Part::Dialect(s, _) => s.bind_count(),
                _ => 0,
            })
            .sum()
    }

    /// Renders for `dialect`: the SQL text with the database's placeholders, and the
    /// arguments binding every [`Arg`] in order (or the error of one that cannot be encoded,
    /// which the statement then answers).
    pub fn render<'a, DB>(
        &self,
        dialect: Dialect,
    ) -> (String, Result<DB::Arguments<'a>, BoxDynError>)
    where
        DB: Database,
        DB::Arguments<'a>: BindArgs<'a>,
    {
        let mut text = String::new();
        let mut args = DB::Arguments::default();
        let bound = self.render_into(&mut text, &mut args, dialect);
        (text, bound.map(|()| args))
    }

    fn render_into<'a, A: BindArgs<'a>>(
        &self,
        text: &mut String,
        args: &mut A,
        dialect: Dialect,
    ) -> Result<(), BoxDynError> {
        use std::fmt::Write;
        for part in &self.parts {
            match part {
                Part::Static(s) => text.push_str(s),
                Part::Alias(a) => write!(text, "t{}", a.0)?,
                Part::Content(a) => {
                    write!(text, "t{}.content", a.0)?;
                    if dialect == Dialect::Postgres {
                        text.push_str("::text");
                    }
                }
                Part::Arg(arg) => {
                    args.bind_arg(arg)?;
                    // After the value: Postgres numbers its placeholders by the count.
                    args.format_placeholder(text)?;
                }
                Part::Numbered(arg) => args.bind_arg(arg)?,
                Part::Dialect(sqlite, postgres) => match dialect {
                    Dialect::Sqlite => sqlite.render_into(text, args, dialect)?,
                    Dialect::Postgres => postgres.render_into(text, args, dialect)?,
                },
            }
        }
        Ok(())
    }

    /// The SQL text with `?` for every bound value, and the values (for tests and logs);
    /// dialect-specific fragments in their SQLite form.
    #[cfg(test)]
    pub fn debug(&self) -> (String, Vec<Arg>) {
        let mut text = String::new();
        let mut args = Vec::new();
        self.debug_into(&mut text, &mut args);
        (text, args)
    }

    /// The SQLite text with `?` for every bound value and the values in order, for a driver
    /// other than sqlx's (`sqlite/direct_search.rs`); `None` for a statement with numbered
    /// placeholders ([`Sql::numbered`]), whose values are not bound in text order.
    pub fn sqlite_text(&self) -> Option<(String, Vec<&Arg>)> {
        let mut text = String::new();
        let mut args = Vec::new();
        self.sqlite_text_into(&mut text, &mut args)?;
        Some((text, args))
    }

    fn sqlite_text_into<'a>(&'a self, text: &mut String, args: &mut Vec<&'a Arg>) -> Option<()> {
        use std::fmt::Write;
        for part in &self.parts {
            match part {
                Part::Static(s) => text.push_str(s),
                Part::Alias(a) => write!(text, "t{}", a.0).ok()?,
                Part::Content(a) => write!(text, "t{}.content", a.0).ok()?,
                Part::Arg(arg) => {
                    text.push('?');
                    args.push(arg);
                }
                Part::Numbered(_) => return None,
                Part::Dialect(sqlite, _) => sqlite.sqlite_text_into(text, args)?,
            }
        }
        Some(())
    }

    #[cfg(test)]
    fn debug_into(&self, text: &mut String, args: &mut Vec<Arg>) {
        for part in &self.parts {
            match part {
                Part::Static(s) => text.push_str(s),
                Part::Alias(a) => text.push_str(&format!("t{}", a.0)),
                Part::Content(a) => text.push_str(&format!("t{}.content", a.0)),
                Part::Arg(arg) => {
                    text.push('?');
                    args.push(arg.clone());
                }
                Part::Numbered(arg) => args.push(arg.clone()),
                Part::Dialect(sqlite, _) => sqlite.debug_into(text, args),
            }
        }
    }
}

/// The smallest string greater than every string starting with `prefix`, in byte (code
/// point) order, or `None` when there is none (`prefix` made only of U+10FFFF). With it,
/// "starts with" becomes the index-friendly range `col >= prefix AND col < upper`.
pub(crate) fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = u32::from(last) + 1;
        if (0xD800..=0xDFFF).contains(&next) {
            next = 0xE000;
        }
        if let Some(c) = char::from_u32(next) {
            chars.push(c);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Escapes `%`, `_` and `\` for `LIKE … ESCAPE '\'`.
pub(crate) fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_upper_bound_is_the_next_string() {
        assert_eq!(prefix_upper_bound("abc").as_deref(), Some("abd"));
        assert_eq!(prefix_upper_bound("az").as_deref(), Some("a{"));
        assert_eq!(
            prefix_upper_bound("a\u{D7FF}").as_deref(),
            Some("a\u{E000}")
        );
        assert_eq!(prefix_upper_bound("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_upper_bound("\u{10FFFF}"), None);
        assert_eq!(prefix_upper_bound(""), None);
        // Every string with the prefix sorts below the bound, in byte order.
        let upper = prefix_upper_bound("smi").unwrap_or_default();
        for s in ["smi", "smith", "smi\u{10FFFF}zz"] {
            assert!(s.as_bytes() < upper.as_bytes(), "{s}");
        }
        assert!("smj".as_bytes() >= upper.as_bytes());
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_escape(r"50%_a\b"), r"50\%\_a\\b");
    }

    #[test]
    fn values_are_bound_never_spliced() {
        let mut sql = Sql::new();
        sql.push("SELECT 1 FROM t WHERE ")
            .col(Alias(3), "code")
            .push(" = ")
            .text("x'); DROP TABLE resources; --");
        let (text, args) = sql.debug();
        assert_eq!(text, "SELECT 1 FROM t WHERE t3.code = ?");
        assert_eq!(args.len(), 1);
    }
}
