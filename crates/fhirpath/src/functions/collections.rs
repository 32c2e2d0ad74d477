//! Existence, filtering/projection, subsetting, combining, tree navigation, aggregate and
//! `iif` (<http://hl7.org/fhirpath/N1/#existence> through #combining, #aggregates).

use super::{Call, Items, R};
use crate::distinct::{distinct, ItemSet};
use crate::eval::{check_size, singleton, singleton_bool, Scope};
use crate::node::Node;

fn b<'a>(v: bool) -> R<'a> {
    Ok(vec![Node::boolean(v)])
}

/// Boolean value of each item, erroring on non-booleans (for allTrue & co).
fn booleans(c: &Call<'_, '_, '_>, input: &[Node<'_>]) -> Result<Vec<bool>, crate::EvalError> {
    input
        .iter()
        .map(|n| n.value.as_bool().ok_or_else(|| c.bad("expects booleans")))
        .collect()
}

pub(super) fn call<'a>(c: &Call<'_, 'a, '_>, input: &Items<'a>) -> Option<R<'a>> {
    Some(match c.name {
        "empty" => c.arity(0, 0).and_then(|_| b(input.is_empty())),
        "exists" => c.arity(0, 1).and_then(|_| {
            if c.args.is_empty() {
                return b(!input.is_empty());
            }
            for (i, item) in input.iter().enumerate() {
                if singleton_bool(&c.per_item(0, item, i)?, "exists")? == Some(true) {
                    return b(true);
                }
            }
            b(false)
        }),
        "all" => c.arity(1, 1).and_then(|_| {
            for (i, item) in input.iter().enumerate() {
                if singleton_bool(&c.per_item(0, item, i)?, "all")? != Some(true) {
                    return b(false);
                }
            }
            b(true)
        }),
        "allTrue" => c
            .arity(0, 0)
            .and_then(|_| b(booleans(c, input)?.iter().all(|x| *x))),
        "anyTrue" => c
            .arity(0, 0)
            .and_then(|_| b(booleans(c, input)?.iter().any(|x| *x))),
        "allFalse" => c
            .arity(0, 0)
            .and_then(|_| b(booleans(c, input)?.iter().all(|x| !*x))),
        "anyFalse" => c
            .arity(0, 0)
            .and_then(|_| b(booleans(c, input)?.iter().any(|x| !*x))),
        "subsetOf" => c.arity(1, 1).and_then(|_| {
            let other = ItemSet::from_items(c.arg(0)?);
            b(input.iter().all(|x| other.contains(x)))
        }),
        "supersetOf" => c.arity(1, 1).and_then(|_| {
            let mine = ItemSet::from_items(input.iter().cloned());
            b(c.arg(0)?.iter().all(|x| mine.contains(x)))
        }),
        "count" => c.arity(0, 0).map(|_| {
            vec![Node::integer(
                i64::try_from(input.len()).unwrap_or(i64::MAX),
            )]
        }),
        "distinct" => c.arity(0, 0).map(|_| distinct(input.iter().cloned())),
        "isDistinct" => c
            .arity(0, 0)
            .and_then(|_| b(ItemSet::from_items(input.iter().cloned()).len() == input.len())),
        "where" => c.arity(1, 1).and_then(|_| {
            let mut out = Vec::new();
            for (i, item) in input.iter().enumerate() {
                if singleton_bool(&c.per_item(0, item, i)?, "where")? == Some(true) {
                    out.push(item.clone());
                }
            }
            Ok(out)
        }),
        "select" => c.arity(1, 1).and_then(|_| {
            let mut out = Vec::new();
            for (i, item) in input.iter().enumerate() {
                out.extend(c.per_item(0, item, i)?);
                check_size(&out)?;
            }
            Ok(out)
        }),
        "repeat" => c.arity(1, 1).and_then(|_| repeat(c, input)),
        "single" => c
            .arity(0, 0)
            .and_then(|_| Ok(singleton(input, "single")?.cloned().into_iter().collect())),
        "first" => c
            .arity(0, 0)
            .map(|_| input.first().cloned().into_iter().collect()),
        "last" => c
            .arity(0, 0)
            .map(|_| input.last().cloned().into_iter().collect()),
        "tail" => c
            .arity(0, 0)
            .map(|_| input.iter().skip(1).cloned().collect()),
        "skip" | "take" => c.arity(1, 1).and_then(|_| {
            let n = c.arg_int(0)?.unwrap_or(0);
            let n = usize::try_from(n.max(0)).unwrap_or(usize::MAX);
            Ok(if c.name == "skip" {
                input.iter().skip(n).cloned().collect()
            } else {
                input.iter().take(n).cloned().collect()
            })
        }),
        "intersect" => c.arity(1, 1).and_then(|_| {
            let other = ItemSet::from_items(c.arg(0)?);
            Ok(distinct(
                input.iter().filter(|x| other.contains(x)).cloned(),
            ))
        }),
        "exclude" => c.arity(1, 1).and_then(|_| {
            let other = ItemSet::from_items(c.arg(0)?);
            Ok(input
                .iter()
                .filter(|x| !other.contains(x))
                .cloned()
                .collect())
        }),
        "union" => c
            .arity(1, 1)
            .and_then(|_| Ok(distinct(input.iter().cloned().chain(c.arg(0)?)))),
        "combine" => c.arity(1, 1).and_then(|_| {
            let mut out = input.clone();
            out.extend(c.arg(0)?);
            check_size(&out)?;
            Ok(out)
        }),
        "children" => c.arity(0, 0).and_then(|_| {
            let mut out = Vec::new();
            for item in input {
                item.all_children(&mut out);
                check_size(&out)?;
            }
            Ok(out)
        }),
        "descendants" => c.arity(0, 0).and_then(|_| descendants(input)),
        "aggregate" => c.arity(1, 2).and_then(|_| aggregate(c, input)),
        "iif" => c.arity(2, 3).and_then(|_| {
            // With an input item, the arguments see it as `$this`; only the chosen branch
            // is evaluated.
            let (cond, one) = match input.as_slice() {
                [] => (singleton_bool(&c.arg(0)?, "iif")?, None),
                [one] => (singleton_bool(&c.per_item(0, one, 0)?, "iif")?, Some(one)),
                _ => {
                    return Err(crate::EvalError::NotSingleton {
                        context: "iif".into(),
                        count: input.len(),
                    })
                }
            };
            let branch = if cond == Some(true) { 1 } else { 2 };
            match one {
                Some(item) => c.per_item(branch, item, 0),
                None => c.arg(branch),
            }
        }),
        "trace" => c.arity(1, 2).map(|_| input.clone()),
        _ => return None,
    })
}

