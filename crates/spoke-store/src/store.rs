use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use spoke_core::ids::{AccountId, AppId, ObjectId};
use spoke_core::object_type::ObjectTypeDef;
use spoke_core::owner::Owner;
use spoke_core::pipeline::{Pipeline, PipelineAudit};
use spoke_core::property::{PropertyDefinition, PropertyGroup};
use spoke_core::record::{HistoryEntry, ObjectRecord, WriteSource};
use spoke_core::schema::ObjectSchemaDef;
use spoke_core::search::SearchQuery;
use spoke_core::value::{PropertySet, PropertyWrites};

use crate::transfer::{Row, Table};
use crate::StoreResult;

/// How a batch write treats a failing input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchMode {
    /// The first failing input fails the whole call; nothing is written.
    AllOrNothing,
    /// Inputs succeed or fail on their own (HubSpot's 207 with `objectWriteTraceId`s).
    PerInput,
}

/// One association type between two records; the store writes it in both directions.
#[derive(Debug, Clone, PartialEq)]
pub struct AssociationLink {
    pub from_type: String,
    pub from_id: ObjectId,
    pub to_type: String,
    pub to_id: ObjectId,
    pub type_id: i64,
    pub category: String,
    pub inverse_type_id: i64,
}

/// A record to create, with the associations to create with it (their `from_id` is filled in
/// with the new record's id).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewObject {
    pub writes: PropertyWrites,
    pub associations: Vec<AssociationLink>,
}

/// An account's association label in one direction.
#[derive(Debug, Clone, PartialEq)]
pub struct AssociationLabel {
    pub from_type: String,
    pub to_type: String,
    pub type_id: i64,
    pub name: String,
    pub label: String,
    pub inverse_type_id: i64,
}

