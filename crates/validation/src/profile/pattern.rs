//! Fixed and pattern values (<https://hl7.org/fhir/R4/elementdefinition-definitions.html#ElementDefinition.fixed_x_>)
//! and the simple paths of slice discriminators.

use serde_json::Value;

/// `fixed[x]`: the instance equals the value exactly.
pub(crate) fn equals_fixed(fixed: &Value, instance: &Value) -> bool {
    fixed == instance
}

/// `pattern[x]`: every property of the pattern is in the instance with the same value,
/// recursively; each item of a pattern array matches some item of the instance's.
pub(crate) fn matches_pattern(pattern: &Value, instance: &Value) -> bool {
    match (pattern, instance) {
        (Value::Object(p), Value::Object(i)) => p
            .iter()
            .all(|(k, pv)| i.get(k).is_some_and(|iv| matches_pattern(pv, iv))),
        (Value::Array(p), Value::Array(i)) => p
            .iter()
            .all(|pv| i.iter().any(|iv| matches_pattern(pv, iv))),
        // A single-item pattern against a repeating element's array.
        (p, Value::Array(i)) if !p.is_array() => i.iter().any(|iv| matches_pattern(p, iv)),
        (p, i) => p == i,
    }
}

/// The values at a discriminator path (`$this`, `url`, `coding.code`, `system`) in `item`,
/// arrays flattened.
pub(crate) fn values_at<'v>(item: &'v Value, path: &str) -> Vec<&'v Value> {
    let mut here = vec![item];
    if path.is_empty() || path == "$this" {
        return here;
    }
    for step in path.split('.') {
        let step = step.strip_prefix("$this").unwrap_or(step);
        if step.is_empty() {
            continue;
        }
        let mut next = Vec::new();
        for v in here {
            match v.get(step) {
                Some(Value::Array(a)) => next.extend(a.iter()),
                Some(x) => next.push(x),
                None => {}
            }
        }
        here = next;
    }
    here
}
