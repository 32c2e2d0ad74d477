//! Reading a resource's restriction policy when it is written ([`extract`]).
//!
//! Three sources, per NDH STU1 and FHIR R4:
//! - a usage-restriction extension (NDH `base-ext-usage-restriction` or VHDir
//!   `usage-restriction`) on the resource root: its Restriction restricts the elements its
//!   `base-ext-restrictFhirPath` expressions name, or the whole resource when it names none;
//! - the same extension on an element (an `address` entry, a `telecom` entry, a primitive's
//!   `_element`): its Restriction restricts that element;
//! - a `meta.security` label of v3 Confidentiality among the tenant's restricting codes
//!   ([`Settings::restricting_labels`]): the whole resource.
//!
//! The extension is read from `extension` and from `modifierExtension`: NDH and VHDir both say it
//! "will be expected to be used as a modifier extension".

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::path::{self, ElementPath, Parsed, Step};
use crate::policy::{Effect, Provision, Purpose, Restrictions, Rule};
use crate::{
    CONFIDENTIALITY_SYSTEM, NDH_RESTRICT_FHIR_PATH, NDH_USAGE_RESTRICTION, VHDIR_USAGE_RESTRICTION,
};

/// A tenant's restriction settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// v3 Confidentiality codes that restrict a resource carrying them in `meta.security`.
    /// `V` (very restricted) admits only `see_restricted` clients; any other listed code (`R`,
    /// or a lower level a tenant adds) admits any authenticated client.
    pub restricting_labels: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            restricting_labels: vec!["R".to_owned(), "V".to_owned()],
        }
    }
}

/// Reads the policy of `resource`; `resolve("Consent/id")` answers a stored Restriction (None
/// when unknown).
///
/// Fail closed: a Restriction that cannot be found (an unknown stored one, a `#id` naming no
/// contained Consent, a reference of another form) restricts the whole resource to
/// `see_restricted` clients, wherever the extension sits, since what it would have restricted
/// cannot be known. An expression outside the supported forms restricts the whole resource
/// under its Restriction's own provisions. A Restriction whose `status` is other than `active`
/// restricts nothing (one without `status` is malformed and read as active).
pub fn extract(
    resource: &Value,
    settings: &Settings,
    resolve: &dyn Fn(&str) -> Option<Value>,
) -> Restrictions {
    let mut out = Restrictions::default();
    let Some(root) = resource.as_object() else {
        return out;
    };
    let reader = Reader {
        root,
        resource_type: root
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or(""),
        resolve,
    };
    read_labels(root, settings, &mut out);
    secret_headers(root, &mut out);
    for reference in restriction_references(root) {
        reader.at_root(reference, &mut out);
    }
    let mut steps = Vec::new();
    for (name, value) in root {
        if name == "contained" {
            for (i, entry) in value.as_array().into_iter().flatten().enumerate() {
                // A contained Restriction is policy, not content; any other contained resource
                // is walked like an element of this one.
                if !is_consent(entry) {
                    steps.push(Step::entry(name, i));
                    reader.walk(entry, &mut steps, &mut out);
                    steps.pop();
                }
            }
        } else if name != "resourceType" {
            reader.walk_member(name, value, &mut steps, &mut out);
        }
    }
    out
}

/// A Subscription's `channel.header` carries the subscriber's credentials for its own endpoint
/// (Subscriptions Backport: "HTTP headers ... e.g. authorization"): only fhirdir itself (which
/// sends them) and `see_restricted` clients see it, through every channel (read, search,
/// history, Bundles). Its owner too writes it without reading it back, as with a password.
fn secret_headers(root: &Map<String, Value>, out: &mut Restrictions) {
    let is_subscription = root.get("resourceType").and_then(Value::as_str) == Some("Subscription");
    let has_headers = root.get("channel").and_then(|c| c.get("header")).is_some();
    if is_subscription && has_headers {
        let path = ElementPath::new(vec![Step::named("channel"), Step::named("header")]);
        out.add_element(path, Rule::Privileged);
    }
}

/// `meta.security` confidentiality labels among the restricting codes.
fn read_labels(root: &Map<String, Value>, settings: &Settings, out: &mut Restrictions) {
    let labels = root
        .get("meta")
        .and_then(|m| m.get("security"))
        .and_then(Value::as_array);
    for label in labels.into_iter().flatten() {
        if label.get("system").and_then(Value::as_str) != Some(CONFIDENTIALITY_SYSTEM) {
            continue;
        }
        let Some(code) = label.get("code").and_then(Value::as_str) else {
            continue;
        };
        if settings.restricting_labels.iter().any(|l| l == code) {
            out.add_whole(if code == "V" {
                Rule::Privileged
            } else {
                Rule::Authenticated
            });
        }
    }
}

