//! Tokenizer for FHIRPath source text (lexical rules of FHIRPath N1 §“Grammar”).
//!
//! Keywords (`and`, `is`, `contains`, …) are produced as plain identifiers: FHIRPath allows
//! several of them as member names (`ValueSet.expansion.contains`), so the parser decides
//! from position whether an identifier is an operator.

use crate::error::ParseError;

/// One token with the byte offset where it starts (for error messages).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: Tok,
    pub pos: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// Plain identifier or keyword.
    Ident(String),
    /// `` `delimited identifier` ``: never a keyword.
    Delimited(String),
    Str(String),
    /// Number text as written, so the parser can tell integers from decimals.
    Number(String),
    /// `@2020-01-01`, `@2020-01-01T10:00`, `@T10:00` (text without the `@`).
    DateTime(String),
    /// `%name` or `%'name'`.
    Env(String),
    /// `$this`, `$index`, `$total` (name without `$`).
    Special(String),
    Dot,
    Comma,
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Plus,
    Minus,
    Star,
    Slash,
    Amp,
    Pipe,
    Eq,
    NotEq,
    Equiv,
    NotEquiv,
    Lt,
    Le,
    Gt,
    Ge,
    Eof,
}

/// Splits `src` into tokens; the last token is always [`Tok::Eof`].
pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, ParseError> {
    let mut lx = Lexer {
        src,
        bytes: src.as_bytes(),
        pos: 0,
    };
    let mut out = Vec::new();
    loop {
        lx.skip_trivia()?;
        let pos = lx.pos;
        let Some(c) = lx.peek() else {
            out.push(Token {
                kind: Tok::Eof,
                pos,
            });
            return Ok(out);
        };
        let kind = match c {
            b'.' => lx.single(Tok::Dot),
            b',' => lx.single(Tok::Comma),
            b'(' => lx.single(Tok::LParen),
            b')' => lx.single(Tok::RParen),
            b'[' => lx.single(Tok::LBracket),
            b']' => lx.single(Tok::RBracket),
            b'{' => lx.single(Tok::LBrace),
            b'}' => lx.single(Tok::RBrace),
            b'+' => lx.single(Tok::Plus),
            b'-' => lx.single(Tok::Minus),
            b'*' => lx.single(Tok::Star),
            b'/' => lx.single(Tok::Slash),
            b'&' => lx.single(Tok::Amp),
            b'|' => lx.single(Tok::Pipe),
            b'=' => lx.single(Tok::Eq),
            b'~' => lx.single(Tok::Equiv),
            b'!' => match lx.bytes.get(pos + 1) {
                Some(b'=') => lx.double(Tok::NotEq),
                Some(b'~') => lx.double(Tok::NotEquiv),
                _ => return Err(ParseError::new(pos, "unexpected '!'")),
            },
            b'<' => match lx.bytes.get(pos + 1) {
                Some(b'=') => lx.double(Tok::Le),
                _ => lx.single(Tok::Lt),
            },
            b'>' => match lx.bytes.get(pos + 1) {
                Some(b'=') => lx.double(Tok::Ge),
                _ => lx.single(Tok::Gt),
            },
            b'\'' => Tok::Str(lx.quoted(b'\'')?),
            b'`' => Tok::Delimited(lx.quoted(b'`')?),
            b'@' => Tok::DateTime(lx.datetime()?),
            b'%' => {
                lx.pos += 1;
                match lx.peek() {
                    Some(b'\'') => Tok::Env(lx.quoted(b'\'')?),
                    Some(b'`') => Tok::Env(lx.quoted(b'`')?),
                    _ => {
                        let name = lx.ident_text();
                        if name.is_empty() {
                            return Err(ParseError::new(pos, "expected a name after '%'"));
                        }
                        Tok::Env(name)
                    }
                }
            }
            b'$' => {
                lx.pos += 1;
                let name = lx.ident_text();
                if !matches!(name.as_str(), "this" | "index" | "total") {
                    return Err(ParseError::new(pos, format!("unknown variable '${name}'")));
                }
                Tok::Special(name)
            }
            b'0'..=b'9' => Tok::Number(lx.number()),
            c if c == b'_' || c.is_ascii_alphabetic() => Tok::Ident(lx.ident_text()),
            _ => {
                let ch = src[pos..].chars().next().unwrap_or('?');
                return Err(ParseError::new(pos, format!("unexpected character '{ch}'")));
            }
        };
        out.push(Token { kind, pos });
    }
}

