//! Item identity for union, `distinct()`, `intersect()`, `repeat()` & co: a hash of the
//! JSON value narrows candidates, FHIRPath equality confirms. This keeps those operations
//! near-linear on large collections (pairwise comparison of deep subtrees is cubic).
//!
//! Known gap: values equal under FHIRPath but hashed differently are kept apart —
//! instants written in different timezones, and quantities in convertible units.

use crate::compare::{self, json_eq};
use crate::node::Node;
use serde_json::Value;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

/// Hashes a JSON value iteratively (no recursion, whatever the depth). Object keys are
/// visited in sorted order so that key order does not matter, and integers hash like
/// the equal decimal (`1` = `1.0`).
fn hash_json(v: &Value, h: &mut DefaultHasher) {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Null => 0u8.hash(h),
            Value::Bool(b) => (1u8, b).hash(h),
            Value::Number(n) => (2u8, n.as_f64().unwrap_or(f64::NAN).to_bits()).hash(h),
            Value::String(s) => (3u8, s).hash(h),
            Value::Array(a) => {
                (4u8, a.len()).hash(h);
                stack.extend(a.iter().rev());
            }
            Value::Object(m) => {
                (5u8, m.len()).hash(h);
                let mut entries: Vec<(&String, &Value)> = m.iter().collect();
                entries.sort_by(|x, y| y.0.cmp(x.0));
                for (k, x) in entries {
                    // Keys are hashed when pushed; values are hashed in reverse key order,
                    // which is still a fixed order for a given set of keys.
                    k.hash(h);
                    stack.push(x);
                }
            }
        }
    }
}

fn item_hash(n: &Node<'_>) -> u64 {
    let mut h = DefaultHasher::new();
    hash_json(&n.value, &mut h);
    if n.value.is_null() {
        // Extension-only primitives differ by their extensions.
        if let Some(e) = n.ext.as_deref() {
            hash_json(e, &mut h);
        }
    }
    h.finish()
}

fn same(a: &Node<'_>, b: &Node<'_>) -> bool {
    compare::equals(a, b) == Some(true)
        || (a.value.is_null()
            && b.value.is_null()
            && match (a.ext.as_deref(), b.ext.as_deref()) {
                (Some(x), Some(y)) => json_eq(x, y, 0),
                (None, None) => true,
                _ => false,
            })
        || (!a.value.is_null() && json_eq(&a.value, &b.value, 0))
}

/// A set of items answering “is an equal item present?” in about constant time.
#[derive(Default)]
pub(crate) struct ItemSet<'a> {
    items: Vec<Node<'a>>,
    buckets: HashMap<u64, Vec<usize>>,
}

impl<'a> ItemSet<'a> {
    pub(crate) fn from_items(items: impl IntoIterator<Item = Node<'a>>) -> ItemSet<'a> {
        let mut s = ItemSet::default();
        for n in items {
            s.insert(n);
        }
        s
    }

    pub(crate) fn contains(&self, n: &Node<'_>) -> bool {
        self.buckets
            .get(&item_hash(n))
            .is_some_and(|b| b.iter().any(|&i| same(&self.items[i], n)))
    }

    /// Adds `n` unless an equal item is present; returns whether it was added.
    pub(crate) fn insert(&mut self, n: Node<'a>) -> bool {
        let h = item_hash(&n);
        let bucket = self.buckets.entry(h).or_default();
        if bucket.iter().any(|&i| same(&self.items[i], &n)) {
            return false;
        }
        bucket.push(self.items.len());
        self.items.push(n);
        true
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn into_items(self) -> Vec<Node<'a>> {
        self.items
    }
}

/// The items of `items` without duplicates, first occurrence kept.
pub(crate) fn distinct<'a>(items: impl IntoIterator<Item = Node<'a>>) -> Vec<Node<'a>> {
    ItemSet::from_items(items).into_items()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::borrow::Cow;

    fn n(v: Value) -> Node<'static> {
        Node {
            value: Cow::Owned(v),
            ty: None,
            ext: None,
            loc: None,
        }
    }

    #[test]
    fn equal_values_collapse_and_others_stay() {
        let items = vec![
            n(json!(1)),
            n(json!(1.0)),
            n(json!("1")),
            n(json!({"a": 1, "b": [2]})),
            n(json!({"b": [2], "a": 1})),
            n(json!({"a": 2})),
            n(Value::Null),
        ];
        let out: Vec<Value> = distinct(items)
            .into_iter()
            .map(|x| x.value.into_owned())
            .collect();
        assert_eq!(
            out,
            vec![
                json!(1),
                json!("1"),
                json!({"a": 1, "b": [2]}),
                json!({"a": 2}),
                Value::Null
            ]
        );
    }
}
