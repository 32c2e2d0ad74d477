//! FHIR date, dateTime and instant values as half-open UTC ranges `[low, high)` whose width is
//! the value's precision (<https://hl7.org/fhir/R4/search.html#date>): `2020` is
//! `[2020-01-01T00:00Z, 2021-01-01T00:00Z)`, `2020-03-04T10:15` is one minute wide.
//!
//! A dateTime without a time zone is read as UTC. The spec lets the server pick its own zone for
//! such values; fhirdir runs in UTC and uses the same rule when indexing, so a zone-less query
//! matches a zone-less resource value exactly.

use chrono::{
    DateTime, Duration, FixedOffset, Months, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
};

use crate::SearchError;

/// How precisely a date value was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum DatePrecision {
    Year,
    Month,
    Day,
    Minute,
    Second,
    /// Seconds with this many fraction digits (capped at 6, microseconds).
    Fraction(u8),
}

/// A half-open UTC range `[low, high)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DateRange {
    pub low: DateTime<Utc>,
    pub high: DateTime<Utc>,
}

impl DateRange {
    /// Stands for "no lower bound" (an open Period start): 0001-01-01T00:00:00Z. A finite
    /// sentinel rather than `DateTime::MIN_UTC`, which Postgres `timestamptz` cannot hold.
    pub fn min_bound() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// Stands for "no upper bound" (an open Period end): 10000-01-01T00:00:00Z.
    pub fn max_bound() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0)
            .single()
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// The range widened for the `ap` prefix: by 10% of the distance between the value and
    /// `now`, and at least by the value's own width (<https://hl7.org/fhir/R4/search.html#prefix>).
    pub fn approximate(&self, now: DateTime<Utc>) -> DateRange {
        let gap = if now > self.high {
            now - self.high
        } else {
            self.low - now
        }
        .abs();
        let widen = std::cmp::max(gap / 10, self.high - self.low);
        DateRange {
            low: self
                .low
                .checked_sub_signed(widen)
                .unwrap_or_else(Self::min_bound),
            high: self
                .high
                .checked_add_signed(widen)
                .unwrap_or_else(Self::max_bound),
        }
    }
}

/// A parsed date value: its range and the precision it was given with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DateValue {
    pub range: DateRange,
    pub precision: DatePrecision,
}

fn bad(value: &str, reason: impl Into<String>) -> SearchError {
    SearchError::value("date", value, reason)
}

fn digits(s: &str, len: usize, what: &str, whole: &str) -> Result<u32, SearchError> {
    if s.len() != len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(
            whole,
            format!("{what} must be {len} digits, found `{s}`"),
        ));
    }
    s.parse()
        .map_err(|_| bad(whole, format!("{what} `{s}` is not a number")))
}

