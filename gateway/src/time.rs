//! Unix seconds (how times are stored, portably across SQLite and PostgreSQL) and RFC 3339
//! (the library's formatting).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Whole seconds since the Unix epoch (0 before it, saturating far after it).
pub fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The current time in Unix seconds.
pub fn now() -> i64 {
    unix(SystemTime::now())
}

/// Unix seconds back to a time (negative values clamp to the epoch).
pub fn from_unix(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

/// `2026-01-01T00:00:00Z` (UTC, second precision; times before the epoch clamp to it).
pub fn rfc3339(secs: i64) -> String {
    store_notifications::clock::rfc3339(from_unix(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_767_225_600), "2026-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_533_204_620), "2018-08-02T10:10:20Z");
    }
}
