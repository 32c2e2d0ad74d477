//! Search by parameter type, prefix and modifier (<https://hl7.org/fhir/R4/search.html>):
//! table-driven, each case with the exact set of ids that must match, on every backend.

mod search_support;

use serde_json::json;
use store::StoreError;

use search_support::{set, stores, Ctx};

const NPI: &str = "http://hl7.org/fhir/sid/us-npi";
const V2_0203: &str = "http://terminology.hl7.org/CodeSystem/v2-0203";

async fn practitioners(c: &Ctx) {
    c.put(json!({
        "resourceType": "Practitioner", "id": "p1",
        "meta": {
            "tag": [{"system": "http://example.org/tags", "code": "vip"}],
            "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}],
            "profile": ["http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition/plannet-Practitioner"],
            "source": "http://source.example.org/feed#a"
        },
        "active": true,
        "gender": "female",
        "name": [{"family": "Müller", "given": ["Anna"]}],
        "identifier": [{
            "system": NPI, "value": "111",
            "type": {"coding": [{"system": V2_0203, "code": "NPI"}], "text": "National Provider Identifier"}
        }]
    }))
    .await;
    c.put(json!({
        "resourceType": "Practitioner", "id": "p2",
        "active": false,
        "gender": "male",
        "name": [{"family": "Smith", "given": ["John"]}],
        "identifier": [{"value": "222"}]
    }))
    .await;
    c.put(json!({
        "resourceType": "Practitioner", "id": "p3",
        "name": [{"family": "Smithson", "given": ["Jonas 100%"]}],
        "identifier": [{"system": "http://other.example.org", "value": "111"}]
    }))
    .await;
    // Deleted resources never match, whatever the criteria.
    c.put(json!({
        "resourceType": "Practitioner", "id": "p4",
        "gender": "female",
        "name": [{"family": "Smith", "given": ["Deleted"]}]
    }))
    .await;
    c.delete("Practitioner", "p4").await;
}

async fn check(c: &Ctx, rt: &str, cases: &[(&str, &[&str])]) {
    for (query, want) in cases {
        assert_eq!(c.ids(rt, query).await, set(want), "[{}] {rt}?{query}", c.be);
    }
}

#[tokio::test]
async fn string_search_is_prefix_exact_or_contains_after_folding() {
    for c in stores().await {
        practitioners(&c).await;
        check(
            &c,
            "Practitioner",
            &[
                ("name=smith", &["p2", "p3"]),
                ("name=SMITH", &["p2", "p3"]),
                ("family=smiths", &["p3"]),
                ("name=muller", &["p1"]),
                ("name=Müll", &["p1"]),
                ("name=ann", &["p1"]),
                ("name=nna", &[]),
                ("name:exact=Smith", &["p2"]),
                ("name:exact=smith", &[]),
                ("name:exact=Müller", &["p1"]),
                ("name:contains=ith", &["p2", "p3"]),
                ("name:contains=ULL", &["p1"]),
                // LIKE wildcards in the value are literal characters.
                ("name:contains=0%", &["p3"]),
                ("name:contains=_", &[]),
                ("name=smith,muller", &["p1", "p2", "p3"]),
                ("name=smith&given=john", &["p2"]),
                ("name:missing=false", &["p1", "p2", "p3"]),
                ("name:missing=true", &[]),
            ],
        )
        .await;
    }
}

