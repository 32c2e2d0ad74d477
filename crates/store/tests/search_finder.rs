//! The provider finder's candidate query (`Store::find_roles`): every start it may take (the
//! sites in the area, one role criterion's roles, the providers found by name) gives exactly
//! the same rows, on every backend.

mod search_support;

use std::collections::BTreeSet;

use search::Filter;
use serde_json::{json, Value};
use store::{RoleQuery, RoleStart};

use search_support::{default_tenant, stores, Ctx};

const NETWORK_EXT: &str =
    "http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition/network-reference";
const NUCC: &str = "http://nucc.org/provider-taxonomy";

/// Hartford's box, about 25 miles each way.
const AREA: (f64, f64, f64, f64) = (41.40, 42.13, -73.18, -72.19);

fn location(id: &str, lat: f64, lon: f64) -> Value {
    json!({"resourceType": "Location", "id": id, "position": {"latitude": lat, "longitude": lon}})
}

fn practitioner(id: &str, family: &str, active: bool) -> Value {
    json!({"resourceType": "Practitioner", "id": id, "active": active,
           "name": [{"family": family, "given": ["Pat"]}],
           "qualification": [{"code": {"coding": [{"system": NUCC, "code": "207Q00000X"}]}}]})
}

fn role(id: &str, practitioner: &str, sites: &[&str], network: &str, specialty: &str) -> Value {
    let location: Vec<Value> = sites
        .iter()
        .map(|s| json!({"reference": format!("Location/{s}")}))
        .collect();
    json!({"resourceType": "PractitionerRole", "id": id, "active": true,
           "extension": [{"url": NETWORK_EXT,
                          "valueReference": {"reference": format!("Organization/{network}")}}],
           "practitioner": {"reference": format!("Practitioner/{practitioner}")},
           "location": location,
           "specialty": [{"coding": [{"system": NUCC, "code": specialty}]}]})
}

/// Sites in and out of the area; Smiths, a Smyth (same Soundex), a Jones and an inactive Smith;
/// roles in networks n1 and n2, one at two sites (one in the area), one at a site outside.
async fn directory(c: &Ctx) {
    c.put_many(vec![
        location("in1", 41.76, -72.68),
        location("in2", 41.90, -72.50),
        location("out1", 40.71, -74.00),
        location("out2", 41.76, -71.40),
        practitioner("smith1", "Smith", true),
        practitioner("smith2", "Smithers", true),
        practitioner("smyth", "Smyth", true),
        practitioner("jones", "Jones", true),
        practitioner("retired", "Smith", false),
        role("r1", "smith1", &["in1"], "n1", "207Q00000X"),
        role("r2", "smith2", &["out1", "in2"], "n1", "208D00000X"),
        role("r3", "smyth", &["in2"], "n2", "207Q00000X"),
        role("r4", "jones", &["in1"], "n1", "207Q00000X"),
        role("r5", "smith1", &["out2"], "n1", "207Q00000X"),
        role("r6", "retired", &["in1"], "n1", "207Q00000X"),
    ])
    .await;
}

fn filters(c: &Ctx, rt: &str, query: &str) -> Vec<Filter> {
    c.parse(rt, query)
        .criteria
        .into_iter()
        .map(|c| c.filter)
        .collect()
}

/// `(role, provider, site)` of the rows from `start` (the cheapest when `None`).
async fn rows(c: &Ctx, q: &RoleQuery<'_>, start: Option<RoleStart>) -> BTreeSet<String> {
    let t = default_tenant();
    let got = match start {
        Some(s) => c.store.find_roles_from(&t, q, s).await,
        None => c.store.find_roles(&t, q).await,
    };
    got.unwrap_or_else(|e| panic!("[{}] from {start:?}: {e}", c.be))
        .into_iter()
        .map(|r| {
            let site = r.site.map(|(s, _, _)| s).unwrap_or_default();
            format!("{} {} {site}", r.role_id, r.provider)
        })
        .collect()
}

