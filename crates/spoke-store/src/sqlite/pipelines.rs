//! Stored pipelines and their audit trail.

use rusqlite::params;
use spoke_core::ids::AccountId;
use spoke_core::object_type::ObjectTypeDef;
use spoke_core::pipeline::{Pipeline, PipelineAudit};
use spoke_core::time::Timestamp;

use super::SqliteStore;
use crate::StoreResult;

impl SqliteStore {
    pub(crate) async fn pipelines_impl(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
    ) -> StoreResult<Vec<Pipeline>> {
        let ot = object_type.object_type_id.0.as_str();
        self.reads.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT definition FROM pipelines WHERE account_id = ?1 AND object_type = ?2 ORDER BY id",
            )?;
            let rows = stmt.query_map(params![account.0, ot], |r| r.get::<_, String>(0))?;
            let mut out = Vec::new();
            for json in rows {
                out.push(serde_json::from_str(&json?)?);
            }
            Ok(out)
        })
    }

    pub(crate) async fn put_pipeline_impl(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
        pipeline: Pipeline,
        audit: PipelineAudit,
    ) -> StoreResult<()> {
        let ot = object_type.object_type_id.0.clone();
        self.writer
            .run(move |ctx| {
                ctx.conn
                    .prepare_cached(
                        "INSERT OR REPLACE INTO pipelines (account_id, object_type, id, definition)
                         VALUES (?1, ?2, ?3, ?4)",
                    )?
                    .execute(params![account.0, ot, pipeline.id, serde_json::to_string(&pipeline)?])?;
                ctx.conn
                    .prepare_cached(
                        "INSERT INTO pipeline_audits
                         (account_id, object_type, pipeline_id, seq, stage_id, action, timestamp, raw_object)
                         SELECT ?1, ?2, ?3, COALESCE(MAX(seq), 0) + 1, ?4, ?5, ?6, ?7 FROM pipeline_audits
                         WHERE account_id = ?1 AND object_type = ?2 AND pipeline_id = ?3",
                    )?
                    .execute(params![
                        account.0,
                        ot,
                        pipeline.id,
                        audit.stage_id.clone().unwrap_or_default(),
                        audit.action,
                        audit.timestamp.millis(),
                        audit.raw_object
                    ])?;
                Ok(())
            })
            .await
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
        self.reads.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT action, timestamp, raw_object FROM pipeline_audits
                 WHERE account_id = ?1 AND object_type = ?2 AND pipeline_id = ?3 AND stage_id = ?4
                 ORDER BY seq DESC",
            )?;
            let rows = stmt.query_map(params![account.0, ot, pipeline_id, stage], |r| {
                Ok(PipelineAudit {
                    action: r.get(0)?,
                    timestamp: Timestamp(r.get(1)?),
                    stage_id: stage_id.map(str::to_string),
                    raw_object: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }
}
