#!/usr/bin/env python3
"""Derive fhirdir's built-in R4 core validation table from the official definitions.

Usage: python3 crates/validation/tools/derive_core.py [SHARED_FHIR_DIR]

Writes crates/validation/src/builtin/core_r4.tsv: the `required` terminology bindings of
every FHIR R4 4.0.1 resource type and datatype, the codes of the value sets they name (when
the value set can be enumerated from the core code systems: no filters, no imports, no
external systems), and every invariant (`ElementDefinition.constraint`) except `ele-1`,
which the structural check covers (no empty objects, arrays or strings). Source:
`r4-core/hl7.fhir.r4.core-4.0.1.conformance.ndjson.gz`; it is never copied into the
repository.

Format (tab-separated, `#` starts a comment line):
  B<TAB>path<TAB>valueset               an element whose codes must come from valueset
  V<TAB>valueset<TAB>system<TAB>codes   the codes (space-separated) of one system in valueset
  R<TAB>path<TAB>types                  the resource types a Reference element may point to
                                        (comma-separated; `Resource`: any)
  I<TAB>context<TAB>key<TAB>severity<TAB>expression<TAB>human
                                        an invariant on the values at context (a type name or
                                        an element path, as it is defined: `DomainResource`,
                                        `Bundle.entry`)
Bindings are listed where they are defined (`HumanName.use`, `Organization.contact.purpose`
is not required), once. Rerun it when the source changes, review the diff, commit the table.
"""
import gzip
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "src", "builtin", "core_r4.tsv")
SHARED = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "..", "..", "shared", "fhir")


def load():
    sds, vss, css = [], {}, {}
    path = os.path.join(SHARED, "r4-core", "hl7.fhir.r4.core-4.0.1.conformance.ndjson.gz")
    with gzip.open(path, "rt") as f:
        for line in f:
            r = json.loads(line)
            t = r["resourceType"]
            if t == "StructureDefinition" and r.get("derivation") in ("specialization", None) \
                    and r.get("kind") in ("resource", "complex-type", "primitive-type") \
                    and r.get("url", "").startswith("http://hl7.org/fhir/StructureDefinition/") \
                    and r.get("type") == r.get("id"):
                sds.append(r)
            elif t == "ValueSet":
                vss[r["url"]] = r
            elif t == "CodeSystem":
                css[r["url"]] = r
    return sds, vss, css


def codes_of(url, vss, css):
    """{system: [codes]} of a value set, or None when it cannot be enumerated here."""
    vs = vss.get(url)
    if vs is None or vs.get("compose", {}).get("exclude"):
        return None
    out = {}
    for inc in vs.get("compose", {}).get("include", []):
        if "valueSet" in inc or "filter" in inc or "system" not in inc:
            return None
        system = inc["system"]
        if "concept" in inc:
            out.setdefault(system, []).extend(c["code"] for c in inc["concept"])
            continue
        cs = css.get(system)
        if cs is None or cs.get("content") != "complete":
            return None

        def walk(concepts):
            for c in concepts:
                out.setdefault(system, []).append(c["code"])
                walk(c.get("concept", []))
        walk(cs.get("concept", []))
    return out or None


def clean(s):
    return " ".join(s.split())


def main():
    sds, vss, css = load()
    bindings, invariants, wanted, targets = {}, {}, set(), {}
    for sd in sorted(sds, key=lambda s: s["type"]):
        for e in sd["snapshot"]["element"]:
            base = e.get("base", {}).get("path", e["path"])
            b = e.get("binding")
            if b and b.get("strength") == "required" and "valueSet" in b and "." in base:
                url = b["valueSet"].split("|")[0]
                if codes_of(url, vss, css) is not None:
                    bindings.setdefault(base, url)
                    wanted.add(url)
            allowed = sorted({tp.rsplit("/", 1)[-1]
                              for t in e.get("type", []) if t.get("code") == "Reference"
                              for tp in t.get("targetProfile", [])})
            if allowed and "." in base:
                targets.setdefault(base, allowed)
            for c in e.get("constraint", []):
                if c["key"] == "ele-1" or "expression" not in c:
                    continue
                # An invariant of another type (`dom-2` of DomainResource on each root,
                # `ext-1` of Extension on each `extension`) is listed once, on that type.
                source = c.get("source", "").rsplit("/", 1)[-1]
                ctx = source if source and source != sd["type"] else base
                invariants.setdefault((ctx, c["key"]), (c.get("severity", "error"),
                                                         clean(c["expression"]),
                                                         clean(c.get("human", ""))))
    # The same invariant on a type and on an element of that type (`ext-1` on Extension and
    # on Element.extension) is checked once, on the type.
    on_types = {(k, v) for (ctx, k), v in invariants.items() if "." not in ctx}
    invariants = {(ctx, k): v for (ctx, k), v in invariants.items()
                  if "." not in ctx or (k, v) not in on_types}
    lines = ["# Derived by tools/derive_core.py from the official R4 4.0.1 definitions;"
             " do not edit by hand."]
    for path in sorted(bindings):
        lines.append(f"B\t{path}\t{bindings[path]}")
    for url in sorted(wanted):
        for system, codes in sorted(codes_of(url, vss, css).items()):
            lines.append(f"V\t{url}\t{system}\t{' '.join(codes)}")
    for path in sorted(targets):
        lines.append(f"R\t{path}\t{','.join(targets[path])}")
    for (ctx, key), (sev, expr, human) in sorted(invariants.items()):
        lines.append(f"I\t{ctx}\t{key}\t{sev}\t{expr}\t{human}")
    with open(OUT, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{len(bindings)} bindings, {len(wanted)} value sets, {len(targets)} reference "
          f"elements, {len(invariants)} invariants")


main()
