#!/usr/bin/env python3
"""Derive fhirdir's built-in search parameter tables from the official packages.

Usage: python3 crates/conformance/tools/derive_tables.py [SHARED_FHIR_DIR]

Writes crates/conformance/src/builtin/{r4,plan_net,ndh,vhdir}.tsv. Only the fields
fhirdir needs are kept (url, code, base, type, expression, target, modifier, chain,
component); the official files themselves are never copied into the repository.
Rerun it when a source package changes, review the diff, and commit the tables.
"""
import glob
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "src", "builtin")
SHARED = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "..", "..", "shared", "fhir")

# Resource types whose R4 core parameters fhirdir ships. Keep in sync with
# `KEPT_CORE_BASES` in src/builtin.rs.
KEPT = [
    "Resource", "DomainResource", "Organization", "Practitioner", "PractitionerRole", "Location",
    "HealthcareService", "Endpoint", "InsurancePlan", "OrganizationAffiliation", "CareTeam", "Group",
    "Consent", "VerificationResult", "Provenance", "AuditEvent", "Subscription", "Basic", "SearchParameter",
]
# `_query` names a named query; fhirdir defines none, so the parameter is left out.
SKIPPED_CORE = {"http://hl7.org/fhir/SearchParameter/Resource-query"}

# Deliberate corrections of official definitions, keyed by URL. Each one is listed, with its
# reason, in INTENDED_DIFFERENCES of tests/builtin_matches_official.rs.
OVERRIDES = {
    # The official definition has no target, although InsurancePlan.network is
    # Reference(Organization); without it a chain such as network.name fans out to every type.
    "http://hl7.org/fhir/us/davinci-pdex-plan-net/SearchParameter/insuranceplan-network": {"target": ["Organization"]},
}

HEADER = "#url\tcode\tbase\ttype\texpression\ttarget\tmodifier\tchain\tcomponent\n"


def split_top_level(expr):
    """Split a FHIRPath union at top-level `|` (outside parentheses and quotes)."""
    parts, depth, quote, cur = [], 0, None, ""
    for ch in expr:
        if quote:
            cur += ch
            if ch == quote:
                quote = None
            continue
        if ch in "'\"`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(cur.strip())
            cur = ""
            continue
        cur += ch
    parts.append(cur.strip())
    return parts


def leading_type(part):
    return part.lstrip("(").split(".")[0].split(" ")[0]


def reduce_expression(expr, bases):
    """Keep only the union members that start at one of `bases`."""
    return " | ".join(p for p in split_top_level(expr) if leading_type(p) in bases)


def clean(value):
    value = value or ""
    assert "\t" not in value and "\n" not in value, value
    return value


def row(sp, base=None, expression=None):
    sp = {**sp, **OVERRIDES.get(sp["url"], {})}
    comps = []
    for c in sp.get("component", []):
        assert "=" not in c["definition"] and ";" not in c["expression"], c
        comps.append(c["definition"] + "=" + c["expression"])
    for lst in ("base", "target", "modifier", "chain"):
        assert all("," not in x for x in sp.get(lst, [])), sp["url"]
    fields = [
        sp["url"], sp["code"], ",".join(base if base is not None else sp["base"]), sp["type"],
        expression if expression is not None else sp.get("expression", ""),
        ",".join(sp.get("target", [])), ",".join(sp.get("modifier", [])), ",".join(sp.get("chain", [])),
        ";".join(comps),
    ]
    return "\t".join(clean(f) for f in fields) + "\n"


def load_dir(pattern):
    out = []
    for path in sorted(glob.glob(os.path.join(SHARED, pattern))):
        with open(path) as f:
            res = json.load(f)
        if res.get("resourceType") == "SearchParameter":
            out.append(res)
    return sorted(out, key=lambda s: s["url"])


def write(name, rows):
    with open(os.path.join(OUT, name), "w") as f:
        f.write(HEADER)
        f.writelines(rows)
    print(f"{name}: {len(rows)} parameters")


def main():
    with open(os.path.join(SHARED, "r4-core", "search-parameters.json")) as f:
        bundle = json.load(f)
    core = sorted((e["resource"] for e in bundle["entry"]), key=lambda s: s["url"])
    rows = []
    for sp in core:
        if sp["url"] in SKIPPED_CORE:
            continue
        bases = [b for b in sp["base"] if b in KEPT]
        if not bases:
            continue
        if bases == sp["base"]:
            rows.append(row(sp))
        else:
            rows.append(row(sp, bases, reduce_expression(sp.get("expression", ""), bases)))
    write("r4.tsv", rows)
    write("plan_net.tsv", [row(sp) for sp in load_dir("plan-net/1.2.0/SearchParameter-*.json")])
    write("ndh.tsv", [row(sp) for sp in load_dir("ndh/1.0.0-sushi-compiled/SearchParameter-*.json")])
    write("vhdir.tsv", [row(sp) for sp in load_dir("vhdir/ig-resources/searchparameter-*.json")])


if __name__ == "__main__":
    main()
