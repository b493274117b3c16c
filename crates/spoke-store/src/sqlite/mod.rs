//! The SQLite store: one file in WAL mode beside a journal of record writes ([`journal`]), a
//! writer thread that journals record writes with group commit and an applier thread that
//! writes them (and every other write) to SQLite ([`writer`]), and a pool of read connections
//! that never wait for either.

mod accounts;
mod associations;
mod checkpoint;
mod column_search;
mod journal;
#[cfg(test)]
mod journal_tests;
mod objects;
mod page_cache;
mod pipelines;
mod plan;
mod properties;
mod read_pool;
mod record_cache;
mod record_ops;
mod schemas;
mod search;
mod sort_keys;
mod sort_walk;
mod text;
mod text_merge;
mod transfer;
mod wal_vfs;
mod warm_up;
mod writer;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicI64;
use std::sync::Arc;

use rusqlite::{Connection, OpenFlags};

use crate::migrations;
use crate::{StoreError, StoreResult};
use read_pool::ReadPool;
use record_cache::RecordCache;
pub use record_cache::DEFAULT_BUDGET_BYTES as DEFAULT_RECORD_CACHE_BYTES;
use writer::{JournalSide, WriteCtx, Writer};

/// How far an acknowledged write is guaranteed to survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Survives a crash or `kill -9` of the server: the journal's write (or SQLite's commit, in
    /// WAL mode with `synchronous=NORMAL`) is in the OS before the reply. A power loss may lose
    /// the last writes.
    #[default]
    Process,
    /// Survives power loss: the journal (or SQLite's WAL, `synchronous=FULL`) is fsynced before
    /// the reply.
    Full,
}

pub struct SqliteStore {
    /// Dropped first: it stops the background warm-up of the record cache (warm_up.rs).
    warm_up: std::sync::Mutex<warm_up::WarmUp>,
    path: PathBuf,
    reads: ReadPool,
    /// Live records for reads by id, kept by the writer (record_cache.rs).
    cache: Arc<RecordCache>,
    /// Numeric sort keys for sorted searches, kept by the writer (sort_keys.rs).
    sort_keys: Arc<sort_keys::SortKeys>,
    /// Dropped first: it writes what is journaled to SQLite before the journal is let go.
    writer: Writer,
    _checkpointer: checkpoint::Checkpointer,
    /// This process owns the journal (`None`: another one does, see journal.rs).
    _journal_lock: Option<journal::JournalLock>,
}

impl SqliteStore {
    /// Opens (creating if needed) the store file and applies pending migrations, with a record
    /// cache of the default size.
    pub fn open(path: &Path, durability: Durability) -> StoreResult<SqliteStore> {
        SqliteStore::open_with_cache(path, durability, DEFAULT_RECORD_CACHE_BYTES)
    }

