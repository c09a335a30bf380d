//! Prospects: list, detail, quick add, edit, notes, CSV import and export.

pub mod export;
pub mod import;
pub mod queries;
pub mod routes;
pub mod views;
