//! A small regular-expression engine for `matches()` and `replaceMatches()`.
//!
//! The crate must stay dependency-light, and FHIR invariants use a modest subset of
//! PCRE: literals, `.`, classes (`[a-z]`, `[^…]`, `\d \w \s` and negations), anchors `^ $`,
//! groups (capturing and `(?:…)`), alternation and the quantifiers `* + ? {n} {n,} {n,m}`
//! (greedy or lazy). Matching is a Pike VM (Thompson NFA simulation with thread priority),
//! so time is linear in the input for a given pattern: no catastrophic backtracking.
//! Back-references and look-around are rejected.

/// Largest compiled program accepted (bounds `{n,m}` expansion).
const MAX_PROGRAM: usize = 20_000;
/// Work allowed for one `matches()`/`replaceMatches()` call, in VM thread steps: linear
/// time is still too much when both pattern and text are huge.
const MAX_STEPS: u64 = 20_000_000;

#[derive(Debug, Clone)]
enum Node {
    Char(Class),
    Start,
    End,
    Group(Box<Node>, Option<usize>),
    Concat(Vec<Node>),
    Alt(Vec<Node>),
    Repeat {
        node: Box<Node>,
        min: u32,
        max: Option<u32>,
        greedy: bool,
    },
}

/// A set of characters: ranges, optionally negated.
#[derive(Debug, Clone)]
struct Class {
    ranges: Vec<(char, char)>,
    negated: bool,
}

impl Class {
    fn one(c: char) -> Class {
        Class {
            ranges: vec![(c, c)],
            negated: false,
        }
    }

    fn matches(&self, c: char) -> bool {
        self.ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != self.negated
    }
}

#[derive(Debug, Clone)]
enum Inst {
    Char(Class),
    Start,
    End,
    Split(usize, usize),
    Jmp(usize),
    Save(usize),
    Match,
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub(crate) struct Regex {
    prog: Vec<Inst>,
    groups: usize,
}

struct Parser<'p> {
    chars: Vec<char>,
    i: usize,
    groups: usize,
    _src: &'p str,
}

fn perl_class(c: char) -> Option<Class> {
    let digit = vec![('0', '9')];
    let word = vec![('a', 'z'), ('A', 'Z'), ('0', '9'), ('_', '_')];
    let space = vec![(' ', ' '), ('\t', '\r')];
    let (ranges, negated) = match c {
        'd' => (digit, false),
        'D' => (digit, true),
        'w' => (word, false),
        'W' => (word, true),
        's' => (space, false),
        'S' => (space, true),
        _ => return None,
    };
    Some(Class { ranges, negated })
}

