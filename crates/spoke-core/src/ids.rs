//! Typed identifiers. Every stored row is keyed by an [`AccountId`] first (HubSpot's portal id).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A HubSpot account ("portal", "hub"). Appears as `portalId` and in custom object names `p{id}_…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AccountId(pub i64);

/// The app a token belongs to; recorded as `sourceId` in property history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AppId(pub i64);

/// A record id. HubSpot sends ids as decimal strings; they are unique per object type only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectId(pub i64);

impl ObjectId {
    /// Parses the decimal form HubSpot uses in paths and bodies (`"512"`). No sign, no spaces.
    pub fn parse(raw: &str) -> Option<ObjectId> {
        if raw.is_empty() || raw.len() > 18 || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        raw.parse().ok().map(ObjectId)
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An objectTypeId such as `0-1` (contacts) or `2-123` (a custom object).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectTypeId(pub String);

impl ObjectTypeId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ObjectTypeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The internal name of a property (`email`, `hs_object_id`, `property_date`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PropertyName(pub String);

impl PropertyName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PropertyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_ids_are_plain_decimal() {
        assert_eq!(ObjectId::parse("512"), Some(ObjectId(512)));
        assert_eq!(ObjectId::parse("+5"), None);
        assert_eq!(ObjectId::parse(""), None);
        assert_eq!(ObjectId::parse("a@b.com"), None);
        assert_eq!(ObjectId::parse("99999999999999999999"), None);
    }
}