/// Parses `YYYY`, `YYYY-MM`, `YYYY-MM-DD`, `YYYY-MM-DDThh:mm[:ss[.f…]][Z|±hh:mm]` into its
/// precision range.
pub fn parse_date(s: &str) -> Result<DateValue, SearchError> {
    if s.is_empty() {
        return Err(bad(s, "empty date"));
    }
    let (date_part, time_part) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let mut fields = date_part.split('-');
    let year = digits(fields.next().unwrap_or_default(), 4, "year", s)?;
    let year = i32::try_from(year).map_err(|_| bad(s, "year out of range"))?;
    let month = fields
        .next()
        .map(|m| digits(m, 2, "month", s))
        .transpose()?;
    let day = fields.next().map(|d| digits(d, 2, "day", s)).transpose()?;
    if fields.next().is_some() {
        return Err(bad(s, "too many `-` separated date parts"));
    }
    if let Some(m) = month {
        if !(1..=12).contains(&m) {
            return Err(bad(s, format!("month {m:02} is not between 01 and 12")));
        }
    }
    let date =
        NaiveDate::from_ymd_opt(year, month.unwrap_or(1), day.unwrap_or(1)).ok_or_else(|| {
            bad(
                s,
                format!(
                    "day {:02} does not exist in {year:04}-{:02}",
                    day.unwrap_or(1),
                    month.unwrap_or(1)
                ),
            )
        })?;
    let Some(time_part) = time_part else {
        let start = date.and_time(NaiveTime::MIN);
        let (end, precision) = match (month, day) {
            (None, _) => (
                start.checked_add_months(Months::new(12)),
                DatePrecision::Year,
            ),
            (Some(_), None) => (
                start.checked_add_months(Months::new(1)),
                DatePrecision::Month,
            ),
            (Some(_), Some(_)) => (
                start.checked_add_signed(Duration::days(1)),
                DatePrecision::Day,
            ),
        };
        let end = end.ok_or_else(|| bad(s, "date out of range"))?;
        return Ok(DateValue {
            range: DateRange {
                low: start.and_utc(),
                high: end.and_utc(),
            },
            precision,
        });
    };
    if day.is_none() {
        return Err(bad(s, "a time needs a full date (YYYY-MM-DDThh:mm)"));
    }
    // Split the zone off: `Z`, `+hh:mm` or `-hh:mm` at the end.
    let (clock, offset) = if let Some(c) = time_part.strip_suffix('Z') {
        (c, Some(0))
    } else if let Some(pos) = time_part.rfind(['+', '-']) {
        let zone = &time_part[pos..];
        let (zh, zm) = zone[1..]
            .split_once(':')
            .ok_or_else(|| bad(s, format!("time zone `{zone}` must be ±hh:mm")))?;
        let zh = digits(zh, 2, "zone hours", s)?;
        let zm = digits(zm, 2, "zone minutes", s)?;
        if zh > 14 || zm > 59 {
            return Err(bad(s, format!("time zone `{zone}` is out of range")));
        }
        let secs =
            i32::try_from(zh * 3600 + zm * 60).map_err(|_| bad(s, "time zone out of range"))?;
        (
            &time_part[..pos],
            Some(if zone.starts_with('-') { -secs } else { secs }),
        )
    } else {
        (time_part, None)
    };
    let mut hms = clock.split(':');
    let hour = digits(hms.next().unwrap_or_default(), 2, "hour", s)?;
    let minute = hms
        .next()
        .ok_or_else(|| bad(s, "a time needs at least hours and minutes (hh:mm)"))
        .and_then(|m| digits(m, 2, "minute", s))?;
    let seconds = hms.next();
    if hms.next().is_some() {
        return Err(bad(s, "too many `:` separated time parts"));
    }
    let (second, fraction) = match seconds {
        None => (0, None),
        Some(sec) => {
            let (whole, frac) = match sec.split_once('.') {
                Some((w, f)) => (w, Some(f)),
                None => (sec, None),
            };
            if let Some(f) = frac {
                if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad(s, format!("fraction of a second `{f}` must be digits")));
                }
            }
            (digits(whole, 2, "second", s)?, frac)
        }
    };
    if hour > 23 || minute > 59 || second > 59 {
        return Err(bad(
            s,
            format!("time {hour:02}:{minute:02}:{second:02} is out of range"),
        ));
    }
    let (micros, precision, width) = match (seconds, fraction) {
        (None, _) => (0, DatePrecision::Minute, Duration::minutes(1)),
        (Some(_), None) => (0, DatePrecision::Second, Duration::seconds(1)),
        (Some(_), Some(f)) => {
            let kept = &f[..f.len().min(6)];
            let n = u8::try_from(kept.len()).unwrap_or(6);
            let micros: u32 = format!("{kept:0<6}")
                .parse()
                .map_err(|_| bad(s, "bad fraction"))?;
            (
                micros,
                DatePrecision::Fraction(n),
                Duration::microseconds(10_i64.pow(6 - u32::from(n))),
            )
        }
    };
    let time = NaiveTime::from_hms_micro_opt(hour, minute, second, micros)
        .ok_or_else(|| bad(s, "invalid time"))?;
    let naive = NaiveDateTime::new(date, time);
    let low = match offset {
        None => naive.and_utc(),
        Some(secs) => {
            let zone =
                FixedOffset::east_opt(secs).ok_or_else(|| bad(s, "time zone out of range"))?;
            zone.from_local_datetime(&naive)
                .single()
                .ok_or_else(|| bad(s, "time does not exist in its zone"))?
                .with_timezone(&Utc)
        }
    };
    let high = low
        .checked_add_signed(width)
        .ok_or_else(|| bad(s, "date out of range"))?;
    Ok(DateValue {
        range: DateRange { low, high },
        precision,
    })
}

