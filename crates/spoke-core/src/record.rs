//! A stored CRM record and its property history.

use std::collections::BTreeMap;

use crate::ids::ObjectId;
use crate::time::Timestamp;

/// A record as stored: every property value is a string (HubSpot's wire form), including the
/// system properties (`hs_object_id`, the create and last-modified dates).
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectRecord {
    pub id: ObjectId,
    pub properties: BTreeMap<String, String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub archived_at: Option<Timestamp>,
}

impl ObjectRecord {
    pub fn archived(&self) -> bool {
        self.archived_at.is_some()
    }
}

/// Where a write came from (`sourceType` / `sourceId` in `propertiesWithHistory`).
#[derive(Debug, Clone, PartialEq)]
pub struct WriteSource {
    /// `API` for every write through the HTTP API.
    pub source_type: String,
    /// The app of the token that wrote (HubSpot shows the private app's id here).
    pub source_id: Option<String>,
}

impl WriteSource {
    pub fn api(source_id: Option<String>) -> WriteSource {
        WriteSource {
            source_type: "API".to_string(),
            source_id,
        }
    }
}

/// One historical value of a property (`ValueWithTimestamp`).
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    pub value: String,
    pub timestamp: Timestamp,
    pub source_type: String,
    pub source_id: Option<String>,
}
