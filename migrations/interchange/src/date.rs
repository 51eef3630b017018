//! The dates other apps write, as milliseconds since the Unix epoch:
//! ISO 8601 in UTC (`2024-03-01T12:30:00.000Z`, Standard Notes and Joplin)
//! and Evernote's compact form (`20240301T123000Z`).

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn number(text: &str, from: usize, len: usize) -> Option<i64> {
    let part = text.get(from..from + len)?;
    part.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| part.parse().ok())
        .flatten()
}

/// An ISO 8601 date and time (UTC, or with an offset), or a date alone.
pub fn iso8601_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    let year = number(text, 0, 4)?;
    let month = number(text, 5, 2)?;
    let day = number(text, 8, 2)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let (mut seconds, mut millis, mut offset) = (0i64, 0i64, 0i64);
    if text.len() > 10 {
        let hour = number(text, 11, 2)?;
        let minute = number(text, 14, 2)?;
        let second = number(text, 17, 2).unwrap_or(0);
        seconds = hour * 3600 + minute * 60 + second;
        let mut rest = text.get(19..).unwrap_or_default();
        if let Some(fraction) = rest.strip_prefix('.') {
            let digits: String = fraction.chars().take_while(char::is_ascii_digit).collect();
            rest = fraction.get(digits.len()..).unwrap_or_default();
            millis = format!("{digits:0<3}").get(..3)?.parse().ok()?;
        }
        if let Some(sign @ ('+' | '-')) = rest.chars().next() {
            let hours = number(rest, 1, 2)?;
            let minutes = number(rest, 4, 2).or_else(|| number(rest, 3, 2))?;
            offset = (hours * 60 + minutes) * 60 * if sign == '-' { -1 } else { 1 };
        }
    }
    Some((days * 86_400 + seconds - offset) * 1000 + millis)
}

/// Evernote's `20240301T123000Z`.
pub fn enex_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    let iso = format!(
        "{}-{}-{}T{}:{}:{}Z",
        text.get(0..4)?,
        text.get(4..6)?,
        text.get(6..8)?,
        text.get(9..11)?,
        text.get(11..13)?,
        text.get(13..15)?
    );
    iso8601_ms(&iso)
}

/// Milliseconds as an ISO 8601 date and time in UTC (for export).
pub fn to_iso8601(ms: i64) -> String {
    let seconds = ms.div_euclid(1000);
    let days = seconds.div_euclid(86_400);
    let in_day = seconds.rem_euclid(86_400);
    // The inverse of `days_from_civil`.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_dates_other_apps_write() {
        assert_eq!(iso8601_ms("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(
            iso8601_ms("2024-03-01T12:30:00.250Z"),
            Some(1_709_296_200_250)
        );
        assert_eq!(
            iso8601_ms("2024-03-01T14:30:00+02:00"),
            Some(1_709_296_200_000)
        );
        assert_eq!(iso8601_ms("2024-03-01"), Some(1_709_251_200_000));
        assert_eq!(enex_ms("20240301T123000Z"), Some(1_709_296_200_000));
        assert_eq!(iso8601_ms("yesterday"), None);
        assert_eq!(iso8601_ms("2024-13-01"), None);
        assert_eq!(enex_ms("2024"), None);
        assert_eq!(to_iso8601(1_709_296_200_250), "2024-03-01T12:30:00Z");
        assert_eq!(to_iso8601(0), "1970-01-01T00:00:00Z");
    }
}
