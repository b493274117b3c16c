//! Shared server state: the store, the object type registry and two caches.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use spoke_core::ids::{AccountId, ObjectId, ObjectTypeId};
use spoke_core::object_type::{ObjectTypeDef, Registry};
use spoke_core::schema::ObjectSchemaDef;
use spoke_core::value::PropertySet;
use spoke_store::{Principal, Store};

use crate::error::{ApiError, ApiResult};

/// An account's custom object schemas, each with the object type it defines.
pub type Schemas = Vec<(ObjectSchemaDef, Arc<ObjectTypeDef>)>;

tokio::task_local! {
    /// The definitions versions one request has read, per account: each is read from a shared
    /// store once per request, however many caches the request consults (set by the auth
    /// middleware around every API handler).
    pub static REQUEST_VERSIONS: std::cell::RefCell<HashMap<AccountId, i64>>;
}

/// Cached values carry the account's definitions version they were read at (see
/// [`Store::config_version`]); a shared store's other nodes may change definitions at any time.
type DefinitionCache = RwLock<HashMap<(AccountId, ObjectTypeId), (i64, Arc<PropertySet>)>>;
type SchemaCache = RwLock<HashMap<AccountId, (i64, Arc<Schemas>)>>;

/// Handlers take the state by value (axum clones it for every request), so it is one `Arc`:
/// one reference count per clone rather than one per shared field. With four counters bumped
/// from both cores, cloning and dropping the state was ~3% of a GET's CPU in profiles at a
/// million contacts; now ~1%.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub store: Arc<dyn Store>,
    pub registry: &'static Registry,
    /// Search's result cap: HubSpot's 10,000, or `None` when `--unlimited-search` lifts it.
    pub search_cap: Option<usize>,
    /// Property definitions per (account, object type), rebuilt after this process changes them
    /// and, on a shared store, whenever the account's definitions version moves.
    definitions: DefinitionCache,
    /// Custom object types per account, with the object type each defines (same rules).
    schemas: SchemaCache,
    /// Token → principal. Tokens are never revoked today, so entries never go stale.
    tokens: RwLock<HashMap<String, Principal>>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// `search_cap`: HubSpot's 10,000 results ([`spoke_core::search::RESULT_CAP`]), or `None`.
    pub fn new(store: Arc<dyn Store>, search_cap: Option<usize>) -> AppState {
        AppState(Arc::new(Shared {
            store,
            registry: Registry::standard(),
            search_cap,
            definitions: Default::default(),
            schemas: Default::default(),
            tokens: Default::default(),
        }))
    }
}

impl Shared {
    /// Resolves `{objectType}` of a path: a standard type by plural or singular name or `0-x`,
    /// or one of the account's custom objects by `2-<n>`, `p<portalId>_<name>` or its bare name
    /// (unconfirmed in HubSpot). A custom object's bare name wins over a standard type's (so a
    /// custom "projects" is reachable as `projects`; the standard one stays reachable as `0-970`).
    /// Unknown → HubSpot's 400.
    pub async fn object_type(
        &self,
        account: AccountId,
        raw: &str,
    ) -> ApiResult<Arc<ObjectTypeDef>> {
        let lower = raw.to_ascii_lowercase();
        let schemas = self.schemas(account).await?;
        let custom = schemas.iter().filter(|(s, _)| !s.archived).find(|(s, _)| {
            lower == s.object_type_id()
                || lower == s.fully_qualified_name(account).to_ascii_lowercase()
                || lower == s.name.to_ascii_lowercase()
        });
        if let Some((_, def)) = custom {
            return Ok(Arc::clone(def));
        }
        self.registry
            .resolve(raw)
            .ok_or_else(|| ApiError::validation(format!("Unable to infer object type from: {raw}")))
    }

    /// The version cached definitions of `account` must carry to be used: a constant on a store
    /// only this process writes (it forgets its caches after its own writes), the stored
    /// version on a shared one (one indexed read).
    async fn config_version(&self, account: AccountId) -> ApiResult<i64> {
        if !self.store.shared() {
            return Ok(0);
        }
        // Within one request, one read: a definition written by this request itself has already
        // dropped the caches it changes, so they reload from the store anyway.
        if let Ok(Some(v)) = REQUEST_VERSIONS.try_with(|m| m.borrow().get(&account).copied()) {
            return Ok(v);
        }
        let v = self.store.config_version(account).await?;
        let _ = REQUEST_VERSIONS.try_with(|m| m.borrow_mut().insert(account, v));
        Ok(v)
    }

