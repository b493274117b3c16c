//! The one table of API operations: every operation of the HubSpot specs (`specs/`) has a route here,
//! either implemented or answering 501 in HubSpot's error shape. The router and the generated
//! coverage table (COVERAGE.md) are both built from it.

use axum::extract::Request;
use axum::http::Method;
use axum::response::Response;
use axum::routing::{on, MethodFilter, MethodRouter};

use crate::api::{
    associations, objects, objects_batch, owners, pipelines, properties, property_groups, schemas,
    search,
};
use crate::auth;
use crate::error::{ApiError, Category};
use crate::state::AppState;

pub struct Operation {
    pub method: Method,
    /// axum path pattern (same `{param}` syntax as the OpenAPI specs).
    pub path: String,
    /// The spec's operation (its `operationId` suffix, e.g. `getById`), for 501s and coverage.
    pub name: &'static str,
    pub implemented: bool,
    pub route: MethodRouter<AppState>,
}

fn filter(m: &Method) -> MethodFilter {
    match *m {
        Method::GET => MethodFilter::GET,
        Method::POST => MethodFilter::POST,
        Method::PUT => MethodFilter::PUT,
        Method::PATCH => MethodFilter::PATCH,
        Method::DELETE => MethodFilter::DELETE,
        _ => MethodFilter::GET,
    }
}

struct Table(Vec<Operation>);