    /// [`SqliteStore::open`] with a record cache of at most about `cache_bytes` (0: none).
    pub fn open_with_cache(
        path: &Path,
        durability: Durability,
        cache_bytes: usize,
    ) -> StoreResult<SqliteStore> {
        // The writer writes its WAL frames through wal_vfs (one write per commit); readers and
        // the checkpointer write no frames and use SQLite's default VFS.
        let conn = if setup() {
            Connection::open_with_flags_and_vfs(path, OpenFlags::default(), wal_vfs::VFS_NAME)?
        } else {
            Connection::open(path)?
        };
        configure(&conn)?;
        let sync = match durability {
            Durability::Process => "NORMAL",
            Durability::Full => "FULL",
        };
        // Checkpoints run on their own thread (checkpoint.rs). The WAL file keeps its size once
        // grown: truncating it after each reset cost ~8% of the writer's time while seeding.
        // The writer's BEGIN IMMEDIATE waits while the checkpointer restarts the WAL (holding
        // the write lock for as long as the copy-back takes, see checkpoint.rs).
        conn.execute_batch(&format!(
            "PRAGMA synchronous = {sync}; PRAGMA wal_autocheckpoint = 0;
             PRAGMA busy_timeout = 60000;"
        ))?;
        migrate(&conn)?;
        search::drop_retired_indexes(&conn)?;
        let mut indexed_types = HashSet::new();
        let mut text = text::PendingText::new();
        let journal_dir = journal::dir_of(path);
        let journal_lock = journal::JournalLock::try_take(&journal_dir)?;
        let journal = match &journal_lock {
            Some(_) => Some(recover_journal(
                &conn,
                path,
                &journal_dir,
                durability,
                &mut indexed_types,
                &mut text,
            )?),
            None => {
                tracing::info!(
                    journal = %journal_dir.display(),
                    "another process owns the store's journal: writing to SQLite directly"
                );
                None
            }
        };
        let next_object_id: i64 =
            conn.query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM objects", [], |r| {
                r.get(0)
            })?;
        let gate = Arc::new(checkpoint::WriterGate::default());
        let cache = Arc::new(RecordCache::new(cache_bytes));
        if journal.is_some() && next_object_id == 1 {
            // No record yet: every one will be created by this process's writer, which keeps
            // the cache's map of unique values complete (see `RecordCache::unique_complete`).
            cache.set_unique_complete();
        }
        let sort_keys = Arc::new(sort_keys::SortKeys::default());
        let writer = Writer::start(
            WriteCtx {
                conn,
                indexed_types,
                text,
                gate: gate.clone(),
                cache: cache.clone(),
                cache_changes: Vec::new(),
                sort_keys: sort_keys.clone(),
                sort_key_changes: Vec::new(),
                sort_key_forgets: Vec::new(),
                next_object_id: Arc::new(AtomicI64::new(next_object_id)),
            },
            journal,
        );
        Ok(SqliteStore {
            warm_up: std::sync::Mutex::default(),
            path: path.to_path_buf(),
            reads: ReadPool::new(path.to_path_buf()),
            cache,
            sort_keys,
            writer,
            _checkpointer: checkpoint::Checkpointer::start(path.to_path_buf(), gate),
            _journal_lock: journal_lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts filling the record cache from the store in the background (warm_up.rs): `spoke
    /// serve` calls it once it has opened the store. Start-up does not wait for it.
    pub fn start_warm_up(&self) {
        if let Ok(mut w) = self.warm_up.lock() {
            w.start(self.path.clone(), Arc::clone(&self.cache));
        }
    }
}

/// Applies the journal's writes that SQLite does not have (a process stopped before its
/// applier caught up: a crash, `kill -9`), then starts a new journal.
fn recover_journal(
    conn: &Connection,
    path: &Path,
    dir: &Path,
    durability: Durability,
    indexed_types: &mut HashSet<String>,
    text: &mut text::PendingText,
) -> StoreResult<JournalSide> {
    let applied: i64 =
        conn.query_row("SELECT applied_lsn FROM journal_progress", [], |r| r.get(0))?;
    let applied = u64::try_from(applied).unwrap_or(0);
    let recovered = journal::recover(dir, applied)?;
    if !recovered.ops.is_empty() {
        let started = std::time::Instant::now();
        for run in recovered.ops.chunks(writer::MAX_RUN) {
            let Some(last) = run.last().map(|op| op.lsn) else {
                continue;
            };
            // As the applier does: a record whose ops cannot be written is set aside, the rest
            // is applied (see writer.rs, `apply_run`).
            let mut written = Err(StoreError::Internal(String::new()));
            for isolate in [false, true] {
                written = conn
                    .execute_batch("BEGIN IMMEDIATE")
                    .map_err(StoreError::from)
                    .and_then(|()| {
                        let mut state = record_ops::ApplyState {
                            indexed_types: &mut *indexed_types,
                            text: &mut *text,
                        };
                        writer::write_ops(conn, &mut state, run, last, isolate)
                    })
                    .and_then(|failed| {
                        text.apply(conn)?;
                        conn.execute_batch("COMMIT")?;
                        Ok(failed)
                    });
                match &written {
                    Ok(_) => break,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot apply the journal's writes");
                        let _ = conn.execute_batch("ROLLBACK");
                        text.clear();
                    }
                }
            }
            let failed = written.map_err(|e| {
                StoreError::Internal(format!("cannot apply the journal's writes: {e}"))
            })?;
            if !failed.is_empty() {
                let ops: Vec<&record_ops::RecordOp> =
                    run.iter().filter(|op| failed.contains(&op.id)).collect();
                tracing::error!(records = ?failed, "journaled writes set aside in unapplied.log");
                journal::set_aside(dir, &ops)?;
            }
        }
        tracing::info!(
            writes = recovered.ops.len(),
            ms = started.elapsed().as_millis() as u64,
            "applied the journal's writes from the last run"
        );
    }
    journal::clear(dir)?;
    let next_lsn = recovered.last_lsn.max(applied) + 1;
    let restores_at_open = conn.query_row("SELECT count FROM record_restores", [], |r| r.get(0))?;
    Ok(JournalSide {
        journal: journal::Journal::start(dir, next_lsn, durability)?,
        conn: open_reader(path)?,
        applied: next_lsn - 1,
        next_lsn,
        restores_at_open,
    })
}

