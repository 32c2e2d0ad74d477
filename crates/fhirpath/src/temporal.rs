//! Partial-precision Date, DateTime and Time values (FHIRPath N1 §“Date/DateTime/Time”):
//! parsing of FHIR/FHIRPath text, precision-aware comparison, calendar arithmetic.
//!
//! Comparison follows the specification: values are compared field by field down to the
//! coarser precision; when they agree that far but their precisions differ, the answer is
//! unknown (`None`), which the operators turn into an empty result.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use std::cmp::Ordering;

/// Number of significant fields: 1 = year … 6 = seconds (fractional seconds count as part of
/// the seconds field, so `10:00:00` equals `10:00:00.000`).
pub(crate) type Precision = u8;
const HOUR: Precision = 4;
const SECOND: Precision = 6;

/// A date or dateTime of any precision with an optional timezone offset (minutes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DateTime {
    /// year, month, day, hour, minute, second; fields past `precision` are at their minimum.
    fields: [u32; 6],
    millis: u32,
    /// Whether fractional seconds were written (kept for formatting only).
    has_millis: bool,
    precision: Precision,
    tz_minutes: Option<i32>,
    /// Written with a `T` (a dateTime, not a date).
    has_time: bool,
}

/// A time of day with hour, minute or second precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Time {
    fields: [u32; 3],
    millis: u32,
    has_millis: bool,
    precision: Precision,
}

fn digits(s: &str, n: usize) -> Option<u32> {
    if s.len() == n && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// Parses `hh[:mm[:ss[.fff]]]`; returns fields, precision (1..=3), millis, has_millis.
fn parse_clock(s: &str) -> Option<([u32; 3], Precision, u32, bool)> {
    let (main, frac) = match s.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (s, None),
    };
    let parts: Vec<&str> = main.split(':').collect();
    if parts.is_empty() || parts.len() > 3 {
        return None;
    }
    let mut fields = [0u32; 3];
    let limits = [23, 59, 59];
    for (i, p) in parts.iter().enumerate() {
        let v = digits(p, 2)?;
        if v > limits[i] {
            return None;
        }
        fields[i] = v;
    }
    let mut millis = 0;
    if let Some(f) = frac {
        if parts.len() != 3 || f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // Keep millisecond resolution; extra digits are truncated.
        let padded = format!("{f:0<3}");
        millis = padded.get(..3)?.parse().ok()?;
    }
    Some((fields, parts.len() as Precision, millis, frac.is_some()))
}

impl DateTime {
    /// Parses `YYYY[-MM[-DD[Thh[:mm[:ss[.fff]]][Z|(+|-)hh:mm]]]]`.
    pub(crate) fn parse(s: &str) -> Option<DateTime> {
        let (date, time) = match s.split_once('T') {
            Some((d, t)) => (d, Some(t)),
            None => (s, None),
        };
        let dparts: Vec<&str> = date.split('-').collect();
        if dparts.is_empty() || dparts.len() > 3 {
            return None;
        }
        let mut fields = [0u32, 1, 1, 0, 0, 0];
        fields[0] = digits(dparts[0], 4)?;
        if let Some(m) = dparts.get(1) {
            fields[1] = digits(m, 2)?;
            if !(1..=12).contains(&fields[1]) {
                return None;
            }
        }
        if let Some(d) = dparts.get(2) {
            fields[2] = digits(d, 2)?;
            NaiveDate::from_ymd_opt(fields[0] as i32, fields[1], fields[2])?;
        }
        let mut dt = DateTime {
            fields,
            millis: 0,
            has_millis: false,
            precision: dparts.len() as Precision,
            tz_minutes: None,
            has_time: time.is_some(),
        };
        let Some(time) = time else { return Some(dt) };
        if time.is_empty() {
            return Some(dt);
        }
        // A time part needs a full date.
        if dparts.len() != 3 {
            return None;
        }
        let (clock, tz) = split_tz(time)?;
        let (cf, cp, millis, has_millis) = parse_clock(clock)?;
        dt.fields[3..6].copy_from_slice(&cf);
        dt.precision = 3 + cp;
        dt.millis = millis;
        dt.has_millis = has_millis;
        dt.tz_minutes = tz;
        Some(dt)
    }

    pub(crate) fn is_date_only(&self) -> bool {
        !self.has_time
    }

    /// Full-resolution instant (missing fields at their minimum), shifted to UTC when an
    /// offset is known.
    fn naive_utc(&self) -> Option<NaiveDateTime> {
        let f = self.fields;
        let d = NaiveDate::from_ymd_opt(f[0] as i32, f[1], f[2])?;
        let t = NaiveTime::from_hms_milli_opt(f[3], f[4], f[5], self.millis)?;
        let n = NaiveDateTime::new(d, t);
        Some(match self.tz_minutes {
            Some(tz) if self.precision >= HOUR => n - Duration::minutes(i64::from(tz)),
            _ => n,
        })
    }

