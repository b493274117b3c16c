//! Spoke's pure core: HubSpot's vocabulary as Rust types, with no IO.
//!
//! - [`ids`]: typed identifiers (accounts, object types, records, properties).
//! - [`time`]: epoch-millisecond timestamps rendered the way HubSpot renders them.
//! - [`object_type`]: the registry of HubSpot's standard object types and their built-in properties.
//! - [`property`]: property definitions, groups and the type/fieldType rules.
//! - [`value`]: validation and normalisation of record property values.
//! - [`record`]: a stored CRM record and its property history.
//! - [`wire`]: the JSON shapes of the HubSpot API (spec schema names, camelCase).

pub mod association;
pub mod ids;
pub mod object_type;
pub mod owner;
pub mod pipeline;
pub mod property;
pub mod record;
pub mod schema;
pub mod search;
pub mod time;
pub mod value;
pub mod wire;
