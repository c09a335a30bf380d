//! Integration tests: the real app on port 0 with a fresh database
//! (SQLite, or Postgres when `RALLY_TEST_POSTGRES` is set),
//! spoken to over HTTP like a browser would.

mod account_abuse;
mod accounts;
mod auth_and_prospects;
mod bad_input;
mod batches;
mod cli;
mod crash;
mod csrf;
mod deploy;
mod e2e;
mod e2e_forms;
mod e2e_home;
mod e2e_lifecycle;
mod e2e_pipeline;
mod edge;
mod events;
mod form_builder;
mod franchise;
mod franchise_people;
mod held;
mod helpers;
mod home;
mod imports;
mod intake;
mod isolation;
mod jobs_dashboard;
mod lifecycle;
mod mailbox;
mod metrics;
#[path = "../support/moto.rs"]
mod moto;
mod notifications;
mod operations;
mod overload;
mod people;
mod phone_key;
mod pipeline;
mod processes;
mod prospect_list;
mod prospect_work;
mod ratelimit;
mod rehearse;
mod roles;
mod settings;
mod sqs;
mod tasks;
mod text_rules;
