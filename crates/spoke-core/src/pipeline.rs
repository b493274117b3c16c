//! Pipelines and their stages (pipelines-v3.json; reference/schemas-pipelines-owners.md §2):
//! the model, HubSpot's seeded defaults for deals and tickets, and the rule that a record's
//! stage must belong to its pipeline.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::object_type::ObjectTypeDef;
use crate::time::Timestamp;
use crate::value::{ValueError, ValueErrorCode};

/// `PipelineStage`. Metadata values are strings (`"probability": "0.2"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineStage {
    pub id: String,
    pub label: String,
    pub display_order: i32,
    pub metadata: BTreeMap<String, String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub archived: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_permissions: Option<String>,
}

/// `Pipeline`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pipeline {
    pub id: String,
    pub label: String,
    pub display_order: i32,
    pub stages: Vec<PipelineStage>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub archived: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<Timestamp>,
}

impl Pipeline {
    pub fn live_stages(&self) -> impl Iterator<Item = &PipelineStage> {
        self.stages.iter().filter(|s| !s.archived)
    }

    pub fn stage(&self, id: &str) -> Option<&PipelineStage> {
        self.stages.iter().find(|s| s.id == id)
    }
}

/// One change to a pipeline or stage (`PublicAuditInfo` without the account fields).
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineAudit {
    /// `CREATE`, `UPDATE` or `DELETE`.
    pub action: String,
    pub timestamp: Timestamp,
    /// The stage the change was about; `None` for the pipeline itself.
    pub stage_id: Option<String>,
    /// The pipeline or stage after the change, as JSON.
    pub raw_object: String,
}

/// The record properties that hold a type's pipeline and stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipelineProperties {
    pub pipeline: &'static str,
    pub stage: &'static str,
}

/// Deals use `pipeline`/`dealstage`; tickets and the other pipelined types
/// `hs_pipeline`/`hs_pipeline_stage`.
pub fn pipeline_properties(ot: &ObjectTypeDef) -> Option<PipelineProperties> {
    if ot.object_type_id.as_str() == "0-3" {
        return Some(PipelineProperties {
            pipeline: "pipeline",
            stage: "dealstage",
        });
    }
    (ot.builtin_property("hs_pipeline").is_some()
        && ot.builtin_property("hs_pipeline_stage").is_some())
    .then_some(PipelineProperties {
        pipeline: "hs_pipeline",
        stage: "hs_pipeline_stage",
    })
}

/// The most stages a pipeline may have on this type.
pub fn max_stages(ot: &ObjectTypeDef) -> usize {
    match ot.name.as_str() {
        "appointments" | "courses" | "listings" | "leads" | "orders" | "services" => 30,
        _ => 100,
    }
}

fn stage(id: &str, label: &str, order: i32, meta: &[(&str, &str)]) -> PipelineStage {
    PipelineStage {
        id: id.into(),
        label: label.into(),
        display_order: order,
        metadata: meta
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        // HubSpot's default pipelines have createdAt 0 (sent as an ISO string: a number would
        // crash the Python SDK's date parser).
        created_at: Timestamp(0),
        updated_at: Timestamp(0),
        archived: false,
        archived_at: None,
        write_permissions: None,
    }
}

/// HubSpot's seeded pipelines: deals' `default` and tickets' `0`.
pub fn default_pipelines(ot: &ObjectTypeDef) -> Vec<Pipeline> {
    let (id, label, stages) = match ot.object_type_id.as_str() {
        "0-3" => (
            "default",
            "Sales Pipeline",
            vec![
                stage(
                    "appointmentscheduled",
                    "Appointment Scheduled",
                    0,
                    &[("probability", "0.2"), ("isClosed", "false")],
                ),
                stage(
                    "qualifiedtobuy",
                    "Qualified To Buy",
                    1,
                    &[("probability", "0.4"), ("isClosed", "false")],
                ),
                stage(
                    "presentationscheduled",
                    "Presentation Scheduled",
                    2,
                    &[("probability", "0.6"), ("isClosed", "false")],
                ),
                stage(
                    "decisionmakerboughtin",
                    "Decision Maker Bought-In",
                    3,
                    &[("probability", "0.8"), ("isClosed", "false")],
                ),
                stage(
                    "contractsent",
                    "Contract Sent",
                    4,
                    &[("probability", "0.9"), ("isClosed", "false")],
                ),
                stage(
                    "closedwon",
                    "Closed Won",
                    5,
                    &[("probability", "1.0"), ("isClosed", "true")],
                ),
                stage(
                    "closedlost",
                    "Closed Lost",
                    6,
                    &[("probability", "0.0"), ("isClosed", "true")],
                ),
            ],
        ),
        "0-5" => (
            "0",
            "Support Pipeline",
            vec![
                stage(
                    "1",
                    "New",
                    0,
                    &[("ticketState", "OPEN"), ("isClosed", "false")],
                ),
                stage(
                    "2",
                    "Waiting on contact",
                    1,
                    &[("ticketState", "OPEN"), ("isClosed", "false")],
                ),
                stage(
                    "3",
                    "Waiting on us",
                    2,
                    &[("ticketState", "OPEN"), ("isClosed", "false")],
                ),
                stage(
                    "4",
                    "Closed",
                    3,
                    &[("ticketState", "CLOSED"), ("isClosed", "true")],
                ),
            ],
        ),
        _ => return Vec::new(),
    };
    vec![Pipeline {
        id: id.into(),
        label: label.into(),
        display_order: 0,
        stages,
        created_at: Timestamp(0),
        updated_at: Timestamp(0),
        archived: false,
        archived_at: None,
    }]
}