struct Lexer<'s> {
    src: &'s str,
    bytes: &'s [u8],
    pos: usize,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn single(&mut self, t: Tok) -> Tok {
        self.pos += 1;
        t
    }

    fn double(&mut self, t: Tok) -> Tok {
        self.pos += 2;
        t
    }

    fn skip_trivia(&mut self) -> Result<(), ParseError> {
        loop {
            match self.peek() {
                Some(c) if c.is_ascii_whitespace() => self.pos += 1,
                Some(b'/') if self.bytes.get(self.pos + 1) == Some(&b'/') => {
                    while let Some(c) = self.peek() {
                        if c == b'\n' {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                Some(b'/') if self.bytes.get(self.pos + 1) == Some(&b'*') => {
                    let start = self.pos;
                    match self.src[self.pos + 2..].find("*/") {
                        Some(end) => self.pos += end + 4,
                        None => return Err(ParseError::new(start, "unterminated comment")),
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn ident_text(&mut self) -> String {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c == b'_' || c.is_ascii_alphanumeric() {
                self.pos += 1;
            } else {
                break;
            }
        }
        self.src[start..self.pos].to_string()
    }

    fn number(&mut self) -> String {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        // A '.' is part of the number only when a digit follows: `1.toString()` is a call.
        if self.peek() == Some(b'.') && matches!(self.bytes.get(self.pos + 1), Some(b'0'..=b'9')) {
            self.pos += 1;
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.pos += 1;
            }
        }
        self.src[start..self.pos].to_string()
    }

    /// Reads a quoted string or delimited identifier, resolving escapes.
    fn quoted(&mut self, quote: u8) -> Result<String, ParseError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(ch) = self.src[self.pos..].chars().next() else {
                return Err(ParseError::new(start, "unterminated string"));
            };
            self.pos += ch.len_utf8();
            if ch as u32 == u32::from(quote) {
                return Ok(out);
            }
            if ch != '\\' {
                out.push(ch);
                continue;
            }
            let Some(esc) = self.src[self.pos..].chars().next() else {
                return Err(ParseError::new(start, "unterminated string"));
            };
            self.pos += esc.len_utf8();
            match esc {
                '\'' | '"' | '`' | '\\' | '/' => out.push(esc),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'f' => out.push('\u{c}'),
                'u' => {
                    let hex = self
                        .src
                        .get(self.pos..self.pos + 4)
                        .ok_or_else(|| ParseError::new(self.pos, "bad \\u escape"))?;
                    let code = u32::from_str_radix(hex, 16)
                        .map_err(|_| ParseError::new(self.pos, "bad \\u escape"))?;
                    // Lone surrogates cannot be represented in a Rust string.
                    out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
                    self.pos += 4;
                }
                other => {
                    return Err(ParseError::new(
                        self.pos - 1,
                        format!("unknown escape '\\{other}'"),
                    ))
                }
            }
        }
    }

    /// Reads the characters of a date/time literal after `@`; validation happens in the parser.
    fn datetime(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        self.pos += 1;
        let body_start = self.pos;
        while let Some(c) = self.peek() {
            let ok = c.is_ascii_digit() || matches!(c, b'-' | b':' | b'T' | b'Z' | b'+');
            // '.' belongs to fractional seconds only when a digit follows.
            let frac = c == b'.' && matches!(self.bytes.get(self.pos + 1), Some(b'0'..=b'9'));
            if !(ok || frac) {
                break;
            }
            // '-' / '+' after the time part start a timezone; inside the date part they are
            // separators. Either way they are part of the literal, but a trailing '-' that is
            // followed by a non-digit is an operator (`@2020 - 1 year`).
            if matches!(c, b'-' | b'+')
                && !matches!(self.bytes.get(self.pos + 1), Some(b'0'..=b'9'))
            {
                break;
            }
            self.pos += 1;
        }
        if self.pos == body_start {
            return Err(ParseError::new(start, "expected a date or time after '@'"));
        }
        Ok(self.src[body_start..self.pos].to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Tok> {
        tokenize(src)
            .expect("tokenize")
            .into_iter()
            .map(|t| t.kind)
            .collect()
    }

    #[test]
    fn tokenizes_paths_strings_and_operators() {
        assert_eq!(
            kinds("a.b[0] != 'x\\'y' // c"),
            vec![
                Tok::Ident("a".into()),
                Tok::Dot,
                Tok::Ident("b".into()),
                Tok::LBracket,
                Tok::Number("0".into()),
                Tok::RBracket,
                Tok::NotEq,
                Tok::Str("x'y".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn number_followed_by_function_call_is_not_decimal() {
        assert_eq!(
            kinds("1.5 2.x"),
            vec![
                Tok::Number("1.5".into()),
                Tok::Number("2".into()),
                Tok::Dot,
                Tok::Ident("x".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn datetime_literals_and_variables() {
        assert_eq!(
            kinds("@2020-01-02T10:00:00.5+01:00 %resource %'vs-x' $this @T12"),
            vec![
                Tok::DateTime("2020-01-02T10:00:00.5+01:00".into()),
                Tok::Env("resource".into()),
                Tok::Env("vs-x".into()),
                Tok::Special("this".into()),
                Tok::DateTime("T12".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn lexical_errors_carry_positions() {
        for (src, pos) in [
            ("'abc", 0),
            ("a ! b", 2),
            ("a # b", 2),
            ("$foo", 0),
            ("/* x", 0),
        ] {
            let err = tokenize(src).expect_err(src);
            assert_eq!(err.position, pos, "{src}");
        }
    }
}
