//! Held submissions (`/held`): list, release, discard, hourly purge.

pub mod queries;
pub mod routes;
pub mod views;
