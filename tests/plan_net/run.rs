//! Runs one [`Case`] against a server: `GET /fhir/default/{type}?{query}&_count=N`, follows
//! every `next` link to the end, collects `search.mode=match` and `include` entries, and
//! compares them with the expectation as sets. Errors are returned (never panics), so one run
//! can report every failing query at once.

use std::collections::BTreeSet;

use serde_json::Value;

use super::cases::Case;
use crate::common::{link, TestApp};

/// Longest a page may take: a 5,215-resource directory answering slower than this is a bug.
pub const QUERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What the server answered, over all pages.
pub struct Answer {
    pub matches: BTreeSet<String>,
    pub includes: BTreeSet<String>,
    pub pages: usize,
}

/// Fetches every page of `rtype?query` with page size `count`.
pub async fn fetch_all(
    app: &TestApp,
    rtype: &str,
    query: &str,
    count: usize,
) -> Result<Answer, String> {
    let mut next = Some(app.url(&format!("/fhir/default/{rtype}?{query}&_count={count}")));
    let mut answer = Answer {
        matches: BTreeSet::new(),
        includes: BTreeSet::new(),
        pages: 0,
    };
    while let Some(url) = next.take() {
        let resp = app
            .client
            .get(&url)
            .timeout(QUERY_TIMEOUT)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        let status = resp.status().as_u16();
        let body = resp
            .text()
            .await
            .map_err(|e| format!("GET {url}: reading: {e}"))?;
        if status != 200 {
            return Err(format!(
                "GET {url}: status {status}: {}",
                truncate(&body, 400)
            ));
        }
        let page: Value =
            serde_json::from_str(&body).map_err(|e| format!("GET {url}: not JSON: {e}"))?;
        if page["resourceType"] != "Bundle" || page["type"] != "searchset" {
            return Err(format!(
                "GET {url}: not a searchset Bundle: {}",
                truncate(&body, 300)
            ));
        }
        for e in page["entry"].as_array().into_iter().flatten() {
            let r = &e["resource"];
            let key = format!(
                "{}/{}",
                r["resourceType"].as_str().unwrap_or("?"),
                r["id"].as_str().unwrap_or("?")
            );
            let fresh = match e["search"]["mode"].as_str() {
                Some("match") => answer.matches.insert(key.clone()),
                Some("include") => {
                    // The same resource may be included from several pages.
                    answer.includes.insert(key.clone());
                    true
                }
                other => return Err(format!("GET {url}: entry {key} has search.mode {other:?}")),
            };
            if !fresh {
                return Err(format!("GET {url}: match {key} repeats across pages"));
            }
        }
        answer.pages += 1;
        if answer.pages > 2_000 {
            return Err(format!("paging of {rtype}?{query} never ends"));
        }
        if let Some(n) = link(&page, "next") {
            if !n.starts_with(&app.base) {
                return Err(format!(
                    "GET {url}: next link {n} is not absolute on {}",
                    app.base
                ));
            }
            next = Some(n);
        }
    }
    Ok(answer)
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// `missing` and `extra` of `actual` against `expected`, a few of each named.
pub fn diff(what: &str, expected: &BTreeSet<String>, actual: &BTreeSet<String>) -> Option<String> {
    if expected == actual {
        return None;
    }
    let missing: Vec<&String> = expected.difference(actual).collect();
    let extra: Vec<&String> = actual.difference(expected).collect();
    Some(format!(
        "{what}: expected {} got {}; missing {} {:?}{}; extra {} {:?}{}",
        expected.len(),
        actual.len(),
        missing.len(),
        &missing[..missing.len().min(5)],
        if missing.len() > 5 { " …" } else { "" },
        extra.len(),
        &extra[..extra.len().min(5)],
        if extra.len() > 5 { " …" } else { "" },
    ))
}

/// Runs `case`; `Err` describes every difference, naming the backend, query and expectation.
pub async fn check(app: &TestApp, case: &Case) -> Result<usize, String> {
    // Small pages force paging; very large sets use larger pages to bound the run time.
    let count = if case.matches.len() > 600 { 500 } else { 50 };
    let title = format!(
        "[{}] GET {}?{}&_count={count} ({} {}, {})",
        app.backend,
        case.rtype,
        case.query,
        case.feature,
        case.why,
        if case.matches.is_empty() {
            "expect none"
        } else {
            "expect some"
        }
    );
    let answer = fetch_all(app, &case.rtype, &case.query, count)
        .await
        .map_err(|e| format!("{title}: {e}"))?;
    let mut problems = Vec::new();
    if let Some(d) = diff("matches", &case.matches, &answer.matches) {
        problems.push(d);
    }
    if let Some(expected) = &case.includes {
        // A resource that is also a match need not be repeated as an include.
        let exp: BTreeSet<String> = expected.difference(&answer.matches).cloned().collect();
        let got: BTreeSet<String> = answer
            .includes
            .difference(&answer.matches)
            .cloned()
            .collect();
        if let Some(d) = diff("includes", &exp, &got) {
            problems.push(d);
        }
    } else if !answer.includes.is_empty() {
        problems.push(format!(
            "{} unexpected include entries",
            answer.includes.len()
        ));
    }
    if problems.is_empty() {
        Ok(answer.pages)
    } else {
        Err(format!("{title}: {}", problems.join("; ")))
    }
}
