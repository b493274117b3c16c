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
    pub fn to_iso(self) -> String {
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

#[cfg(test)]
mod tests {
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
