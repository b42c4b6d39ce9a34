//! Event time: milliseconds since the Unix epoch (UTC), RFC 3339 parsing and formatting.
//!
//! The engine keeps every time at millisecond resolution as an `i64` ([`Ts`]). Text input
//! follows RFC 3339 (`2026-03-01T10:15:00Z`, `2026-03-01T12:15:00.250+02:00`); digits past the
//! millisecond are truncated, not rounded, so that `…:00.9999Z` never moves into the next second.

use std::fmt;

/// A point in time: milliseconds since 1970-01-01T00:00:00Z.
pub type Ts = i64;

/// One second in milliseconds.
pub const SECOND: i64 = 1_000;
/// One minute in milliseconds.
pub const MINUTE: i64 = 60 * SECOND;
/// One hour in milliseconds.
pub const HOUR: i64 = 60 * MINUTE;
/// One day in milliseconds.
pub const DAY: i64 = 24 * HOUR;

/// Why a timestamp string was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeError {
    what: &'static str,
}

impl fmt::Display for TimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not an RFC 3339 time: {}", self.what)
    }
}

impl std::error::Error for TimeError {}

fn err(what: &'static str) -> TimeError {
    TimeError { what }
}

/// Days since the epoch of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The calendar date of a day number (inverse of [`days_from_civil`]).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn digits(&mut self, n: usize, what: &'static str) -> Result<i64, TimeError> {
        let end = self.i + n;
        if end > self.b.len() || !self.b[self.i..end].iter().all(u8::is_ascii_digit) {
            return Err(err(what));
        }
        let v = self.b[self.i..end]
            .iter()
            .fold(0i64, |acc, c| acc * 10 + i64::from(c - b'0'));
        self.i = end;
        Ok(v)
    }

    fn expect(&mut self, c: u8, what: &'static str) -> Result<(), TimeError> {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            Ok(())
        } else {
            Err(err(what))
        }
    }
}

/// Parses an RFC 3339 date-time into milliseconds since the epoch.
///
/// ```
/// use tropa::event::time::parse_rfc3339;
/// assert_eq!(parse_rfc3339("1970-01-01T00:00:01.5Z").unwrap(), 1500);
/// assert_eq!(parse_rfc3339("2026-03-01T12:15:00+02:00").unwrap(),
///            parse_rfc3339("2026-03-01T10:15:00Z").unwrap());
/// assert!(parse_rfc3339("2026-02-30T00:00:00Z").is_err());
/// ```
pub fn parse_rfc3339(s: &str) -> Result<Ts, TimeError> {
    let mut c = Cursor {
        b: s.as_bytes(),
        i: 0,
    };
    let year = c.digits(4, "expected a four-digit year")?;
    c.expect(b'-', "expected '-' after the year")?;
    let month = c.digits(2, "expected a two-digit month")?;
    c.expect(b'-', "expected '-' after the month")?;
    let day = c.digits(2, "expected a two-digit day")?;
    if !(1..=12).contains(&month) {
        return Err(err("month out of range"));
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(err("day out of range for the month"));
    }
    match c.b.get(c.i) {
        Some(b'T' | b't' | b' ') => c.i += 1,
        _ => return Err(err("expected 'T' between date and time")),
    }
    let hour = c.digits(2, "expected a two-digit hour")?;
    c.expect(b':', "expected ':' after the hour")?;
    let minute = c.digits(2, "expected two-digit minutes")?;
    c.expect(b':', "expected ':' after the minutes")?;
    let second = c.digits(2, "expected two-digit seconds")?;
    if hour > 23 || minute > 59 || second > 59 {
        return Err(err("hour, minute or second out of range"));
    }
    let mut millis = 0i64;
    if c.b.get(c.i) == Some(&b'.') {
        c.i += 1;
        let start = c.i;
        while c.b.get(c.i).is_some_and(u8::is_ascii_digit) {
            if c.i - start < 3 {
                millis = millis * 10 + i64::from(c.b[c.i] - b'0');
            }
            c.i += 1;
        }
        let n = c.i - start;
        if n == 0 {
            return Err(err("expected digits after '.'"));
        }
        for _ in n..3 {
            millis *= 10;
        }
    }
    let offset_min = match c.b.get(c.i) {
        Some(b'Z' | b'z') => {
            c.i += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            c.i += 1;
            let oh = c.digits(2, "expected a two-digit offset hour")?;
            c.expect(b':', "expected ':' in the offset")?;
            let om = c.digits(2, "expected two-digit offset minutes")?;
            if oh > 23 || om > 59 {
                return Err(err("offset out of range"));
            }
            let m = oh * 60 + om;
            if sign == b'-' {
                -m
            } else {
                m
            }
        }
        _ => return Err(err("expected 'Z' or an offset like +02:00")),
    };
    if c.i != c.b.len() {
        return Err(err("unexpected text after the time"));
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_min * 60;
    Ok(secs * 1000 + millis)
}

/// Formats milliseconds since the epoch as RFC 3339 in UTC with millisecond precision.
///
/// ```
/// use tropa::event::time::{format_rfc3339, parse_rfc3339};
/// let t = parse_rfc3339("2026-03-01T10:15:00.042Z").unwrap();
/// assert_eq!(format_rfc3339(t), "2026-03-01T10:15:00.042Z");
/// ```
pub fn format_rfc3339(ts: Ts) -> String {
    let days = ts.div_euclid(DAY);
    let rem = ts.rem_euclid(DAY);
    let (y, m, d) = civil_from_days(days);
    let h = rem / HOUR;
    let mi = (rem % HOUR) / MINUTE;
    let s = (rem % MINUTE) / SECOND;
    let ms = rem % SECOND;
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
}

/// Parses either an RFC 3339 string or a whole number of milliseconds (as text).
///
/// This is the form the command line takes for `--until`.
pub fn parse_time_arg(s: &str) -> Result<Ts, TimeError> {
    match s.parse::<i64>() {
        Ok(v) => Ok(v),
        Err(_) => parse_rfc3339(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_over_many_days() {
        for days in (-700_000..2_900_000).step_by(997) {
            let t = days * DAY + 12_345_678;
            assert_eq!(parse_rfc3339(&format_rfc3339(t)).unwrap(), t);
        }
    }

    #[test]
    fn known_values() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(
            parse_rfc3339("2026-03-01T10:15:00Z").unwrap(),
            1_772_360_100_000
        );
        assert_eq!(parse_rfc3339("2024-02-29T00:00:00Z").unwrap() % DAY, 0);
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00.123456Z").unwrap(), 123);
        assert_eq!(parse_rfc3339("1970-01-01T01:00:00+01:00").unwrap(), 0);
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59.999Z").unwrap(), -1);
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "2026-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2026-03-01 10:15:00",
            "2026-03-01T24:00:00Z",
            "2026-03-01T10:15:00.Z",
            "2026-03-01T10:15:00Zjunk",
            "2026-3-01T10:15:00Z",
            "2026-03-01T10:15:00+2:00",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad} should fail");
        }
    }
}
