//! Durations written as text (`"10s"`, `"500ms"`, `"1m"`, `"1h 30m"`).

use std::time::Duration;

/// Parses a positive duration with humantime's units (`ms`, `s`, `m`, `h`,
/// …). Zero is refused: every duration in a connector file is a period, and
/// a zero period would spin.
pub fn parse_positive(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("empty duration".into());
    }
    let duration = humantime::parse_duration(trimmed)
        .map_err(|e| format!("{:?} is not a duration ({e})", text))?;
    if duration.is_zero() {
        return Err(format!("{text:?} is zero, the period must be positive"));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::parse_positive;
    use std::time::Duration;

    #[test]
    fn accepts_common_units() {
        assert_eq!(parse_positive("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_positive("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_positive("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_positive("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_positive(" 5s "), Ok(Duration::from_secs(5)));
    }

    #[test]
    fn refuses_unknown_units_bare_numbers_zero_and_empty() {
        let err = parse_positive("5 parsecs").unwrap_err();
        assert!(err.contains("\"5 parsecs\" is not a duration"), "{err}");
        assert!(err.contains("parsecs"), "{err}");
        assert!(parse_positive("10").is_err(), "a unit is required");
        assert!(parse_positive("0s").unwrap_err().contains("positive"));
        assert!(parse_positive("").is_err());
        assert!(parse_positive("-1s").is_err());
    }
}
