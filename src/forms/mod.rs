//! Forms and franchise HQ templates.

pub mod branding;
pub mod fields;
pub mod queries;
pub mod routes;
pub mod views;
