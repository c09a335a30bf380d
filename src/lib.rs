//! Rally: capture prospects at any scale and turn them into customers.
//!
//! One folder per feature, a shared platform beside them, and the app
//! that assembles them (see docs/ARCHITECTURE.md).

/// Building and running the app: the router, the job registry, the demo.
pub mod app;
/// Shared by every feature, knowing none: configuration, security, the
/// database, the web's pieces, page layout, mail and text rules.
pub mod platform;

/// Sign-up, sign-in and out, sessions, verification, password reset, the
/// account page and the development mailbox.
pub mod accounts;
/// Live events: the projector page and the summary.
pub mod events;
/// Forms and HQ templates.
pub mod forms;
/// The public form: its routes, the group-commit writer, the
/// FormSubmission job, held submissions and `rally rehearse`.
pub mod intake;
/// The failed-work dashboards: `/jobs` and `/ops/jobs`.
pub mod operations;
/// Organizations, people, roles, invitations, the audit log, franchise
/// locations and the deployment's operators.
pub mod organizations;
/// Prospects: list, detail, quick add, edit, notes, import and export.
pub mod prospects;