/// `repeat(projection)`: applies the projection to its own output until nothing new.
/// Termination: every round must add an unseen item, and the total is size-checked.
fn repeat<'a>(c: &Call<'_, 'a, '_>, input: &Items<'a>) -> R<'a> {
    let mut seen = ItemSet::default();
    let mut frontier = input.clone();
    while !frontier.is_empty() {
        let mut next = Vec::new();
        for (i, item) in frontier.iter().enumerate() {
            for n in c.per_item(0, item, i)? {
                if seen.insert(n.clone()) {
                    next.push(n);
                }
            }
            if seen.len() > crate::eval::MAX_ITEMS {
                return Err(crate::EvalError::Limit(
                    "repeat() produced too many items".into(),
                ));
            }
        }
        frontier = next;
    }
    Ok(seen.into_items())
}

/// All descendants, breadth first per input item, iteratively (no recursion on depth).
fn descendants<'a>(input: &Items<'a>) -> R<'a> {
    let mut out = Vec::new();
    let mut frontier = input.clone();
    while !frontier.is_empty() {
        let mut next = Vec::new();
        for item in &frontier {
            item.all_children(&mut next);
            check_size(&next)?;
        }
        out.extend(next.iter().cloned());
        check_size(&out)?;
        frontier = next;
    }
    Ok(out)
}

/// `aggregate(aggregator, init)`: folds with `$this` = item and `$total` = running value.
fn aggregate<'a>(c: &Call<'_, 'a, '_>, input: &Items<'a>) -> R<'a> {
    let mut total = c.arg(1)?;
    for (i, item) in input.iter().enumerate() {
        let base = std::slice::from_ref(item);
        let scope = Scope {
            base,
            this: Some(item),
            index: Some(i),
            total: Some(&total),
        };
        let next = c.ctx.eval(&c.args[0], base, scope)?;
        total = next;
    }
    Ok(total)
}