/// Renders a UTC instant the way FHIR writes instants (`2020-01-01T00:00:00Z`, with
/// microseconds only when present). Used in tests and for debugging output.
pub fn format_instant(t: DateTime<Utc>) -> String {
    if t.timestamp_subsec_micros() == 0 {
        t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(s: &str) -> Result<(String, String), String> {
        parse_date(s)
            .map(|v| (format_instant(v.range.low), format_instant(v.range.high)))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn precision_sets_the_range_width() {
        let cases = [
            ("2020", "2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z"),
            ("2020-02", "2020-02-01T00:00:00Z", "2020-03-01T00:00:00Z"),
            ("2020-12", "2020-12-01T00:00:00Z", "2021-01-01T00:00:00Z"),
            ("2020-02-28", "2020-02-28T00:00:00Z", "2020-02-29T00:00:00Z"),
            ("2020-02-29", "2020-02-29T00:00:00Z", "2020-03-01T00:00:00Z"),
            (
                "2020-03-04T10:15",
                "2020-03-04T10:15:00Z",
                "2020-03-04T10:16:00Z",
            ),
            (
                "2020-03-04T10:15:30",
                "2020-03-04T10:15:30Z",
                "2020-03-04T10:15:31Z",
            ),
            (
                "2020-03-04T10:15:30Z",
                "2020-03-04T10:15:30Z",
                "2020-03-04T10:15:31Z",
            ),
            (
                "2020-03-04T10:15:30+02:00",
                "2020-03-04T08:15:30Z",
                "2020-03-04T08:15:31Z",
            ),
            (
                "2020-03-04T23:30:00-05:00",
                "2020-03-05T04:30:00Z",
                "2020-03-05T04:30:01Z",
            ),
            (
                "2020-03-04T10:15:30.5Z",
                "2020-03-04T10:15:30.500000Z",
                "2020-03-04T10:15:30.600000Z",
            ),
            (
                "2020-03-04T10:15:30.123Z",
                "2020-03-04T10:15:30.123000Z",
                "2020-03-04T10:15:30.124000Z",
            ),
            (
                "2020-03-04T10:15:30.12345678Z",
                "2020-03-04T10:15:30.123456Z",
                "2020-03-04T10:15:30.123457Z",
            ),
            ("9999", "9999-01-01T00:00:00Z", "+10000-01-01T00:00:00Z"),
        ];
        for (input, low, high) in cases {
            assert_eq!(
                range(input),
                Ok((low.to_owned(), high.to_owned())),
                "{input}"
            );
        }
    }

    #[test]
    fn precision_is_reported() {
        let cases = [
            ("2020", DatePrecision::Year),
            ("2020-01", DatePrecision::Month),
            ("2020-01-01", DatePrecision::Day),
            ("2020-01-01T00:00", DatePrecision::Minute),
            ("2020-01-01T00:00:00Z", DatePrecision::Second),
            ("2020-01-01T00:00:00.12Z", DatePrecision::Fraction(2)),
        ];
        for (input, want) in cases {
            assert_eq!(parse_date(input).map(|v| v.precision), Ok(want), "{input}");
        }
    }

    #[test]
    fn malformed_dates_say_what_is_wrong() {
        let cases = [
            ("", "invalid date ``: empty date"),
            ("20", "invalid date `20`: year must be 4 digits, found `20`"),
            (
                "abcd",
                "invalid date `abcd`: year must be 4 digits, found `abcd`",
            ),
            (
                "2020-13",
                "invalid date `2020-13`: month 13 is not between 01 and 12",
            ),
            (
                "2020-1",
                "invalid date `2020-1`: month must be 2 digits, found `1`",
            ),
            (
                "2021-02-29",
                "invalid date `2021-02-29`: day 29 does not exist in 2021-02",
            ),
            (
                "2020-01-01-01",
                "invalid date `2020-01-01-01`: too many `-` separated date parts",
            ),
            (
                "2020-01T10:00",
                "invalid date `2020-01T10:00`: a time needs a full date (YYYY-MM-DDThh:mm)",
            ),
            (
                "2020-01-01T10",
                "invalid date `2020-01-01T10`: a time needs at least hours and minutes (hh:mm)",
            ),
            (
                "2020-01-01T24:00",
                "invalid date `2020-01-01T24:00`: time 24:00:00 is out of range",
            ),
            (
                "2020-01-01T10:00:00.Z",
                "invalid date `2020-01-01T10:00:00.Z`: fraction of a second `` must be digits",
            ),
            (
                "2020-01-01T10:00:00+0200",
                "invalid date `2020-01-01T10:00:00+0200`: time zone `+0200` must be ±hh:mm",
            ),
            (
                "2020-01-01T10:00:00+15:00",
                "invalid date `2020-01-01T10:00:00+15:00`: time zone `+15:00` is out of range",
            ),
            (
                "2020-01-01T10:00:00:00",
                "invalid date `2020-01-01T10:00:00:00`: too many `:` separated time parts",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(range(input), Err(want.to_owned()), "{input}");
        }
    }

    #[test]
    fn approximate_widens_by_a_tenth_of_the_distance_to_now() {
        let v = parse_date("2010-01-01")
            .map(|v| v.range)
            .map_err(|e| e.to_string());
        let now = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).single();
        let (Ok(v), Some(now)) = (v, now) else {
            panic!("fixture")
        };
        let ap = v.approximate(now);
        // 3651 days between the value's end and now: widened by 365 days 2h24m each side.
        assert_eq!(format_instant(ap.low), "2008-12-31T21:36:00Z");
        assert_eq!(format_instant(ap.high), "2011-01-02T02:24:00Z");
    }
}
