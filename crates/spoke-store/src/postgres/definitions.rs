//! Stored property definitions and groups, custom object schemas and pipelines. Every write
//! bumps the account's `config_version` so that other nodes reload their cached definitions.

use rand::Rng;
use spoke_core::ids::AccountId;
use spoke_core::object_type::ObjectTypeDef;
use spoke_core::pipeline::{Pipeline, PipelineAudit};
use spoke_core::property::{PropertyDefinition, PropertyGroup};
use spoke_core::schema::ObjectSchemaDef;
use spoke_core::time::Timestamp;

use super::search::create_search_index;
use super::{bump_config, in_tx, PostgresStore};
use crate::common::is_indexed;
use crate::{StoreError, StoreResult};

impl PostgresStore {
    async fn load_json<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> StoreResult<Vec<T>> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await?;
        let rows = client.query(&stmt, params).await?;
        rows.iter()
            .map(|r| Ok(serde_json::from_str(r.get::<_, &str>(0))?))
            .collect()
    }

    pub(crate) async fn property_definitions_impl(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
    ) -> StoreResult<(Vec<PropertyDefinition>, Vec<PropertyGroup>)> {
        let ot = object_type.object_type_id.0.as_str();
        // ORDER BY name COLLATE "C": the byte order SQLite uses, whatever the database's collation.
        let defs = self
            .load_json(
                "SELECT definition FROM property_definitions WHERE account_id = $1 AND object_type = $2
                 ORDER BY name COLLATE \"C\"",
                &[&account.0, &ot],
            )
            .await?;
        let groups = self
            .load_json(
                "SELECT definition FROM property_groups WHERE account_id = $1 AND object_type = $2
                 ORDER BY name COLLATE \"C\"",
                &[&account.0, &ot],
            )
            .await?;
        Ok((defs, groups))
    }

    pub(crate) async fn write_property_definitions(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
        definitions: Vec<PropertyDefinition>,
        create_only: bool,
    ) -> StoreResult<()> {
        let ot = object_type.object_type_id.0.clone();
        in_tx!(self, |tx| {
            for def in &definitions {
                let json = serde_json::to_string(def)?;
                let sql = if create_only {
                    "INSERT INTO property_definitions (account_id, object_type, name, definition)
                     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
                } else {
                    "INSERT INTO property_definitions (account_id, object_type, name, definition)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (account_id, object_type, name) DO UPDATE SET definition = EXCLUDED.definition"
                };
                let n = tx
                    .execute(sql, &[&account.0, &ot, &def.name, &json])
                    .await?;
                if n == 0 {
                    return Err(StoreError::AlreadyExists(def.name.clone()));
                }
                if create_only && is_indexed(def) {
                    create_search_index(&tx, &ot, &def.name).await?;
                }
            }
            bump_config(&tx, account).await
        })
    }

    pub(crate) async fn write_property_group(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
        group: PropertyGroup,
        create_only: bool,
    ) -> StoreResult<()> {
        let ot = object_type.object_type_id.0.clone();
        in_tx!(self, |tx| {
            let json = serde_json::to_string(&group)?;
            let sql = if create_only {
                "INSERT INTO property_groups (account_id, object_type, name, definition)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
            } else {
                "INSERT INTO property_groups (account_id, object_type, name, definition)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (account_id, object_type, name) DO UPDATE SET definition = EXCLUDED.definition"
            };
            let n = tx
                .execute(sql, &[&account.0, &ot, &group.name, &json])
                .await?;
            if n == 0 {
                return Err(StoreError::AlreadyExists(group.name.clone()));
            }
            bump_config(&tx, account).await
        })
    }

    pub(crate) async fn object_schemas_impl(
        &self,
        account: AccountId,
    ) -> StoreResult<Vec<ObjectSchemaDef>> {
        self.load_json(
            "SELECT definition FROM object_schemas WHERE account_id = $1 ORDER BY id",
            &[&account.0],
        )
        .await
    }

    pub(crate) async fn create_object_schema_impl(
        &self,
        account: AccountId,
        schema: ObjectSchemaDef,
        group: PropertyGroup,
        properties: Vec<PropertyDefinition>,
    ) -> StoreResult<ObjectSchemaDef> {
        in_tx!(self, |tx| {
            let mut schema = schema.clone();
            // Ids look like HubSpot's (`2-3465404`): 7 random digits; the name's unique index
            // (case-insensitive) decides between two nodes creating the same name.
            loop {
                schema.id = rand::rng().random_range(1_000_000..10_000_000);
                let taken = tx
                    .query_opt(
                        "SELECT id FROM object_schemas WHERE account_id = $1 AND lower(name) = lower($2)",
                        &[&account.0, &schema.name],
                    )
                    .await?;
                if taken.is_some() {
                    return Err(StoreError::AlreadyExists(schema.name.clone()));
                }
                let n = tx
                    .execute(
                        "INSERT INTO object_schemas (account_id, id, name, definition)
                         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                        &[
                            &account.0,
                            &schema.id,
                            &schema.name,
                            &serde_json::to_string(&schema)?,
                        ],
                    )
                    .await?;
                if n == 1 {
                    break;
                }
            }
            let ot = schema.object_type_id();
            tx.execute(
                "INSERT INTO property_groups (account_id, object_type, name, definition)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (account_id, object_type, name) DO UPDATE SET definition = EXCLUDED.definition",
                &[&account.0, &ot, &group.name, &serde_json::to_string(&group)?],
            )
            .await?;
            for def in &properties {
                tx.execute(
                    "INSERT INTO property_definitions (account_id, object_type, name, definition)
                     VALUES ($1, $2, $3, $4)",
                    &[&account.0, &ot, &def.name, &serde_json::to_string(def)?],
                )
                .await?;
                if is_indexed(def) {
                    create_search_index(&tx, &ot, &def.name).await?;
                }
            }
            bump_config(&tx, account).await?;
            Ok(schema)
        })
    }

    pub(crate) async fn put_object_schema_impl(
        &self,
        account: AccountId,
        schema: ObjectSchemaDef,
    ) -> StoreResult<()> {
        in_tx!(self, |tx| {
            let n = tx
                .execute(
                    "UPDATE object_schemas SET definition = $3 WHERE account_id = $1 AND id = $2",
                    &[&account.0, &schema.id, &serde_json::to_string(&schema)?],
                )
                .await?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            bump_config(&tx, account).await
        })
    }

    pub(crate) async fn purge_object_schema_impl(
        &self,
        account: AccountId,
        id: i64,
    ) -> StoreResult<()> {
        let ot = format!("2-{id}");
        in_tx!(self, |tx| {
            tx.execute(
                "DELETE FROM object_schemas WHERE account_id = $1 AND id = $2",
                &[&account.0, &id],
            )
            .await?;
            for table in ["property_definitions", "property_groups", "pipelines"] {
                // `table` is one of the constants above, never input.
                tx.execute(
                    &format!("DELETE FROM {table} WHERE account_id = $1 AND object_type = $2"),
                    &[&account.0, &ot],
                )
                .await?;
            }
            bump_config(&tx, account).await
        })
    }

    pub(crate) async fn pipelines_impl(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
    ) -> StoreResult<Vec<Pipeline>> {
        let ot = object_type.object_type_id.0.as_str();
        self.load_json(
            "SELECT definition FROM pipelines WHERE account_id = $1 AND object_type = $2
             ORDER BY id COLLATE \"C\"",
            &[&account.0, &ot],
        )
        .await
    }

    pub(crate) async fn put_pipeline_impl(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
        pipeline: Pipeline,
        audit: PipelineAudit,
    ) -> StoreResult<()> {
        let ot = object_type.object_type_id.0.clone();
        in_tx!(self, |tx| {
            // The upsert locks the pipeline's row, so two nodes' audit sequence numbers for one
            // pipeline never clash.
            tx.execute(
                "INSERT INTO pipelines (account_id, object_type, id, definition) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (account_id, object_type, id) DO UPDATE SET definition = EXCLUDED.definition",
                &[&account.0, &ot, &pipeline.id, &serde_json::to_string(&pipeline)?],
            )
            .await?;
            tx.execute(
                "INSERT INTO pipeline_audits
                 (account_id, object_type, pipeline_id, seq, stage_id, action, timestamp, raw_object)
                 SELECT $1, $2, $3, COALESCE(MAX(seq), 0) + 1, $4, $5, $6, $7 FROM pipeline_audits
                 WHERE account_id = $1 AND object_type = $2 AND pipeline_id = $3",
                &[
                    &account.0,
                    &ot,
                    &pipeline.id,
                    &audit.stage_id.clone().unwrap_or_default(),
                    &audit.action,
                    &audit.timestamp.millis(),
                    &audit.raw_object,
                ],
            )
            .await?;
            bump_config(&tx, account).await
        })
    }

    pub(crate) async fn pipeline_audits_impl(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
        pipeline_id: &str,
        stage_id: Option<&str>,
    ) -> StoreResult<Vec<PipelineAudit>> {
        let ot = object_type.object_type_id.0.as_str();
        let stage = stage_id.unwrap_or("");
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT action, timestamp, raw_object FROM pipeline_audits
                 WHERE account_id = $1 AND object_type = $2 AND pipeline_id = $3 AND stage_id = $4
                 ORDER BY seq DESC",
                &[&account.0, &ot, &pipeline_id, &stage],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| PipelineAudit {
                action: r.get(0),
                timestamp: Timestamp(r.get(1)),
                stage_id: stage_id.map(str::to_string),
                raw_object: r.get(2),
            })
            .collect())
    }
}
