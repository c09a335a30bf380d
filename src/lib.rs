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
/// The home page: my day, my leads, the week's counts.
pub mod home;
/// The public form: its routes, the group-commit writer, the
/// FormSubmission job, held submissions and `rally rehearse`.
pub mod intake;
/// Notifications: in the app and by email; the morning summary.
pub mod notifications;
/// The failed-work dashboards: `/jobs` and `/ops/jobs`.
pub mod operations;
/// Organizations, people, roles, invitations, the audit log, franchise
/// locations and the deployment's operators.
pub mod organizations;
/// Prospects: list, detail, quick add, edit, notes, import and export; the
/// pipeline board, filters, saved views and bulk actions.
pub mod prospects;
/// Follow-up tasks on prospects.
pub mod tasks;
