use spoke_core::ids::ObjectId;

/// What a store call can fail with. The server maps each to HubSpot's error body.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The record (or definition) does not exist in this account, or is archived.
    #[error("not found")]
    NotFound,
    /// A unique-value property already has this value on another live record.
    #[error("{property} value {value} already belongs to {existing}")]
    UniqueConflict {
        property: String,
        value: String,
        existing: ObjectId,
        on: Option<ObjectId>,
    },
    /// A definition with this name already exists.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The database aborted the transaction to resolve a race with another writer (deadlock,
    /// serialization failure); running it again normally succeeds. Stores retry it themselves.
    #[error("transient storage conflict: {0}")]
    Transient(String),
    /// Anything the database reported; never shown to clients beyond a generic message.
    #[error("storage error: {0}")]
    Internal(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Internal(e.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Internal(e.to_string())
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Internal(e.to_string())
    }
}