fn escaped_char(c: char) -> char {
    match c {
        'n' => '\n',
        't' => '\t',
        'r' => '\r',
        'f' => '\u{c}',
        other => other,
    }
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn alt(&mut self, depth: usize) -> Result<Node, String> {
        if depth > 100 {
            return Err("pattern nested too deeply".into());
        }
        let mut branches = vec![self.concat(depth)?];
        while self.peek() == Some('|') {
            self.i += 1;
            branches.push(self.concat(depth)?);
        }
        Ok(if branches.len() == 1 {
            branches.remove(0)
        } else {
            Node::Alt(branches)
        })
    }

    fn concat(&mut self, depth: usize) -> Result<Node, String> {
        let mut items = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom(depth)?;
            items.push(self.quantified(atom)?);
        }
        Ok(Node::Concat(items))
    }

    fn quantified(&mut self, atom: Node) -> Result<Node, String> {
        let (min, max) = match self.peek() {
            Some('*') => (0, None),
            Some('+') => (1, None),
            Some('?') => (0, Some(1)),
            Some('{') => {
                let Some((min, max, len)) = self.braces() else {
                    return Ok(atom);
                };
                self.i += len - 1;
                (min, max)
            }
            _ => return Ok(atom),
        };
        self.i += 1;
        let greedy = if self.peek() == Some('?') {
            self.i += 1;
            false
        } else {
            true
        };
        if matches!(atom, Node::Start | Node::End) {
            return Err("quantifier on an anchor".into());
        }
        if max.is_some_and(|m| m < min) {
            return Err("bad repetition range".into());
        }
        Ok(Node::Repeat {
            node: Box::new(atom),
            min,
            max,
            greedy,
        })
    }

    /// Parses `{n}`, `{n,}`, `{n,m}` at the cursor: (min, max, length in chars).
    fn braces(&self) -> Option<(u32, Option<u32>, usize)> {
        let rest: String = self.chars[self.i..].iter().collect();
        let end = rest.find('}')?;
        let body = &rest[1..end];
        let (min, max) = match body.split_once(',') {
            Some((a, "")) => (a.parse().ok()?, None),
            Some((a, b)) => (a.parse().ok()?, Some(b.parse().ok()?)),
            None => {
                let n = body.parse().ok()?;
                (n, Some(n))
            }
        };
        Some((min, max, rest[..=end].chars().count()))
    }

    fn atom(&mut self, depth: usize) -> Result<Node, String> {
        let Some(c) = self.peek() else {
            return Err("unexpected end of pattern".into());
        };
        self.i += 1;
        Ok(match c {
            // FHIRPath evaluates regexes in single-line mode: `.` matches newlines too.
            '.' => Node::Char(Class {
                ranges: Vec::new(),
                negated: true,
            }),
            '^' => Node::Start,
            '$' => Node::End,
            '(' => {
                let capture = if self.chars.get(self.i..self.i + 2) == Some(&['?', ':']) {
                    self.i += 2;
                    None
                } else if self.peek() == Some('?') {
                    return Err("look-around and inline flags are not supported".into());
                } else {
                    self.groups += 1;
                    Some(self.groups)
                };
                let inner = self.alt(depth + 1)?;
                if self.peek() != Some(')') {
                    return Err("missing ')'".into());
                }
                self.i += 1;
                Node::Group(Box::new(inner), capture)
            }
            '[' => Node::Char(self.class()?),
            '\\' => {
                let e = self.peek().ok_or("pattern ends with '\\'")?;
                self.i += 1;
                if e.is_ascii_digit() && e != '0' {
                    return Err("back-references are not supported".into());
                }
                match perl_class(e) {
                    Some(cls) => Node::Char(cls),
                    None => Node::Char(Class::one(escaped_char(e))),
                }
            }
            '*' | '+' | '?' => return Err(format!("nothing to repeat before '{c}'")),
            ')' => return Err("unbalanced ')'".into()),
            other => Node::Char(Class::one(other)),
        })
    }

    fn class(&mut self) -> Result<Class, String> {
        let mut cls = Class {
            ranges: Vec::new(),
            negated: false,
        };
        if self.peek() == Some('^') {
            cls.negated = true;
            self.i += 1;
        }
        let mut first = true;
        loop {
            let c = self.peek().ok_or("missing ']'")?;
            self.i += 1;
            if c == ']' && !first {
                return Ok(cls);
            }
            first = false;
            let lo = if c == '\\' {
                let e = self.peek().ok_or("missing ']'")?;
                self.i += 1;
                if let Some(p) = perl_class(e) {
                    if p.negated {
                        return Err("negated class escapes inside [] are not supported".into());
                    }
                    cls.ranges.extend(p.ranges);
                    continue;
                }
                escaped_char(e)
            } else {
                c
            };
            if self.peek() == Some('-') && self.chars.get(self.i + 1).is_some_and(|n| *n != ']') {
                self.i += 1;
                let mut hi = self.peek().ok_or("missing ']'")?;
                self.i += 1;
                if hi == '\\' {
                    hi = escaped_char(self.peek().ok_or("missing ']'")?);
                    self.i += 1;
                }
                if hi < lo {
                    return Err("bad class range".into());
                }
                cls.ranges.push((lo, hi));
            } else {
                cls.ranges.push((lo, lo));
            }
        }
    }
}

