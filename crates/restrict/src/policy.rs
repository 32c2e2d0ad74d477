//! The policy model: what [`crate::extract`] reads from a resource and [`crate::visibility`]
//! decides on. It is computed when the resource is written and stored as JSON next to it, so
//! reading never parses Restrictions again; its serialized form is part of the store's data and
//! changes only compatibly (new fields optional).
//!
//! A [`Rule`] is one reason content is restricted: a Restriction (FHIR R4 Consent with the NDH
//! `ndh-Restriction` profile) in force, or a `meta.security` confidentiality label. Rules apply to
//! the whole resource or to one [`ElementPath`].

use serde::{Deserialize, Serialize};

use crate::path::ElementPath;

/// What a resource's restrictions are, computed at write time; serde so the store keeps it as
/// JSON next to the resource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Restrictions {
    /// Rules on the whole resource: all must let a viewer through to see it at all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) whole: Vec<Rule>,
    /// Rules on elements, one entry per distinct path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) elements: Vec<ElementRules>,
    /// `Consent/id` of every stored Restriction the resource references, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) cites: Vec<String>,
}

impl Restrictions {
    /// Nothing restricted: the fast path, every viewer sees the whole resource. It may still
    /// [`cite`](Self::cites) stored Restrictions (an inactive one restricts nothing today).
    pub fn is_empty(&self) -> bool {
        self.whole.is_empty() && self.elements.is_empty()
    }

    /// `Consent/id` of the stored Restrictions this policy depends on, sorted and without
    /// duplicates, including inactive and unknown ones: when one of them is written or deleted,
    /// the store recomputes the policy of the resources citing it.
    pub fn cites(&self) -> &[String] {
        &self.cites
    }

    /// The rules on the whole resource.
    pub fn whole(&self) -> &[Rule] {
        &self.whole
    }

    /// The rules on elements, one entry per distinct path.
    pub fn elements(&self) -> &[ElementRules] {
        &self.elements
    }

    pub(crate) fn add_whole(&mut self, rule: Rule) {
        if !self.whole.contains(&rule) {
            self.whole.push(rule);
        }
    }

    pub(crate) fn add_element(&mut self, path: ElementPath, rule: Rule) {
        match self.elements.iter_mut().find(|e| e.path == path) {
            Some(entry) if entry.rules.contains(&rule) => {}
            Some(entry) => entry.rules.push(rule),
            None => self.elements.push(ElementRules {
                path,
                rules: vec![rule],
            }),
        }
    }

    pub(crate) fn add_cite(&mut self, reference: &str) {
        if let Err(at) = self.cites.binary_search_by(|c| c.as_str().cmp(reference)) {
            self.cites.insert(at, reference.to_owned());
        }
    }
}

/// The rules restricting one element.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ElementRules {
    /// The element, from the resource root.
    pub path: ElementPath,
    /// All must let a viewer through to see it.
    pub rules: Vec<Rule>,
}

/// One reason content is restricted, and so who may see it. The holders of `see_restricted`
/// (and fhirdir itself) see everything whatever the rule; anonymous callers never see restricted
/// content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Rule {
    /// Any authenticated client: a Restriction without `provision`, or a `meta.security` label
    /// such as `R` (restricted).
    Authenticated,
    /// A Restriction with provisions: a client sees the content only through a matching
    /// `permit`, and a matching `deny` in any rule on the same content wins over every permit.
    Provisions {
        /// Its `provision` and the nested `provision.provision`s, each standing alone.
        provisions: Vec<Provision>,
    },
    /// Only `see_restricted` clients: the `meta.security` label `V` (very restricted), or a
    /// Restriction that could not be found or read (fail closed).
    Privileged,
}

/// One `Consent.provision` (root or nested): whom it permits or denies. Conditions other than
/// actor and purpose (`action`, `securityLabel`, `period`, `data`) are not read: NDH leaves
/// `period` and `data` out of `ndh-Restriction`, and a directory only discloses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provision {
    /// `provision.type`.
    pub effect: Effect,
    /// `provision.actor.reference.reference`s as written; an actor given only by `display` or
    /// `identifier` names no one, so a provision without references matches no client.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actors: Vec<String>,
    /// `provision.purpose`; empty: any purpose.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub purposes: Vec<Purpose>,
}

/// `Consent.provision.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// `permit`: grants access to the matching clients.
    Permit,
    /// `deny`: refuses the matching clients, whatever else permits them.
    Deny,
}

/// One `provision.purpose` Coding (v3 PurposeOfUse).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purpose {
    /// `Coding.system`, when given (kept for display; matching compares codes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// `Coding.code`.
    pub code: String,
}
