//! Owners (owners-v3.json; reference/schemas-pipelines-owners.md §3): the users and queues
//! records can be assigned to through `hubspot_owner_id`. Read-only over the API; Spoke seeds
//! each account's own user and manages the rest with `spoke owners …`.

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// `PublicTeam`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublicTeam {
    pub id: String,
    pub name: String,
    pub primary: bool,
}

/// An owner as Spoke keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Owner {
    pub id: i64,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub user_id: i64,
    /// `PERSON` or `QUEUE`.
    #[serde(rename = "type")]
    pub owner_type: String,
    #[serde(default)]
    pub teams: Vec<PublicTeam>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default)]
    pub archived: bool,
}

/// `PublicOwner` as the API returns it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicOwner {
    pub id: String,
    pub email: String,
    #[serde(rename = "type")]
    pub owner_type: String,
    pub first_name: String,
    pub last_name: String,
    /// `null` for archived (deactivated) owners, as HubSpot sends it.
    pub user_id: Option<i64>,
    pub user_id_including_inactive: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub archived: bool,
    /// Omitted when the owner is in no team (HubSpot omits it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub teams: Vec<PublicTeam>,
}

impl From<&Owner> for PublicOwner {
    fn from(o: &Owner) -> Self {
        PublicOwner {
            id: o.id.to_string(),
            email: o.email.clone(),
            owner_type: o.owner_type.clone(),
            first_name: o.first_name.clone(),
            last_name: o.last_name.clone(),
            user_id: (!o.archived).then_some(o.user_id),
            user_id_including_inactive: o.user_id,
            created_at: o.created_at,
            updated_at: o.updated_at,
            archived: o.archived,
            teams: o.teams.clone(),
        }
    }
}
