//! The tree-walking evaluator: focus/scope handling, path navigation, environment
//! variables and operators (<http://hl7.org/fhirpath/N1/#operations>). Functions live in
//! `functions`, operator arithmetic in `ops`.

use crate::ast::{BinOp, Expr, Literal};
use crate::compare::{self, describe};
use crate::error::EvalError;
use crate::node::Node;
use crate::types;
use crate::{functions, ops, typing, Env};
use serde_json::Value;
use std::borrow::Cow;
use std::cmp::Ordering;

/// Largest collection an evaluation may build (protects against `combine` blow-ups).
pub(crate) const MAX_ITEMS: usize = 250_000;

/// Evaluation-wide inputs.
pub(crate) struct Ctx<'a, 'e> {
    /// `%resource`.
    pub root: Node<'a>,
    /// `%context` when it differs from `%resource`.
    pub context: Option<Node<'a>>,
    pub env: &'e Env,
    /// Work left (items produced) before the evaluation is stopped.
    pub budget: std::cell::Cell<u64>,
}

impl<'a, 'e> Ctx<'a, 'e> {
    pub(crate) fn new(root: Node<'a>, context: Option<Node<'a>>, env: &'e Env) -> Self {
        Ctx {
            root,
            context,
            env,
            budget: std::cell::Cell::new(env.work_limit()),
        }
    }

    /// Accounts for `items` produced; errors once the budget is spent.
    fn charge(&self, items: usize) -> Result<(), EvalError> {
        let cost = u64::try_from(items).unwrap_or(u64::MAX).saturating_add(1);
        match self.budget.get().checked_sub(cost) {
            Some(left) => {
                self.budget.set(left);
                Ok(())
            }
            None => Err(EvalError::Limit(format!(
                "evaluation did more than {} units of work",
                self.env.work_limit()
            ))),
        }
    }
}

/// Lexical scope: what a path head, `$this`, `$index` and `$total` refer to.
#[derive(Clone, Copy)]
pub(crate) struct Scope<'s, 'a> {
    /// The collection a path head applies to and that function arguments are evaluated on.
    pub base: &'s [Node<'a>],
    pub this: Option<&'s Node<'a>>,
    pub index: Option<usize>,
    pub total: Option<&'s [Node<'a>]>,
}

pub(crate) fn evaluate<'a>(
    expr: &Expr,
    resource: &'a Value,
    env: &Env,
    located: bool,
) -> Result<Vec<Node<'a>>, EvalError> {
    let mut root = Node::from_json(resource);
    if located {
        root.loc = Some(crate::node::Loc::root());
    }
    let ctx = Ctx::new(root.clone(), None, env);
    let base = [root];
    let scope = Scope {
        base: &base,
        this: base.first(),
        index: None,
        total: None,
    };
    ctx.eval(expr, &base, scope)
}

pub(crate) fn evaluate_at<'a>(
    expr: &Expr,
    resource: &'a Value,
    context: &Node<'a>,
    env: &Env,
) -> Result<Vec<Node<'a>>, EvalError> {
    let mut root = Node::from_json(resource);
    if context.loc.is_some() {
        root.loc = Some(crate::node::Loc::root());
    }
    let ctx = Ctx::new(root, Some(context.clone()), env);
    let base = [context.clone()];
    let scope = Scope {
        base: &base,
        this: base.first(),
        index: None,
        total: None,
    };
    ctx.eval(expr, &base, scope)
}

pub(crate) fn check_size<T>(items: &[T]) -> Result<(), EvalError> {
    if items.len() > MAX_ITEMS {
        return Err(EvalError::Limit(format!(
            "collection larger than {MAX_ITEMS} items"
        )));
    }
    Ok(())
}

/// FHIRPath singleton evaluation of a collection where a Boolean is expected.
pub(crate) fn singleton_bool(items: &[Node<'_>], context: &str) -> Result<Option<bool>, EvalError> {
    match items {
        [] => Ok(None),
        [one] => Ok(Some(one.value.as_bool().unwrap_or(true))),
        _ => Err(EvalError::NotSingleton {
            context: context.to_string(),
            count: items.len(),
        }),
    }
}

/// The single item of a collection, `None` when empty, error when several.
pub(crate) fn singleton<'n, 'a>(
    items: &'n [Node<'a>],
    context: &str,
) -> Result<Option<&'n Node<'a>>, EvalError> {
    match items {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        _ => Err(EvalError::NotSingleton {
            context: context.to_string(),
            count: items.len(),
        }),
    }
}

pub(crate) fn bool_result<'a>(b: Option<bool>) -> Vec<Node<'a>> {
    b.map(Node::boolean).into_iter().collect()
}

