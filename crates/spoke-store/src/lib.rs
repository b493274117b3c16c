//! Spoke's storage: the [`Store`] trait and its two implementations, SQLite (one process, the
//! default) and PostgreSQL (several nodes on one database).
//!
//! The trait is coarse on purpose: one call is one transaction (a batch of records is one call),
//! so each backend can implement it with its own transaction and grouping strategy.

mod common;
mod error;
pub mod migrations;
pub mod postgres;
pub mod sqlite;
mod store;
pub mod transfer;

pub use error::{StoreError, StoreResult};
pub use postgres::{PostgresOptions, PostgresStore};
pub use sqlite::{Durability, SqliteStore};
pub use store::{
    AssociationLabel, AssociationLimit, AssociationLink, BatchMode, NewObject, Principal, Store,
};
