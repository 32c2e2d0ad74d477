//! Durations as an operator writes them for `--stale-after` / `FHIRDIR_STALE_AFTER` (issue
//! 20: a network whose data is older than this is flagged `stale`; default
//! [`DEFAULT_STALE_AFTER`], "more than three months old").
//!
//! One whole number and one unit, nothing else: `90d`, `12h`, `30m`, `5s`. No fractions, no
//! combinations (`1d12h`), no unit-less numbers (is `90` days or seconds?), and no zero, which
//! would flag every network stale forever: each of those is more likely a mistake in a
//! configuration than a wish, and a startup error is cheaper to notice than wrong flags.

use std::time::Duration;

/// `--stale-after` when not given.
pub const DEFAULT_STALE_AFTER: &str = "90d";

/// [`DEFAULT_STALE_AFTER`] as a duration.
pub const DEFAULT_STALE_AFTER_DURATION: Duration = Duration::from_secs(90 * 86_400);

/// Parses a duration such as `90d`, `12h`, `30m` or `5s` (see the module documentation). The
/// error is a sentence for the operator.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let Some(unit) = text.chars().last() else {
        return Err("a duration cannot be empty; write e.g. `90d`, `12h`, `30m` or `5s`".into());
    };
    let seconds_per_unit: u64 = match unit {
        'd' => 86_400,
        'h' => 3_600,
        'm' => 60,
        's' => 1,
        _ => {
            return Err(format!(
                "`{text}` has no unit; end it with d (days), h (hours), m (minutes) or s (seconds), e.g. `90d`"
            ))
        }
    };
    let number = &text[..text.len() - unit.len_utf8()];
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "`{text}` is not a whole number followed by one unit (d, h, m or s), e.g. `90d`"
        ));
    }
    let seconds = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(seconds_per_unit))
        .ok_or_else(|| format!("`{text}` is too long a duration"))?;
    if seconds == 0 {
        return Err(format!(
            "`{text}` is zero, which would flag every network stale; give a positive duration"
        ));
    }
    Ok(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_unit_parses() {
        for (text, seconds) in [
            ("90d", 90 * 86_400),
            ("12h", 12 * 3_600),
            ("30m", 30 * 60),
            ("5s", 5),
            (" 1d ", 86_400),
            ("007s", 7),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs(seconds)),
                "{text}"
            );
        }
        assert_eq!(
            parse_duration(DEFAULT_STALE_AFTER),
            Ok(DEFAULT_STALE_AFTER_DURATION)
        );
    }

    #[test]
    fn malformed_durations_are_refused_with_a_reason() {
        for (text, reason) in [
            ("", "empty"),
            ("   ", "empty"),
            ("90", "no unit"),
            ("0", "no unit"),
            ("d", "whole number"),
            ("1.5d", "whole number"),
            ("-5s", "whole number"),
            ("+5s", "whole number"),
            ("1d12h", "whole number"),
            ("5 s", "whole number"),
            ("90D", "no unit"),
            ("3w", "no unit"),
            ("0d", "zero"),
            ("000s", "zero"),
            ("213503982334602d", "too long"),
            ("99999999999999999999s", "too long"),
        ] {
            let err = parse_duration(text).expect_err(text);
            assert!(err.contains(reason), "{text:?}: {err}");
        }
    }

    #[test]
    fn the_largest_duration_that_fits_is_accepted() {
        let max_days = u64::MAX / 86_400;
        assert_eq!(
            parse_duration(&format!("{max_days}d")),
            Ok(Duration::from_secs(max_days * 86_400))
        );
        assert!(parse_duration(&format!("{}d", max_days + 1)).is_err());
    }
}
