#!/usr/bin/env python3
"""Derive fhirdir's built-in R4 element model table from the official definitions.

Usage: python3 crates/conformance/tools/derive_elements.py [SHARED_FHIR_DIR]

Writes crates/conformance/src/builtin/elements_r4.tsv: for every FHIR R4 4.0.1 resource
type and datatype (specializations only: no profiles), the elements it defines itself.
Elements inherited unchanged from Resource, DomainResource, Element or BackboneElement are
left out (the model finds them through the base type) and so are the `value` elements of
primitives (the JSON primitive itself). Sources: `r4-core/profiles-types.json` for the
datatypes, the StructureDefinitions in `r4-core/hl7.fhir.r4.core-4.0.1.conformance.ndjson.gz`
for the resources. The official files are never copied into the repository.

Format (tab-separated, `#` starts a comment line):
  @Name<TAB>Base<TAB>kind[<TAB>abstract]   one line per type; kind = primitive|complex|resource
  relpath<TAB>min<TAB>max<TAB>types         the type's own elements, path relative to the type
types is a comma-separated list of type codes (several only for choice elements `x[x]`),
or `#Full.path` for an element defined by contentReference (e.g. Questionnaire.item.item).
Rerun it when a source package changes, review the diff, and commit the table.
"""
import gzip
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "src", "builtin", "elements_r4.tsv")
SHARED = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "..", "..", "shared", "fhir")
FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"


def type_code(t):
    """The FHIR type code; System.String & co. (ids, Extension.url) carry it in an extension."""
    for ext in t.get("extension", []):
        if ext.get("url") == FHIR_TYPE_EXT:
            return ext["valueUrl"]
    return t["code"]


def structure_definitions():
    types = json.load(open(os.path.join(SHARED, "r4-core", "profiles-types.json")))
    for entry in types["entry"]:
        yield entry["resource"]
    path = os.path.join(SHARED, "r4-core", "hl7.fhir.r4.core-4.0.1.conformance.ndjson.gz")
    with gzip.open(path, "rt") as f:
        for line in f:
            sd = json.loads(line)
            if sd.get("resourceType") == "StructureDefinition" and sd.get("kind") == "resource":
                yield sd


def main():
    out = [
        "# FHIR R4 4.0.1 element model, derived by tools/derive_elements.py; do not edit by hand.\n",
        "# @Type base kind [abstract] | relpath min max types\n",
    ]
    seen = set()
    for sd in structure_definitions():
        if sd.get("derivation", "specialization") != "specialization":
            continue  # profiles (SimpleQuantity, MoneyQuantity, vitalsigns, …)
        if sd["kind"] not in ("primitive-type", "complex-type", "resource"):
            continue
        name = sd["type"]
        if name in seen:
            continue
        seen.add(name)
        base = sd.get("baseDefinition", "").rsplit("/", 1)[-1]
        kind = {"primitive-type": "primitive", "complex-type": "complex", "resource": "resource"}[sd["kind"]]
        head = f"@{name}\t{base}\t{kind}"
        if sd.get("abstract"):
            head += "\tabstract"
        out.append(head + "\n")
        for el in sd["snapshot"]["element"][1:]:
            path = el["path"]
            base_path = el.get("base", {}).get("path", path)
            base = el.get("base", {})
            inherited = base_path.split(".")[0] != name
            if inherited and (base.get("min"), base.get("max")) == (el["min"], el["max"]):
                continue  # inherited unchanged: found through the base type
            # (An inherited element with narrowed cardinality, e.g. xhtml.extension 0..0,
            # is kept as the type's own element.)
            rel = path[len(name) + 1:]
            if kind == "primitive" and rel == "value":
                continue
            if "contentReference" in el:
                types = "#" + el["contentReference"].lstrip("#")
            else:
                types = ",".join(type_code(t) for t in el["type"])
            out.append(f"{rel}\t{el['min']}\t{el['max']}\t{types}\n")
    with open(OUT, "w") as f:
        f.writelines(out)
    print(f"wrote {OUT}: {len(seen)} types, {len(out)} lines")


if __name__ == "__main__":
    main()