impl<'a> Ctx<'a, '_> {
    pub(crate) fn eval(
        &self,
        expr: &Expr,
        focus: &[Node<'a>],
        scope: Scope<'_, 'a>,
    ) -> Result<Vec<Node<'a>>, EvalError> {
        let out = match expr {
            Expr::Empty => Vec::new(),
            Expr::Literal(lit) => vec![literal(lit)?],
            Expr::Ident(name) => {
                let mut out = Vec::new();
                let type_like = name.starts_with(|c: char| c.is_ascii_uppercase());
                for item in focus {
                    if type_like && item.fhir_type().is_some_and(|t| types::fhir_is_a(t, name)) {
                        out.push(item.clone());
                    } else {
                        item.children(name, &mut out);
                    }
                }
                out
            }
            Expr::Member(target, name) => {
                let input = self.eval(target, focus, scope)?;
                let mut out = Vec::new();
                for item in &input {
                    item.children(name, &mut out);
                    check_size(&out)?;
                }
                out
            }
            Expr::Call {
                target, name, args, ..
            } => {
                let input = match target {
                    Some(t) => self.eval(t, focus, scope)?,
                    None => focus.to_vec(),
                };
                functions::call(self, name, input, args, scope)?
            }
            Expr::Index(target, index) => {
                let input = self.eval(target, focus, scope)?;
                let idx = self.eval(index, scope.base, scope)?;
                match singleton(&idx, "indexer")? {
                    None => Vec::new(),
                    Some(i) => {
                        let i = i.value.as_i64().ok_or_else(|| {
                            EvalError::Type(format!(
                                "indexer must be an integer, got {}",
                                describe(i)
                            ))
                        })?;
                        usize::try_from(i)
                            .ok()
                            .and_then(|i| input.into_iter().nth(i))
                            .into_iter()
                            .collect()
                    }
                }
            }
            Expr::Negate(inner) => {
                let v = self.eval(inner, focus, scope)?;
                match singleton(&v, "unary '-'")? {
                    None => Vec::new(),
                    Some(n) => ops::negate(n)?.into_iter().collect(),
                }
            }
            Expr::Binary(op, l, r) => self.binary(*op, l, r, focus, scope)?,
            Expr::Is(inner, spec) => {
                let v = self.eval(inner, focus, scope)?;
                match singleton(&v, "is")? {
                    None => Vec::new(),
                    Some(n) => vec![Node::boolean(typing::is_type(n, spec)?)],
                }
            }
            // `as` filters like ofType(): R4 search expressions apply it to collections
            // (`Group.characteristic.value as CodeableConcept`), where N1's singleton rule
            // would make them fail on ordinary data.
            Expr::As(inner, spec) => typing::filter_type(self.eval(inner, focus, scope)?, spec)?,
            Expr::Env(name) => self.env_var(name)?,
            Expr::This => scope.this.cloned().into_iter().collect(),
            Expr::IndexVar => scope
                .index
                .map(|i| Node::integer(i64::try_from(i).unwrap_or(i64::MAX)))
                .into_iter()
                .collect(),
            Expr::Total => scope.total.map(<[Node<'a>]>::to_vec).unwrap_or_default(),
        };
        check_size(&out)?;
        self.charge(out.len())?;
        Ok(out)
    }

    fn env_var(&self, name: &str) -> Result<Vec<Node<'a>>, EvalError> {
        if let Some(v) = self.env.get(name) {
            let items: Vec<Value> = match v {
                Value::Null => Vec::new(),
                Value::Array(a) => a.clone(),
                other => vec![other.clone()],
            };
            return Ok(items
                .into_iter()
                .map(|v| {
                    let ty = v
                        .get("resourceType")
                        .and_then(Value::as_str)
                        .map(|t| (crate::node::TypeNs::Fhir, Cow::Owned(t.to_string())));
                    let ty = ty.or(match &v {
                        Value::String(_) => {
                            Some((crate::node::TypeNs::System, Cow::Borrowed("String")))
                        }
                        _ => None,
                    });
                    Node {
                        value: Cow::Owned(v),
                        ty,
                        ext: None,
                        loc: None,
                    }
                })
                .collect());
        }
        let s = match name {
            "resource" | "rootResource" => return Ok(vec![self.root.clone()]),
            "context" => return Ok(vec![self.context.as_ref().unwrap_or(&self.root).clone()]),
            "ucum" => "http://unitsofmeasure.org".to_string(),
            "sct" => "http://snomed.info/sct".to_string(),
            "loinc" => "http://loinc.org".to_string(),
            n => {
                if let Some(vs) = n.strip_prefix("vs-") {
                    format!("http://hl7.org/fhir/ValueSet/{vs}")
                } else if let Some(ext) = n.strip_prefix("ext-") {
                    format!("http://hl7.org/fhir/StructureDefinition/{ext}")
                } else {
                    return Err(EvalError::UndefinedVariable(n.to_string()));
                }
            }
        };
        Ok(vec![Node::string(s)])
    }

    fn binary(
        &self,
        op: BinOp,
        l: &Expr,
        r: &Expr,
        focus: &[Node<'a>],
        scope: Scope<'_, 'a>,
    ) -> Result<Vec<Node<'a>>, EvalError> {
        // Boolean operators short-circuit where the answer is already known.
        if matches!(op, BinOp::And | BinOp::Or | BinOp::Implies) {
            let lv = singleton_bool(&self.eval(l, focus, scope)?, "boolean operator")?;
            let decided = match (op, lv) {
                (BinOp::And, Some(false)) => Some(false),
                (BinOp::Or, Some(true)) => Some(true),
                (BinOp::Implies, Some(false)) => Some(true),
                _ => None,
            };
            if decided.is_some() {
                return Ok(bool_result(decided));
            }
            let rv = singleton_bool(&self.eval(r, focus, scope)?, "boolean operator")?;
            return Ok(bool_result(ops::logic(op, lv, rv)));
        }
        let lv = self.eval(l, focus, scope)?;
        let rv = self.eval(r, focus, scope)?;
        match op {
            BinOp::Union => Ok(crate::distinct::distinct(lv.into_iter().chain(rv))),
            BinOp::Xor => {
                let a = singleton_bool(&lv, "xor")?;
                let b = singleton_bool(&rv, "xor")?;
                Ok(bool_result(ops::logic(op, a, b)))
            }
            BinOp::Eq | BinOp::NotEq => {
                let eq = collection_equals(&lv, &rv);
                Ok(bool_result(if op == BinOp::Eq {
                    eq
                } else {
                    eq.map(|b| !b)
                }))
            }
            BinOp::Equiv | BinOp::NotEquiv => {
                if lv.len().saturating_mul(rv.len()) > MAX_ITEMS {
                    return Err(EvalError::Limit("'~' on very large collections".into()));
                }
                let eq = collection_equivalent(&lv, &rv);
                Ok(vec![Node::boolean(if op == BinOp::Equiv {
                    eq
                } else {
                    !eq
                })])
            }
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                let (Some(a), Some(b)) =
                    (singleton(&lv, "comparison")?, singleton(&rv, "comparison")?)
                else {
                    return Ok(Vec::new());
                };
                let ord = compare::compare(a, b)?;
                Ok(bool_result(ord.map(|o| match op {
                    BinOp::Lt => o == Ordering::Less,
                    BinOp::Le => o != Ordering::Greater,
                    BinOp::Gt => o == Ordering::Greater,
                    _ => o != Ordering::Less,
                })))
            }
            BinOp::In | BinOp::Contains => {
                let (item, coll) = if op == BinOp::In {
                    (&lv, &rv)
                } else {
                    (&rv, &lv)
                };
                match singleton(item, "membership")? {
                    None => Ok(Vec::new()),
                    Some(x) => Ok(vec![Node::boolean(
                        coll.iter().any(|c| compare::equals(x, c) == Some(true)),
                    )]),
                }
            }
            _ => ops::arithmetic(op, &lv, &rv),
        }
    }
}