/// Process-wide SQLite set-up, before this crate opens its first connection: the page cache
/// (page_cache.rs), which must be in place before SQLite initialises, then the writer's VFS.
/// Returns whether that VFS is available.
pub(crate) fn setup() -> bool {
    if !page_cache::install() {
        tracing::warn!("SQLite started before Spoke's page cache could be installed");
    }
    wal_vfs::register()
}

fn configure(conn: &Connection) -> StoreResult<()> {
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 5000;
         PRAGMA cache_size = -262144;
         PRAGMA temp_store = MEMORY;",
    )?;
    Ok(())
}

pub(crate) fn open_reader(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )?;
    conn.execute_batch("PRAGMA busy_timeout = 5000; PRAGMA cache_size = -32768;")?;
    // Searches are prepared once per shape (their values are bound, see search.rs).
    conn.set_prepared_statement_cache_capacity(64);
    search::register_functions(&conn)?;
    Ok(conn)
}

/// Applies every migration newer than the file's `user_version`, each in its own transaction.
/// Refuses a file written by a newer Spoke.
fn migrate(conn: &Connection) -> StoreResult<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > migrations::latest() {
        return Err(StoreError::Internal(format!(
            "the store's schema version {current} is newer than this Spoke knows ({}); upgrade Spoke",
            migrations::latest()
        )));
    }
    for (version, sql) in migrations::SQLITE.iter().filter(|(v, _)| *v > current) {
        conn.execute_batch("BEGIN")?;
        let applied = conn
            .execute_batch(sql)
            .map_err(StoreError::from)
            .and_then(|()| {
                if *version == 2 {
                    search::move_keys_to_key_columns(conn)?;
                }
                Ok(conn.execute_batch(&format!("PRAGMA user_version = {version}; COMMIT;"))?)
            });
        if let Err(e) = applied {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
        tracing::info!(version, "applied migration");
    }
    Ok(())
}

mod store_impl {
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

    use super::SqliteStore;
    use crate::transfer::{Row, Table};
    use crate::{
        AssociationLabel, AssociationLimit, AssociationLink, BatchMode, NewObject, Principal,
        Store, StoreResult,
    };

