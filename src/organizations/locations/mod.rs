//! Franchise locations and their roll-ups at HQ.

pub mod queries;
pub mod routes;
pub mod views;
