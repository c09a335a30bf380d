//! The job registry: every feature's job kinds with their handlers and
//! options. The workers, `rally worker --queues`, `rally queues create`,
//! the SQS backend's queues, the dashboards and `/metrics` all come from it.

use ::jobs::{Registry, WorkerOptions};

use crate::{
    intake::{
        batch::{SUBMISSION_BATCH, process_submissions},
        jobs::FormSubmission,
    },
    platform::db,
};

/// What Rally's job handlers work with, built at start-up.
#[derive(Clone)]
pub struct Context {
    pub pool: db::Pool,
    pub mailer: crate::platform::mail::Mailer,
    /// For handlers that enqueue (notification emails).
    pub queue: ::jobs::Queue,
}

/// Rally's job kinds, their handlers and options, built once: the one list
/// from which the workers, `rally worker --queues`, `rally queues create`,
/// the SQS backend's queues, the dashboards and `/metrics` all come. A
/// feature with jobs adds its `register` line here.
pub fn registry() -> &'static Registry<Context> {
    static REGISTRY: std::sync::LazyLock<Registry<Context>> = std::sync::LazyLock::new(|| {
        Registry::new()
            // In batches: one transaction applies many submissions (see
            // `intake::batch`).
            .register_batch(
                WorkerOptions {
                    fetch_batch: SUBMISSION_BATCH,
                    ..WorkerOptions::default()
                },
                |ctx: Context, jobs: Vec<FormSubmission>| async move {
                    process_submissions(&ctx.pool, &ctx.queue, jobs).await
                },
            )
            .register(
                WorkerOptions::default(),
                |ctx: Context, job: crate::platform::mail::EmailSend| async move {
                    crate::platform::mail::send(&ctx.pool, &ctx.mailer, job).await
                },
            )
            .register(
                WorkerOptions::default(),
                |ctx: Context, job: crate::notifications::MorningSummary| async move {
                    crate::notifications::run_summary(&ctx.pool, &ctx.queue, job).await
                },
            )
            .register(
                WorkerOptions::default(),
                |ctx: Context, job: crate::prospects::lifecycle::TrashErase| async move {
                    crate::prospects::lifecycle::run_erase(&ctx.pool, job).await
                },
            )
    });
    &REGISTRY
}

/// Rally's periodic schedules: the morning summary (hourly) and the
/// trash's erase (daily).
pub fn schedules() -> Vec<::jobs::Schedule> {
    let mut all = crate::notifications::schedules();
    all.extend(crate::prospects::lifecycle::schedules());
    all
}

/// Every queue (job kind) Rally has, in the order `rally worker` lists them.
pub fn queues() -> Vec<&'static str> {
    registry().kinds()
}
