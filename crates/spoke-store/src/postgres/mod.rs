//! The PostgreSQL store: the same [`Store`](crate::Store) contract as SQLite's, for several Spoke
//! nodes sharing one database. Every call is one transaction on a pooled connection; what SQLite
//! gets from its single writer (id allocation, unique values, ordered history) comes here from
//! the database: a sequence for ids, a constraint for unique values, row locks for updates.
//! Transactions that lose a deadlock or serialization race are run again (see [`in_tx!`]).

mod accounts;
mod associations;
mod definitions;
mod objects;
mod search;
mod transfer;

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

use crate::migrations;
use crate::{StoreError, StoreResult};

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// `postgres://user:password@host:port/database` (libpq's URL form).
    pub url: String,
    /// Connections this node keeps at most.
    pub pool_size: usize,
    /// How long start-up waits for the database to accept connections.
    pub wait: Duration,
    /// Whether a commit waits for PostgreSQL's WAL flush (`synchronous_commit`).
    pub synchronous_commit: bool,
}

pub struct PostgresStore {
    pool: Pool,
    /// Object types whose built-in search indexes this process has ensured (as SQLite's writer).
    indexed_types: Mutex<HashSet<String>>,
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.code() {
            Some(c)
                if *c == SqlState::T_R_SERIALIZATION_FAILURE
                    || *c == SqlState::T_R_DEADLOCK_DETECTED =>
            {
                StoreError::Transient(e.to_string())
            }
            _ => StoreError::Internal(match e.as_db_error() {
                Some(db) => format!("{}: {}", db.code().code(), db.message()),
                None => e.to_string(),
            }),
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => StoreError::Internal(format!("database pool: {other}")),
        }
    }
}

/// Runs `$body` (which uses the transaction `$tx`) in a transaction on a pooled connection and
/// commits it; a deadlock or serialization failure runs it again, up to five times. The body
/// may run more than once, so it must only read its inputs.
macro_rules! in_tx {
    ($store:expr, |$tx:ident| $body:expr) => {{
        let mut attempt = 0u32;
        loop {
            let mut client = $store.client().await?;
            let $tx = client.transaction().await?;
            let result: $crate::StoreResult<_> = async { $body }.await;
            let outcome = match result {
                Ok(v) => $tx
                    .commit()
                    .await
                    .map(|()| v)
                    .map_err($crate::StoreError::from),
                Err(e) => Err(e),
            };
            match outcome {
                Err($crate::StoreError::Transient(_)) if attempt < 5 => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(2 << attempt)).await;
                }
                other => break other,
            }
        }
    }};
}
pub(crate) use in_tx;

/// Bumps the account's definitions version (see the schema): other nodes drop their caches.
pub(crate) async fn bump_config(
    tx: &deadpool_postgres::Transaction<'_>,
    account: spoke_core::ids::AccountId,
) -> StoreResult<()> {
    tx.execute(
        "UPDATE accounts SET config_version = config_version + 1 WHERE id = $1",
        &[&account.0],
    )
    .await?;
    Ok(())
}

/// A lock number for `pg_advisory_xact_lock`: DDL (migrations, search indexes) runs under it so
/// that two nodes starting together do not race.
const DDL_LOCK: i64 = 0x5370_6f6b_6544_444c;

impl PostgresStore {
    /// Connects (waiting up to `options.wait` for the database to come up) and applies pending
    /// migrations. Refuses a database whose schema is newer than this Spoke.
    pub async fn connect(options: &PostgresOptions) -> StoreResult<PostgresStore> {
        let mut config: tokio_postgres::Config = options
            .url
            .parse()
            .map_err(|e| StoreError::Internal(format!("bad database URL: {e}")))?;
        // Custom plans always: statements are cached per connection, and a generic plan cannot
        // see how many ids an `= ANY($n)` array holds or how selective a search key is (it
        // picked hash joins over whole tables for single-record updates).
        let mut session = String::from("-c plan_cache_mode=force_custom_plan");
        if !options.synchronous_commit {
            session.push_str(" -c synchronous_commit=off");
        }
        config.options(&session);
        config.application_name("spoke");
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .build()
            .map_err(|e| StoreError::Internal(format!("database pool: {e}")))?;
        let store = PostgresStore {
            pool,
            indexed_types: Mutex::new(HashSet::new()),
        };
        store.wait_for_database(&config, options.wait).await?;
        store.migrate().await?;
        search::drop_retired_indexes(&store.pool).await?;
        tokio::spawn(keep_statistics_fresh(store.pool.clone()));
        Ok(store)
    }

