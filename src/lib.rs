//! Rally: capture prospects at any scale and turn them into customers.

/// Shared by every feature, knowing none: configuration, security, the
/// database, the web frame's pieces, page layout, mail and text rules.
pub mod platform;

/// CSV export of prospects.
pub mod export;
/// Routes, handlers and middleware.
pub mod http;
/// CSV import of prospects: parse, plan, apply.
pub mod import;
/// Group commit for form intake.
pub mod intake;
/// Job payloads and handlers.
pub mod jobs;
/// The deployment's operators (the deployment-wide jobs dashboard).
pub mod operators;
/// `rally rehearse`: a simulated audience, and the benchmark harness.
pub mod rehearse;
/// Roles and the table of who may do what.
pub mod roles;
/// Building and running the app.
pub mod startup;
/// maud views.
pub mod views;
