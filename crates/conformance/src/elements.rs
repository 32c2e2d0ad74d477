//! The FHIR R4 element model: for every resource type and datatype, each element's types and
//! cardinality (<https://hl7.org/fhir/R4/elementdefinition.html>), so that code which edits
//! resources (FHIRPath Patch) or checks their shape ([`validate_structure`]) knows whether a
//! child is an array, which type it holds, and whether it exists at all.
//!
//! The data is the authored table `src/builtin/elements_r4.tsv`, derived from the official
//! R4 4.0.1 StructureDefinitions by `tools/derive_elements.py` (format described there) and
//! checked against them by `tests/elements_match_official.rs`. It holds each type's own
//! elements only: inherited ones (`Resource.id`, `Element.extension`,
//! `BackboneElement.modifierExtension`, …) are found through the base type, which keeps the
//! table near 160 KB. It is parsed once, on first use.
//!
//! Navigation works on *contexts*: a context is either a type name (`Practitioner`,
//! `HumanName`) or, for an element defined inline (a BackboneElement such as
//! `Practitioner.qualification`), that element's full path. [`ElementModel::child`] takes a
//! context and a JSON property name and returns the element plus the context of its value.

mod primitives;
mod validate;

use rustc_hash::FxHashMap as HashMap;
use std::sync::OnceLock;

pub use validate::{validate_structure, StructureIssue};

/// The authored table (see the module docs).
const R4_TABLE: &str = include_str!("builtin/elements_r4.tsv");

/// What kind of type a [`TypeDef`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeKind {
    /// A primitive datatype (`string`, `boolean`, `dateTime`, …): a JSON primitive plus an
    /// optional `_name` companion.
    Primitive,
    /// A complex datatype (`HumanName`, `Element`, `BackboneElement`, …): a JSON object.
    Complex,
    /// A resource type (including the abstract `Resource` and `DomainResource`).
    Resource,
}

/// One resource type or datatype.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeDef {
    /// The type name (`Practitioner`, `HumanName`, `string`).
    pub name: String,
    /// The type it specializes (`DomainResource`, `Element`, `Quantity`); `None` for
    /// `Element` and `Resource`.
    pub base: Option<String>,
    /// Primitive, complex datatype or resource.
    pub kind: TypeKind,
    /// Abstract types (`Resource`, `DomainResource`, `Element`, `BackboneElement`) have no
    /// instances of their own.
    pub is_abstract: bool,
}

/// One element definition (<https://hl7.org/fhir/R4/elementdefinition.html>), reduced to
/// what fhirdir needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementDef {
    /// Full path as in the StructureDefinition: `Practitioner.qualification.code`,
    /// `Observation.value[x]`.
    pub path: String,
    /// Minimum cardinality.
    pub min: u32,
    /// Maximum cardinality; `None` for `*`.
    pub max: Option<u32>,
    /// Whether the element repeats (max `*` or over 1): its JSON form is an array.
    pub max_many: bool,
    /// Type codes; several only for a choice element (`value[x]`). `BackboneElement` or
    /// `Element` for an element whose children are defined inline; empty when the element
    /// reuses another element's definition ([`ElementDef::content_reference`]).
    pub types: Vec<String>,
    /// For `contentReference` elements (`Questionnaire.item.item`), the full path of the
    /// element whose definition is reused (`Questionnaire.item`).
    pub content_reference: Option<String>,
}

impl ElementDef {
    /// Whether this is a choice element (`value[x]`).
    pub fn is_choice(&self) -> bool {
        self.path.ends_with("[x]")
    }

    /// The element's name: the last path segment (`value[x]`, `given`).
    pub fn name(&self) -> &str {
        self.path.rsplit('.').next().unwrap_or(&self.path)
    }
}

/// A child element found by [`ElementModel::child`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Child<'m> {
    /// The element's definition (for `valueString`, the definition of `value[x]`).
    pub def: &'m ElementDef,
    /// The type of the value: the concrete type of a choice (`string` for `valueString`),
    /// the type of a single-typed element, `BackboneElement`/`Element` for inline elements.
    pub type_code: &'m str,
    /// The context to look up the value's own children in: the type name for a datatype or
    /// a resource (`Resource` for `contained` and `Bundle.entry.resource`: read the value's
    /// `resourceType`), the defining element's path for inline elements.
    pub context: &'m str,
}

