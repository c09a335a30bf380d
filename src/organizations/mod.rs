//! Organizations: people, roles, invitations, the audit log, franchise
//! locations, and the deployment's operators.

pub mod kind;
pub mod locations;
pub mod operators;
pub mod queries;
pub mod roles;
pub mod routes;
pub mod views;
