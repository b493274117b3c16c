//! The `spoke` server: HubSpot's CRM API over Spoke's store.

pub mod api;
pub mod app;
pub mod auth;
pub mod copy;
pub mod correlation;
pub mod coverage;
pub mod error;
pub mod extract;
pub mod operations;
pub mod response;
pub mod serve;
pub mod state;