#[tokio::test]
async fn token_search_handles_every_system_form_and_modifier() {
    for c in stores().await {
        practitioners(&c).await;
        let npi_of_type = format!("identifier:of-type={V2_0203}|NPI|111");
        let npi_111 = format!("identifier={NPI}|111");
        let npi_any = format!("identifier={NPI}|");
        check(
            &c,
            "Practitioner",
            &[
                ("identifier=111", &["p1", "p3"]),
                (&npi_111, &["p1"]),
                (&npi_any, &["p1"]),
                ("identifier=|222", &["p2"]),
                ("identifier=|111", &[]),
                ("identifier=http://nowhere|111", &[]),
                (&npi_of_type, &["p1"]),
                ("identifier:of-type=http://x|NPI|111", &[]),
                ("identifier:text=national", &["p1"]),
                ("identifier:text=provider", &["p1"]),
                ("identifier:text=rovider", &[]),
                ("gender=female", &["p1"]),
                ("gender=male,female", &["p1", "p2"]),
                // :not also matches resources with no value at all.
                ("gender:not=male", &["p1", "p3"]),
                ("gender:missing=true", &["p3"]),
                ("gender:missing=false", &["p1", "p2"]),
                ("active=true", &["p1"]),
                ("active=false", &["p2"]),
                ("_id=p1,p2", &["p1", "p2"]),
                ("_id=p4", &[]),
                ("_id:not=p1", &["p2", "p3"]),
                ("_tag=http://example.org/tags|vip", &["p1"]),
                ("_tag=vip", &["p1"]),
                ("_tag:not=vip", &["p2", "p3"]),
                (
                    "_security=http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R",
                    &["p1"],
                ),
                (
                    "_profile=http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition/plannet-Practitioner",
                    &["p1"],
                ),
                ("_source=http://source.example.org/feed#a", &["p1"]),
                ("_source:missing=true", &["p2", "p3"]),
            ],
        )
        .await;
    }
}

#[tokio::test]
async fn token_text_matches_the_start_of_any_word_of_the_display() {
    for c in stores().await {
        c.put(json!({"resourceType": "Location", "id": "l1", "type": [{
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "HOSP", "display": "Hospital"}]
        }]}))
        .await;
        c.put(json!({"resourceType": "Location", "id": "l2", "type": [{
            "coding": [{"code": "CHC", "display": "Community Health Center"}]
        }]}))
        .await;
        c.put(
            json!({"resourceType": "Location", "id": "l3", "type": [{"text": "Walk-in clinic"}]}),
        )
        .await;
        check(
            &c,
            "Location",
            &[
                ("type:text=hospital", &["l1"]),
                ("type:text=HEALTH", &["l2"]),
                ("type:text=community health", &["l2"]),
                ("type:text=ealth", &[]),
                ("type:text=clinic", &["l3"]),
                ("type=HOSP", &["l1"]),
                (
                    "type=http://terminology.hl7.org/CodeSystem/v3-RoleCode|HOSP",
                    &["l1"],
                ),
                ("type=|CHC", &["l2"]),
                ("type:missing=true", &[]),
            ],
        )
        .await;
    }
}

#[tokio::test]
async fn date_prefixes_follow_the_range_rules() {
    for c in stores().await {
        for (id, created) in [
            ("b1", "2020-01-15"),
            ("b2", "2020-03"),
            ("b3", "2021-06-30"),
        ] {
            c.put(json!({"resourceType": "Basic", "id": id, "code": {"text": "x"}, "created": created}))
                .await;
        }
        c.put(json!({"resourceType": "Basic", "id": "b4", "code": {"text": "x"}}))
            .await;
        check(
            &c,
            "Basic",
            &[
                ("created=2020", &["b1", "b2"]),
                ("created=eq2020-01-15", &["b1"]),
                // b2 (all of March) is not inside one day of it.
                ("created=2020-03-15", &[]),
                ("created=ne2020", &["b3"]),
                ("created=gt2020-01-15", &["b2", "b3"]),
                ("created=lt2020-03-15", &["b1", "b2"]),
                ("created=ge2020-03", &["b2", "b3"]),
                ("created=le2020-01-15", &["b1"]),
                ("created=sa2020-01-15", &["b2", "b3"]),
                ("created=eb2020-03", &["b1"]),
                ("created=ap2020-03-10", &["b1", "b2"]),
                ("created=2020-01-15,2021-06-30", &["b1", "b3"]),
                ("created=ge2020&created=lt2021", &["b1", "b2"]),
                ("created=2020-01-15T10:00:00Z", &[]),
                ("created=le2020-01-15T10:00:00Z", &["b1"]),
                ("created:missing=true", &["b4"]),
                ("created:missing=false", &["b1", "b2", "b3"]),
            ],
        )
        .await;
        // An open-ended Period reaches every later date.
        c.put(json!({"resourceType": "PractitionerRole", "id": "r1", "period": {"start": "2019-01-01"}}))
            .await;
        c.put(json!({"resourceType": "PractitionerRole", "id": "r2", "period": {"start": "2018-01-01", "end": "2018-12-31"}}))
            .await;
        check(
            &c,
            "PractitionerRole",
            &[
                ("date=ge2030", &["r1"]),
                ("date=2018", &["r2"]),
                ("date=sa2018-12-31", &["r1"]),
                ("date=ap2017-06-01", &["r2"]),
            ],
        )
        .await;
    }
}