    /// Precision-aware comparison; `None` means “unknown” (different precisions that agree).
    pub(crate) fn compare(&self, other: &DateTime) -> Option<Ordering> {
        let (a, b) = if self.precision >= HOUR && other.precision >= HOUR {
            // One instant with an offset and one without cannot be ordered (the official
            // test suite answers empty; FHIR requires offsets on times anyway).
            if self.tz_minutes.is_some() != other.tz_minutes.is_some() {
                return None;
            }
            (self.naive_utc()?, other.naive_utc()?)
        } else {
            (self.naive_utc_unshifted()?, other.naive_utc_unshifted()?)
        };
        let fa = [
            a.year() as u32,
            a.month(),
            a.day(),
            a.hour(),
            a.minute(),
            a.second(),
        ];
        let fb = [
            b.year() as u32,
            b.month(),
            b.day(),
            b.hour(),
            b.minute(),
            b.second(),
        ];
        let common = usize::from(self.precision.min(other.precision));
        for i in 0..common {
            match fa[i].cmp(&fb[i]) {
                Ordering::Equal => continue,
                o => return Some(o),
            }
        }
        if self.precision != other.precision {
            return None;
        }
        if self.precision >= SECOND {
            let ma = a.and_utc().timestamp_subsec_millis();
            let mb = b.and_utc().timestamp_subsec_millis();
            return Some(ma.cmp(&mb));
        }
        Some(Ordering::Equal)
    }

    fn naive_utc_unshifted(&self) -> Option<NaiveDateTime> {
        DateTime {
            tz_minutes: None,
            ..*self
        }
        .naive_utc()
    }

    /// Adds `amount` of a calendar unit (UCUM or keyword), keeping this value's precision.
    pub(crate) fn add(&self, amount: f64, unit: &str) -> Option<DateTime> {
        let f = self.fields;
        let start = NaiveDateTime::new(
            NaiveDate::from_ymd_opt(f[0] as i32, f[1], f[2])?,
            NaiveTime::from_hms_milli_opt(f[3], f[4], f[5], self.millis)?,
        );
        if !amount.is_finite() || amount.abs() > 1e12 {
            return None;
        }
        let whole = amount.trunc() as i64;
        let shifted = match unit_kind(unit)? {
            CalUnit::Year => add_months(start, whole.checked_mul(12)?)?,
            CalUnit::Month => add_months(start, whole)?,
            CalUnit::Fixed(ms) => {
                // Only whole units count (`@1973-12-25 + 7.7 days` = `@1974-01-01`).
                let total = whole.checked_mul(ms)?;
                start.checked_add_signed(Duration::try_milliseconds(total)?)?
            }
        };
        if !(1..=9999).contains(&shifted.year()) {
            return None;
        }
        let mut out = *self;
        let full = [
            shifted.year() as u32,
            shifted.month(),
            shifted.day(),
            shifted.hour(),
            shifted.minute(),
            shifted.second(),
        ];
        let p = usize::from(self.precision);
        out.fields[..p].copy_from_slice(&full[..p]);
        if self.precision >= SECOND {
            out.millis = shifted.and_utc().timestamp_subsec_millis();
        }
        Some(out)
    }

    /// Current instant, UTC, millisecond precision.
    pub(crate) fn now() -> DateTime {
        let n = chrono::Utc::now().naive_utc();
        DateTime {
            fields: [
                n.year() as u32,
                n.month(),
                n.day(),
                n.hour(),
                n.minute(),
                n.second(),
            ],
            millis: n.and_utc().timestamp_subsec_millis(),
            has_millis: true,
            precision: SECOND,
            tz_minutes: Some(0),
            has_time: true,
        }
    }

    /// Today's date (UTC).
    pub(crate) fn today() -> DateTime {
        let mut d = Self::now();
        d.precision = 3;
        d.has_time = false;
        d.tz_minutes = None;
        d.fields[3..].fill(0);
        d
    }

    pub(crate) fn time_of_day() -> Time {
        let n = Self::now();
        Time {
            fields: [n.fields[3], n.fields[4], n.fields[5]],
            millis: n.millis,
            has_millis: true,
            precision: 3,
        }
    }

