//! The state every handler reaches, built once by [`super::App::build`].

use std::sync::Arc;

use crate::platform::{
    config::{SecretKey, Settings},
    db::Db,
    web::{metrics, ratelimit},
};

/// What every handler can reach: one shared [`State`], so that handing it
/// to a request (poem's `Data` clones it per request) is one reference
/// count, not one per field.
#[derive(Clone)]
pub struct AppState(Arc<State>);

impl AppState {
    pub fn new(state: State) -> Self {
        Self(Arc::new(state))
    }
}

impl std::ops::Deref for AppState {
    type Target = State;

    fn deref(&self) -> &State {
        &self.0
    }
}

pub struct State {
    pub db: Db,
    /// The job queue, on the write pool (intake enqueues through it).
    pub queue: ::jobs::Queue,
    /// The same queue read through the read pool: counts for metrics, the
    /// dashboard and the overload check never wait behind writers.
    pub monitor: ::jobs::Queue,
    pub intake: crate::intake::writer::Intake,
    pub forms: crate::forms::queries::FormCache,
    pub limits: Arc<crate::intake::writer::Limits>,
    pub rate_limits: Arc<ratelimit::RateLimits>,
    /// Sign-in and password-reset attempts, per account and per address.
    pub signin_throttle: Arc<ratelimit::Throttle>,
    /// Sign-ups, per email address and per client address.
    pub signup_throttle: Arc<ratelimit::Throttle>,
    /// Password hashing for requests, with its bounded queue.
    pub hasher: Arc<crate::platform::security::Hasher>,
    pub mailer: crate::platform::mail::Mailer,
    pub metrics: Arc<metrics::Metrics>,
    /// Cancelled when the app shuts down: long-lived responses end with it.
    pub shutdown: tokio_util::sync::CancellationToken,
    pub secret: SecretKey,
    pub settings: Arc<Settings>,
}
