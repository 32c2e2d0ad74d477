//! SMART *system* scopes, v1 and v2 (SMART App Launch 2.2, "Scopes for requesting FHIR resources":
//! <https://hl7.org/fhir/smart-app-launch/STU2.2/scopes-and-launch-context.html>).
//!
//! A backend-services client only ever acts as itself, so only `system/` scopes mean anything here;
//! `patient/`, `user/`, `openid` and friends are refused in an operator's registration ([`Scopes::parse`]) and
//! silently dropped from a client's request ([`Scopes::parse_lenient`]), as the token endpoint may grant fewer
//! scopes than asked (RFC 6749 §3.3).
//!
//! Each scope is a resource type (or `*`) with a set of the five v2 interaction letters `c r u d s`. The v1
//! permissions map onto them as the spec's "Scopes for requesting FHIR resources" table does: `read` = `rs`,
//! `write` = `cud`, `*` = `cruds`. v2 scopes with a `?` query (finer-grained constraints) are not supported.
//! A scope that reaches the grant unchanged keeps the client's own spelling, so a v1 client gets v1 scopes back.

use std::fmt;

use crate::AuthError;

const C: u8 = 1;
const R: u8 = 1 << 1;
const U: u8 = 1 << 2;
const D: u8 = 1 << 3;
const S: u8 = 1 << 4;
const LETTERS: [(char, u8); 5] = [('c', C), ('r', R), ('u', U), ('d', D), ('s', S)];

/// One FHIR REST interaction as the v2 scope letters name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Interaction {
    /// `c`: create.
    Create,
    /// `r`: read, vread, history of an instance.
    Read,
    /// `u`: update and patch.
    Update,
    /// `d`: delete.
    Delete,
    /// `s`: search and type history.
    Search,
}

impl Interaction {
    /// The v2 letter: `c`, `r`, `u`, `d` or `s`.
    pub fn letter(self) -> char {
        match self {
            Interaction::Create => 'c',
            Interaction::Read => 'r',
            Interaction::Update => 'u',
            Interaction::Delete => 'd',
            Interaction::Search => 's',
        }
    }

    fn bit(self) -> u8 {
        match self {
            Interaction::Create => C,
            Interaction::Read => R,
            Interaction::Update => U,
            Interaction::Delete => D,
            Interaction::Search => S,
        }
    }
}

/// One scope: a resource type or `*`, its permission bits, and the text it was written as when it came through
/// unchanged (printed back verbatim).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Grant {
    resource: String,
    perms: u8,
    original: Option<String>,
}

impl Grant {
    fn covers(&self, resource_type: &str) -> bool {
        self.resource == "*" || self.resource == resource_type
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(original) = &self.original {
            return f.write_str(original);
        }
        write!(f, "system/{}.", self.resource)?;
        for (letter, bit) in LETTERS {
            if self.perms & bit != 0 {
                write!(f, "{letter}")?;
            }
        }
        Ok(())
    }
}

/// A set of SMART system scopes, in the order they were written. [`fmt::Display`] prints them space-separated,
/// each in its original text when it came through unchanged and in the v2 form (`system/Practitioner.rs`)
/// otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(Vec<Grant>);

impl Scopes {
    /// Parses an operator's registration strictly: every space-separated item must be a system scope
    /// `system/<Type|*>.<permissions>`, where the permissions are v2 letters `[c][r][u][d][s]` (non-empty, in that
    /// order) or v1 `read` (= `rs`), `write` (= `cud`) or `*` (= `cruds`). A type is any `[A-Z][A-Za-z]{0,63}`;
    /// the caller checks the types it serves. The error names the first bad item.
    pub fn parse(text: &str) -> Result<Scopes, AuthError> {
        let mut scopes = Scopes::default();
        for item in text.split_whitespace() {
            let grant = parse_item(item).map_err(|reason| AuthError::InvalidScope {
                scope: item.to_owned(),
                reason: reason.to_owned(),
            })?;
            scopes.push(grant);
        }
        Ok(scopes)
    }

    /// Parses a client's requested `scope` leniently: keeps the system scopes it understands and drops
    /// everything else (`openid`, `patient/...`, `user/...`, v2 scopes with a `?` query, garbage).
    pub fn parse_lenient(text: &str) -> Scopes {
        let mut scopes = Scopes::default();
        for grant in text
            .split_whitespace()
            .filter_map(|item| parse_item(item).ok())
        {
            scopes.push(grant);
        }
        scopes
    }