    /// Formats as FHIR text at this value's precision.
    pub(crate) fn format(&self) -> String {
        let f = self.fields;
        let mut s = format!("{:04}", f[0]);
        if self.precision >= 2 {
            s.push_str(&format!("-{:02}", f[1]));
        }
        if self.precision >= 3 {
            s.push_str(&format!("-{:02}", f[2]));
        }
        if self.precision >= HOUR {
            s.push_str(&format!("T{:02}", f[3]));
            if self.precision >= 5 {
                s.push_str(&format!(":{:02}", f[4]));
            }
            if self.precision >= SECOND {
                s.push_str(&format!(":{:02}", f[5]));
                if self.has_millis {
                    s.push_str(&format!(".{:03}", self.millis));
                }
            }
            if let Some(tz) = self.tz_minutes {
                if tz == 0 {
                    s.push('Z');
                } else {
                    let sign = if tz < 0 { '-' } else { '+' };
                    let a = tz.unsigned_abs();
                    s.push_str(&format!("{sign}{:02}:{:02}", a / 60, a % 60));
                }
            }
        } else if self.has_time {
            s.push('T');
        }
        s
    }
}

impl Time {
    pub(crate) fn parse(s: &str) -> Option<Time> {
        let (fields, precision, millis, has_millis) = parse_clock(s)?;
        Some(Time {
            fields,
            millis,
            has_millis,
            precision,
        })
    }

    pub(crate) fn compare(&self, other: &Time) -> Option<Ordering> {
        let common = usize::from(self.precision.min(other.precision));
        for i in 0..common {
            match self.fields[i].cmp(&other.fields[i]) {
                Ordering::Equal => continue,
                o => return Some(o),
            }
        }
        if self.precision != other.precision {
            return None;
        }
        Some(self.millis.cmp(&other.millis))
    }

    pub(crate) fn format(&self) -> String {
        let f = self.fields;
        let mut s = format!("{:02}", f[0]);
        if self.precision >= 2 {
            s.push_str(&format!(":{:02}", f[1]));
        }
        if self.precision >= 3 {
            s.push_str(&format!(":{:02}", f[2]));
            if self.has_millis {
                s.push_str(&format!(".{:03}", self.millis));
            }
        }
        s
    }
}

/// Splits a timezone suffix (`Z`, `+hh:mm`, `-hh:mm`) off a clock string.
fn split_tz(time: &str) -> Option<(&str, Option<i32>)> {
    if let Some(clock) = time.strip_suffix('Z') {
        return Some((clock, Some(0)));
    }
    if let Some(idx) = time.find(['+', '-']) {
        let (clock, tz) = time.split_at(idx);
        let sign = if tz.starts_with('-') { -1 } else { 1 };
        let (h, m) = tz.get(1..)?.split_once(':')?;
        let (h, m) = (digits(h, 2)?, digits(m, 2)?);
        if h > 14 || m > 59 {
            return None;
        }
        return Some((clock, Some(sign * (h as i32 * 60 + m as i32))));
    }
    Some((time, None))
}

enum CalUnit {
    Year,
    Month,
    /// Fixed length in milliseconds.
    Fixed(i64),
}

fn unit_kind(unit: &str) -> Option<CalUnit> {
    Some(match unit {
        // UCUM `a` and `mo` are not calendar durations (their length is an average).
        "year" | "years" => CalUnit::Year,
        "month" | "months" => CalUnit::Month,
        "week" | "weeks" | "wk" => CalUnit::Fixed(7 * 86_400_000),
        "day" | "days" | "d" => CalUnit::Fixed(86_400_000),
        "hour" | "hours" | "h" => CalUnit::Fixed(3_600_000),
        "minute" | "minutes" | "min" => CalUnit::Fixed(60_000),
        "second" | "seconds" | "s" => CalUnit::Fixed(1_000),
        "millisecond" | "milliseconds" | "ms" => CalUnit::Fixed(1),
        _ => return None,
    })
}