/// The rows of `q` are `want` from the cheapest start and from each of `starts`.
async fn from_every(c: &Ctx, q: &RoleQuery<'_>, starts: &[RoleStart], want: &[&str]) {
    let want = set(want);
    assert_eq!(rows(c, q, None).await, want, "[{}] cheapest start", c.be);
    for start in starts {
        assert_eq!(
            rows(c, q, Some(*start)).await,
            want,
            "[{}] from {start:?}",
            c.be
        );
    }
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn every_start_gives_the_same_rows() {
    for c in stores().await {
        directory(&c).await;
        let network = filters(&c, "PractitionerRole", "network=Organization/n1");
        let role_active = filters(&c, "PractitionerRole", "active:not=false");
        let mut role_filters = network.clone();
        role_filters.extend(role_active.clone());
        let names = filters(&c, "Practitioner", "name=smi&phonetic=smith");
        let provider_all = filters(&c, "Practitioner", "active:not=false");
        let specialty = filters(
            &c,
            "PractitionerRole",
            &format!("specialty={NUCC}|207Q00000X"),
        );
        let qualification = filters(
            &c,
            "Practitioner",
            &format!("qualification-code={NUCC}|207Q00000X"),
        );
        let base = RoleQuery {
            role_type: "PractitionerRole",
            provider_type: "Practitioner",
            provider_param: "practitioner",
            location_param: "location",
            role_filters: &role_filters,
            specialty: None,
            qualification: None,
            provider_all: &provider_all,
            provider_any: &[],
            area: Some(AREA),
            limit: 100,
        };
        // In n1, in the area: r2 through its second site; r5's site is outside, r6's
        // practitioner inactive.
        let in_network = base.clone();
        let want = [
            "r1 Practitioner/smith1 in1",
            "r2 Practitioner/smith2 in2",
            "r4 Practitioner/jones in1",
        ];
        from_every(
            &c,
            &in_network,
            &[RoleStart::Area, RoleStart::Role(0)],
            &want,
        )
        .await;
        // Named like Smith (prefix `smi` or Soundex S530), any network, in the area.
        let named = RoleQuery {
            role_filters: &role_active,
            provider_any: &names,
            ..base.clone()
        };
        let want = [
            "r1 Practitioner/smith1 in1",
            "r2 Practitioner/smith2 in2",
            "r3 Practitioner/smyth in2",
        ];
        from_every(&c, &named, &[RoleStart::Area, RoleStart::Providers], &want).await;
        // Names in n1 with the specialty on the role or the practitioner's qualification
        // (r2's role specialty differs, its practitioner qualifies), from all three starts.
        let all = RoleQuery {
            provider_any: &names,
            specialty: specialty.first(),
            qualification: qualification.first(),
            ..base.clone()
        };
        let want = ["r1 Practitioner/smith1 in1", "r2 Practitioner/smith2 in2"];
        let starts = [RoleStart::Area, RoleStart::Role(0), RoleStart::Providers];
        from_every(&c, &all, &starts, &want).await;
        // The role flag says which rows have the specialty on the role itself.
        let flagged: BTreeSet<String> = c
            .store
            .find_roles_from(&default_tenant(), &all, RoleStart::Providers)
            .await
            .expect("rows")
            .into_iter()
            .filter(|r| r.role_specialty)
            .map(|r| r.role_id)
            .collect();
        assert_eq!(flagged, set(&["r1"]), "[{}] role specialty flag", c.be);
        // A start the query cannot have is refused, not answered from elsewhere.
        let refused = c
            .store
            .find_roles_from(&default_tenant(), &in_network, RoleStart::Role(1))
            .await;
        assert!(
            matches!(refused, Err(store::StoreError::UnsupportedSearch(_))),
            "[{}] `active:not` has no rows to start from: {refused:?}",
            c.be
        );
    }
}