fn emit(node: &Node, prog: &mut Vec<Inst>) -> Result<(), String> {
    if prog.len() > MAX_PROGRAM {
        return Err("pattern too large".into());
    }
    match node {
        Node::Char(c) => prog.push(Inst::Char(c.clone())),
        Node::Start => prog.push(Inst::Start),
        Node::End => prog.push(Inst::End),
        Node::Group(inner, cap) => {
            if let Some(g) = cap {
                prog.push(Inst::Save(2 * g));
            }
            emit(inner, prog)?;
            if let Some(g) = cap {
                prog.push(Inst::Save(2 * g + 1));
            }
        }
        Node::Concat(items) => {
            for it in items {
                emit(it, prog)?;
            }
        }
        Node::Alt(branches) => {
            let mut jumps = Vec::new();
            for (k, br) in branches.iter().enumerate() {
                if k + 1 < branches.len() {
                    let split = prog.len();
                    prog.push(Inst::Split(split + 1, 0));
                    emit(br, prog)?;
                    jumps.push(prog.len());
                    prog.push(Inst::Jmp(0));
                    let next = prog.len();
                    prog[split] = Inst::Split(split + 1, next);
                } else {
                    emit(br, prog)?;
                }
            }
            let end = prog.len();
            for j in jumps {
                prog[j] = Inst::Jmp(end);
            }
        }
        Node::Repeat {
            node,
            min,
            max,
            greedy,
        } => {
            for _ in 0..*min {
                emit(node, prog)?;
            }
            let split = |a, b| {
                if *greedy {
                    Inst::Split(a, b)
                } else {
                    Inst::Split(b, a)
                }
            };
            match max {
                None => {
                    let l = prog.len();
                    prog.push(Inst::Jmp(0));
                    emit(node, prog)?;
                    prog.push(Inst::Jmp(l));
                    let end = prog.len();
                    prog[l] = split(l + 1, end);
                }
                Some(max) => {
                    let mut holes = Vec::new();
                    for _ in *min..*max {
                        holes.push(prog.len());
                        prog.push(Inst::Jmp(0));
                        emit(node, prog)?;
                        if prog.len() > MAX_PROGRAM {
                            return Err("pattern too large".into());
                        }
                    }
                    let end = prog.len();
                    for h in holes {
                        prog[h] = split(h + 1, end);
                    }
                }
            }
        }
    }
    Ok(())
}

impl Regex {
    pub(crate) fn new(pattern: &str) -> Result<Regex, String> {
        let mut p = Parser {
            chars: pattern.chars().collect(),
            i: 0,
            groups: 0,
            _src: pattern,
        };
        let ast = p.alt(0)?;
        if p.i != p.chars.len() {
            return Err("unbalanced ')'".into());
        }
        let mut prog = vec![Inst::Save(0)];
        emit(&ast, &mut prog)?;
        prog.push(Inst::Save(1));
        prog.push(Inst::Match);
        Ok(Regex {
            prog,
            groups: p.groups,
        })
    }

    /// Whether the pattern matches somewhere in `text`; `Err` when the work budget runs out.
    pub(crate) fn is_match(&self, text: &str) -> Result<bool, String> {
        self.is_match_within(text, MAX_STEPS)
    }

    fn is_match_within(&self, text: &str, mut budget: u64) -> Result<bool, String> {
        let chars: Vec<char> = text.chars().collect();
        Ok(self.find_at(&chars, 0, &mut budget)?.is_some())
    }

    /// Whether the whole of `text` matches (`matchesFull()`).
    pub(crate) fn is_full_match(pattern: &str, text: &str) -> Result<bool, String> {
        Regex::new(&format!("^(?:{pattern})$"))?.is_match(text)
    }