fn add_months(start: NaiveDateTime, months: i64) -> Option<NaiveDateTime> {
    let total = i64::from(start.year()) * 12 + i64::from(start.month0()) + months;
    let year = i32::try_from(total.div_euclid(12)).ok()?;
    let month = u32::try_from(total.rem_euclid(12)).ok()? + 1;
    // Clamp the day to the end of the target month (Jan 31 + 1 month = Feb 28/29).
    let mut day = start.day();
    loop {
        if let Some(d) = NaiveDate::from_ymd_opt(year, month, day) {
            return Some(NaiveDateTime::new(d, start.time()));
        }
        day = day.checked_sub(1).filter(|d| *d > 0)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering::*;

    fn dt(s: &str) -> DateTime {
        DateTime::parse(s).unwrap_or_else(|| panic!("parse {s}"))
    }

    #[test]
    fn parses_valid_and_rejects_invalid_text() {
        for ok in [
            "2020",
            "2020-02",
            "2020-02-29",
            "2020-02-29T10",
            "2020-02-29T10:11:12.5Z",
            "2015-02-07T13:28:17.239+02:00",
            "2020-01-01T",
        ] {
            assert!(DateTime::parse(ok).is_some(), "{ok}");
        }
        for bad in [
            "20",
            "2021-02-29",
            "2020-13",
            "2020-1",
            "2020-01-01T25:00",
            "2020T10",
            "x",
            "2020-01-01T10:00+15:00",
        ] {
            assert!(DateTime::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn compares_with_precision() {
        let cases = [
            ("2020", "2021", Some(Less)),
            ("2020-05", "2020", None),
            ("2020-05", "2021", Some(Less)),
            (
                "2020-01-01T10:00:00Z",
                "2020-01-01T11:00:00+01:00",
                Some(Equal),
            ),
            (
                "2020-01-01T10:00:00",
                "2020-01-01T10:00:00.000",
                Some(Equal),
            ),
            (
                "2020-01-01T10:00:00.001",
                "2020-01-01T10:00:00",
                Some(Greater),
            ),
            ("2020-01-02", "2020-01-01T23:00", Some(Greater)),
            ("2012-04-15T15:00:00Z", "2012-04-15T10:00:00", None),
        ];
        for (a, b, want) in cases {
            assert_eq!(dt(a).compare(&dt(b)), want, "{a} vs {b}");
        }
    }

    #[test]
    fn calendar_arithmetic_keeps_precision() {
        let cases = [
            ("2020-01-31", 1.0, "month", "2020-02-29"),
            ("2014", 24.0, "months", "2016"),
            ("2020-01-01", -1.0, "day", "2019-12-31"),
            ("2020-01-01T10:00:00Z", 90.0, "min", "2020-01-01T11:30:00Z"),
            (
                "1973-12-25T00:00:00.000+10:00",
                7.7,
                "days",
                "1974-01-01T00:00:00.000+10:00",
            ),
            (
                "1973-12-25T00:00:00.000+10:00",
                10.0,
                "ms",
                "1973-12-25T00:00:00.010+10:00",
            ),
            ("2020-03", 1.0, "year", "2021-03"),
        ];
        for (start, n, unit, want) in cases {
            let got = dt(start).add(n, unit).map(|d| d.format());
            assert_eq!(got.as_deref(), Some(want), "{start} + {n} {unit}");
        }
        assert!(dt("9999-12-31").add(1.0, "day").is_none());
        assert!(dt("2020").add(1.0, "furlong").is_none());
        assert!(
            dt("2020-01-01").add(1.0, "a").is_none(),
            "UCUM years are not calendar years"
        );
    }

    /// Deterministic sweep over precisions, calendar edges and offsets: canonical text
    /// survives parse + format, and ordering agrees with the instant's timestamp.
    #[test]
    fn canonical_text_round_trips_and_orders_like_timestamps() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut full = Vec::new();
        for _ in 0..2_000 {
            let (y, mo) = (1900 + next(200), 1 + next(12));
            let dim = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][(mo - 1) as usize];
            let d = 1 + next(dim);
            let (h, mi, sec, ms) = (next(24), next(60), next(60), next(1000));
            let tz = ["Z", "+01:00", "-05:30", "+14:00"][next(4) as usize];
            let texts = [
                format!("{y:04}"),
                format!("{y:04}-{mo:02}"),
                format!("{y:04}-{mo:02}-{d:02}"),
                format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}{tz}"),
                format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{sec:02}.{ms:03}{tz}"),
            ];
            for t in &texts {
                assert_eq!(dt(t).format(), *t);
            }
            full.push(texts[4].clone());
        }
        let stamp = |t: &str| {
            chrono::DateTime::parse_from_rfc3339(&t.replace('Z', "+00:00"))
                .expect("rfc3339")
                .timestamp_millis()
        };
        for pair in full.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            assert_eq!(
                dt(a).compare(&dt(b)),
                Some(stamp(a).cmp(&stamp(b))),
                "{a} vs {b}"
            );
        }
    }

    #[test]
    fn times_compare_and_format() {
        let t = |s| Time::parse(s).unwrap_or_else(|| panic!("{s}"));
        assert_eq!(t("10:00").compare(&t("10:30")), Some(Less));
        assert_eq!(t("10:00").compare(&t("10:00:00")), None);
        assert_eq!(t("10:00:00.5").format(), "10:00:00.500");
        assert!(Time::parse("24:00").is_none());
    }
}