/// `=` on collections: item by item, unknown if any pair is unknown or either is empty.
fn collection_equals(a: &[Node<'_>], b: &[Node<'_>]) -> Option<bool> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    if a.len() != b.len() {
        return Some(false);
    }
    let mut result = Some(true);
    for (x, y) in a.iter().zip(b) {
        match compare::equals(x, y) {
            Some(true) => {}
            Some(false) => return Some(false),
            None => result = None,
        }
    }
    result
}

/// `~` on collections: order-independent, empty ~ empty is true.
fn collection_equivalent(a: &[Node<'_>], b: &[Node<'_>]) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|x| b.iter().any(|y| compare::equivalent(x, y)))
}

pub(crate) fn literal<'a>(lit: &Literal) -> Result<Node<'a>, EvalError> {
    Ok(match lit {
        Literal::Bool(b) => Node::boolean(*b),
        Literal::String(s) => Node::string(s.clone()),
        Literal::Integer(i) => Node::integer(*i),
        Literal::Decimal(d) => Node::decimal(*d)
            .ok_or_else(|| EvalError::Type("decimal literal out of range".into()))?,
        Literal::Date(s) => Node::system(Value::String(s.clone()), "Date"),
        Literal::DateTime(s) => Node::system(Value::String(s.clone()), "DateTime"),
        Literal::Time(s) => Node::system(Value::String(s.clone()), "Time"),
        Literal::Quantity(v, unit) => crate::quantity::make(*v, unit)?,
    })
}

#[cfg(test)]
#[path = "eval_tests.rs"]
mod tests;
