// The find-a-doctor page: a client of this server's FHIR API only ($find-providers and
// reads), so it shows exactly what any app can get. No external host is contacted: the map
// is drawn here as SVG from the result locations' coordinates.
"use strict";

const MATCH = "urn:fhirdir:find-providers:match";
const base = document.body.dataset.fhirBase;
const $ = (id) => document.getElementById(id);
let current = null; // the Bundle shown
const specialtyCodes = new Map(); // display -> NUCC code, from the suggestions

// Paging links are absolute (the server's public base URL); the page follows them on its
// own origin, so a proxy in front of the server changes nothing.
const local = (url) => { const u = new URL(url, location.href); return u.pathname + u.search; };

async function fhir(url) {
  const resp = await fetch(url, { headers: { Accept: "application/fhir+json" } });
  const body = await resp.json().catch(() => null);
  if (!resp.ok) {
    const msg = body && body.issue ? body.issue.map((i) => i.diagnostics).join("; ") : resp.statusText;
    throw new Error(msg);
  }
  return body;
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

const parts = (ext, url) => (ext && ext.extension || []).filter((p) => p.url === url);
const part = (ext, url) => parts(ext, url)[0];

function nameOf(r) {
  if (typeof r.name === "string") return r.name;
  const n = (r.name || [])[0];
  if (!n) return r.resourceType + "/" + r.id;
  return n.text || [...(n.prefix || []), ...(n.given || []), n.family].filter(Boolean).join(" ");
}

function addressText(a) {
  if (!a) return "";
  return a.text || [...(a.line || []), a.city, [a.state, a.postalCode].filter(Boolean).join(" ")].filter(Boolean).join(", ");
}

function codes(concepts) {
  return (concepts || []).map((c) => c.text || (c.coding || []).map((x) => x.display || x.code).find(Boolean)).filter(Boolean);
}

// Suggestions for `specialty` from the tenant's own roles (a sample of them).
async function loadChoices() {
  try {
    const roles = await fhir(`${base}/PractitionerRole?_elements=specialty&_count=200`);
    for (const e of roles.entry || []) {
      for (const s of e.resource.specialty || []) {
        for (const c of s.coding || []) if (c.code) specialtyCodes.set(c.display || c.code, c.code);
      }
    }
    const list = $("specialties");
    [...specialtyCodes.keys()].sort().forEach((d) => list.append(el("option", { value: d })));
  } catch (_) { /* suggestions are optional */ }
  try {
    const [nets, plans] = await Promise.all([
      fhir(`${base}/Organization?type=ntwk&_elements=name&_count=200`),
      fhir(`${base}/InsurancePlan?_elements=name&_count=200`),
    ]);
    const select = $("network");
    for (const e of plans.entry || []) select.append(el("option", { value: `plan=InsurancePlan/${e.resource.id}` }, `Plan: ${nameOf(e.resource)}`));
    for (const e of nets.entry || []) select.append(el("option", { value: `network=Organization/${e.resource.id}` }, `Network: ${nameOf(e.resource)}`));
  } catch (_) { /* the list is optional */ }
}

function query() {
  const q = new URLSearchParams();
  const v = (id) => $(id).value.trim();
  if (v("name")) q.set("name", v("name"));
  if (v("specialty")) q.set("specialty", specialtyCodes.get(v("specialty")) || v("specialty"));
  const where = v("where");
  if (/^\d{5}$/.test(where)) q.set("zip", where);
  else if (where.includes(",")) {
    const [city, state] = where.split(",").map((s) => s.trim());
    q.set("city", city); q.set("state", state);
  } else if (where) q.set("city", where);
  if (where) q.set("radius", v("radius"));
  const net = v("network");
  if (net) { const [k, val] = net.split("="); q.set(k, val); }
  if (v("language")) q.set("language", v("language"));
  if (v("type")) q.set("type", v("type"));
  if ($("accepting").checked) q.set("accepting-new-patients", "true");
  if (where && v("sort") === "distance") q.set("sort", "distance");
  q.set("_count", v("count"));
  return `${base}/$find-providers?${q}`;
}

async function run(url) {
  $("status").textContent = "Searching…";
  $("detail").hidden = true;
  try {
    current = await fhir(local(url));
    render(current);
  } catch (e) {
    $("results").hidden = true;
    $("status").textContent = `The search could not run: ${e.message}`;
  }
}

function render(bundle) {
  const entries = bundle.entry || [];
  const byRef = new Map(entries.map((e) => [`${e.resource.resourceType}/${e.resource.id}`, e.resource]));
  const matches = entries.filter((e) => e.search && e.search.mode === "match");
  const list = $("list");
  list.replaceChildren();
  const total = bundle.total || 0;
  const offset = Number(new URL(linkOf(bundle, "self")).searchParams.get("_offset") || 0);
  $("status").textContent = total === 0 ? "No providers found." : `${total} provider${total === 1 ? "" : "s"} found.`;
  const points = [];
  for (const m of matches) {
    const r = m.resource;
    const ext = (m.search.extension || []).find((x) => x.url === MATCH);
    const ref = `${r.resourceType}/${r.id}`;
    const roles = entries.filter((e) => e.search.mode === "include" && ["PractitionerRole", "OrganizationAffiliation"].includes(e.resource.resourceType)
      && ((e.resource.practitioner || e.resource.participatingOrganization || {}).reference === ref)).map((e) => e.resource);
    const specialties = [...new Set(roles.flatMap((role) => codes(role.specialty)))];
    const li = el("li", { "data-provider": ref });
    const open = el("button", { class: "link name", type: "button" }, nameOf(r));
    open.addEventListener("click", () => detail(ref));
    li.append(open);
    const d = part(ext, "distance");
    if (d) li.append(" ", el("span", { class: "distance" }, `${d.valueQuantity.value} mi`));
    if (specialties.length) li.append(el("div", { class: "meta" }, specialties.join(" · ")));
    const badges = el("div", { class: "networks" });
    for (const n of parts(ext, "inNetwork")) {
      const net = part(n, "network").valueReference;
      const stale = part(n, "stale").valueBoolean;
      const label = net.display || net.reference;
      badges.append(el("span", { class: stale ? "badge stale" : "badge" }, label));
      if (stale) {
        const when = part(n, "lastImported");
        li.append(el("div", { class: "warning", role: "note" },
          `Warning: the data of ${label} may be out of date (last updated ${when ? when.valueInstant.slice(0, 10) : "unknown"}).`));
      }
    }
    li.append(badges);
    let accepting = false;
    for (const s of parts(ext, "site")) {
      const loc = part(s, "location").valueReference.reference;
      const a = part(s, "address");
      const sd = part(s, "distance");
      if (part(s, "acceptingNewPatients")?.valueBoolean) accepting = true;
      li.append(el("div", { class: "meta" }, [addressText(a && a.valueAddress) || "(address not shown)", sd ? ` — ${sd.valueQuantity.value} mi` : ""].join("")));
      const body = byRef.get(loc);
      if (body && body.position) points.push({ lat: body.position.latitude, lon: body.position.longitude, label: nameOf(r) });
    }
    const phones = [...(r.telecom || []), ...roles.flatMap((x) => x.telecom || [])].filter((t) => t.system === "phone").map((t) => t.value);
    if (phones.length) li.append(el("div", { class: "meta" }, `Phone: ${[...new Set(phones)].slice(0, 2).join(", ")}`));
    const langs = (r.communication || []).flatMap((c) => codes([c.language || c]));
    if (langs.length) li.append(el("div", { class: "meta" }, `Languages: ${langs.join(", ")}`));
    if (accepting) li.append(el("div", { class: "accepting" }, "Accepting new patients"));
    list.append(li);
  }
  drawMap(points);
  const count = matches.length;
  $("page-info").textContent = total ? `${offset + 1}–${offset + count} of ${total}` : "";
  pager($("prev"), linkOf(bundle, "previous"));
  pager($("next"), linkOf(bundle, "next"));
  $("results").hidden = false;
}

function linkOf(bundle, rel) {
  const l = (bundle.link || []).find((x) => x.relation === rel);
  return l ? l.url : null;
}

function pager(button, url) {
  button.disabled = !url;
  button.onclick = url ? () => run(url) : null;
}

// An equirectangular projection of the points into the SVG box, with a margin.
function drawMap(points) {
  const svg = $("map");
  svg.replaceChildren();
  const ns = "http://www.w3.org/2000/svg";
  const rect = document.createElementNS(ns, "rect");
  rect.setAttribute("width", "400"); rect.setAttribute("height", "240"); rect.setAttribute("fill", "#eef3f8");
  svg.append(rect);
  if (!points.length) return;
  const lats = points.map((p) => p.lat), lons = points.map((p) => p.lon);
  const [minLat, maxLat, minLon, maxLon] = [Math.min(...lats), Math.max(...lats), Math.min(...lons), Math.max(...lons)];
  const k = Math.cos(((minLat + maxLat) / 2) * Math.PI / 180);
  const w = Math.max((maxLon - minLon) * k, 0.01), h = Math.max(maxLat - minLat, 0.01);
  const scale = Math.min(360 / w, 200 / h);
  for (const p of points) {
    const c = document.createElementNS(ns, "circle");
    c.setAttribute("cx", String(20 + ((p.lon - minLon) * k) * scale + (360 - w * scale) / 2));
    c.setAttribute("cy", String(20 + (maxLat - p.lat) * scale + (200 - h * scale) / 2));
    c.setAttribute("r", "5"); c.setAttribute("fill", "#0a58ca"); c.setAttribute("class", "pin");
    const t = document.createElementNS(ns, "title"); t.textContent = p.label; c.append(t);
    svg.append(c);
  }
}

async function detail(ref) {
  $("status").textContent = "Loading…";
  try {
    const provider = await fhir(`${base}/${ref}`);
    const roleType = ref.startsWith("Practitioner/") ? "PractitionerRole" : "OrganizationAffiliation";
    const param = roleType === "PractitionerRole" ? "practitioner" : "participating-organization";
    const roles = await fhir(`${base}/${roleType}?${param}=${encodeURIComponent(ref)}&_include=${roleType}:location&_count=100`);
    const body = $("detail-body");
    body.replaceChildren(el("h2", {}, nameOf(provider)));
    const locations = new Map((roles.entry || []).filter((e) => e.resource.resourceType === "Location").map((e) => [`Location/${e.resource.id}`, e.resource]));
    const ul = el("ul", { class: "roles" });
    for (const e of (roles.entry || []).filter((x) => x.resource.resourceType === roleType)) {
      const role = e.resource;
      const where = (role.location || []).map((l) => locations.get(l.reference)).filter(Boolean)
        .map((l) => `${l.name || ""} ${addressText(l.address)}`.trim());
      ul.append(el("li", {}, `${codes(role.specialty).join(", ") || codes(role.code).join(", ") || "Role"} — ${where.join("; ") || "no location listed"}`));
    }
    body.append(el("h3", {}, "Roles and locations"), ul);
    $("results").hidden = true;
    $("detail").hidden = false;
    $("status").textContent = `Details of ${nameOf(provider)}.`;
    $("back").focus();
  } catch (e) {
    $("status").textContent = `The details could not be loaded: ${e.message}`;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  loadChoices();
  $("search").addEventListener("submit", (ev) => { ev.preventDefault(); run(query()); });
  $("back").addEventListener("click", () => { $("detail").hidden = true; $("results").hidden = false; $("list").querySelector("button")?.focus(); });
});
