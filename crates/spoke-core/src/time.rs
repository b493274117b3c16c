//! Timestamps. Stored as epoch milliseconds; rendered as ISO 8601 UTC with exactly three
//! fractional digits and `Z` (`2024-01-17T19:55:04.281Z`), the only form the SDKs' date parsers
//! and HubSpot's own responses agree on.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Timestamp {
        Timestamp(Utc::now().timestamp_millis())
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    /// `2024-01-17T19:55:04.281Z`.
    ///
    /// Written by hand for years 0–9999 (every response carries two: a GET spent ~1,700
    /// instructions of ~49,000 in chrono's formatter), with chrono beyond them; a test compares
    /// the two.
    pub fn to_iso(self) -> String {
        let millis = self.0.rem_euclid(1000);
        let secs = self.0.div_euclid(1000);
        let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
        if !(0..=9999).contains(&year) {
            return self.to_iso_chrono();
        }
        let of_day = secs.rem_euclid(86_400);
        let mut out = [0u8; 24];
        let mut put = |at: usize, n: i64, width: usize| {
            let mut n = n;
            for i in (0..width).rev() {
                out[at + i] = b'0' + (n % 10) as u8;
                n /= 10;
            }
        };
        put(0, year, 4);
        put(5, i64::from(month), 2);
        put(8, i64::from(day), 2);
        put(11, of_day / 3600, 2);
        put(14, of_day / 60 % 60, 2);
        put(17, of_day % 60, 2);
        put(20, millis, 3);
        out[4] = b'-';
        out[7] = b'-';
        out[10] = b'T';
        out[13] = b':';
        out[16] = b':';
        out[19] = b'.';
        out[23] = b'Z';
        // ASCII digits and separators only: always valid UTF-8.
        String::from_utf8(out.to_vec()).unwrap_or_else(|_| self.to_iso_chrono())
    }

    fn to_iso_chrono(self) -> String {
        match DateTime::<Utc>::from_timestamp_millis(self.0) {
            Some(dt) => dt.to_rfc3339_opts(SecondsFormat::Millis, true),
            None => "1970-01-01T00:00:00.000Z".to_string(),
        }
    }

    /// Parses an ISO 8601 instant: RFC 3339 with any offset, or a naive date-time / date taken as UTC.
    pub fn parse_iso(raw: &str) -> Option<Timestamp> {
        if let Ok(dt) = DateTime::parse_from_rfc3339(raw) {
            return Some(Timestamp(dt.timestamp_millis()));
        }
        for fmt in [
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%dT%H:%M",
        ] {
            if let Ok(naive) = chrono::NaiveDateTime::parse_from_str(raw, fmt) {
                return Some(Timestamp(naive.and_utc().timestamp_millis()));
            }
        }
        // `2020-02-29T03:30:17+0000` style offsets without a colon.
        for fmt in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z"] {
            if let Ok(dt) = DateTime::parse_from_str(raw, fmt) {
                return Some(Timestamp(dt.timestamp_millis()));
            }
        }
        NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|dt| Timestamp(dt.and_utc().timestamp_millis()))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_iso())
    }
}

/// Accepts the ISO form Spoke writes (and epoch milliseconds), for data Spoke stores as JSON.
impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Number(n) => n
                .as_i64()
                .map(Timestamp)
                .ok_or_else(|| serde::de::Error::custom("timestamp out of range")),
            serde_json::Value::String(s) => Timestamp::parse_iso(&s)
                .ok_or_else(|| serde::de::Error::custom(format!("invalid timestamp {s}"))),
            other => Err(serde::de::Error::custom(format!(
                "invalid timestamp {other}"
            ))),
        }
    }
}

/// The proleptic Gregorian (year, month, day) of a day count from 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    /// The hand-written ISO format agrees with chrono's, across eras, leap days and the ends of
    /// the range it covers.
    #[test]
    fn to_iso_agrees_with_chrono() {
        let mut samples: Vec<i64> = vec![
            0,
            -1,
            1,
            999,
            -999,
            -1000,
            951_782_400_000,     // 2000-02-29
            4_107_456_000_000,   // 2100-02-28
            253_402_300_799_999, // 9999-12-31T23:59:59.999
            -62_167_219_200_000, // 0000-01-01
            -62_167_219_200_001,
            253_402_300_800_000,
            1_705_521_304_281,
        ];
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            samples.push((x % 600_000_000_000_000) as i64 - 100_000_000_000_000);
        }
        for ms in samples {
            assert_eq!(
                Timestamp(ms).to_iso(),
                Timestamp(ms).to_iso_chrono(),
                "{ms}"
            );
        }
    }

    use super::*;

    #[test]
    fn renders_milliseconds_and_z() {
        assert_eq!(
            Timestamp(1572480000000).to_iso(),
            "2019-10-31T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp(1705521304281).to_iso(),
            "2024-01-17T19:55:04.281Z"
        );
    }

    #[test]
    fn parses_iso_forms() {
        assert_eq!(
            Timestamp::parse_iso("2020-02-29T03:30:17.000Z"),
            Some(Timestamp(1582947017000))
        );
        assert_eq!(
            Timestamp::parse_iso("2020-02-29T04:30:17+01:00"),
            Some(Timestamp(1582947017000))
        );
        assert_eq!(
            Timestamp::parse_iso("2020-02-29T03:30:17"),
            Some(Timestamp(1582947017000))
        );
        assert_eq!(
            Timestamp::parse_iso("2019-10-31"),
            Some(Timestamp(1572480000000))
        );
        assert_eq!(Timestamp::parse_iso("yesterday"), None);
    }
}
