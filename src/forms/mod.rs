//! Forms and franchise HQ templates.

pub mod queries;
pub mod routes;
pub mod views;
