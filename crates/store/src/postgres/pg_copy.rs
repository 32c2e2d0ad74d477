//! Index rows into Postgres with `COPY … FROM STDIN` (text format), the bulk path of
//! `search::run::write_bulk` on Postgres.
//!
//! Why `COPY` and not `INSERT … SELECT FROM UNNEST($arrays)`: the arrays cost a copy of every
//! value into a `Vec<String>` per column, binary array encoding and decoding, and the executor's
//! per-row projection; `COPY` streams the rows straight into the table's insert path. `COPY`
//! has no `ON CONFLICT`, which index rows never need (they have no unique key and the
//! transaction deleted the resource's old rows first).

use sqlx::PgConnection;

use crate::search::{Arg, IndexRow as Row, Table};
use crate::StoreError;

/// Bytes buffered before a `COPY` chunk is sent: keeps memory flat for any batch size.
const SEND_AT: usize = 1 << 20;

/// Appends `rows` (all of `table`) of `tenant` with one `COPY` statement.
pub(crate) async fn copy_rows(
    conn: &mut PgConnection,
    tenant: &str,
    table: Table,
    rows: &[(&str, &str, Row)],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let statement = format!(
        "COPY {} (tenant, res_type, id, param, {}) FROM STDIN",
        table.name(),
        table.value_columns()
    );
    let mut copy = conn.copy_in_raw(&statement).await?;
    let mut buf = String::with_capacity(SEND_AT + 4096);
    let shadow = crate::restricted::shadow_tenant(tenant);
    for (resource_type, id, row) in rows {
        encode_row(
            &mut buf,
            row.tenant(tenant, &shadow),
            resource_type,
            id,
            row,
        );
        if buf.len() >= SEND_AT {
            if let Err(e) = copy.send(buf.as_bytes()).await {
                // Ends the COPY so the connection goes back to a usable state.
                let _ = copy.abort("send failed").await;
                return Err(e.into());
            }
            buf.clear();
        }
    }
    if !buf.is_empty() {
        copy.send(buf.as_bytes()).await?;
    }
    copy.finish().await?;
    Ok(())
}

/// One line of `COPY` text format: tab-separated fields, `\N` for NULL.
fn encode_row(buf: &mut String, tenant: &str, resource_type: &str, id: &str, row: &Row) {
    push_text(buf, tenant);
    buf.push('\t');
    push_text(buf, resource_type);
    buf.push('\t');
    push_text(buf, id);
    buf.push('\t');
    push_text(buf, &row.param);
    for value in &row.values {
        buf.push('\t');
        match value {
            Arg::Text(s) => push_text(buf, s),
            Arg::OptText(Some(s)) => push_text(buf, s),
            Arg::OptText(None) | Arg::OptFloat(None) => buf.push_str("\\N"),
            Arg::Int(n) => push_display(buf, n),
            Arg::Bool(b) => push_display(buf, b),
            Arg::Float(f) | Arg::OptFloat(Some(f)) => push_float(buf, *f),
        }
    }
    buf.push('\n');
}

fn push_display(buf: &mut String, v: impl std::fmt::Display) {
    use std::fmt::Write;
    // Writing to a String cannot fail.
    let _ = write!(buf, "{v}");
}

/// Rust prints infinities as `inf`/`-inf` and NaN as `NaN`, which `float8` input accepts;
/// finite values print as the shortest text that reads back to the same double.
fn push_float(buf: &mut String, f: f64) {
    if f.is_infinite() {
        buf.push_str(if f > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        push_display(buf, f);
    }
}

/// Text with the characters `COPY` text format gives a meaning escaped. A NUL cannot be
/// stored in a Postgres text value at all; the API path fails on it too, so it is dropped
/// here rather than failing the whole import differently.
fn push_text(buf: &mut String, s: &str) {
    if !s
        .bytes()
        .any(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r' | 0))
    {
        buf.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '\\' => buf.push_str("\\\\"),
            '\t' => buf.push_str("\\t"),
            '\n' => buf.push_str("\\n"),
            '\r' => buf.push_str("\\r"),
            '\0' => {}
            c => buf.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_format_escapes_what_copy_reads_specially() {
        let row = Row {
            table: Table::Token,
            param: "identifier".into(),
            values: vec![
                Arg::OptText(None),
                Arg::OptText(Some("a\tb\\c\nd\re".into())),
                Arg::Text("plain".into()),
            ],
            shadow: false,
        };
        let mut buf = String::new();
        encode_row(&mut buf, "t1", "Organization", "o1", &row);
        assert_eq!(
            buf,
            "t1\tOrganization\to1\tidentifier\t\\N\ta\\tb\\\\c\\nd\\re\tplain\n"
        );
    }

    #[test]
    fn numbers_print_in_a_form_float8_and_int8_read_back() {
        let row = Row {
            table: Table::Number,
            param: "p".into(),
            values: vec![
                Arg::Float(0.1),
                Arg::Float(f64::NEG_INFINITY),
                Arg::OptFloat(Some(1e300)),
                Arg::Int(-42),
            ],
            shadow: false,
        };
        let mut buf = String::new();
        encode_row(&mut buf, "t", "Group", "g", &row);
        let fields: Vec<&str> = buf.trim_end().split('\t').collect();
        assert_eq!(fields[4], "0.1");
        assert_eq!(fields[5], "-Infinity");
        assert_eq!(fields[6].parse::<f64>().ok(), Some(1e300));
        assert_eq!(fields[7], "-42");
    }
}