/// Checks that a record's stage belongs to its pipeline after a write. `written` gives the
/// pipeline and stage the write sets (if it sets them); `current` the record's values before
/// the write (none on create).
pub fn check_stage(
    props: PipelineProperties,
    pipelines: &[Pipeline],
    written_pipeline: Option<&str>,
    written_stage: Option<&str>,
    current: Option<&BTreeMap<String, String>>,
) -> Result<(), ValueError> {
    if written_pipeline.is_none() && written_stage.is_none() {
        return Ok(());
    }
    let cur = |name: &str| {
        current
            .and_then(|c| c.get(name))
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let pipeline_id = written_pipeline
        .filter(|v| !v.is_empty())
        .or_else(|| cur(props.pipeline));
    let stage_id = written_stage
        .filter(|v| !v.is_empty())
        .or_else(|| cur(props.stage));
    let (Some(pipeline_id), Some(stage_id)) = (pipeline_id, stage_id) else {
        return Ok(());
    };
    let Some(pipeline) = pipelines
        .iter()
        .find(|p| p.id == pipeline_id && !p.archived)
    else {
        // An unknown pipeline id is reported by the option check of the pipeline property.
        return Ok(());
    };
    if pipeline.live_stages().any(|s| s.id == stage_id) {
        return Ok(());
    }
    let ids: Vec<&str> = pipeline.live_stages().map(|s| s.id.as_str()).collect();
    Err(ValueError {
        property: props.stage.to_string(),
        code: ValueErrorCode::InvalidOption,
        message: format!(
            "{stage_id} is not a valid pipeline stage ID. Valid options are: pipelineId={pipeline_id} : [{}]",
            ids.join(", ")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object_type::Registry;

    #[test]
    fn defaults_and_stage_check() {
        let deals = Registry::standard().resolve("deals").unwrap();
        let props = pipeline_properties(&deals).unwrap();
        let p = default_pipelines(&deals);
        assert_eq!(p[0].stages.len(), 7);
        assert!(check_stage(props, &p, Some("default"), Some("closedwon"), None).is_ok());
        let e = check_stage(props, &p, Some("default"), Some("registered"), None).unwrap_err();
        assert!(e.message.starts_with("registered is not a valid pipeline stage ID. Valid options are: pipelineId=default : [appointmentscheduled,"));
        let current: BTreeMap<String, String> =
            [("pipeline".to_string(), "default".to_string())].into();
        assert!(check_stage(props, &p, None, Some("nope"), Some(&current)).is_err());
        let tickets = Registry::standard().resolve("tickets").unwrap();
        assert_eq!(
            pipeline_properties(&tickets).unwrap().stage,
            "hs_pipeline_stage"
        );
        assert_eq!(default_pipelines(&tickets)[0].id, "0");
        let contacts = Registry::standard().resolve("contacts").unwrap();
        assert!(default_pipelines(&contacts).is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// Wire inputs (pipelines-v3.json)

/// Stage metadata as sent: values may be strings or, from hand-written clients, numbers and
/// booleans (stored as strings, as HubSpot does).
pub type MetadataInput = BTreeMap<String, serde_json::Value>;

/// `PipelineStageInput` (also `PipelineStageReplaceInput`, which lacks `stageId`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineStageInput {
    pub label: String,
    pub display_order: i32,
    #[serde(default)]
    pub metadata: MetadataInput,
    #[serde(default)]
    pub stage_id: Option<String>,
}

/// `PipelineInput` (also `PipelineReplaceInput`, which lacks `pipelineId`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineInput {
    pub label: String,
    pub display_order: i32,
    pub stages: Vec<PipelineStageInput>,
    #[serde(default)]
    pub pipeline_id: Option<String>,
}

/// `PipelinePatchInput`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelinePatchInput {
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub display_order: Option<i32>,
    #[serde(default)]
    pub archived: Option<bool>,
}

/// `PipelineStagePatchInput`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineStagePatchInput {
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub display_order: Option<i32>,
    #[serde(default)]
    pub metadata: Option<MetadataInput>,
    #[serde(default)]
    pub archived: Option<bool>,
}

/// `PublicAuditInfo`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicAuditInfo {
    pub identifier: String,
    pub portal_id: i64,
    pub action: String,
    pub timestamp: Timestamp,
    pub raw_object: String,
}