/// A context's own children, by JSON property name (choice elements are indexed under each
/// concrete name: `valueString`, `valueQuantity`, …).
#[derive(Debug, Default)]
struct Children {
    by_name: HashMap<String, (usize, usize)>,
}

/// The element model of FHIR R4 (see the module docs). Obtain it with [`ElementModel::r4`].
#[derive(Debug)]
pub struct ElementModel {
    types: HashMap<String, TypeDef>,
    defs: Vec<ElementDef>,
    /// Context (type name or inline element path) -> children.
    contexts: HashMap<String, Children>,
    /// Inline element path -> index of its definition (to find its base type and
    /// content references).
    by_path: HashMap<String, usize>,
}

impl ElementModel {
    /// The FHIR R4 4.0.1 model built from the embedded table, parsed once.
    pub fn r4() -> &'static ElementModel {
        static MODEL: OnceLock<ElementModel> = OnceLock::new();
        MODEL.get_or_init(|| {
            ElementModel::parse(R4_TABLE)
                .unwrap_or_else(|e| panic!("built-in element table is invalid: {e}"))
        })
    }

    /// Parses a table in the format written by `tools/derive_elements.py`.
    pub fn parse(table: &str) -> Result<ElementModel, String> {
        let mut model = ElementModel {
            types: HashMap::default(),
            defs: Vec::new(),
            contexts: HashMap::default(),
            by_path: HashMap::default(),
        };
        let mut current: Option<String> = None;
        for (n, line) in table.lines().enumerate() {
            let lineno = n + 1;
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let cols: Vec<&str> = line.split('\t').collect();
            if let Some(name) = cols[0].strip_prefix('@') {
                let kind = match cols.get(2) {
                    Some(&"primitive") => TypeKind::Primitive,
                    Some(&"complex") => TypeKind::Complex,
                    Some(&"resource") => TypeKind::Resource,
                    other => return Err(format!("line {lineno}: bad kind {other:?}")),
                };
                let base = cols.get(1).filter(|b| !b.is_empty()).map(|b| b.to_string());
                model.types.insert(
                    name.to_string(),
                    TypeDef {
                        name: name.to_string(),
                        base,
                        kind,
                        is_abstract: cols.get(3) == Some(&"abstract"),
                    },
                );
                model.contexts.entry(name.to_string()).or_default();
                current = Some(name.to_string());
                continue;
            }
            let Some(type_name) = &current else {
                return Err(format!("line {lineno}: element before any @Type line"));
            };
            let [rel, min, max, types] = cols[..] else {
                return Err(format!("line {lineno}: expected 4 columns"));
            };
            let min = min
                .parse()
                .map_err(|_| format!("line {lineno}: bad min {min:?}"))?;
            let max = match max {
                "*" => None,
                m => Some(
                    m.parse()
                        .map_err(|_| format!("line {lineno}: bad max {m:?}"))?,
                ),
            };
            let (types, content_reference) = match types.strip_prefix('#') {
                Some(target) => (Vec::new(), Some(target.to_string())),
                None => (types.split(',').map(str::to_string).collect(), None),
            };
            let path = format!("{type_name}.{rel}");
            let (parent, name) = path.rsplit_once('.').unwrap_or((type_name, rel));
            let parent = parent.to_string();
            let name = name.to_string();
            let idx = model.defs.len();
            model.defs.push(ElementDef {
                path: path.clone(),
                min,
                max_many: max.is_none_or(|m| m > 1),
                max,
                types,
                content_reference,
            });
            model.by_path.insert(path, idx);
            let children = model.contexts.entry(parent).or_default();
            match name.strip_suffix("[x]") {
                Some(stem) => {
                    for (t, ty) in model.defs[idx].types.iter().enumerate() {
                        children
                            .by_name
                            .insert(format!("{stem}{}", upper_first(ty)), (idx, t));
                    }
                }
                None => {
                    children.by_name.insert(name, (idx, 0));
                }
            }
        }
        for def in &model.defs {
            if let Some(target) = &def.content_reference {
                if !model.by_path.contains_key(target) {
                    return Err(format!("{}: unknown contentReference {target}", def.path));
                }
            }
        }
        Ok(model)
    }

    /// The type named `name` (`Practitioner`, `HumanName`, `string`).
    pub fn type_def(&self, name: &str) -> Option<&TypeDef> {
        self.types.get(name)
    }

    /// Every type, in no particular order.
    pub fn types(&self) -> impl Iterator<Item = &TypeDef> {
        self.types.values()
    }

    /// Every element definition of the table (own elements only, inherited ones are not
    /// repeated), in table order.
    pub fn elements(&self) -> &[ElementDef] {
        &self.defs
    }

    /// Whether `name` is a concrete (non-abstract) resource type.
    pub fn is_resource_type(&self, name: &str) -> bool {
        self.types
            .get(name)
            .is_some_and(|t| t.kind == TypeKind::Resource && !t.is_abstract)
    }

    /// Whether `name` is a primitive datatype.
    pub fn is_primitive(&self, name: &str) -> bool {
        self.types
            .get(name)
            .is_some_and(|t| t.kind == TypeKind::Primitive)
    }

    /// The element at `path` under type `type_name`, following datatypes, inline elements and
    /// inheritance: `element("Practitioner", "name.given")` is `HumanName.given`,
    /// `element("Practitioner", "id")` is `Resource.id`. `path` may also start with the type
    /// name (`Practitioner.name`). Choice elements are found by their concrete name
    /// (`valueString`) or their definition name (`value[x]`).
    pub fn element(&self, type_name: &str, path: &str) -> Option<&ElementDef> {
        let rel = path
            .strip_prefix(type_name)
            .and_then(|p| p.strip_prefix('.'))
            .unwrap_or(path);
        let mut context = type_name;
        let mut found = None;
        for segment in rel.split('.') {
            let child = self.child(context, segment)?;
            context = child.context;
            found = Some(child.def);
        }
        found
    }

    /// The child `name` (a JSON property name: `given`, `valueQuantity`, `value[x]`) of a
    /// value whose context is `context` (a type name or an inline element's path; see the
    /// module docs), looking through base types.
    pub fn child(&self, context: &str, name: &str) -> Option<Child<'_>> {
        let mut ctx = context;
        // Bounded walk up the base chain (Element has none); the bound guards against a
        // malformed table with a cycle.
        for _ in 0..16 {
            if let Some(found) = self.own_child(ctx, name) {
                return Some(found);
            }
            ctx = self.base_of(ctx)?;
        }
        None
    }

    fn own_child(&self, ctx: &str, name: &str) -> Option<Child<'_>> {
        let children = self.contexts.get(ctx)?;
        let (idx, t) = match children.by_name.get(name) {
            Some(&found) => found,
            // `value[x]` itself, by its definition name.
            None => *children.by_name.values().find(|(i, _)| {
                let def = &self.defs[*i];
                def.is_choice() && def.name() == name
            })?,
        };
        let def = &self.defs[idx];
        if let Some(target) = &def.content_reference {
            let target_def = &self.defs[*self.by_path.get(target)?];
            return Some(Child {
                def,
                type_code: target_def.types.first().map_or("BackboneElement", |s| s),
                context: &target_def.path,
            });
        }
        let type_code = def.types.get(t).map_or("", |s| s.as_str());
        let context = match type_code {
            // Inline elements: their children are listed under their own path.
            "BackboneElement" | "Element" => def.path.as_str(),
            _ => type_code,
        };
        Some(Child {
            def,
            type_code,
            context,
        })
    }

    /// The context whose children `ctx` also has: the base type of a type, the declared
    /// type (`BackboneElement` or `Element`) of an inline element.
    pub fn base_of(&self, ctx: &str) -> Option<&str> {
        if let Some(t) = self.types.get(ctx) {
            return t.base.as_deref();
        }
        let def = &self.defs[*self.by_path.get(ctx)?];
        def.types.first().map(String::as_str)
    }
}