/// A configured limit: a record may have at most `max_to` targets of one association type.
#[derive(Debug, Clone, PartialEq)]
pub struct AssociationLimit {
    pub from_type: String,
    pub to_type: String,
    pub type_id: i64,
    pub max_to: i64,
}

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
    /// Whether other processes may write to this store (several Spoke nodes on one database):
    /// then in-process caches of definitions must be checked with [`Store::config_version`].
    fn shared(&self) -> bool {
        false
    }

    /// Starts what a serving process wants done in the background: the SQLite store fills its
    /// record cache (sqlite/warm_up.rs). Administrative commands do not call it.
    fn start_background_work(&self) {}

    /// A number that changes whenever the account's definitions (properties, groups, schemas,
    /// pipelines) change, through any node. A store only this process writes may return a
    /// constant: the server invalidates its caches itself after its own writes.
    async fn config_version(&self, _account: AccountId) -> StoreResult<i64> {
        Ok(0)
    }

    // --- accounts and tokens -------------------------------------------------------------

    /// Creates an account (portal) with a fresh id and its first owner (the account's user).
    async fn create_account(&self) -> StoreResult<AccountId>;

    /// Creates an account as [`Store::create_account`] does, but only when the store has none
    /// (atomically: of several processes starting on one empty store, one creates it).
    /// Returns the new account, or `None` when one existed.
    async fn create_first_account(&self) -> StoreResult<Option<AccountId>>;

    /// All accounts, oldest first.
    async fn accounts(&self) -> StoreResult<Vec<AccountId>>;

    /// Makes `token` valid for `account` (idempotent for the same token and account). Only a
    /// hash of the token is stored.
    async fn add_token(&self, account: AccountId, token: &str) -> StoreResult<AppId>;

    /// The account and app a token belongs to, if any.
    async fn authenticate(&self, token: &str) -> StoreResult<Option<Principal>>;

    // --- owners ----------------------------------------------------------------------------

    /// The account's owners, archived included, in id order.
    async fn owners(&self, account: AccountId) -> StoreResult<Vec<Owner>>;

    /// Inserts or replaces an owner.
    async fn put_owner(&self, account: AccountId, owner: Owner) -> StoreResult<()>;

    // --- property definitions ------------------------------------------------------------

    /// The account's stored definitions (custom and edited built-ins, archived included) and
    /// stored groups for one object type.
    async fn property_definitions(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
    ) -> StoreResult<(Vec<PropertyDefinition>, Vec<PropertyGroup>)>;

    /// Inserts new definitions, all or none, and the search index of each. A name that is already stored (live or archived)
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

    // --- custom object schemas ------------------------------------------------------------

    /// The account's custom object schemas, archived included, in id order.
    async fn object_schemas(&self, account: AccountId) -> StoreResult<Vec<ObjectSchemaDef>>;

    /// Creates a schema under a fresh id (the given one is ignored) with its property
    /// definitions, its default group and their search indexes, in one transaction. A name the
    /// account already uses (until purged) fails with `AlreadyExists`.
    async fn create_object_schema(
        &self,
        account: AccountId,
        schema: ObjectSchemaDef,
        group: PropertyGroup,
        properties: Vec<PropertyDefinition>,
    ) -> StoreResult<ObjectSchemaDef>;

    /// Replaces a schema's stored definition (updates, archive, association definitions).
    async fn put_object_schema(
        &self,
        account: AccountId,
        schema: ObjectSchemaDef,
    ) -> StoreResult<()>;

    /// Deletes a schema for good with its property definitions and groups, freeing its name.
    async fn purge_object_schema(&self, account: AccountId, id: i64) -> StoreResult<()>;

    // --- pipelines -----------------------------------------------------------------------

    /// The account's stored pipelines of one object type: edited defaults and its own ones,
    /// archived included.
    async fn pipelines(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
    ) -> StoreResult<Vec<Pipeline>>;

    /// Inserts or replaces a pipeline (stages included) and appends its audit entry, in one
    /// transaction.
    async fn put_pipeline(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
        pipeline: Pipeline,
        audit: PipelineAudit,
    ) -> StoreResult<()>;

    /// The audit entries of a pipeline (`stage_id` none) or of one of its stages, newest first.
    async fn pipeline_audits(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
        pipeline_id: &str,
        stage_id: Option<&str>,
    ) -> StoreResult<Vec<PipelineAudit>>;

    // --- associations ----------------------------------------------------------------------

    /// Writes association types (each in both directions), in one transaction. With
    /// `replace_pairs`, every type already between each named pair is removed first.
    async fn put_associations(
        &self,
        account: AccountId,
        links: Vec<AssociationLink>,
        replace_pairs: bool,
    ) -> StoreResult<()>;

    /// Removes associations between record pairs, in both directions: every type, or only the
    /// given `(type, inverse type)`s.
    async fn remove_associations(
        &self,
        account: AccountId,
        pairs: Vec<(ObjectId, ObjectId)>,
        types: Option<Vec<(i64, i64)>>,
    ) -> StoreResult<()>;

    /// A record's associations to one object type: live targets with id `>= after`, in id
    /// order, at most `limit` targets, each with its `(type id, category)`s.
    async fn associations_of(
        &self,
        account: AccountId,
        from_id: ObjectId,
        to_type: &str,
        after: i64,
        limit: usize,
    ) -> StoreResult<Vec<(ObjectId, Vec<(i64, String)>)>>;

    /// The account's association labels, every pair and direction.
    async fn association_labels(&self, account: AccountId) -> StoreResult<Vec<AssociationLabel>>;

    /// Inserts or replaces labels (both directions of one label at once).
    async fn put_association_labels(
        &self,
        account: AccountId,
        labels: Vec<AssociationLabel>,
    ) -> StoreResult<()>;

    /// Deletes a label (given by one direction) with its inverse, and every association of
    /// those types.
    async fn delete_association_label(
        &self,
        account: AccountId,
        label: AssociationLabel,
    ) -> StoreResult<()>;

    /// The account's association limits, every pair.
    async fn association_limits(&self, account: AccountId) -> StoreResult<Vec<AssociationLimit>>;

    /// Inserts or replaces limits.
    async fn put_association_limits(
        &self,
        account: AccountId,
        limits: Vec<AssociationLimit>,
    ) -> StoreResult<()>;

    /// Removes the limits of the given types of one pair.
    async fn delete_association_limits(
        &self,
        account: AccountId,
        from_type: &str,
        to_type: &str,
        type_ids: Vec<i64>,
    ) -> StoreResult<()>;

    // --- records -------------------------------------------------------------------------

    /// Creates one record per input, in order, in one transaction, with its associations.
    /// Sets the system properties. A unique value already held by another live record
    /// (or repeated within the inputs) is a [`crate::StoreError::UniqueConflict`] for that input.
    /// With [`BatchMode::AllOrNothing`] the first failing input fails the whole call and nothing
    /// is created; with [`BatchMode::PerInput`] each input succeeds or fails on its own.
    async fn create_objects(
        &self,
        account: AccountId,
        properties: Arc<PropertySet>,
        inputs: Vec<NewObject>,
        mode: BatchMode,
        source: WriteSource,
    ) -> StoreResult<Vec<StoreResult<ObjectRecord>>>;

    /// Applies partial updates to live records in one transaction, in order (checkbox appends
    /// resolved against the current value), bumps each last-modified date and appends history
    /// for every changed value. A missing or archived id is `Err(NotFound)` for that input only;
    /// any other failure (a unique clash) fails the whole call and changes nothing.
    async fn update_objects(
        &self,
        account: AccountId,
        properties: Arc<PropertySet>,
        inputs: Vec<(ObjectId, PropertyWrites)>,
        source: WriteSource,
    ) -> StoreResult<Vec<StoreResult<ObjectRecord>>>;

    /// For each input, updates the live record whose unique `id_property` has the given value,
    /// or creates one (the writes must set `id_property` to that value). One transaction, all or
    /// nothing. Returns each record with `true` when it was created.
    async fn upsert_objects(
        &self,
        account: AccountId,
        properties: Arc<PropertySet>,
        id_property: String,
        inputs: Vec<(String, PropertyWrites)>,
        source: WriteSource,
    ) -> StoreResult<Vec<(ObjectRecord, bool)>>;

    /// One record by id. An archived record is returned only when `archived` is true; with
    /// `archived` true a live record is returned as well (HubSpot's answer there is unconfirmed;
    /// returning it is the lenient choice). `properties`: what the caller returns, when it
    /// knows: the record may then carry just those (the SQLite store decodes only them from its
    /// cache), or all.
    async fn get_object(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
        id: ObjectId,
        archived: bool,
        properties: Option<&[String]>,
    ) -> StoreResult<Option<ObjectRecord>>;

    /// Records by id in the order asked, missing ones (and, unless `archived`, archived ones)
    /// left out; a repeated id is returned once. `properties` as for [`Store::get_object`].
    async fn get_objects(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
        ids: &[ObjectId],
        archived: bool,
        properties: Option<&[String]>,
    ) -> StoreResult<Vec<ObjectRecord>>;

    /// One page of records in id order: ids `>= after`, at most `limit`. Live records only, or
    /// archived ones only when `archived` (HubSpot's list semantics).
    async fn list_objects(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
        after: ObjectId,
        limit: usize,
        archived: bool,
    ) -> StoreResult<Vec<ObjectRecord>>;

    /// The live record whose unique-value `property` equals `value`, compared as search keys
    /// (strings case-insensitively, numbers numerically).
    async fn find_by_unique_value(
        &self,
        account: AccountId,
        properties: &PropertySet,
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

    /// Live records matching a compiled search, in the search's order, with the number of all
    /// matches (not just the page). Sees every write acknowledged before it started.
    async fn search_objects(
        &self,
        account: AccountId,
        properties: Arc<PropertySet>,
        query: SearchQuery,
    ) -> StoreResult<(usize, Vec<ObjectRecord>)>;

    /// Restores archived records (HubSpot's recycle bin, a UI action there): they, their unique
    /// values and their associations come back. A unique value another live record took in the
    /// meantime fails the call with `UniqueConflict`. Returns the ids restored.
    async fn restore_objects(
        &self,
        account: AccountId,
        properties: Arc<PropertySet>,
        ids: Vec<ObjectId>,
    ) -> StoreResult<Vec<ObjectId>>;

    // --- copying accounts between stores (see crate::transfer) --------------------------------

    /// One page of an account's rows of `table`, in this store's key order, after the key
    /// `after` (the first `table.key_len` cells of the last row of the previous page).
    async fn export_rows(
        &self,
        account: AccountId,
        table: Table,
        after: Option<Row>,
        limit: usize,
    ) -> StoreResult<Vec<Row>>;

    /// Inserts rows of `table` as they are, in one transaction; a row whose key exists fails
    /// the call. Derived data is rebuilt afterwards by [`Store::reindex_objects`].
    async fn import_rows(
        &self,
        account: AccountId,
        table: Table,
        rows: Vec<Row>,
    ) -> StoreResult<()>;

    /// Rebuilds the derived data (search keys, full-text words, unique values) of up to `limit`
    /// records of one type with ids above `after`, archived ones included; the first call of a
    /// type (`after` 0) also creates its search indexes.
    /// Returns the last id done, or `None` when there were none left.
    async fn reindex_objects(
        &self,
        account: AccountId,
        properties: Arc<PropertySet>,
        after: ObjectId,
        limit: usize,
    ) -> StoreResult<Option<ObjectId>>;

    /// Archives (soft-deletes) live records; ids that are missing or already archived are
    /// ignored. Archiving releases the records' unique values.
    async fn archive_objects(
        &self,
        account: AccountId,
        properties: Arc<PropertySet>,
        ids: Vec<ObjectId>,
    ) -> StoreResult<()>;
}