    /// The account's custom object schemas, archived included.
    pub async fn schemas(&self, account: AccountId) -> ApiResult<Arc<Schemas>> {
        let version = self.config_version(account).await?;
        if let Some((_, s)) = self
            .schemas
            .read()
            .ok()
            .and_then(|m| m.get(&account).cloned())
            .filter(|(v, _)| *v == version)
        {
            return Ok(s);
        }
        let stored = self.store.object_schemas(account).await?;
        let schemas: Arc<Schemas> = Arc::new(
            stored
                .into_iter()
                .map(|s| {
                    let def = Arc::new(s.to_type_def());
                    (s, def)
                })
                .collect(),
        );
        if let Ok(mut m) = self.schemas.write() {
            m.insert(account, (version, Arc::clone(&schemas)));
        }
        Ok(schemas)
    }

    /// Drops the cached schemas (and every cached definition set) of an account after a
    /// schema write.
    pub fn forget_schemas(&self, account: AccountId) {
        if let Ok(mut m) = self.schemas.write() {
            m.remove(&account);
        }
        if let Ok(mut m) = self.definitions.write() {
            m.retain(|(a, _), _| *a != account);
        }
    }

    /// The live property definitions of one object type in one account, with its pipelines
    /// (whose ids are the options of the pipeline and stage properties).
    pub async fn properties(
        &self,
        account: AccountId,
        object_type: &Arc<ObjectTypeDef>,
    ) -> ApiResult<Arc<PropertySet>> {
        let key = (account, object_type.object_type_id.clone());
        let version = self.config_version(account).await?;
        if let Some((_, set)) = self
            .definitions
            .read()
            .ok()
            .and_then(|m| m.get(&key).cloned())
            .filter(|(v, _)| *v == version)
        {
            return Ok(set);
        }
        let (stored, groups) = self
            .store
            .property_definitions(account, object_type)
            .await?;
        let pipelines = self.store.pipelines(account, object_type).await?;
        let set = Arc::new(
            PropertySet::new(Arc::clone(object_type), stored, groups).with_pipelines(pipelines),
        );
        if let Ok(mut m) = self.definitions.write() {
            m.insert(key, (version, Arc::clone(&set)));
        }
        Ok(set)
    }

    /// Rebuilds the search data (typed keys and full-text words) of every record of a type,
    /// archived ones included, after a definition change that alters them: a custom object's
    /// `searchableProperties`, or a property's type. Call it after the caches were dropped, so
    /// the set is built with the new definitions. It runs before the change's response, so the
    /// next search sees the records by the new definitions; it takes time proportional to the
    /// type's records: 2.2 s for 100,000 on the SQLite store on a 2-core machine.
    pub async fn reindex_records(
        &self,
        account: AccountId,
        object_type: &Arc<ObjectTypeDef>,
    ) -> ApiResult<()> {
        /// Records per writer transaction (other writes interleave between them).
        const PAGE: usize = 1000;
        let set = self.properties(account, object_type).await?;
        let mut after = ObjectId(0);
        while let Some(last) = self
            .store
            .reindex_objects(account, Arc::clone(&set), after, PAGE)
            .await?
        {
            after = last;
        }
        Ok(())
    }

    /// Drops the cached definitions of one object type after a definition or pipeline write.
    pub fn forget_properties(&self, account: AccountId, object_type: &ObjectTypeDef) {
        if let Ok(mut m) = self.definitions.write() {
            m.remove(&(account, object_type.object_type_id.clone()));
        }
    }

    pub async fn authenticate(&self, token: &str) -> ApiResult<Option<Principal>> {
        if let Some(p) = self.tokens.read().ok().and_then(|m| m.get(token).copied()) {
            return Ok(Some(p));
        }
        let found = self.store.authenticate(token).await?;
        if let (Some(p), Ok(mut m)) = (found, self.tokens.write()) {
            m.insert(token.to_string(), p);
        }
        Ok(found)
    }
}