/// The references of the usage-restriction extensions directly on `node` (None: the extension
/// references nothing readable, such as only an `identifier`).
fn restriction_references(node: &Map<String, Value>) -> Vec<Option<&str>> {
    ["extension", "modifierExtension"]
        .iter()
        .filter_map(|key| node.get(*key).and_then(Value::as_array))
        .flatten()
        .filter(|e| is_restriction_extension(e))
        .map(|e| {
            e.get("valueReference")
                .and_then(|r| r.get("reference"))
                .and_then(Value::as_str)
        })
        .collect()
}

fn is_restriction_extension(extension: &Value) -> bool {
    matches!(
        extension.get("url").and_then(Value::as_str),
        Some(NDH_USAGE_RESTRICTION | VHDIR_USAGE_RESTRICTION)
    )
}

fn is_consent(resource: &Value) -> bool {
    resource.get("resourceType").and_then(Value::as_str) == Some("Consent")
}

/// A referenced Restriction, as far as it could be found.
enum Found {
    /// The Restriction is not in force: it restricts nothing.
    Inactive,
    /// In force: who may see, and its `restrictFhirPath` expressions.
    Active(Rule, Vec<Option<String>>),
    /// Could not be found or is not a Consent: fail closed.
    Unknown,
}

struct Reader<'a> {
    root: &'a Map<String, Value>,
    resource_type: &'a str,
    resolve: &'a dyn Fn(&str) -> Option<Value>,
}

impl Reader<'_> {
    /// A usage restriction on the resource root.
    fn at_root(&self, reference: Option<&str>, out: &mut Restrictions) {
        match self.find(reference, out) {
            Found::Inactive => {}
            Found::Unknown => out.add_whole(Rule::Privileged),
            Found::Active(rule, expressions) => {
                self.apply_expressions(rule, &expressions, out);
            }
        }
    }

    /// A usage restriction on the element at `steps`: the element, whatever the Restriction's
    /// expressions say (they name elements from the root, which the root extension serves).
    fn at_element(&self, reference: Option<&str>, steps: &[Step], out: &mut Restrictions) {
        match self.find(reference, out) {
            Found::Inactive => {}
            Found::Unknown => out.add_whole(Rule::Privileged),
            Found::Active(rule, _) if path::is_removable(steps) => {
                out.add_element(ElementPath::new(steps.to_vec()), rule);
            }
            // An extension inside `meta` or on `id`: those cannot be taken out of the resource,
            // so the restriction covers all of it.
            Found::Active(rule, _) => out.add_whole(rule),
        }
    }

    /// Applies a root Restriction's `restrictFhirPath` expressions (None: one without a readable
    /// expression). Expressions for other resource types are skipped; when none is left, the
    /// Restriction was still put on this resource, so it covers all of it.
    fn apply_expressions(
        &self,
        rule: Rule,
        expressions: &[Option<String>],
        out: &mut Restrictions,
    ) {
        let mut applied = false;
        for expression in expressions {
            let parsed = expression
                .as_deref()
                .map_or(Parsed::Unsupported, |e| path::parse(e, self.resource_type));
            match parsed {
                Parsed::OtherType => continue,
                Parsed::Element(path) => out.add_element(path, rule.clone()),
                Parsed::Whole | Parsed::Unsupported => out.add_whole(rule.clone()),
            }
            applied = true;
        }
        if !applied {
            out.add_whole(rule);
        }
    }

    /// The Restriction `reference` names: `#id` among the contained resources, `Consent/id`
    /// through `resolve` (and cited).
    fn find(&self, reference: Option<&str>, out: &mut Restrictions) -> Found {
        let Some(reference) = reference else {
            return Found::Unknown;
        };
        if let Some(id) = reference.strip_prefix('#') {
            let contained = self
                .root
                .get("contained")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|c| !id.is_empty() && c.get("id").and_then(Value::as_str) == Some(id));
            return contained.map_or(Found::Unknown, read_restriction);
        }
        let is_stored = reference
            .strip_prefix("Consent/")
            .is_some_and(|id| !id.is_empty() && !id.contains('/'));
        if !is_stored {
            // An absolute URL, a versioned reference or another type: not a Restriction this
            // server holds.
            return Found::Unknown;
        }
        out.add_cite(reference);
        (self.resolve)(reference).map_or(Found::Unknown, |c| read_restriction(&c))
    }

    /// Looks for usage restrictions on the element `value` at `steps` + `name` and below.
    fn walk_member(
        &self,
        name: &str,
        value: &Value,
        steps: &mut Vec<Step>,
        out: &mut Restrictions,
    ) {
        if let Some(primitive) = name.strip_prefix('_') {
            // `_birthDate: {extension}` or `_given: [{extension}, null]`: extensions on
            // primitive values restrict those values.
            self.walk_primitive(primitive, value, steps, out);
            return;
        }
        match value {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    // Usage restrictions in an `extension` list are read with its owner.
                    let own = (name == "extension" || name == "modifierExtension")
                        && is_restriction_extension(item);
                    if !own {
                        steps.push(Step::entry(name, i));
                        self.walk(item, steps, out);
                        steps.pop();
                    }
                }
            }
            Value::Object(_) => {
                steps.push(Step::named(name));
                self.walk(value, steps, out);
                steps.pop();
            }
            _ => {}
        }
    }

    fn walk_primitive(
        &self,
        name: &str,
        value: &Value,
        steps: &mut Vec<Step>,
        out: &mut Restrictions,
    ) {
        let mut check = |step: Step, holder: &Value| {
            if let Some(holder) = holder.as_object() {
                steps.push(step);
                for reference in restriction_references(holder) {
                    self.at_element(reference, steps, out);
                }
                steps.pop();
            }
        };
        match value {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    check(Step::entry(name, i), item);
                }
            }
            holder => check(Step::named(name), holder),
        }
    }

    /// An element at `steps` (not the root): its own usage restrictions, then its children.
    fn walk(&self, node: &Value, steps: &mut Vec<Step>, out: &mut Restrictions) {
        let Some(object) = node.as_object() else {
            return;
        };
        for reference in restriction_references(object) {
            self.at_element(reference, steps, out);
        }
        for (name, value) in object {
            self.walk_member(name, value, steps, out);
        }
    }
}