#[tokio::test]
async fn last_updated_comes_from_the_stored_version() {
    for c in stores().await {
        let first = c
            .put(json!({"resourceType": "Organization", "id": "o1", "name": "A"}))
            .await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let second = c
            .put(json!({"resourceType": "Organization", "id": "o2", "name": "B"}))
            .await;
        let t1 = fhir::meta::format_instant(first.last_updated);
        let t2 = fhir::meta::format_instant(second.last_updated);
        check(
            &c,
            "Organization",
            &[
                ("_lastUpdated=gt2000", &["o1", "o2"]),
                ("_lastUpdated=lt2000", &[]),
                (&format!("_lastUpdated={t1}"), &["o1"]),
                (&format!("_lastUpdated=ge{t2}"), &["o2"]),
                (&format!("_lastUpdated=lt{t2}"), &["o1"]),
                (&format!("_lastUpdated=le{t1}"), &["o1"]),
            ],
        )
        .await;
    }
}

#[tokio::test]
async fn number_and_quantity_prefixes_use_implicit_precision() {
    for c in stores().await {
        c.put(
            json!({"resourceType": "InsurancePlan", "id": "ip1", "plan": [{"generalCost": [
                {"groupSize": 100, "cost": {"value": 25.5, "currency": "USD"}}
            ]}]}),
        )
        .await;
        c.put(
            json!({"resourceType": "InsurancePlan", "id": "ip2", "plan": [{"generalCost": [
                {"groupSize": 250, "cost": {"value": 40, "currency": "EUR"}}
            ]}]}),
        )
        .await;
        c.put(json!({"resourceType": "InsurancePlan", "id": "ip3", "name": "no costs"}))
            .await;
        check(
            &c,
            "InsurancePlan",
            &[
                ("general-cost-groupsize=100", &["ip1"]),
                ("general-cost-groupsize=1e2", &["ip1"]),
                ("general-cost-groupsize=100.0", &[]),
                ("general-cost-groupsize=ne100", &["ip2"]),
                ("general-cost-groupsize=gt100", &["ip2"]),
                ("general-cost-groupsize=lt250", &["ip1"]),
                ("general-cost-groupsize=ge100", &["ip1", "ip2"]),
                ("general-cost-groupsize=le100", &["ip1"]),
                ("general-cost-groupsize=sa100", &["ip2"]),
                ("general-cost-groupsize=eb250", &["ip1"]),
                ("general-cost-groupsize=ap105", &["ip1"]),
                ("general-cost-groupsize=ap200", &[]),
                ("general-cost-groupsize:missing=true", &["ip3"]),
                ("general-cost-value=25.5", &["ip1"]),
                ("general-cost-value=25.5|urn:iso:std:iso:4217|USD", &["ip1"]),
                ("general-cost-value=25.5|urn:iso:std:iso:4217|EUR", &[]),
                ("general-cost-value=gt30", &["ip2"]),
                ("general-cost-value=le30||USD", &["ip1"]),
                ("general-cost-value=ap38||EUR", &["ip2"]),
                ("general-cost-value=40||USD", &[]),
            ],
        )
        .await;
    }
}

