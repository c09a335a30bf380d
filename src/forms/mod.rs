//! Forms and franchise HQ templates.

pub mod routes;
pub mod views;
