//! Function dispatch and the helpers functions share (argument evaluation, lambdas).
//! Each submodule owns one section of the specification's function list.

mod collections;
mod conversion;
mod fhir;
mod math;
mod strings;

use crate::ast::Expr;
use crate::error::EvalError;
use crate::eval::{Ctx, Scope};
use crate::node::Node;

pub(crate) type Items<'a> = Vec<Node<'a>>;
type R<'a> = Result<Items<'a>, EvalError>;

/// Everything a function implementation needs.
pub(crate) struct Call<'c, 'a, 'e> {
    pub ctx: &'c Ctx<'a, 'e>,
    pub name: &'c str,
    pub args: &'c [Expr],
    pub scope: Scope<'c, 'a>,
}

impl<'a> Call<'_, 'a, '_> {
    /// Errors unless the call has between `min` and `max` arguments.
    pub(crate) fn arity(&self, min: usize, max: usize) -> Result<(), EvalError> {
        if self.args.len() < min || self.args.len() > max {
            return Err(EvalError::UnknownFunction {
                name: self.name.to_string(),
                arity: self.args.len(),
            });
        }
        Ok(())
    }

    pub(crate) fn bad(&self, message: impl Into<String>) -> EvalError {
        EvalError::BadArgument {
            name: self.name.to_string(),
            message: message.into(),
        }
    }

    /// Evaluates argument `i` in the enclosing scope (not per input item).
    pub(crate) fn arg(&self, i: usize) -> R<'a> {
        let Some(e) = self.args.get(i) else {
            return Ok(Vec::new());
        };
        self.ctx.eval(e, self.scope.base, self.scope)
    }

    /// Evaluates argument `i` as a single string (`None` when empty).
    pub(crate) fn arg_string(&self, i: usize) -> Result<Option<String>, EvalError> {
        let v = self.arg(i)?;
        match crate::eval::singleton(&v, self.name)? {
            None => Ok(None),
            Some(n) => match n.value.as_str() {
                Some(s) => Ok(Some(s.to_string())),
                None => Err(self.bad("expected a string argument")),
            },
        }
    }

    /// Evaluates argument `i` as a single integer (`None` when empty).
    pub(crate) fn arg_int(&self, i: usize) -> Result<Option<i64>, EvalError> {
        let v = self.arg(i)?;
        match crate::eval::singleton(&v, self.name)? {
            None => Ok(None),
            Some(n) => match n.value.as_i64() {
                Some(x) => Ok(Some(x)),
                None => Err(self.bad("expected an integer argument")),
            },
        }
    }

    /// Evaluates argument `i` once per input item, with `$this`, `$index` set.
    pub(crate) fn per_item(&self, i: usize, item: &Node<'a>, index: usize) -> R<'a> {
        let Some(e) = self.args.get(i) else {
            return Ok(Vec::new());
        };
        let base = std::slice::from_ref(item);
        let scope = Scope {
            base,
            this: Some(item),
            index: Some(index),
            total: self.scope.total,
        };
        self.ctx.eval(e, base, scope)
    }

    /// The type specifier given as argument `i` (`ofType(Quantity)`).
    pub(crate) fn type_arg(&self, i: usize) -> Result<crate::ast::TypeSpec, EvalError> {
        self.args
            .get(i)
            .and_then(Expr::as_type_spec)
            .ok_or_else(|| self.bad("expected a type name"))
    }
}