#[tokio::test]
async fn uri_search_is_exact_or_by_path_above_and_below() {
    for c in stores().await {
        for (id, url) in [
            ("sp1", "http://acme.org/fhir/SearchParameter/a"),
            ("sp2", "http://acme.org/fhir/SearchParameter/b/c"),
            ("sp3", "http://acme.org/fhirx/SearchParameter/d"),
        ] {
            c.put(json!({"resourceType": "SearchParameter", "id": id, "url": url}))
                .await;
        }
        check(
            &c,
            "SearchParameter",
            &[
                ("url=http://acme.org/fhir/SearchParameter/a", &["sp1"]),
                ("url=http://acme.org/fhir/SearchParameter", &[]),
                ("url:below=http://acme.org/fhir", &["sp1", "sp2"]),
                ("url:below=http://acme.org/fhir/", &["sp1", "sp2"]),
                ("url:below=http://acme.org/fh", &[]),
                (
                    "url:above=http://acme.org/fhir/SearchParameter/a/x/y",
                    &["sp1"],
                ),
                ("url:above=http://acme.org/fhir/SearchParameter/b", &[]),
            ],
        )
        .await;
    }
}

#[tokio::test]
async fn reference_search_by_type_id_url_and_identifier() {
    for c in stores().await {
        c.put(json!({"resourceType": "PractitionerRole", "id": "r1",
            "practitioner": {"reference": "Practitioner/p1"},
            "organization": {"reference": "Organization/o1"},
            "location": [{"reference": "Location/l1"}]}))
            .await;
        c.put(json!({"resourceType": "PractitionerRole", "id": "r2",
            "practitioner": {"reference": "p2"},
            "organization": {"identifier": {"system": "http://ids.example.org", "value": "o-2"}},
            "location": [{"reference": "Location/l2"}, {"reference": "Location/l1"}]}))
            .await;
        c.put(json!({"resourceType": "PractitionerRole", "id": "r3",
            "practitioner": {"reference": "http://other.example.org/fhir/Practitioner/p9"}}))
            .await;
        check(
            &c,
            "PractitionerRole",
            &[
                ("practitioner=Practitioner/p1", &["r1"]),
                ("practitioner=p1", &["r1"]),
                ("practitioner=p2", &["r2"]),
                ("practitioner:Practitioner=p2", &["r2"]),
                ("practitioner=Practitioner/p2/_history/1", &[]),
                (
                    "practitioner=http://other.example.org/fhir/Practitioner/p9",
                    &["r3"],
                ),
                ("organization:missing=true", &["r3"]),
                (
                    "organization:identifier=http://ids.example.org|o-2",
                    &["r2"],
                ),
                ("organization:identifier=o-2", &["r2"]),
                ("location=Location/l1", &["r1", "r2"]),
                ("location=l2,l9", &["r2"]),
                ("location=Location/l1&location=Location/l2", &["r2"]),
            ],
        )
        .await;
    }
}

#[tokio::test]
async fn unsupported_modifiers_are_errors_not_empty_results() {
    for c in stores().await {
        practitioners(&c).await;
        for query in [
            "gender:in=http://hl7.org/fhir/ValueSet/administrative-gender",
            "gender:below=http://hl7.org/fhir/administrative-gender|female",
        ] {
            let q = c.parse("Practitioner", query);
            let got = c
                .store
                .search(&search_support::default_tenant(), &q, &c.registry, None)
                .await;
            assert!(
                matches!(got, Err(StoreError::UnsupportedSearch(_))),
                "[{}] {query}: {got:?}",
                c.be
            );
        }
    }
}
