//! Bundle entries as fhirdir understands them: the request method, what the URL names, the
//! conditional headers, and the resource (<https://hl7.org/fhir/R4/bundle.html#transaction>).

use serde_json::{Map, Value};

use crate::auth::access::Interaction;
use crate::ctx::RequestCtx;
use crate::error::{Error, Result};
use crate::history::parse_instant;
use crate::request::parse_etag;

/// `Bundle.entry.request.method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EntryMethod {
    // Declared in transaction processing order: DELETE, POST, PUT/PATCH, GET/HEAD.
    Delete,
    Post,
    Put,
    Patch,
    Get,
    Head,
}

impl EntryMethod {
    fn parse(s: &str) -> Option<EntryMethod> {
        Some(match s {
            "DELETE" => EntryMethod::Delete,
            "POST" => EntryMethod::Post,
            "PUT" => EntryMethod::Put,
            "PATCH" => EntryMethod::Patch,
            "GET" => EntryMethod::Get,
            "HEAD" => EntryMethod::Head,
            _ => return None,
        })
    }

    /// Processing rank in a transaction (PUT and PATCH share a step, as do GET and HEAD).
    pub fn rank(self) -> u8 {
        match self {
            EntryMethod::Delete => 0,
            EntryMethod::Post => 1,
            EntryMethod::Put | EntryMethod::Patch => 2,
            EntryMethod::Get | EntryMethod::Head => 3,
        }
    }
}

/// What `entry.request.url` names, relative to the tenant base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `Type`
    Type(String),
    /// `Type/id`
    Instance(String, String),
    /// `Type/id/_history/vid`
    Version(String, String, i64),
    /// `Type?criteria`
    Search(String, String),
}

impl Target {
    pub fn resource_type(&self) -> &str {
        match self {
            Target::Type(t)
            | Target::Instance(t, _)
            | Target::Version(t, _, _)
            | Target::Search(t, _) => t,
        }
    }
}

/// One parsed entry.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Position in the request Bundle (responses keep this order).
    pub index: usize,
    pub full_url: Option<String>,
    pub method: EntryMethod,
    pub target: Target,
    pub resource: Option<Map<String, Value>>,
    pub if_match: Option<i64>,
    pub if_none_match: Option<i64>,
    pub if_none_exist: Option<String>,
    pub if_modified_since: Option<chrono::DateTime<chrono::Utc>>,
}

impl Entry {
    /// `entry N (fullUrl)`, for diagnostics.
    pub fn label(&self) -> String {
        match &self.full_url {
            Some(u) => format!("entry {} ({u})", self.index),
            None => format!("entry {}", self.index),
        }
    }

    /// What the entry does, for the access rule ([`RequestCtx::authorize`]).
    pub fn interaction(&self) -> Interaction {
        match (&self.method, &self.target) {
            (EntryMethod::Delete, _) => Interaction::Delete,
            (EntryMethod::Post, _) => Interaction::Create,
            (EntryMethod::Put | EntryMethod::Patch, _) => Interaction::Update,
            (_, Target::Instance(..) | Target::Version(..)) => Interaction::Read,
            (_, Target::Type(_) | Target::Search(..)) => Interaction::Search,
        }
    }

    /// The access rule for this entry, located at it.
    pub fn authorize(&self, ctx: &RequestCtx) -> Result<()> {
        ctx.authorize(self.target.resource_type(), self.interaction())
            .map_err(|err| self.locate(err))
    }

    /// `err` as an error of this entry: labelled, and located at `Bundle.entry[N]`.
    pub fn locate(&self, err: Error) -> Error {
        err.at_entry(self.index, &self.label())
    }
}

/// Parses `entry.request.url`: relative, or absolute under this tenant's base.
pub fn parse_target(url: &str, tenant_base: &str) -> Result<Target> {
    let rel = url
        .strip_prefix(tenant_base)
        .map(|r| r.trim_start_matches('/'))
        .unwrap_or(url);
    let (path, query) = match rel.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rel, None),
    };
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let rtype = parts.first().copied().unwrap_or_default();
    if !fhir::is_resource_type(rtype) {
        return Err(Error::invalid(format!(
            "request.url {url:?} does not start with a FHIR resource type"
        )));
    }
    let id = |s: &str| -> Result<String> {
        if fhir::is_valid_id(s) {
            Ok(s.to_owned())
        } else {
            Err(Error::invalid(format!(
                "request.url {url:?}: {s:?} is not a valid id"
            )))
        }
    };
    match (parts.as_slice(), query) {
        ([_], Some(q)) => Ok(Target::Search(rtype.to_owned(), q.to_owned())),
        ([_], None) => Ok(Target::Type(rtype.to_owned())),
        ([_, i], None) => Ok(Target::Instance(rtype.to_owned(), id(i)?)),
        ([_, i, "_history", v], None) => {
            let v = v.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                Error::invalid(format!("request.url {url:?}: {v:?} is not a version"))
            })?;
            Ok(Target::Version(rtype.to_owned(), id(i)?, v))
        }
        _ => Err(Error::bad_request(
            fhir::IssueType::NotSupported,
            format!("request.url {url:?} is not an interaction fhirdir supports inside a Bundle"),
        )),
    }
}