/// `string` -> `String`, as in choice element names (`valueString`).
fn upper_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fhirpath_knows_every_choice_element_name_and_no_other() {
        let mut stems: Vec<&str> = ElementModel::r4()
            .elements()
            .iter()
            .filter_map(|d| d.name().strip_suffix("[x]"))
            .collect();
        stems.sort_unstable();
        stems.dedup();
        assert_eq!(stems, fhirpath::CHOICE_STEMS);
    }

    #[test]
    fn practitioner_name_given_is_an_array_of_string() {
        let m = ElementModel::r4();
        let name = m.child("Practitioner", "name").unwrap();
        assert!(name.def.max_many);
        assert_eq!(name.context, "HumanName");
        let given = m.child(name.context, "given").unwrap();
        assert!(given.def.max_many);
        assert_eq!(given.type_code, "string");
        assert_eq!(
            m.element("Practitioner", "Practitioner.name.given"),
            Some(given.def)
        );
        let family = m.element("Practitioner", "name.family").unwrap();
        assert!(!family.max_many);
    }

    #[test]
    fn inherited_and_backbone_elements_resolve() {
        let m = ElementModel::r4();
        assert_eq!(m.element("Practitioner", "id").unwrap().path, "Resource.id");
        assert_eq!(
            m.element("Practitioner", "extension").unwrap().path,
            "DomainResource.extension"
        );
        let q = m.child("Practitioner", "qualification").unwrap();
        assert_eq!(q.context, "Practitioner.qualification");
        assert_eq!(
            m.child(q.context, "modifierExtension").unwrap().def.path,
            "BackboneElement.modifierExtension"
        );
        assert_eq!(m.child(q.context, "id").unwrap().def.path, "Element.id");
        let code = m.child(q.context, "code").unwrap();
        assert_eq!((code.def.min, code.def.max_many), (1, false));
        assert_eq!(
            m.element("Timing", "repeat.boundsPeriod").unwrap().path,
            "Timing.repeat.bounds[x]"
        );
        assert_eq!(
            m.element("Age", "value").unwrap().path,
            "Quantity.value",
            "profiled quantities inherit Quantity's elements"
        );
    }

    #[test]
    fn choice_and_content_reference_elements_resolve() {
        let m = ElementModel::r4();
        let v = m.child("Extension", "valueHumanName").unwrap();
        assert_eq!((v.type_code, v.context), ("HumanName", "HumanName"));
        assert!(m.child("Extension", "valueFoo").is_none());
        assert_eq!(
            m.child("Extension", "value[x]").unwrap().def.path,
            "Extension.value[x]"
        );
        let item = m.element("Questionnaire", "item.item").unwrap();
        assert_eq!(
            item.content_reference.as_deref(),
            Some("Questionnaire.item")
        );
        assert_eq!(
            m.element("Questionnaire", "item.item.item.linkId")
                .unwrap()
                .path,
            "Questionnaire.item.linkId"
        );
        let contained = m.child("Organization", "contained").unwrap();
        assert_eq!(contained.context, "Resource");
    }

    #[test]
    fn types_know_their_kind() {
        let m = ElementModel::r4();
        assert!(m.is_resource_type("Practitioner"));
        assert!(!m.is_resource_type("DomainResource"));
        assert!(!m.is_resource_type("HumanName"));
        assert!(m.is_primitive("positiveInt"));
        assert_eq!(
            m.types().filter(|t| m.is_resource_type(&t.name)).count(),
            146
        );
        assert!(m.element("Practitioner", "nonsense").is_none());
    }

    #[test]
    fn every_element_type_is_a_known_type() {
        let m = ElementModel::r4();
        for def in m.elements() {
            for t in &def.types {
                assert!(m.type_def(t).is_some(), "{}: unknown type {t}", def.path);
            }
        }
    }

    #[test]
    fn malformed_tables_are_errors() {
        for bad in [
            "x\t0\t1\tstring",
            "@T\t\tweird",
            "@T\t\tcomplex\nx\t0",
            "@T\t\tcomplex\nx\tz\t1\tstring",
            "@T\t\tcomplex\nx\t0\t?\tstring",
            "@T\t\tcomplex\nx\t0\t1\t#T.nowhere",
        ] {
            assert!(ElementModel::parse(bad).is_err(), "{bad:?}");
        }
    }
}
