//! An injectable clock, so time rules are tested at an exact instant, and the RFC 3339 format
//! the crate writes times in (status snapshots, event JSON).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where a store and the pipeline read the current time from.
///
/// [`Clock::system`] in production; [`Clock::fixed`] in tests, so a fixture signed years ago
/// verifies at the exact instant it was made for.
///
/// ```
/// use store_notifications::Clock;
/// let clock = Clock::from_unix(1_767_225_600);
/// assert_eq!(clock.unix(), 1_767_225_600);
/// ```
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> SystemTime + Send + Sync>);

impl Clock {
    /// The system's wall clock.
    pub fn system() -> Self {
        Clock(Arc::new(SystemTime::now))
    }

    /// A clock that always says `at`.
    pub fn fixed(at: SystemTime) -> Self {
        Clock(Arc::new(move || at))
    }

    /// A clock that always says `secs` seconds after the Unix epoch.
    pub fn from_unix(secs: u64) -> Self {
        Self::fixed(UNIX_EPOCH + Duration::from_secs(secs))
    }

    /// A clock that asks `f` each time.
    pub fn from_fn(f: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        Clock(Arc::new(f))
    }

    /// The current time.
    pub fn now(&self) -> SystemTime {
        (self.0)()
    }

    /// The current time in whole seconds since the Unix epoch (negative before it).
    pub fn unix(&self) -> i64 {
        unix_seconds(self.now())
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

/// A clock the test moves by hand: it reads `start` Unix seconds plus what the test adds to
/// the returned counter.
#[cfg(test)]
#[cfg_attr(not(any(feature = "google", feature = "amazon")), allow(dead_code))]
pub(crate) fn manual(start: u64) -> (Clock, Arc<std::sync::atomic::AtomicU64>) {
    use std::sync::atomic::{AtomicU64, Ordering};
    let now = Arc::new(AtomicU64::new(start));
    let read = Arc::clone(&now);
    let clock =
        Clock::from_fn(move || UNIX_EPOCH + Duration::from_secs(read.load(Ordering::SeqCst)));
    (clock, now)
}

/// Whole seconds since the Unix epoch, saturating far outside the representable range.
pub(crate) fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// The last second a time taken from a payload may name: 9999-12-31T23:59:59Z, the last one
/// RFC 3339's four-digit year can write (the pipeline's [`Event`](crate::Event) writes its
/// `occurred_at` so). Far below what `SystemTime` holds on every platform.
pub(crate) const MAX_PAYLOAD_UNIX_SECONDS: u64 = 253_402_300_799;

/// A payload's Unix seconds as a time; `None` before 1970 or after
/// [`MAX_PAYLOAD_UNIX_SECONDS`].
///
/// `UNIX_EPOCH + Duration` panics where `SystemTime` cannot hold the sum (on Windows already
/// for `i64::MAX` seconds), and a signed payload is still input: never add unchecked.
#[cfg_attr(not(feature = "stripe"), allow(dead_code))]
pub(crate) fn time_from_unix_seconds(secs: i64) -> Option<SystemTime> {
    let secs = u64::try_from(secs)
        .ok()
        .filter(|s| *s <= MAX_PAYLOAD_UNIX_SECONDS)?;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// A payload's Unix milliseconds as a time; `None` before 1970 or after
/// [`MAX_PAYLOAD_UNIX_SECONDS`] (see [`time_from_unix_seconds`]).
#[cfg_attr(
    not(any(feature = "amazon", feature = "apple", feature = "google")),
    allow(dead_code)
)]
pub(crate) fn time_from_unix_millis(ms: i64) -> Option<SystemTime> {
    let ms = u64::try_from(ms)
        .ok()
        .filter(|ms| ms / 1000 <= MAX_PAYLOAD_UNIX_SECONDS)?;
    UNIX_EPOCH.checked_add(Duration::from_millis(ms))
}

/// Formats a time as RFC 3339 in UTC with second precision, as this crate writes every time
/// it serialises (`occurred_at` of an [`Event`](crate::Event), the status snapshot's times):
/// use it to write times in the same form next to them. Sub-second parts are dropped.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use store_notifications::clock::rfc3339;
///
/// assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(1_767_225_600)), "2026-01-01T00:00:00Z");
/// assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_millis(951_782_400_999)), "2000-02-29T00:00:00Z");
/// ```
pub fn rfc3339(t: SystemTime) -> String {
    let secs = unix_seconds(t);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_clock_reports_its_instant() {
        assert_eq!(Clock::from_unix(42).unix(), 42);
    }

    #[test]
    fn payload_times_outside_1970_to_9999_are_absent() {
        let max = i64::try_from(MAX_PAYLOAD_UNIX_SECONDS).expect("fits");
        assert_eq!(time_from_unix_seconds(0), Some(UNIX_EPOCH));
        let last = time_from_unix_seconds(max).expect("9999-12-31T23:59:59Z");
        assert_eq!(rfc3339(last), "9999-12-31T23:59:59Z");
        for secs in [max + 1, i64::MAX, -1, i64::MIN] {
            assert_eq!(time_from_unix_seconds(secs), None, "{secs}");
        }
        assert_eq!(
            time_from_unix_millis(max * 1000 + 999),
            Some(last + Duration::from_millis(999))
        );
        for ms in [(max + 1) * 1000, i64::MAX, -1, i64::MIN] {
            assert_eq!(time_from_unix_millis(ms), None, "{ms}");
        }
    }

    #[test]
    fn rfc3339_matches_known_instants() {
        let at = |s| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(rfc3339(at(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(at(1_767_225_600)), "2026-01-01T00:00:00Z");
        assert_eq!(rfc3339(at(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(at(1_533_204_620)), "2018-08-02T10:10:20Z");
    }

    #[test]
    fn times_before_the_epoch_are_negative() {
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_secs(5)), -5);
    }
}