fn string<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Parses one `Bundle.entry`.
pub fn parse_entry(index: usize, raw: &Value, tenant_base: &str) -> Result<Entry> {
    let at = |e: Error| e.at_entry(index, &format!("entry {index}"));
    let request = raw
        .get("request")
        .filter(|r| r.is_object())
        .ok_or_else(|| at(Error::invalid("has no request (method and url)")))?;
    let method_text = string(request, "method").unwrap_or_default();
    let method = EntryMethod::parse(method_text).ok_or_else(|| {
        at(Error::invalid(format!(
            "request.method {method_text:?} is not GET, HEAD, POST, PUT, PATCH or DELETE"
        )))
    })?;
    let url = string(request, "url").ok_or_else(|| at(Error::invalid("has no request.url")))?;
    let target = parse_target(url, tenant_base).map_err(at)?;
    let resource = match raw.get("resource") {
        None => None,
        Some(Value::Object(m)) => Some(m.clone()),
        Some(_) => return Err(at(Error::invalid("resource must be a JSON object"))),
    };
    let etag = |key: &str| -> Result<Option<i64>> {
        string(request, key)
            .map(|v| {
                parse_etag(v).ok_or_else(|| {
                    at(Error::invalid(format!(
                        "request.{key} {v:?} is not a version ETag"
                    )))
                })
            })
            .transpose()
    };
    let entry = Entry {
        index,
        full_url: string(raw, "fullUrl").map(str::to_owned),
        method,
        target,
        resource,
        if_match: etag("ifMatch")?,
        if_none_match: etag("ifNoneMatch")?,
        if_none_exist: string(request, "ifNoneExist").map(str::to_owned),
        if_modified_since: string(request, "ifModifiedSince")
            .map(|v| parse_instant("ifModifiedSince", v).map_err(at))
            .transpose()?,
    };
    check_shape(&entry).map_err(at)?;
    Ok(entry)
}

/// The combinations of method, URL and resource that make sense.
fn check_shape(e: &Entry) -> Result<()> {
    let needs_resource = matches!(
        e.method,
        EntryMethod::Post | EntryMethod::Put | EntryMethod::Patch
    );
    if needs_resource && e.resource.is_none() {
        return Err(Error::invalid(format!(
            "a {:?} entry needs a resource",
            e.method
        )));
    }
    let ok = matches!(
        (e.method, &e.target),
        (EntryMethod::Post, Target::Type(_))
            | (
                EntryMethod::Put | EntryMethod::Patch | EntryMethod::Delete,
                Target::Instance(..) | Target::Search(..)
            )
            | (EntryMethod::Get | EntryMethod::Head, _)
    );
    if !ok {
        return Err(Error::invalid(format!(
            "{:?} cannot be applied to that request.url",
            e.method
        )));
    }
    if let (Some(r), EntryMethod::Post | EntryMethod::Put) = (&e.resource, e.method) {
        crate::resources::check_type(e.target.resource_type(), r)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let base = "http://x/fhir/default";
        assert_eq!(
            parse_target("Practitioner", base).unwrap(),
            Target::Type("Practitioner".into())
        );
        assert_eq!(
            parse_target("http://x/fhir/default/Practitioner/a", base).unwrap(),
            Target::Instance("Practitioner".into(), "a".into())
        );
        assert_eq!(
            parse_target("Organization?identifier=a|b", base).unwrap(),
            Target::Search("Organization".into(), "identifier=a|b".into())
        );
        assert_eq!(
            parse_target("Practitioner/a/_history/3", base).unwrap(),
            Target::Version("Practitioner".into(), "a".into(), 3)
        );
        for bad in [
            "Foo/1",
            "Practitioner/a b",
            "Practitioner/a/_history/x",
            "Practitioner/a/b/c/d",
            "",
        ] {
            assert!(parse_target(bad, base).is_err(), "{bad}");
        }
    }
}
