//! fhirdir's own built-in search parameter definitions, so the server works offline.
//!
//! The definitions live in the tab-separated tables under `src/builtin/` (one row per
//! SearchParameter, columns `url code base type expression target modifier chain component`;
//! lists are comma-separated; components are `definition=expression` joined by `;`). They are
//! derived by `tools/derive_tables.py` and reviewed like code; the test
//! `tests/builtin_matches_official.rs` proves they agree with the official packages.
//!
//! Sources and what each table holds:
//! - `r4.tsv`: FHIR R4 4.0.1 core parameters whose base includes one of [`KEPT_CORE_BASES`];
//!   multi-base parameters (`clinical-*`, `individual-*`, `conformance-*`) are reduced to those
//!   bases, expression included. `_query` is left out (fhirdir has no named queries).
//! - `plan_net.tsv`: Da Vinci PDex Plan-Net 1.2.0 (a superset of 1.1.0, which agrees field by
//!   field on the 51 shared parameters).
//! - `ndh.tsv`: National Directory of Healthcare STU1 (1.0.0).
//! - `vhdir.tsv`: Validated Healthcare Directory (STU1 ballot source).
//!
//! Precedence when two sources define the same code on the same base (see
//! [`Registry::builtin`]): Plan-Net > NDH > R4 core > VHDir. Plan-Net is the IG our clients and
//! Inferno test against, so its definitions always win. NDH is the published successor of
//! VHDir and mostly restates core parameters with more modifiers and chains, so it wins over
//! core. VHDir is an unpublished, pre-4.0.1 ballot source; it only contributes codes nobody
//! else defines.

use std::sync::OnceLock;

use crate::search_param::{Component, Registry, SearchParamDef, SearchParamType};
use crate::ConformanceError;

/// Resource types whose R4 core search parameters are built in (plus `Resource` and
/// `DomainResource`, which carry `_id`, `_lastUpdated`, `_tag`, `_profile`, `_security`,
/// `_source`, `_text` and `_content`).
pub const KEPT_CORE_BASES: &[&str] = &[
    "Resource",
    "DomainResource",
    "Organization",
    "Practitioner",
    "PractitionerRole",
    "Location",
    "HealthcareService",
    "Endpoint",
    "InsurancePlan",
    "OrganizationAffiliation",
    "CareTeam",
    "Group",
    "Consent",
    "VerificationResult",
    "Provenance",
    "AuditEvent",
    "Subscription",
    "Basic",
    "SearchParameter",
];

/// Where a built-in definition comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BuiltinSource {
    /// FHIR R4 4.0.1 core (<https://hl7.org/fhir/R4/searchparameter-registry.html>).
    R4Core,
    /// Da Vinci PDex Plan-Net 1.2.0 (<https://hl7.org/fhir/us/davinci-pdex-plan-net/>).
    PlanNet,
    /// NDH STU1 (<https://hl7.org/fhir/us/ndh/STU1/>).
    Ndh,
    /// VHDir (<http://hl7.org/fhir/uv/vhdir/>).
    Vhdir,
}

impl BuiltinSource {
    /// Every source, lowest precedence first: a later source's definition replaces an earlier
    /// one with the same base and code.
    pub const BY_PRECEDENCE: [BuiltinSource; 4] = [
        BuiltinSource::Vhdir,
        BuiltinSource::R4Core,
        BuiltinSource::Ndh,
        BuiltinSource::PlanNet,
    ];

    /// The table's file name under `src/builtin/`.
    pub fn table_name(self) -> &'static str {
        match self {
            BuiltinSource::R4Core => "r4.tsv",
            BuiltinSource::PlanNet => "plan_net.tsv",
            BuiltinSource::Ndh => "ndh.tsv",
            BuiltinSource::Vhdir => "vhdir.tsv",
        }
    }

    fn table(self) -> &'static str {
        match self {
            BuiltinSource::R4Core => include_str!("builtin/r4.tsv"),
            BuiltinSource::PlanNet => include_str!("builtin/plan_net.tsv"),
            BuiltinSource::Ndh => include_str!("builtin/ndh.tsv"),
            BuiltinSource::Vhdir => include_str!("builtin/vhdir.tsv"),
        }
    }

    /// The source's definitions, in table order (sorted by URL), parsed once.
    pub fn params(self) -> &'static [SearchParamDef] {
        static CELLS: [OnceLock<Vec<SearchParamDef>>; 4] = [
            OnceLock::new(),
            OnceLock::new(),
            OnceLock::new(),
            OnceLock::new(),
        ];
        let index = self as usize;
        CELLS[index].get_or_init(|| {
            // The tables are compiled in and parsed by a unit test, so failure here is a
            // build defect, not a runtime condition.
            parse_table(self.table_name(), self.table())
                .unwrap_or_else(|e| panic!("built-in search parameter table is invalid: {e}"))
        })
    }
}

/// Every built-in definition of every source, lowest precedence first (VHDir, R4 core, NDH,
/// Plan-Net). The same code on the same base can appear more than once; use
/// [`Registry::builtin`] for the resolved view.
pub fn builtin() -> &'static [SearchParamDef] {
    static ALL: OnceLock<Vec<SearchParamDef>> = OnceLock::new();
    ALL.get_or_init(|| {
        BuiltinSource::BY_PRECEDENCE
            .iter()
            .flat_map(|s| s.params().iter().cloned())
            .collect()
    })
}

impl Registry {
    /// The built-in registry: every source's definitions inserted in
    /// [`BuiltinSource::BY_PRECEDENCE`] order, so the result is deterministic.
    pub fn builtin() -> Registry {
        Registry::new(builtin().iter().cloned())
    }
}

