//! Compact, readable renderings of parsed queries so tests can be tables of strings.

use search::date::format_instant;
use search::{Filter, SearchValue, TokenSystem, TokenValue};

pub fn token(t: &TokenValue) -> String {
    let system = match &t.system {
        TokenSystem::Any => "*".to_owned(),
        TokenSystem::None => "-".to_owned(),
        TokenSystem::Is(s) => s.clone(),
    };
    format!("{system}|{}", t.code.as_deref().unwrap_or("*"))
}

pub fn value(v: &SearchValue) -> String {
    match v {
        SearchValue::Missing(b) => format!("missing({b})"),
        SearchValue::String { exact, normalized } => format!("str({exact}~{normalized})"),
        SearchValue::Token(t) => format!("tok({})", token(t)),
        SearchValue::OfType(o) => format!("oftype({}|{}|{})", o.type_system, o.type_code, o.value),
        SearchValue::Text(t) => format!("text({t})"),
        SearchValue::Reference(r) => format!(
            "ref({}/{}{}{})",
            r.resource_type.as_deref().unwrap_or("?"),
            r.id.as_deref().unwrap_or("?"),
            r.version
                .as_deref()
                .map(|v| format!("/_history/{v}"))
                .unwrap_or_default(),
            r.url
                .as_deref()
                .map(|u| format!(" @{u}"))
                .unwrap_or_default(),
        ),
        SearchValue::Identifier(t) => format!("ident({})", token(t)),
        SearchValue::Date { prefix, value } => format!(
            "date({} {}..{})",
            prefix.as_str(),
            format_instant(value.range.low),
            format_instant(value.range.high)
        ),
        SearchValue::Number { prefix, value } => {
            format!(
                "num({} {} [{}, {}))",
                prefix.as_str(),
                value.text,
                value.low,
                value.high
            )
        }
        SearchValue::Quantity(q) => format!(
            "qty({} {}|{}|{})",
            q.prefix.as_str(),
            q.number.text,
            q.system.as_deref().unwrap_or("*"),
            q.code.as_deref().unwrap_or("*")
        ),
        SearchValue::Uri(u) => format!("uri({u})"),
        SearchValue::InValueSet(v) => format!("valueset({})", v.text),
        SearchValue::Hierarchy(h) => format!("hier({}|{})", h.system, h.code),
        SearchValue::Composite(parts) => {
            format!(
                "comp({})",
                parts.iter().map(value).collect::<Vec<_>>().join(" $ ")
            )
        }
        SearchValue::Near(n) => format!("near({},{},{:?})", n.latitude, n.longitude, n.distance_km),
    }
}

pub fn filter(f: &Filter) -> String {
    match f {
        Filter::Param {
            param,
            modifier,
            values,
        } => format!(
            "{}{}={}",
            param.code,
            modifier
                .as_ref()
                .map(|m| format!(":{}", m.as_str()))
                .unwrap_or_default(),
            values.iter().map(value).collect::<Vec<_>>().join(",")
        ),
        Filter::Chain { param, targets } => format!(
            "{}->[{}]",
            param.code,
            targets
                .iter()
                .map(|t| format!("{}:{}", t.resource_type, filter(&t.filter)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Filter::Has {
            source_type,
            reference,
            filter: inner,
        } => format!("has({source_type}.{}: {})", reference.code, filter(inner)),
    }
}