    #[async_trait]
    impl Store for SqliteStore {
        fn start_background_work(&self) {
            self.start_warm_up();
        }
        async fn create_account(&self) -> StoreResult<AccountId> {
            self.create_account_impl().await
        }
        async fn create_first_account(&self) -> StoreResult<Option<AccountId>> {
            self.create_first_account_impl().await
        }
        async fn accounts(&self) -> StoreResult<Vec<AccountId>> {
            self.accounts_impl().await
        }
        async fn add_token(&self, account: AccountId, token: &str) -> StoreResult<AppId> {
            self.add_token_impl(account, token).await
        }
        async fn authenticate(&self, token: &str) -> StoreResult<Option<Principal>> {
            self.authenticate_impl(token).await
        }
        async fn owners(&self, account: AccountId) -> StoreResult<Vec<Owner>> {
            self.owners_impl(account).await
        }
        async fn put_owner(&self, account: AccountId, owner: Owner) -> StoreResult<()> {
            self.put_owner_impl(account, owner).await
        }
        async fn property_definitions(
            &self,
            account: AccountId,
            object_type: &ObjectTypeDef,
        ) -> StoreResult<(Vec<PropertyDefinition>, Vec<PropertyGroup>)> {
            self.property_definitions_impl(account, object_type).await
        }
        async fn create_property_definitions(
            &self,
            account: AccountId,
            object_type: &ObjectTypeDef,
            definitions: Vec<PropertyDefinition>,
        ) -> StoreResult<()> {
            self.write_property_definitions(account, object_type, definitions, true)
                .await
        }
        async fn put_property_definitions(
            &self,
            account: AccountId,
            object_type: &ObjectTypeDef,
            definitions: Vec<PropertyDefinition>,
        ) -> StoreResult<()> {
            self.write_property_definitions(account, object_type, definitions, false)
                .await
        }
        async fn create_property_group(
            &self,
            account: AccountId,
            object_type: &ObjectTypeDef,
            group: PropertyGroup,
        ) -> StoreResult<()> {
            self.write_property_group(account, object_type, group, true)
                .await
        }
        async fn put_property_group(
            &self,
            account: AccountId,
            object_type: &ObjectTypeDef,
            group: PropertyGroup,
        ) -> StoreResult<()> {
            self.write_property_group(account, object_type, group, false)
                .await
        }
        async fn create_objects(
            &self,
            account: AccountId,
            properties: Arc<PropertySet>,
            inputs: Vec<NewObject>,
            mode: BatchMode,
            source: WriteSource,
        ) -> StoreResult<Vec<StoreResult<ObjectRecord>>> {
            self.create_objects_impl(account, properties, inputs, mode, source)
                .await
        }
        async fn update_objects(
            &self,
            account: AccountId,
            properties: Arc<PropertySet>,
            inputs: Vec<(ObjectId, PropertyWrites)>,
            source: WriteSource,
        ) -> StoreResult<Vec<StoreResult<ObjectRecord>>> {
            self.update_objects_impl(account, properties, inputs, source)
                .await
        }
        async fn upsert_objects(
            &self,
            account: AccountId,
            properties: Arc<PropertySet>,
            id_property: String,
            inputs: Vec<(String, PropertyWrites)>,
            source: WriteSource,
        ) -> StoreResult<Vec<(ObjectRecord, bool)>> {
            self.upsert_objects_impl(account, properties, id_property, inputs, source)
                .await
        }
        async fn get_objects(
            &self,
            account: AccountId,
            object_type: &ObjectTypeDef,
            ids: &[ObjectId],
            archived: bool,
            properties: Option<&[String]>,
        ) -> StoreResult<Vec<ObjectRecord>> {
            self.get_objects_impl(account, object_type, ids, archived, properties)
                .await
        }
        async fn list_objects(
            &self,
            account: AccountId,
            object_type: &ObjectTypeDef,
            after: ObjectId,
            limit: usize,
            archived: bool,
        ) -> StoreResult<Vec<ObjectRecord>> {
            self.list_objects_impl(account, object_type, after, limit, archived)
                .await
        }
        async fn get_object(
            &self,
            account: AccountId,
            object_type: &ObjectTypeDef,
            id: ObjectId,
            archived: bool,
            properties: Option<&[String]>,
        ) -> StoreResult<Option<ObjectRecord>> {
            self.get_object_impl(account, object_type, id, archived, properties)
                .await
        }
        async fn find_by_unique_value(
            &self,
            account: AccountId,
            properties: &PropertySet,
            property: &str,
            value: &str,
        ) -> StoreResult<Option<ObjectId>> {
            self.find_by_unique_value_impl(account, properties, property, value)
                .await
        }
        async fn property_history(
            &self,
            account: AccountId,
            id: ObjectId,
            properties: &[String],
        ) -> StoreResult<BTreeMap<String, Vec<HistoryEntry>>> {
            self.property_history_impl(account, id, properties).await
        }
        async fn object_schemas(&self, account: AccountId) -> StoreResult<Vec<ObjectSchemaDef>> {
            self.object_schemas_impl(account).await
        }
        async fn create_object_schema(
            &self,
            account: AccountId,
            schema: ObjectSchemaDef,
            group: PropertyGroup,
            properties: Vec<PropertyDefinition>,
        ) -> StoreResult<ObjectSchemaDef> {
            self.create_object_schema_impl(account, schema, group, properties)
                .await
        }
        async fn put_object_schema(
            &self,
            account: AccountId,
            schema: ObjectSchemaDef,
        ) -> StoreResult<()> {
            self.put_object_schema_impl(account, schema).await
        }
        async fn purge_object_schema(&self, account: AccountId, id: i64) -> StoreResult<()> {
            self.purge_object_schema_impl(account, id).await
        }
        async fn put_associations(
            &self,
            account: AccountId,
            links: Vec<AssociationLink>,
            replace_pairs: bool,
        ) -> StoreResult<()> {
            self.put_associations_impl(account, links, replace_pairs)
                .await
        }
        async fn remove_associations(
            &self,
            account: AccountId,
            pairs: Vec<(ObjectId, ObjectId)>,
            types: Option<Vec<(i64, i64)>>,
        ) -> StoreResult<()> {
            self.remove_associations_impl(account, pairs, types).await
        }
        async fn associations_of(
            &self,
            account: AccountId,
            from_id: ObjectId,
            to_type: &str,
            after: i64,
            limit: usize,
        ) -> StoreResult<Vec<(ObjectId, Vec<(i64, String)>)>> {
            self.associations_of_impl(account, from_id, to_type, after, limit)
                .await
        }
        async fn association_labels(
            &self,
            account: AccountId,
        ) -> StoreResult<Vec<AssociationLabel>> {
            self.association_labels_impl(account).await
        }
        async fn put_association_labels(
            &self,
            account: AccountId,
            labels: Vec<AssociationLabel>,
        ) -> StoreResult<()> {
            self.put_association_labels_impl(account, labels).await
        }
        async fn delete_association_label(
            &self,
            account: AccountId,
            label: AssociationLabel,
        ) -> StoreResult<()> {
            self.delete_association_label_impl(account, label).await
        }
        async fn association_limits(
            &self,
            account: AccountId,
        ) -> StoreResult<Vec<AssociationLimit>> {
            self.association_limits_impl(account).await
        }
        async fn put_association_limits(
            &self,
            account: AccountId,
            limits: Vec<AssociationLimit>,
        ) -> StoreResult<()> {
            self.put_association_limits_impl(account, limits).await
        }
        async fn delete_association_limits(
            &self,
            account: AccountId,
            from_type: &str,
            to_type: &str,
            type_ids: Vec<i64>,
        ) -> StoreResult<()> {
            self.delete_association_limits_impl(account, from_type, to_type, type_ids)
                .await
        }
        async fn pipelines(
            &self,
            account: AccountId,
            object_type: &ObjectTypeDef,
        ) -> StoreResult<Vec<Pipeline>> {
            self.pipelines_impl(account, object_type).await
        }
        async fn put_pipeline(
            &self,
            account: AccountId,
            object_type: &ObjectTypeDef,
            pipeline: Pipeline,
            audit: PipelineAudit,
        ) -> StoreResult<()> {
            self.put_pipeline_impl(account, object_type, pipeline, audit)
                .await
        }
        async fn pipeline_audits(
            &self,
            account: AccountId,
            object_type: &ObjectTypeDef,
            pipeline_id: &str,
            stage_id: Option<&str>,
        ) -> StoreResult<Vec<PipelineAudit>> {
            self.pipeline_audits_impl(account, object_type, pipeline_id, stage_id)
                .await
        }
        async fn search_objects(
            &self,
            account: AccountId,
            properties: Arc<PropertySet>,
            query: SearchQuery,
        ) -> StoreResult<(usize, Vec<ObjectRecord>)> {
            self.search_objects_impl(account, properties, query).await
        }
        async fn restore_objects(
            &self,
            account: AccountId,
            properties: Arc<PropertySet>,
            ids: Vec<ObjectId>,
        ) -> StoreResult<Vec<ObjectId>> {
            self.restore_objects_impl(account, properties, ids).await
        }
        async fn export_rows(
            &self,
            account: AccountId,
            table: Table,
            after: Option<Row>,
            limit: usize,
        ) -> StoreResult<Vec<Row>> {
            self.export_rows_impl(account, table, after, limit).await
        }
        async fn import_rows(
            &self,
            account: AccountId,
            table: Table,
            rows: Vec<Row>,
        ) -> StoreResult<()> {
            self.import_rows_impl(account, table, rows).await
        }
        async fn reindex_objects(
            &self,
            account: AccountId,
            properties: Arc<PropertySet>,
            after: ObjectId,
            limit: usize,
        ) -> StoreResult<Option<ObjectId>> {
            self.reindex_objects_impl(account, properties, after, limit)
                .await
        }
        async fn archive_objects(
            &self,
            account: AccountId,
            properties: Arc<PropertySet>,
            ids: Vec<ObjectId>,
        ) -> StoreResult<()> {
            self.archive_objects_impl(account, properties, ids).await
        }
    }
}
