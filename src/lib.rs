//! Rally: capture prospects at any scale and turn them into customers.

/// Typed settings from the environment.
pub mod config;
/// The data layer: pool, migrations, queries.
pub mod db;
/// Domain types parsed at the edge.
pub mod domain;
/// Transactional email: templates, the EmailSend job, Mailgun and the
/// development mailbox.
pub mod email;
/// The single error type of the HTTP layer.
pub mod error;
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
/// Tokens, signatures and password hashing.
pub mod security;
/// Building and running the app.
pub mod startup;
/// Form submissions applied in batches (the FormSubmission handler).
pub mod submission_batch;
/// Logging set-up.
pub mod telemetry;
/// maud views.
pub mod views;
