//! Live events: the projector page (QR code, server-sent events) and the
//! summary after the event.

pub mod queries;
pub mod routes;
pub mod views;
