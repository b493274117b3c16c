use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use spoke_core::ids::{AccountId, AppId, ObjectId};
use spoke_core::object_type::ObjectTypeDef;
use spoke_core::property::{PropertyDefinition, PropertyGroup};
use spoke_core::record::{HistoryEntry, ObjectRecord, WriteSource};
use spoke_core::value::PropertyWrites;

use crate::StoreResult;

/// Who a token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub account: AccountId,
    pub app: AppId,
}

/// Spoke's storage interface. Every method is scoped to one account and is one transaction.
/// A write that returns `Ok` is durable to the configured level before it returns.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    // --- accounts and tokens -------------------------------------------------------------

    /// Creates an account (portal) with a fresh id.
    async fn create_account(&self) -> StoreResult<AccountId>;

    /// All accounts, oldest first.
    async fn accounts(&self) -> StoreResult<Vec<AccountId>>;

    /// Makes `token` valid for `account` (idempotent for the same token and account). Only a
    /// hash of the token is stored.
    async fn add_token(&self, account: AccountId, token: &str) -> StoreResult<AppId>;

    /// The account and app a token belongs to, if any.
    async fn authenticate(&self, token: &str) -> StoreResult<Option<Principal>>;

    // --- property definitions ------------------------------------------------------------

    /// The account's stored definitions (custom and edited built-ins, archived included) and
    /// stored groups for one object type.
    async fn property_definitions(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
    ) -> StoreResult<(Vec<PropertyDefinition>, Vec<PropertyGroup>)>;

    /// Inserts new definitions, all or none. A name that is already stored (live or archived)
    /// fails the call with [`crate::StoreError::AlreadyExists`].
    async fn create_property_definitions(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
        definitions: Vec<PropertyDefinition>,
    ) -> StoreResult<()>;

    /// Inserts or replaces definitions (updates, archives, edits of built-ins), all or none.
    async fn put_property_definitions(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
        definitions: Vec<PropertyDefinition>,
    ) -> StoreResult<()>;

    /// Inserts a new group; an existing stored name fails with `AlreadyExists`.
    async fn create_property_group(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
        group: PropertyGroup,
    ) -> StoreResult<()>;

    /// Inserts or replaces a group.
    async fn put_property_group(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
        group: PropertyGroup,
    ) -> StoreResult<()>;

    // --- records -------------------------------------------------------------------------

    /// Creates one record per input, in order, in one transaction: all are created or none.
    /// Sets the system properties and writes the first history entries. A unique value already
    /// held by another live record (or repeated within the inputs) fails the whole call with
    /// [`crate::StoreError::UniqueConflict`].
    async fn create_objects(
        &self,
        account: AccountId,
        object_type: Arc<ObjectTypeDef>,
        inputs: Vec<PropertyWrites>,
        source: WriteSource,
    ) -> StoreResult<Vec<ObjectRecord>>;

    /// Applies a partial update to a live record (checkbox appends resolved against its current
    /// value), bumps its last-modified date and appends history for every changed value.
    /// Missing or archived → `NotFound`; unique clash → `UniqueConflict`.
    async fn update_object(
        &self,
        account: AccountId,
        object_type: Arc<ObjectTypeDef>,
        id: ObjectId,
        writes: PropertyWrites,
        source: WriteSource,
    ) -> StoreResult<ObjectRecord>;

    /// One record by id. An archived record is returned only when `archived` is true; with
    /// `archived` true a live record is returned as well (HubSpot's answer there is unconfirmed;
    /// returning it is the lenient choice).
    async fn get_object(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
        id: ObjectId,
        archived: bool,
    ) -> StoreResult<Option<ObjectRecord>>;

    /// The live record whose unique-value `property` equals `value` (exact match; values are
    /// normalised before they are stored).
    async fn find_by_unique_value(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
        property: &str,
        value: &str,
    ) -> StoreResult<Option<ObjectId>>;

    /// History of the named properties of one record, newest first per property.
    async fn property_history(
        &self,
        account: AccountId,
        id: ObjectId,
        properties: &[String],
    ) -> StoreResult<BTreeMap<String, Vec<HistoryEntry>>>;

    /// Archives (soft-deletes) live records; ids that are missing or already archived are
    /// ignored. Archiving releases the records' unique values.
    async fn archive_objects(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
        ids: Vec<ObjectId>,
    ) -> StoreResult<()>;
}