    /// Whether some scope lets the client perform `interaction` on `resource_type`.
    pub fn allows(&self, resource_type: &str, interaction: Interaction) -> bool {
        let bit = interaction.bit();
        self.0
            .iter()
            .any(|g| g.perms & bit != 0 && g.covers(resource_type))
    }

    /// Whether some scope grants any write letter (`c`, `u` or `d`) on `resource_type`.
    pub fn grants_write(&self, resource_type: &str) -> bool {
        self.0
            .iter()
            .any(|g| g.perms & (C | U | D) != 0 && g.covers(resource_type))
    }

    /// True when there is no scope at all (nothing is allowed).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// What `self` (the client's request) and `other` (its registration) both allow, in the order requested:
    /// `system/*.rs` ∩ `system/Practitioner.cruds` = `system/Practitioner.rs`, and `system/Practitioner.read` ∩
    /// `system/*.cruds` = `system/Practitioner.read` (a requested scope granted whole keeps its spelling).
    pub fn intersect(&self, other: &Scopes) -> Scopes {
        let mut out = Scopes::default();
        for requested in &self.0 {
            // Per requested scope, one grant per resource the registration lets through, with the union of the
            // letters its registered scopes allow there.
            let mut granted: Vec<Grant> = Vec::new();
            for registered in &other.0 {
                let resource = match (requested.resource.as_str(), registered.resource.as_str()) {
                    ("*", r) | (r, "*") => r,
                    (a, b) if a == b => a,
                    _ => continue,
                };
                let perms = requested.perms & registered.perms;
                if perms == 0 {
                    continue;
                }
                match granted.iter_mut().find(|g| g.resource == resource) {
                    Some(g) => g.perms |= perms,
                    None => granted.push(Grant {
                        resource: resource.to_owned(),
                        perms,
                        original: None,
                    }),
                }
            }
            for mut grant in granted {
                if grant.resource == requested.resource && grant.perms == requested.perms {
                    grant.original.clone_from(&requested.original);
                }
                out.push(grant);
            }
        }
        out
    }

    /// Adds a grant unless an equal one (same resource and letters) is already there.
    fn push(&mut self, grant: Grant) {
        if !self
            .0
            .iter()
            .any(|g| g.resource == grant.resource && g.perms == grant.perms)
        {
            self.0.push(grant);
        }
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, grant) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{grant}")?;
        }
        Ok(())
    }
}

/// Parses one `system/<Type|*>.<permissions>` item; the error says why it is not one.
fn parse_item(item: &str) -> Result<Grant, &'static str> {
    let Some(rest) = item.strip_prefix("system/") else {
        return Err(
            if item.starts_with("patient/") || item.starts_with("user/") {
                "only system/ scopes are accepted for backend services"
            } else {
                "not a SMART system scope (system/<Type|*>.<permissions>)"
            },
        );
    };
    let Some((resource, permissions)) = rest.split_once('.') else {
        return Err("missing `.<permissions>` after the resource type");
    };
    if !is_resource_name(resource) {
        return Err("the resource type must be `*` or [A-Z][A-Za-z]{0,63}");
    }
    let perms = parse_permissions(permissions)?;
    Ok(Grant {
        resource: resource.to_owned(),
        perms,
        original: Some(item.to_owned()),
    })
}

fn is_resource_name(name: &str) -> bool {
    name == "*"
        || (name.len() <= 64
            && name.starts_with(|c: char| c.is_ascii_uppercase())
            && name.chars().all(|c| c.is_ascii_alphabetic()))
}

fn parse_permissions(text: &str) -> Result<u8, &'static str> {
    match text {
        "read" => return Ok(R | S),
        "write" => return Ok(C | U | D),
        "*" => return Ok(C | R | U | D | S),
        "" => return Err("empty permissions"),
        _ => {}
    }
    if text.contains('?') {
        return Err("v2 scopes with a `?` query are not supported");
    }
    let mut perms = 0u8;
    let mut next = 0usize; // index in LETTERS the next letter may start from: v2 letters come in `cruds` order
    for ch in text.chars() {
        let Some(pos) = LETTERS[next..].iter().position(|(l, _)| *l == ch) else {
            return Err(if LETTERS.iter().any(|(l, _)| *l == ch) {
                "v2 permissions must be written once each, in the order c r u d s"
            } else {
                "permissions must be v2 letters from `cruds` or v1 `read`, `write` or `*`"
            });
        };
        perms |= LETTERS[next + pos].1;
        next += pos + 1;
    }
    Ok(perms)
}

#[cfg(test)]
mod tests;
