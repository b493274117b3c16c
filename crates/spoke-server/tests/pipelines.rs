//! Pipelines and stages over real HTTP, and records validated against them.

mod common;

use common::{assert_error, Server};
use serde_json::{json, Value};

#[tokio::test]
async fn seeded_defaults_and_deal_stage_validation() {
    let s = Server::start();
    let c = s.client();
    let r = c.get("/crm/v3/pipelines/deals").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let default = &r.body["results"][0];
    assert_eq!(default["id"], "default");
    assert_eq!(default["createdAt"], "1970-01-01T00:00:00.000Z");
    assert_eq!(default["stages"].as_array().unwrap().len(), 7);
    assert_eq!(
        default["stages"][5]["metadata"],
        json!({"isClosed": "true", "probability": "1.0"})
    );
    let t = c.get("/crm/v3/pipelines/0-5/0/stages").await;
    let ids: Vec<&str> = t.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["1", "2", "3", "4"]);

    // A deal moves through its pipeline's stages; a stage of no pipeline is refused.
    let deal = c
        .post("/crm/v3/objects/deals", json!({"properties": {"dealname": "D", "pipeline": "default", "dealstage": "appointmentscheduled"}}))
        .await;
    assert_eq!(deal.status, 201, "{}", deal.text);
    let id = deal.body["id"].as_str().unwrap();
    for stage in ["qualifiedtobuy", "contractsent", "closedwon"] {
        let r = c
            .patch(
                &format!("/crm/v3/objects/deals/{id}"),
                json!({"properties": {"dealstage": stage}}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = c
        .patch(
            &format!("/crm/v3/objects/deals/{id}"),
            json!({"properties": {"dealstage": "registered"}}),
        )
        .await;
    let e = assert_error(&r, 400, "VALIDATION_ERROR");
    assert_eq!(e["errors"][0]["code"], "INVALID_OPTION");
    assert_eq!(e["errors"][0]["context"]["propertyName"][0], "dealstage");

    // A second pipeline: its stages are valid only with it.
    let p = c
        .post(
            "/crm/v3/pipelines/deals",
            json!({"label": "Renewals", "displayOrder": 1, "stages": [
                {"label": "Open", "displayOrder": 0, "metadata": {"probability": 0.5}},
                {"label": "Won", "displayOrder": 1, "metadata": {"probability": "1.0"}, "stageId": "renewal_won"}
            ]}),
        )
        .await;
    assert_eq!(p.status, 201, "{}", p.text);
    let pid = p.body["id"].as_str().unwrap().to_string();
    assert_eq!(p.body["stages"][0]["metadata"]["probability"], "0.5");
    assert_eq!(p.body["stages"][1]["metadata"]["isClosed"], "true");
    let r = c
        .patch(
            &format!("/crm/v3/objects/deals/{id}"),
            json!({"properties": {"dealstage": "renewal_won"}}),
        )
        .await;
    let e = assert_error(&r, 400, "VALIDATION_ERROR");
    assert!(e["errors"][0]["message"].as_str().unwrap().starts_with(
        "renewal_won is not a valid pipeline stage ID. Valid options are: pipelineId=default : ["
    ));
    let r = c
        .patch(
            &format!("/crm/v3/objects/deals/{id}"),
            json!({"properties": {"pipeline": pid, "dealstage": "renewal_won"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The dealstage property's options follow the pipelines.
    let prop = c.get("/crm/v3/properties/deals/dealstage").await;
    assert!(prop.body["options"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["value"] == "renewal_won"));

    // Deleting a used stage with validation → STAGE_ID_IN_USE; without → archived.
    let r = c
        .delete(&format!(
            "/crm/v3/pipelines/deals/{pid}/stages/renewal_won?validateReferencesBeforeDelete=true"
        ))
        .await;
    let e = assert_error(&r, 400, "VALIDATION_ERROR");
    assert_eq!(e["subCategory"], "PipelineError.STAGE_ID_IN_USE");
    assert_eq!(e["context"]["objectIds"], json!([id]));
    assert_eq!(
        c.delete(&format!("/crm/v3/pipelines/deals/{pid}/stages/renewal_won"))
            .await
            .status,
        204
    );
    assert_error(
        &c.get(&format!("/crm/v3/pipelines/deals/{pid}/stages/renewal_won"))
            .await,
        404,
        "OBJECT_NOT_FOUND",
    );
    let audit = c
        .get(&format!(
            "/crm/v3/pipelines/deals/{pid}/stages/renewal_won/audit"
        ))
        .await;
    let actions: Vec<&str> = audit.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["UPDATE"]);
}

#[tokio::test]
async fn pipeline_crud_replace_and_audit() {
    let s = Server::start();
    let c = s.client();
    let body = json!({"label": "Support 2", "displayOrder": 3, "pipelineId": "support2", "stages": [
        {"label": "New", "displayOrder": 0, "metadata": {}, "stageId": "s2_new"},
        {"label": "Done", "displayOrder": 1, "metadata": {"ticketState": "CLOSED"}, "stageId": "s2_done"}
    ]});
    let r = c.post("/crm/v3/pipelines/tickets", body.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.body["stages"][1]["metadata"],
        json!({"isClosed": "true", "ticketState": "CLOSED"})
    );
    assert_error(
        &c.post("/crm/v3/pipelines/tickets", body).await,
        409,
        "CONFLICT",
    );
    let dup = json!({"label": "Support Pipeline", "displayOrder": 0, "stages": [{"label": "x", "displayOrder": 0, "metadata": {}}]});
    assert_error(
        &c.post("/crm/v3/pipelines/tickets", dup).await,
        400,
        "VALIDATION_ERROR",
    );
    let nostages = json!({"label": "Empty", "displayOrder": 0, "stages": []});
    assert_error(
        &c.post("/crm/v3/pipelines/tickets", nostages).await,
        400,
        "VALIDATION_ERROR",
    );
    let noprob = json!({"label": "P", "displayOrder": 0, "stages": [{"label": "x", "displayOrder": 0, "metadata": {}}]});
    assert_error(
        &c.post("/crm/v3/pipelines/deals", noprob).await,
        400,
        "VALIDATION_ERROR",
    );

    // A ticket in the new pipeline.
    let t = c
        .post("/crm/v3/objects/tickets", json!({"properties": {"subject": "s", "hs_pipeline": "support2", "hs_pipeline_stage": "s2_new"}}))
        .await;
    assert_eq!(t.status, 201, "{}", t.text);
    let bad = c
        .post("/crm/v3/objects/tickets", json!({"properties": {"subject": "s", "hs_pipeline": "0", "hs_pipeline_stage": "s2_new"}}))
        .await;
    assert_error(&bad, 400, "VALIDATION_ERROR");

    // PUT replaces the stage list; PATCH renames; DELETE archives; PATCH archived=false restores.
    let r = c
        .send(
            "PUT",
            "/crm/v3/pipelines/tickets/support2",
            Some(
                &json!({"label": "Support Two", "displayOrder": 2, "stages": [
                    {"label": "New", "displayOrder": 0, "metadata": {}, "stageId": "s2_new"},
                    {"label": "Triaged", "displayOrder": 1, "metadata": {}}
                ]})
                .to_string(),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let labels: Vec<&str> = r.body["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["New", "Triaged"]);
    let r = c
        .patch(
            "/crm/v3/pipelines/tickets/support2",
            json!({"label": "Support II"}),
        )
        .await;
    assert_eq!(r.body["label"], "Support II");
    assert_eq!(
        c.delete("/crm/v3/pipelines/tickets/support2").await.status,
        204
    );
    assert_error(
        &c.get("/crm/v3/pipelines/tickets/support2").await,
        404,
        "OBJECT_NOT_FOUND",
    );
    let all = c.get("/crm/v3/pipelines/tickets").await;
    assert_eq!(all.body["results"].as_array().unwrap().len(), 1);
    let r = c
        .patch(
            "/crm/v3/pipelines/tickets/support2",
            json!({"archived": false}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let audit = c.get("/crm/v3/pipelines/tickets/support2/audit").await;
    let actions: Vec<&str> = audit.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["UPDATE", "DELETE", "UPDATE", "UPDATE", "CREATE"]);
    assert!(audit.body["results"][0]["identifier"]
        .as_str()
        .unwrap()
        .ends_with(":support2"));
    let raw: Value =
        serde_json::from_str(audit.body["results"][0]["rawObject"].as_str().unwrap()).unwrap();
    assert_eq!(raw["label"], "Support II");
    // Stage CRUD.
    let st = c
        .post(
            "/crm/v3/pipelines/tickets/support2/stages",
            json!({"label": "Waiting", "displayOrder": 5, "metadata": {}}),
        )
        .await;
    assert_eq!(st.status, 201, "{}", st.text);
    let sid = st.body["id"].as_str().unwrap();
    let r = c
        .patch(
            &format!("/crm/v3/pipelines/tickets/support2/stages/{sid}"),
            json!({"metadata": {"ticketState": "CLOSED"}}),
        )
        .await;
    assert_eq!(r.body["metadata"]["ticketState"], "CLOSED");
    let r = c
        .send(
            "PUT",
            &format!("/crm/v3/pipelines/tickets/support2/stages/{sid}"),
            Some(&json!({"label": "Waiting 2", "displayOrder": 6, "metadata": {}}).to_string()),
        )
        .await;
    assert_eq!(r.body["label"], "Waiting 2");
}