    /// Replaces every match; `$n` in `rep` inserts group n. `Err` if the result would
    /// exceed `limit` bytes or the work budget runs out.
    pub(crate) fn replace_all(
        &self,
        text: &str,
        rep: &str,
        limit: usize,
    ) -> Result<String, String> {
        let chars: Vec<char> = text.chars().collect();
        let mut budget = MAX_STEPS;
        let mut out = String::new();
        let mut pos = 0;
        let too_long = || format!("result longer than {limit} bytes");
        while pos <= chars.len() {
            let Some(slots) = self.find_at(&chars, pos, &mut budget)? else {
                break;
            };
            let (Some(s), Some(e)) = (slots[0], slots[1]) else {
                break;
            };
            out.extend(&chars[pos..s]);
            expand(rep, &slots, &chars, &mut out);
            if out.len() > limit {
                return Err(too_long());
            }
            if e == s {
                // Empty match: copy one char to make progress.
                if let Some(c) = chars.get(e) {
                    out.push(*c);
                }
                pos = e + 1;
            } else {
                pos = e;
            }
        }
        if pos < chars.len() {
            out.extend(&chars[pos..]);
        }
        if out.len() > limit {
            return Err(too_long());
        }
        Ok(out)
    }

    /// Leftmost match starting at or after `from`: capture slots (char offsets).
    fn find_at(
        &self,
        chars: &[char],
        from: usize,
        budget: &mut u64,
    ) -> Result<Option<Vec<Option<usize>>>, String> {
        let nslots = 2 * (self.groups + 1);
        let mut clist: Vec<(usize, Vec<Option<usize>>)> = Vec::new();
        let mut matched: Option<Vec<Option<usize>>> = None;
        let mut pos = from;
        // Visited marks per instruction, reset by bumping the generation (no per-step
        // allocation, so a step costs only its live threads).
        let mut seen = vec![0u64; self.prog.len()];
        let mut generation = 0u64;
        loop {
            let cost = 1 + clist.len() as u64;
            *budget = budget
                .checked_sub(cost)
                .ok_or("pattern too expensive for this text")?;
            if matched.is_none() {
                // Start a new thread at this position (lowest priority).
                generation += 1;
                for (pc, _) in &clist {
                    seen[*pc] = generation;
                }
                let mut added = Vec::new();
                self.add_thread(
                    &mut added,
                    (&mut seen, generation),
                    0,
                    vec![None; nslots],
                    chars,
                    pos,
                );
                clist.extend(added);
            }
            if clist.is_empty() && (matched.is_some() || pos >= chars.len()) {
                break;
            }
            let mut nlist = Vec::new();
            generation += 1;
            for (pc, slots) in clist {
                match &self.prog[pc] {
                    Inst::Match => {
                        matched = Some(slots);
                        // Lower-priority threads are cut off.
                        break;
                    }
                    Inst::Char(cls) if chars.get(pos).is_some_and(|c| cls.matches(*c)) => {
                        self.add_thread(
                            &mut nlist,
                            (&mut seen, generation),
                            pc + 1,
                            slots,
                            chars,
                            pos + 1,
                        );
                    }
                    _ => {}
                }
            }
            clist = nlist;
            if pos >= chars.len() {
                break;
            }
            pos += 1;
        }
        Ok(matched)
    }

    /// Follows epsilon transitions from `pc`, adding runnable threads in priority order.
    fn add_thread(
        &self,
        list: &mut Vec<(usize, Vec<Option<usize>>)>,
        (seen, generation): (&mut [u64], u64),
        pc: usize,
        mut slots: Vec<Option<usize>>,
        chars: &[char],
        pos: usize,
    ) {
        // Explicit stack: patterns like (a*)* must not recurse without bound.
        let mut stack = vec![(pc, None::<(usize, Option<usize>)>)];
        while let Some((pc, restore)) = stack.pop() {
            if let Some((slot, old)) = restore {
                slots[slot] = old;
                if pc == usize::MAX {
                    continue;
                }
            }
            if seen[pc] == generation {
                continue;
            }
            seen[pc] = generation;
            match &self.prog[pc] {
                Inst::Jmp(t) => stack.push((*t, None)),
                Inst::Split(a, b) => {
                    stack.push((*b, None));
                    stack.push((*a, None));
                }
                Inst::Save(n) => {
                    let old = slots[*n];
                    slots[*n] = Some(pos);
                    stack.push((usize::MAX, Some((*n, old))));
                    stack.push((pc + 1, None));
                }
                Inst::Start => {
                    if pos == 0 {
                        stack.push((pc + 1, None));
                    }
                }
                Inst::End => {
                    if pos == chars.len() {
                        stack.push((pc + 1, None));
                    }
                }
                Inst::Char(_) | Inst::Match => list.push((pc, slots.clone())),
            }
        }
    }
}