    async fn wait_for_database(
        &self,
        config: &tokio_postgres::Config,
        wait: Duration,
    ) -> StoreResult<()> {
        let deadline = Instant::now() + wait;
        let target = describe(config);
        let mut logged = false;
        loop {
            let attempt = async {
                let client = self.pool.get().await?;
                client.simple_query("SELECT 1").await?;
                StoreResult::Ok(())
            };
            match attempt.await {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() < deadline => {
                    if !logged {
                        tracing::warn!("waiting for PostgreSQL at {target}: {e}");
                        logged = true;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => {
                    return Err(StoreError::Internal(format!(
                        "PostgreSQL at {target} did not accept a connection within {} s: {e}",
                        wait.as_secs()
                    )))
                }
            }
        }
    }

    /// Applies every migration newer than the database's, one transaction each, under an
    /// advisory lock (several nodes may start at once).
    async fn migrate(&self) -> StoreResult<()> {
        let mut client = self.pool.get().await?;
        loop {
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&DDL_LOCK])
                .await?;
            let exists: bool = tx
                .query_one(
                    "SELECT to_regclass('spoke_schema_version') IS NOT NULL",
                    &[],
                )
                .await?
                .get(0);
            if !exists {
                tx.batch_execute("CREATE TABLE spoke_schema_version (version BIGINT NOT NULL)")
                    .await?;
            }
            let current: i64 = tx
                .query_one(
                    "SELECT COALESCE(MAX(version), 0) FROM spoke_schema_version",
                    &[],
                )
                .await?
                .get(0);
            if current > migrations::latest() {
                return Err(StoreError::Internal(format!(
                    "the database's schema version {current} is newer than this Spoke knows ({}); upgrade Spoke",
                    migrations::latest()
                )));
            }
            let Some((version, sql)) = migrations::POSTGRES.iter().find(|(v, _)| *v > current)
            else {
                tx.commit().await?;
                return Ok(());
            };
            tx.batch_execute(sql).await?;
            tx.execute(
                "INSERT INTO spoke_schema_version (version) VALUES ($1)",
                &[version],
            )
            .await?;
            tx.commit().await?;
            tracing::info!(version, "applied migration");
        }
    }

    pub(crate) async fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        Ok(self.pool.get().await?)
    }

    /// The database's collation, for the start-up check in the server (string sorts follow it;
    /// `C` gives SQLite's byte order).
    pub async fn collation(&self) -> StoreResult<String> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT datcollate FROM pg_database WHERE datname = current_database()",
                &[],
            )
            .await?;
        Ok(row.get(0))
    }
}

/// Runs `ANALYZE` on Spoke's large tables when many of their rows changed since the last one.
/// Statements are planned from the tables' statistics (which search index is selective, whether
/// walking ids in order finds a page early, whether an array of keys is an index range);
/// PostgreSQL's autovacuum refreshes them only after 10% of a table changed and at most once a
/// minute, so right after a bulk load plans could scan whole tables (measured: 150 instead of
/// 5,000 searches/s at 20k contacts).
async fn keep_statistics_fresh(pool: Pool) {
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let Ok(client) = pool.get().await else {
            continue;
        };
        // Also when a statistics object of `objects` has never been computed (a search index
        // was just created, see search.rs).
        let stale = client
            .query(
                "SELECT relname::text FROM pg_stat_user_tables
                 WHERE schemaname = current_schema()
                   AND relname IN ('objects', 'unique_values', 'object_words', 'property_history',
                                   'associations')
                   AND (n_mod_since_analyze > 1000 + n_live_tup / 20
                        OR (relname = 'objects' AND EXISTS (
                            SELECT 1 FROM pg_statistic_ext e
                            LEFT JOIN pg_statistic_ext_data d ON d.stxoid = e.oid
                            WHERE e.stxrelid = 'objects'::regclass AND d.stxoid IS NULL)))",
                &[],
            )
            .await;
        for row in stale.unwrap_or_default() {
            let table: String = row.get(0);
            // `table` is one of the constant names above.
            if let Err(e) = client.batch_execute(&format!("ANALYZE {table}")).await {
                tracing::warn!("ANALYZE {table}: {e}");
            }
        }
    }
}

/// `host:port/database` of a URL, for messages (never the password).
pub fn describe_url(url: &str) -> String {
    match url.parse::<tokio_postgres::Config>() {
        Ok(c) => describe(&c),
        Err(_) => "(unparsable database URL)".into(),
    }
}

/// `host:port/database` of a config, for messages (never the password).
fn describe(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(s) => s.clone(),
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{host}:{port}/{}",
        config.get_dbname().unwrap_or("(default database)")
    )
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

    use super::PostgresStore;
    use crate::transfer::{Row, Table};
    use crate::{
        AssociationLabel, AssociationLimit, AssociationLink, BatchMode, NewObject, Principal,
        Store, StoreResult,
    };

    #[async_trait]
    impl Store for PostgresStore {
        fn shared(&self) -> bool {
            true
        }
        async fn config_version(&self, account: AccountId) -> StoreResult<i64> {
            self.config_version_impl(account).await
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
        async fn get_object(
            &self,
            account: AccountId,
            object_type: &ObjectTypeDef,
            id: ObjectId,
            archived: bool,
            _properties: Option<&[String]>,
        ) -> StoreResult<Option<ObjectRecord>> {
            self.get_object_impl(account, object_type, id, archived)
                .await
        }
        async fn get_objects(
            &self,
            account: AccountId,
            object_type: &ObjectTypeDef,
            ids: &[ObjectId],
            archived: bool,
            _properties: Option<&[String]>,
        ) -> StoreResult<Vec<ObjectRecord>> {
            self.get_objects_impl(account, object_type, ids, archived)
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
            self.archive_objects_impl(account, &properties.object_type, ids)
                .await
        }
    }
}