/// Parses one search parameter table (format in the module docs). `table` names it in errors.
pub fn parse_table(table: &str, text: &str) -> Result<Vec<SearchParamDef>, ConformanceError> {
    let mut out = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |message: String| ConformanceError::Table {
            table: table.to_owned(),
            line: index + 1,
            message,
        };
        let fields: Vec<&str> = line.split('\t').collect();
        let [url, code, base, kind, expression, target, modifier, chain, component] = fields[..]
        else {
            return Err(err(format!(
                "expected 9 tab-separated fields, found {}",
                fields.len()
            )));
        };
        if url.is_empty() || code.is_empty() || base.is_empty() {
            return Err(err("url, code and base must not be empty".to_owned()));
        }
        let kind = parse_kind(kind).ok_or_else(|| err(format!("unknown type `{kind}`")))?;
        let component = split_list(component, ';')
            .into_iter()
            .map(|c| {
                c.split_once('=')
                    .map(|(definition, expression)| Component {
                        definition: definition.to_owned(),
                        expression: expression.to_owned(),
                    })
                    .ok_or_else(|| err(format!("component `{c}` is not `definition=expression`")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.push(SearchParamDef {
            url: url.to_owned(),
            code: code.to_owned(),
            base: split_list(base, ','),
            kind,
            expression: (!expression.is_empty()).then(|| expression.to_owned()),
            target: split_list(target, ','),
            modifier: split_list(modifier, ','),
            chain: split_list(chain, ','),
            component,
        });
    }
    Ok(out)
}

fn split_list(field: &str, separator: char) -> Vec<String> {
    if field.is_empty() {
        return Vec::new();
    }
    field.split(separator).map(str::to_owned).collect()
}

fn parse_kind(kind: &str) -> Option<SearchParamType> {
    Some(match kind {
        "number" => SearchParamType::Number,
        "date" => SearchParamType::Date,
        "string" => SearchParamType::String,
        "token" => SearchParamType::Token,
        "reference" => SearchParamType::Reference,
        "composite" => SearchParamType::Composite,
        "quantity" => SearchParamType::Quantity,
        "uri" => SearchParamType::Uri,
        "special" => SearchParamType::Special,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_parses_with_the_expected_count() {
        let counts: Vec<(BuiltinSource, usize)> = BuiltinSource::BY_PRECEDENCE
            .iter()
            .map(|s| {
                (
                    *s,
                    parse_table(s.table_name(), s.table())
                        .map(|v| v.len())
                        .unwrap_or(0),
                )
            })
            .collect();
        assert_eq!(
            counts,
            vec![
                (BuiltinSource::Vhdir, 144),
                (BuiltinSource::R4Core, 199),
                (BuiltinSource::Ndh, 77),
                (BuiltinSource::PlanNet, 55),
            ]
        );
        assert_eq!(builtin().len(), 144 + 199 + 77 + 55);
    }

    #[test]
    fn plan_net_wins_over_core_ndh_and_vhdir() {
        let registry = Registry::builtin();
        let cases = [
            (
                "PractitionerRole",
                "location",
                "davinci-pdex-plan-net/SearchParameter/practitionerrole-location",
            ),
            (
                "Practitioner",
                "family",
                "davinci-pdex-plan-net/SearchParameter/practitioner-family-name",
            ),
            (
                "InsurancePlan",
                "network",
                "davinci-pdex-plan-net/SearchParameter/insuranceplan-network",
            ),
            // NDH over core; VHDir loses to both.
            (
                "VerificationResult",
                "target",
                "us/ndh/SearchParameter/verificationresult-target",
            ),
            (
                "CareTeam",
                "endpoint",
                "us/ndh/SearchParameter/careteam-endpoint",
            ),
            (
                "Endpoint",
                "identifier",
                "fhir/SearchParameter/Endpoint-identifier",
            ),
            // Core wins over VHDir; a code only VHDir defines still comes through.
            (
                "CareTeam",
                "participant",
                "fhir/SearchParameter/CareTeam-participant",
            ),
            (
                "Endpoint",
                "mime-type",
                "uv/vhdir/SearchParameter/endpoint-mime-type",
            ),
            ("Organization", "_id", "fhir/SearchParameter/Resource-id"),
            (
                "Location",
                "_text",
                "fhir/SearchParameter/DomainResource-text",
            ),
        ];
        for (ty, code, url_end) in cases {
            let url = registry
                .get(ty, code)
                .map(|p| p.url.clone())
                .unwrap_or_default();
            assert!(
                url.ends_with(url_end),
                "{ty}.{code}: got `{url}`, want …{url_end}"
            );
        }
    }

    #[test]
    fn malformed_rows_are_reported_with_line_numbers() {
        let cases = [
            (
                "a\tb\n",
                "t line 1: expected 9 tab-separated fields, found 2",
            ),
            (
                "#h\nu\tc\tB\tfoo\t\t\t\t\t\n",
                "t line 2: unknown type `foo`",
            ),
            (
                "\tc\tB\ttoken\t\t\t\t\t\n",
                "t line 1: url, code and base must not be empty",
            ),
            (
                "u\tc\tB\tcomposite\t\t\t\t\tnoequals\n",
                "t line 1: component `noequals` is not `definition=expression`",
            ),
        ];
        for (text, want) in cases {
            let got = parse_table("t", text)
                .map(|_| ())
                .map_err(|e| e.to_string());
            assert_eq!(got, Err(want.to_owned()), "{text:?}");
        }
    }
}