impl Table {
    fn done<H, T>(&mut self, method: Method, path: impl Into<String>, name: &'static str, h: H)
    where
        H: axum::handler::Handler<T, AppState>,
        T: 'static,
    {
        let route = on(filter(&method), h);
        self.0.push(Operation {
            method,
            path: path.into(),
            name,
            implemented: true,
            route,
        });
    }

    fn todo(&mut self, method: Method, path: impl Into<String>, name: &'static str) {
        let route = on(filter(&method), move |req: Request| {
            not_implemented(req, name)
        });
        self.0.push(Operation {
            method,
            path: path.into(),
            name,
            implemented: false,
            route,
        });
    }
}

async fn not_implemented(req: Request, name: &'static str) -> Response {
    let message = format!("Spoke does not implement {name} yet.");
    auth::refuse(req, ApiError::new(Category::NotImplemented, message)).await
}

/// Every operation Spoke routes.
pub fn table() -> Vec<Operation> {
    use Method as M;
    let mut t = Table(Vec::new());

    // CRM Objects: v3 and the date-versioned twin (objects-v3.json, objects-2026-03.json).
    for base in ["/crm/v3/objects", "/crm/objects/2026-03"] {
        let one = format!("{base}/{{objectType}}/{{objectId}}");
        let all = format!("{base}/{{objectType}}");
        t.done(M::POST, all.clone(), "create", objects::create);
        t.done(M::GET, all.clone(), "getPage", objects::get_page);
        t.done(M::GET, one.clone(), "getById", objects::get_by_id);
        t.done(M::PATCH, one.clone(), "update", objects::update);
        t.done(M::DELETE, one, "archive", objects::archive);
        t.done(
            M::POST,
            format!("{all}/batch/read"),
            "batchRead",
            objects_batch::read,
        );
        t.done(
            M::POST,
            format!("{all}/batch/create"),
            "batchCreate",
            objects_batch::create,
        );
        t.done(
            M::POST,
            format!("{all}/batch/update"),
            "batchUpdate",
            objects_batch::update,
        );
        t.done(
            M::POST,
            format!("{all}/batch/upsert"),
            "batchUpsert",
            objects_batch::upsert,
        );
        t.done(
            M::POST,
            format!("{all}/batch/archive"),
            "batchArchive",
            objects_batch::archive,
        );
        t.done(
            M::POST,
            format!("{all}/search"),
            "doSearch",
            search::do_search,
        );
    }
    t.todo(M::POST, "/crm/v3/objects/{objectType}/merge", "merge");
    t.todo(M::POST, "/crm/v3/objects/{objectType}/gdpr-delete", "purge");

    // Properties v3 (properties-v3.json).
    let props = "/crm/v3/properties/{objectType}";
    t.done(M::GET, props, "getAll", properties::get_all);
    t.done(M::POST, props, "create", properties::create);
    t.done(
        M::POST,
        format!("{props}/batch/read"),
        "batchRead",
        properties::batch_read,
    );
    t.done(
        M::POST,
        format!("{props}/batch/create"),
        "batchCreate",
        properties::batch_create,
    );
    t.done(
        M::POST,
        format!("{props}/batch/archive"),
        "batchArchive",
        properties::batch_archive,
    );
    t.done(
        M::GET,
        format!("{props}/groups"),
        "groupsGetAll",
        property_groups::get_all,
    );
    t.done(
        M::POST,
        format!("{props}/groups"),
        "groupsCreate",
        property_groups::create,
    );
    let group = format!("{props}/groups/{{groupName}}");
    t.done(
        M::GET,
        group.clone(),
        "groupsGetByName",
        property_groups::get_by_name,
    );
    t.done(
        M::PATCH,
        group.clone(),
        "groupsUpdate",
        property_groups::update,
    );
    t.done(M::DELETE, group, "groupsArchive", property_groups::archive);
    let prop = format!("{props}/{{propertyName}}");
    t.done(M::GET, prop.clone(), "getByName", properties::get_by_name);
    t.done(M::PATCH, prop.clone(), "update", properties::update);
    t.done(M::DELETE, prop, "archive", properties::archive);

    // Schemas v3 (schemas-v3.json); `/crm/v3/schemas` is an older alias seen in client traffic.
    for base in ["/crm-object-schemas/v3/schemas", "/crm/v3/schemas"] {
        let one = format!("{base}/{{objectType}}");
        t.done(M::GET, base, "schemasGetAll", schemas::get_all);
        t.done(M::POST, base, "schemasCreate", schemas::create);
        t.done(
            M::POST,
            format!("{base}/batch/read"),
            "schemasBatchRead",
            schemas::batch_read,
        );
        t.done(M::GET, one.clone(), "schemasGetById", schemas::get_by_id);
        t.done(M::PATCH, one.clone(), "schemasUpdate", schemas::update);
        t.done(M::DELETE, one.clone(), "schemasArchive", schemas::archive);
        t.done(
            M::POST,
            format!("{one}/associations"),
            "createAssociation",
            schemas::create_association,
        );
        t.done(
            M::DELETE,
            format!("{one}/associations/{{associationIdentifier}}"),
            "archiveAssociation",
            schemas::archive_association,
        );
    }

    // Associations v4 records (associations-v4.json).
    let v4 = "/crm/v4/associations/{fromObjectType}/{toObjectType}";
    t.todo(
        M::POST,
        "/crm/v4/associations/usage/high-usage-report/{userId}",
        "highUsageReport",
    );
    t.done(
        M::POST,
        format!("{v4}/batch/archive"),
        "associationsBatchArchive",
        associations::batch_archive,
    );
    t.done(
        M::POST,
        format!("{v4}/batch/associate/default"),
        "associationsBatchCreateDefault",
        associations::batch_create_default,
    );
    t.done(
        M::POST,
        format!("{v4}/batch/create"),
        "associationsBatchCreate",
        associations::batch_create,
    );
    t.done(
        M::POST,
        format!("{v4}/batch/labels/archive"),
        "associationsBatchArchiveLabels",
        associations::batch_archive_labels,
    );
    t.done(
        M::POST,
        format!("{v4}/batch/read"),
        "associationsBatchRead",
        associations::batch_read,
    );
    let rec = "/crm/v4/objects/{objectType}/{objectId}/associations";
    t.done(
        M::PUT,
        "/crm/v4/objects/{objectType}/{objectId}/associations/default/{toObjectType}/{toObjectId}",
        "associationsCreateDefault",
        associations::create_default,
    );
    t.done(
        M::GET,
        format!("{rec}/{{toObjectType}}"),
        "associationsGetPage",
        associations::get_page,
    );
    t.done(
        M::PUT,
        format!("{rec}/{{toObjectType}}/{{toObjectId}}"),
        "associationsCreate",
        associations::create,
    );
    t.done(
        M::DELETE,
        format!("{rec}/{{toObjectType}}/{{toObjectId}}"),
        "associationsArchive",
        associations::archive,
    );

    // Association labels and limits (associations-schema-v4.json): the spec spells these
    // `/crm/associations/v4/…`, both SDKs `/crm/v4/associations/…`; both are served.
    for base in ["/crm/associations/v4", "/crm/v4/associations"] {
        let conf = format!("{base}/definitions/configurations");
        let pair = format!("{conf}/{{fromObjectType}}/{{toObjectType}}");
        use associations as a;
        t.done(
            M::GET,
            format!("{conf}/all"),
            "definitionConfigurationsGetAll",
            a::configurations_get_all,
        );
        t.done(
            M::GET,
            pair.clone(),
            "definitionConfigurationsGetPage",
            a::configurations_get_page,
        );
        let create = format!("{pair}/batch/create");
        t.done(
            M::POST,
            create,
            "definitionConfigurationsBatchCreate",
            a::configurations_batch_create,
        );
        let purge = format!("{pair}/batch/purge");
        t.done(
            M::POST,
            purge,
            "definitionConfigurationsBatchPurge",
            a::configurations_batch_purge,
        );
        let update = format!("{pair}/batch/update");
        t.done(
            M::POST,
            update,
            "definitionConfigurationsBatchUpdate",
            a::configurations_batch_update,
        );
        let labels = format!("{base}/{{fromObjectType}}/{{toObjectType}}/labels");
        t.done(
            M::GET,
            labels.clone(),
            "labelsGetAll",
            associations::labels_get_all,
        );
        t.done(
            M::PUT,
            labels.clone(),
            "labelsUpdate",
            associations::labels_update,
        );
        t.done(
            M::POST,
            labels.clone(),
            "labelsCreate",
            associations::labels_create,
        );
        t.done(
            M::DELETE,
            format!("{labels}/{{associationTypeId}}"),
            "labelsArchive",
            associations::labels_archive,
        );
    }

    // Pipelines v3 (pipelines-v3.json).
    let pipes = "/crm/v3/pipelines/{objectType}";
    let pipe = format!("{pipes}/{{pipelineId}}");
    let stage = format!("{pipe}/stages/{{stageId}}");
    t.done(M::GET, pipes, "pipelinesGetAll", pipelines::get_all);
    t.done(M::POST, pipes, "pipelinesCreate", pipelines::create);
    t.done(
        M::GET,
        pipe.clone(),
        "pipelinesGetById",
        pipelines::get_by_id,
    );
    t.done(M::PUT, pipe.clone(), "pipelinesReplace", pipelines::replace);
    t.done(M::PATCH, pipe.clone(), "pipelinesUpdate", pipelines::update);
    t.done(
        M::DELETE,
        pipe.clone(),
        "pipelinesArchive",
        pipelines::archive,
    );
    t.done(
        M::GET,
        format!("{pipe}/audit"),
        "pipelinesGetAudit",
        pipelines::get_audit,
    );
    t.done(
        M::GET,
        format!("{pipe}/stages"),
        "stagesGetAll",
        pipelines::stages_get_all,
    );
    t.done(
        M::POST,
        format!("{pipe}/stages"),
        "stagesCreate",
        pipelines::stages_create,
    );
    t.done(
        M::GET,
        stage.clone(),
        "stagesGetById",
        pipelines::stages_get_by_id,
    );
    t.done(
        M::PUT,
        stage.clone(),
        "stagesReplace",
        pipelines::stages_replace,
    );
    t.done(
        M::PATCH,
        stage.clone(),
        "stagesUpdate",
        pipelines::stages_update,
    );
    t.done(
        M::DELETE,
        stage.clone(),
        "stagesArchive",
        pipelines::stages_archive,
    );
    t.done(
        M::GET,
        format!("{stage}/audit"),
        "stagesGetAudit",
        pipelines::stages_get_audit,
    );

    // Owners v3 (owners-v3.json); the Python SDK lists owners with a trailing slash.
    t.done(M::GET, "/crm/v3/owners", "ownersGetPage", owners::get_page);
    t.done(M::GET, "/crm/v3/owners/", "ownersGetPage", owners::get_page);
    t.done(
        M::GET,
        "/crm/v3/owners/{ownerId}",
        "ownersGetById",
        owners::get_by_id,
    );

    // Webhooks v3 (webhooks-v3.json).
    let hooks = "/webhooks/v3/{appId}";
    t.todo(M::GET, format!("{hooks}/settings"), "settingsGetAll");
    t.todo(M::PUT, format!("{hooks}/settings"), "settingsConfigure");
    t.todo(M::DELETE, format!("{hooks}/settings"), "settingsClear");
    t.todo(
        M::GET,
        format!("{hooks}/subscriptions"),
        "subscriptionsGetAll",
    );
    t.todo(
        M::POST,
        format!("{hooks}/subscriptions"),
        "subscriptionsCreate",
    );
    t.todo(
        M::POST,
        format!("{hooks}/subscriptions/batch/update"),
        "subscriptionsUpdateBatch",
    );
    let sub = format!("{hooks}/subscriptions/{{subscriptionId}}");
    t.todo(M::GET, sub.clone(), "subscriptionsGetById");
    t.todo(M::PATCH, sub.clone(), "subscriptionsUpdate");
    t.todo(M::DELETE, sub, "subscriptionsArchive");

    t.0
}
