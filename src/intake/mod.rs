//! The public form: its routes, the group-commit writer, the
//! FormSubmission job and its handler, held submissions, and
//! `rally rehearse`.

pub mod batch;
pub mod held;
pub mod jobs;
pub mod model;
pub mod queries;
pub mod rehearse;
pub mod routes;
pub mod views;
pub mod writer;