/// Arity (min, max) of every function this crate knows, for checking at compile time.
/// Names listed here but needing outside services (`memberOf`) fail at evaluation.
pub(crate) fn signature(name: &str) -> Option<(usize, usize)> {
    Some(match name {
        "empty" | "allTrue" | "anyTrue" | "allFalse" | "anyFalse" | "count" | "distinct"
        | "isDistinct" | "single" | "first" | "last" | "tail" | "children" | "descendants"
        | "not" | "upper" | "lower" | "length" | "toChars" | "trim" | "abs" | "ceiling" | "exp"
        | "floor" | "ln" | "sqrt" | "truncate" | "type" | "hasValue" | "getValue" | "resolve"
        | "htmlChecks" | "today" | "now" | "timeOfDay" | "elementDefinition" => (0, 0),
        "toBoolean" | "convertsToBoolean" | "toInteger" | "convertsToInteger" | "toDecimal"
        | "convertsToDecimal" | "toString" | "convertsToString" | "toDate" | "convertsToDate"
        | "toDateTime" | "convertsToDateTime" | "toTime" | "convertsToTime" => (0, 0),
        "toQuantity" | "convertsToQuantity" | "exists" | "join" | "round" => (0, 1),
        "all" | "subsetOf" | "supersetOf" | "where" | "select" | "repeat" | "skip" | "take"
        | "intersect" | "exclude" | "union" | "combine" | "indexOf" | "startsWith" | "endsWith"
        | "contains" | "matches" | "matchesFull" | "split" | "log" | "power" | "ofType" | "as"
        | "is" | "extension" | "hasExtension" | "memberOf" | "subsumes" | "subsumedBy"
        | "conformsTo" | "checkModifiers" => (1, 1),
        "aggregate" | "trace" | "substring" => (1, 2),
        "replace" | "replaceMatches" | "slice" => (2, 2),
        "iif" => (2, 3),
        _ => return None,
    })
}

/// Functions whose argument is a type name rather than an expression.
pub(crate) fn takes_type_argument(name: &str) -> bool {
    matches!(name, "ofType" | "as" | "is")
}

pub(crate) fn call<'a>(
    ctx: &Ctx<'a, '_>,
    name: &str,
    input: Items<'a>,
    args: &[Expr],
    scope: Scope<'_, 'a>,
) -> R<'a> {
    let c = Call {
        ctx,
        name,
        args,
        scope,
    };
    if let Some(r) = collections::call(&c, &input) {
        return r;
    }
    if let Some(r) = strings::call(&c, &input) {
        return r;
    }
    if let Some(r) = conversion::call(&c, &input) {
        return r;
    }
    if let Some(r) = math::call(&c, &input) {
        return r;
    }
    if let Some(r) = fhir::call(&c, &input) {
        return r;
    }
    Err(EvalError::UnknownFunction {
        name: name.to_string(),
        arity: args.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{Ctx, Scope};
    use crate::Env;

    /// Every name in the signature table reaches an implementation.
    #[test]
    fn signature_table_matches_dispatch() {
        let names =
            "empty allTrue anyTrue allFalse anyFalse count distinct isDistinct single first \
            last tail children descendants not upper lower length toChars trim abs ceiling exp \
            floor ln sqrt truncate type hasValue getValue resolve htmlChecks today now timeOfDay \
            elementDefinition toBoolean convertsToBoolean toInteger convertsToInteger toDecimal \
            convertsToDecimal toString convertsToString toDate convertsToDate toDateTime \
            convertsToDateTime toTime convertsToTime toQuantity convertsToQuantity exists join \
            round all subsetOf supersetOf where select repeat skip take intersect exclude union \
            combine indexOf startsWith endsWith contains matches matchesFull split log power \
            ofType as is extension hasExtension memberOf subsumes subsumedBy conformsTo \
            checkModifiers aggregate trace substring replace replaceMatches slice iif";
        let env = Env::default();
        let root = serde_json::json!({"resourceType": "Basic"});
        let ctx = Ctx::new(Node::from_json(&root), None, &env);
        let base = [Node::from_json(&root)];
        let scope = Scope {
            base: &base,
            this: base.first(),
            index: None,
            total: None,
        };
        for name in names.split_whitespace() {
            let (min, _) = signature(name).unwrap_or_else(|| panic!("{name} not in table"));
            let arg = if takes_type_argument(name) {
                Expr::Ident("string".into())
            } else {
                Expr::Empty
            };
            let args = vec![arg; min];
            if let Err(EvalError::UnknownFunction { .. }) =
                call(&ctx, name, Vec::new(), &args, scope)
            {
                panic!("{name} is in the table but not implemented");
            }
        }
    }
}
