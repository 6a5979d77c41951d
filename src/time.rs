//! Durations and times as pulp-init reads and prints them: `60s` on the command line,
//! `1.2 s` in log lines.

use std::time::Duration;

/// `60s`, `500ms`, `2m`, `1.5s`, `1h`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 60s, 500ms, 2m)"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?} (use ms, s, m or h)"
            ))
        }
    };
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if d <= MAX => Ok(d),
        _ => Err(format!(
            "{text:?} is too long: give a duration from 0 to {MAX_TEXT} (ten years)"
        )),
    }
}

/// The longest duration any option takes: far beyond any real deadline, and far below
/// where adding it to a clock (`Instant`, a database time in milliseconds) overflows,
/// which panicked before (issue 15).
pub const MAX: Duration = Duration::from_secs(87_600 * 3600);
const MAX_TEXT: &str = "87600h";

/// A lock lease: renewed every third of it, so zero (or a few milliseconds) would spin.
pub fn parse_lease(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    if d < Duration::from_secs(1) {
        return Err(format!(
            "{text:?} is too short for a lease: give a duration from 1s to {MAX_TEXT}"
        ));
    }
    Ok(d)
}

/// `1.2 s`, `80 ms`.
pub fn human(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// A database time as RFC 3339 in UTC, to the millisecond: `2026-11-27T22:01:27.590Z`.
pub fn rfc3339(t: mongodb::bson::DateTime) -> String {
    let ms = t.timestamp_millis();
    let (secs, milli) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("60s").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert_eq!(parse_duration("87600h").unwrap(), MAX);
        for long in ["87601h", "18446744073709551615", "10000000000000000000"] {
            let e = parse_duration(long).unwrap_err();
            assert!(e.contains("from 0 to 87600h"), "{e}");
        }
        assert!(parse_lease("0").unwrap_err().contains("from 1s to 87600h"));
        assert!(parse_lease("500ms").is_err());
        assert_eq!(parse_lease("1s").unwrap(), Duration::from_secs(1));
    }

    #[test]
    fn rfc3339_times() {
        use mongodb::bson::DateTime;
        assert_eq!(
            rfc3339(DateTime::from_millis(0)),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            rfc3339(DateTime::from_millis(1_795_816_887_590)),
            "2026-11-27T22:01:27.590Z"
        );
        assert_eq!(
            rfc3339(DateTime::from_millis(951_782_400_000)),
            "2000-02-29T00:00:00.000Z"
        );
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_millis(80)), "80 ms");
        assert_eq!(human(Duration::from_millis(1250)), "1.2 s");
    }
}
