//! Spoke's storage: the [`Store`] trait and its SQLite implementation.
//!
//! The trait is coarse on purpose: one call is one transaction (a batch of records is one call),
//! so each backend can implement it with its own transaction and grouping strategy.

mod error;
pub mod migrations;
pub mod sqlite;
mod store;

pub use error::{StoreError, StoreResult};
pub use sqlite::{Durability, SqliteStore};
pub use store::{
    AssociationLabel, AssociationLimit, AssociationLink, BatchMode, NewObject, Principal, Store,
};