/// Expands `$n` group references in a replacement string.
fn expand(rep: &str, slots: &[Option<usize>], chars: &[char], out: &mut String) {
    let mut it = rep.chars().peekable();
    while let Some(c) = it.next() {
        if c == '$' {
            if let Some(d) = it.peek().and_then(|d| d.to_digit(10)) {
                it.next();
                let g = d as usize;
                if let (Some(Some(s)), Some(Some(e))) = (slots.get(2 * g), slots.get(2 * g + 1)) {
                    out.extend(&chars[*s..*e]);
                }
                continue;
            }
        }
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_table() {
        let cases = [
            ("^[0-9]{3}-[0-9]{4}$", "555-1234", true),
            ("^[0-9]{3}-[0-9]{4}$", "555-12345", false),
            ("abc", "xxabcxx", true),
            ("^abc", "xxabc", false),
            ("a|b", "cb", true),
            ("^(ab)+$", "ababab", true),
            ("^(ab)+$", "ababa", false),
            ("\\d+\\.\\d*", "v1.", true),
            ("[^a-z]", "abc", false),
            ("^[A-Za-z0-9\\-\\.]{1,64}$", "abc-1.2", true),
            ("^\\S+$", "a b", false),
            ("colou?r", "color", true),
            ("^(a*)*$", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", false),
            ("^.*$", "", true),
            ("(?:x|y)z", "yz", true),
            ("A.*B", "A\n\t\t\tB", true),
        ];
        for (pat, text, want) in cases {
            let re = Regex::new(pat).unwrap_or_else(|e| panic!("{pat}: {e}"));
            assert_eq!(re.is_match(text), Ok(want), "{pat} on {text}");
        }
    }

    #[test]
    fn replacement_with_groups_and_laziness() {
        let cases = [
            ("(\\w+)@(\\w+)", "a@b c@d", "$2@$1", "b@a d@c"),
            ("a+?", "aaa", "x", "xxx"),
            ("a+", "baaac", "x", "bxc"),
            ("x*", "ab", "-", "-a-b-"),
        ];
        for (pat, text, rep, want) in cases {
            let re = Regex::new(pat).unwrap_or_else(|e| panic!("{pat}: {e}"));
            assert_eq!(
                re.replace_all(text, rep, 1000).as_deref(),
                Ok(want),
                "{pat}"
            );
        }
    }

    #[test]
    fn expensive_matches_run_out_of_budget_instead_of_hanging() {
        let re = Regex::new("(a|aa)*x|a{1,50}y").expect("pattern");
        let text = "a".repeat(20_000);
        assert!(re.is_match_within(&text, 100_000).is_err());
        assert_eq!(re.is_match_within("aaay", 100_000), Ok(true));
        assert_eq!(
            Regex::new("a")
                .expect("pattern")
                .replace_all("aaa", "bb", 4),
            Err("result longer than 4 bytes".to_string())
        );
    }

    #[test]
    fn rejects_unsupported_or_broken_patterns() {
        for pat in [
            "(a",
            "a)",
            "*a",
            "[a",
            "(?=a)",
            "\\1",
            "a{3,2}",
            "a{99999}{99999}",
        ] {
            assert!(Regex::new(pat).is_err(), "{pat}");
        }
    }
}
