//! Failed work: an organization's own at `/jobs`, every queue's at
//! `/ops/jobs` for the deployment's operators.

pub mod routes;
pub mod views;