/// A Restriction (Consent) as policy: its status, its provisions and its expressions.
fn read_restriction(consent: &Value) -> Found {
    if !is_consent(consent) {
        return Found::Unknown;
    }
    match consent.get("status") {
        None => {}
        Some(status) if status.as_str() == Some("active") => {}
        Some(_) => return Found::Inactive,
    }
    let rule = match consent.get("provision") {
        None => Rule::Authenticated,
        Some(root) => {
            let mut provisions = Vec::new();
            flatten_provisions(root, &mut provisions);
            Rule::Provisions { provisions }
        }
    };
    let expressions = consent
        .get("extension")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| e.get("url").and_then(Value::as_str) == Some(NDH_RESTRICT_FHIR_PATH))
        .map(|e| read_expression(e.get("valueExpression")))
        .collect();
    Found::Active(rule, expressions)
}

/// The FHIRPath text of a `restrictFhirPath` Expression; None for another language or none.
fn read_expression(expression: Option<&Value>) -> Option<String> {
    let expression = expression?;
    match expression.get("language").and_then(Value::as_str) {
        None | Some("text/fhirpath") => {}
        Some(_) => return None,
    }
    expression
        .get("expression")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// `provision` and its nested `provision`s, each standing alone: a nested one inherits neither
/// actors nor purposes, so one without actors matches no client. A provision without a readable
/// `type` (R4 leaves it out of the root rule) neither permits nor denies.
fn flatten_provisions(provision: &Value, out: &mut Vec<Provision>) {
    let effect = match provision.get("type").and_then(Value::as_str) {
        Some("permit") => Some(Effect::Permit),
        Some("deny") => Some(Effect::Deny),
        _ => None,
    };
    if let Some(effect) = effect {
        let actors = provision
            .get("actor")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|a| a.get("reference")?.get("reference")?.as_str())
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect();
        let purposes = provision
            .get("purpose")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| Purpose {
                system: p.get("system").and_then(Value::as_str).map(str::to_owned),
                // A purpose without a code matches no token (see `visibility`).
                code: p
                    .get("code")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
            })
            // Fail closed both ways: a permit limited to an unreadable purpose permits no one;
            // a deny's unreadable purpose does not narrow it.
            .filter(|p: &Purpose| effect == Effect::Permit || !p.code.is_empty())
            .collect();
        out.push(Provision {
            effect,
            actors,
            purposes,
        });
    }
    for nested in provision
        .get("provision")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        flatten_provisions(nested, out);
    }
}
