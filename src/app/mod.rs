//! Building the application: bind first (port 0 in tests), open and migrate
//! the database, seed the demo, start workers; then serve until shutdown.

pub mod demo;
pub mod frame;
pub mod routes;
mod state;
pub mod work;

pub use state::{AppState, State};

use std::{net::SocketAddr, sync::Arc, time::Duration};

use ::jobs::{Queue, QueueConfig, Runtime, SqlQueue, SqsBackend, SqsQueue};
use anyhow::Context;
use poem::{
    Server,
    listener::{Acceptor, TcpAcceptor},
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    intake::writer::{Intake, Limits},
    platform::{
        config::{QueueBackend, Settings},
        db, security,
    },
};

/// Brings the database up to date: Rally's migrations and the job queue's
/// ([`db::migrate`]), then the features' backfills (the search text and
/// email keys of prospects stored before they existed).
pub async fn migrate(pool: &db::Pool) -> anyhow::Result<()> {
    db::migrate(pool).await?;
    crate::prospects::queries::backfill(pool).await?;
    Ok(())
}

/// The demo owner's sign-in, printed at start-up with `--demo`.
#[derive(Debug, Clone)]
pub struct DemoCredentials {
    pub email: String,
    pub password: String,
}

pub struct App {
    acceptor: TcpAcceptor,
    pub addr: SocketAddr,
    pub state: AppState,
    pub demo: Option<DemoCredentials>,
    workers: Option<Runtime>,
    intake_writer: tokio::task::JoinHandle<()>,
    background: TaskTracker,
    token: CancellationToken,
    shutdown_timeout: Duration,
}

/// The demo password is derived from the secret key: stable across restarts
/// (so it can be printed every time) yet different on every installation.
fn demo_password(secret: &crate::platform::config::SecretKey) -> String {
    security::sign(secret, "demo-owner-password", "v1")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(16)
        .collect()
}

/// Hourly: finished jobs past their retention go (their submissions' effects
/// stay idempotent through the timeline's unique submission key), and so do
/// the raw requests of inbound webhook events finished as long ago (their
/// rows stay, so a redelivery is still recognised).
async fn prune_jobs(queue: Queue, retention: Duration, token: CancellationToken) {
    loop {
        match queue.prune(retention).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(jobs = n, "pruned finished jobs"),
            Err(err) => tracing::warn!(error = %err, "pruning finished jobs failed"),
        }
        match ::jobs::inbox::purge(queue.store(), retention).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(events = n, "purged inbound events' requests past retention"),
            Err(err) => tracing::warn!(error = %err, "purging inbound events failed"),
        }
        tokio::select! {
            () = token.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(3600)) => {}
        }
    }
}

/// Hourly: held submissions sent longer than `retention` ago are deleted
/// (their reasons stay tallied for event summaries).
async fn purge_held(pool: db::Pool, retention: Duration, token: CancellationToken) {
    loop {
        let before = db::now_ms().saturating_sub(retention.as_millis() as i64);
        match crate::intake::held::queries::purge(&pool, before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(held = n, "purged held submissions past retention"),
            Err(err) => tracing::warn!(error = %err, "purging held submissions failed"),
        }
        tokio::select! {
            () = token.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(3600)) => {}
        }
    }
}

/// The SQS handle the settings describe: their client, or one from the AWS
/// SDK's standard environment.
pub async fn sqs_queue(settings: &Settings) -> SqsQueue {
    match &settings.sqs_client {
        Some(client) => SqsQueue::new(client.clone(), settings.sqs.clone()),
        None => SqsQueue::from_env(settings.sqs.clone()).await,
    }
}

/// The job queue on `pool`: the SQL queue in that database, or SQS with
/// its outbox there.
pub async fn open_queue(settings: &Settings, pool: &db::Pool) -> Queue {
    match settings.queue_backend {
        QueueBackend::Sql => Queue::Sql(SqlQueue::new(pool.queue_store(), queue_config(settings))),
        QueueBackend::Sqs => Queue::Sqs(SqsBackend {
            sqs: sqs_queue(settings).await,
            store: pool.queue_store(),
            kinds: crate::app::work::queues(),
        }),
    }
}

fn queue_config(settings: &Settings) -> QueueConfig {
    QueueConfig {
        poll_interval: settings.job_poll_interval,
        heartbeat: settings.job_heartbeat,
        ..QueueConfig::default()
    }
}

/// Stops workers, waiting at most `timeout` for the jobs in flight. Past it
/// the process exits anyway: its unfinished jobs go back to the queue once
/// its heartbeats stop.
async fn stop_workers(runtime: Runtime, timeout: Duration) {
    if tokio::time::timeout(timeout, runtime.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            timeout_secs = timeout.as_secs(),
            "jobs still running at the shutdown timeout; they will run again elsewhere"
        );
    }
}

/// On SQS, every process (web or worker) forwards the outbox, so jobs reach
/// SQS whichever processes run. The SQL queue's relay comes with the
/// workers' runtime instead, so a web process spends itself on intake.
fn relay_sqs_outbox(background: &TaskTracker, queue: &Queue, token: &CancellationToken) {
    if let Queue::Sqs(_) = queue {
        let (queue, token) = (queue.clone(), token.child_token());
        background.spawn(async move { queue.relay(token).await });
    }
}

/// Waits, at most `timeout`, for the loops started with the process (relay,
/// prune, purge, samplers), which end when the shutdown token is
/// cancelled: none is still touching the database when it closes.
async fn stop_background(background: &TaskTracker, timeout: Duration) {
    background.close();
    if tokio::time::timeout(timeout, background.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            running = background.len(),
            "background loops still running at the shutdown timeout"
        );
    }
}

/// `rally worker`: the job workers alone, no HTTP.
pub struct WorkerProcess {
    runtime: Runtime,
    background: TaskTracker,
    db: db::Db,
    token: CancellationToken,
    shutdown_timeout: Duration,
}

impl WorkerProcess {
    /// Opens and migrates the database and starts the workers of `queues`
    /// (every queue when empty), `concurrency` jobs at once per queue.
    pub async fn build(
        settings: Settings,
        queues: &[String],
        concurrency: Option<usize>,
    ) -> anyhow::Result<Self> {
        let registry = crate::app::work::registry();
        registry.check(queues)?;
        let db = db::connect(&settings.database).await?;
        migrate(&db.write).await.context("migrating the database")?;
        let queue = open_queue(&settings, &db.write).await;
        let token = CancellationToken::new();
        let background = TaskTracker::new();
        background.spawn(prune_jobs(
            queue.clone(),
            settings.job_retention,
            token.child_token(),
        ));
        background.spawn(purge_held(
            db.write.clone(),
            settings.held_retention,
            token.child_token(),
        ));
        relay_sqs_outbox(&background, &queue, &token);
        let mut runtime = Runtime::new(queue.clone(), token.child_token());
        runtime.schedule(crate::app::work::schedules());
        registry.start(
            &mut runtime,
            crate::app::work::Context {
                pool: db.write.clone(),
                mailer: crate::platform::mail::Mailer::from_settings(&settings.mail),
                queue,
            },
            queues,
            Some(concurrency.unwrap_or(settings.worker_concurrency)),
        )?;
        Ok(Self {
            runtime,
            background,
            db,
            token,
            shutdown_timeout: settings.shutdown_timeout,
        })
    }

    pub fn shutdown_token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// Works until the shutdown token is cancelled, then lets jobs in flight
    /// finish (within the shutdown timeout) and releases the rest.
    pub async fn run(self) -> anyhow::Result<()> {
        self.token.cancelled().await;
        stop_workers(self.runtime, self.shutdown_timeout).await;
        stop_background(&self.background, self.shutdown_timeout).await;
        self.db.close().await;
        Ok(())
    }
}

/// Listens on `addr` with room for `backlog` connections that the kernel
/// has accepted but Rally has not yet taken. A room of phones that all
/// reconnect to send at once arrives as a burst of fresh connections: with
/// the usual default (1,024, or the kernel's 128 on older systems), the
/// kernel drops the surplus SYNs and each of those phones waits a second
/// or more before retrying. The kernel caps the backlog at
/// `net.core.somaxconn`; start-up warns when that is lower.
fn listen(addr: std::net::SocketAddr, backlog: u32) -> std::io::Result<TcpAcceptor> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let listener = socket.listen(backlog)?;
    if let Some(cap) = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|cap| *cap < backlog)
    {
        tracing::warn!(
            requested = backlog,
            somaxconn = cap,
            "the kernel caps the listen backlog below RALLY_LISTEN_BACKLOG: raise net.core.somaxconn for bursts of fresh connections"
        );
    }
    TcpAcceptor::from_tokio(listener)
}

impl App {
    pub async fn build(
        mut settings: Settings,
        demo: bool,
        run_workers: bool,
    ) -> anyhow::Result<Self> {
        let acceptor = listen(settings.bind, settings.listen_backlog)
            .with_context(|| format!("cannot listen on {}", settings.bind))?;
        let addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .context("listener has no socket address")?;
        let secret = settings.resolve_secret()?;
        let db = db::connect(&settings.database).await?;
        migrate(&db.write).await.context("migrating the database")?;
        let demo = if demo {
            let password = demo_password(&secret);
            let hash = security::hash_password(password.clone()).await?;
            let email = crate::app::demo::seed_demo(&db.write, &hash).await?;
            Some(DemoCredentials { email, password })
        } else {
            None
        };
        let queue = open_queue(&settings, &db.write).await;
        let monitor = queue.with_store(db.read.queue_store());
        let mailer = crate::platform::mail::Mailer::from_settings(&settings.mail);
        let token = CancellationToken::new();
        let background = TaskTracker::new();
        relay_sqs_outbox(&background, &queue, &token);
        let workers = if run_workers {
            background.spawn(prune_jobs(
                queue.clone(),
                settings.job_retention,
                token.child_token(),
            ));
            background.spawn(purge_held(
                db.write.clone(),
                settings.held_retention,
                token.child_token(),
            ));
            let mut runtime = Runtime::new(queue.clone(), token.child_token());
            runtime.schedule(crate::app::work::schedules());
            crate::app::work::registry().start(
                &mut runtime,
                crate::app::work::Context {
                    pool: db.write.clone(),
                    mailer: mailer.clone(),
                    queue: queue.clone(),
                },
                &[],
                Some(settings.worker_concurrency),
            )?;
            Some(runtime)
        } else {
            None
        };
        let (intake, intake_writer) = Intake::start(
            db.write.clone(),
            queue.clone(),
            settings.intake_backlog,
            settings.intake_writers,
        );
        let limits = Arc::new(Limits::new(
            settings.max_in_flight,
            settings.max_queue_backlog,
        ));
        // Sampled on the read pool, so it never waits behind writers.
        background.spawn(limits.clone().watch_backlog(
            monitor.clone(),
            Duration::from_millis(500),
            token.child_token(),
        ));
        let rate_limits = Arc::new(crate::platform::web::ratelimit::RateLimits::new(
            settings.rate_ip_per_sec,
            settings.rate_ip_burst,
            settings.trusted_proxies.clone(),
        ));
        background.spawn(
            rate_limits
                .clone()
                .clean_up(Duration::from_secs(5), token.child_token()),
        );
        let shutdown_timeout = settings.shutdown_timeout;
        let signin_throttle = Arc::new(crate::platform::web::ratelimit::Throttle::new(
            settings.signin_per_account_per_min,
            settings.signin_per_ip_per_min,
        ));
        let signup_throttle = Arc::new(crate::platform::web::ratelimit::Throttle::new(
            settings.signin_per_account_per_min,
            settings.signup_per_ip_per_min,
        ));
        background.spawn({
            let (throttle, token) = (signin_throttle.clone(), token.child_token());
            let signups = signup_throttle.clone();
            async move {
                loop {
                    tokio::select! {
                        () = token.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_secs(300)) => {
                            throttle.forget_idle();
                            signups.forget_idle();
                        }
                    }
                }
            }
        });
        let state = crate::app::AppState::new(State {
            db,
            queue,
            monitor,
            intake,
            forms: crate::forms::queries::FormCache::new(Duration::from_secs(5)),
            limits,
            rate_limits,
            signin_throttle,
            signup_throttle,
            hasher: Arc::new(security::Hasher::new(settings.password_queue)),
            mailer: mailer.clone(),
            metrics: Arc::new(crate::platform::web::metrics::Metrics::new()),
            shutdown: token.clone(),
            secret,
            settings: Arc::new(settings),
        });
        Ok(Self {
            acceptor,
            addr,
            state,
            demo,
            workers,
            intake_writer,
            background,
            token,
            shutdown_timeout,
        })
    }

    /// A token that, when cancelled, shuts the app down gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// The loops started with the app (relay, prune, purge, backlog
    /// sampler, limiter clean-ups): [`App::run`] waits for every one of
    /// them to end before it returns.
    pub fn background(&self) -> TaskTracker {
        self.background.clone()
    }

    /// Serves until the shutdown token is cancelled: stops accepting, lets
    /// requests in flight finish, then stops the workers (a job in flight
    /// finishes; one not yet started goes back to the queue). All of it
    /// within the shutdown timeout: half of it for requests, a quarter each
    /// for the intake writer and the jobs.
    pub async fn run(self) -> anyhow::Result<()> {
        let budget = self.shutdown_timeout;
        let quarter = (budget / 4).max(Duration::from_secs(1));
        let token = self.token.clone();
        let db = self.state.db.clone();
        let endpoint = routes::endpoint(self.state);
        let served = Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(
                endpoint,
                async move { token.cancelled().await },
                Some(budget / 2),
            )
            .await;
        // The server has dropped the last intake handle: the writer commits
        // what it still holds, then ends. (A connection that outlived the
        // grace period may still hold a handle; do not wait for it forever.)
        match tokio::time::timeout(quarter, self.intake_writer).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::error!(error = %err, "intake writer failed"),
            Err(_) => tracing::warn!("intake writer still busy at shutdown"),
        }
        if let Some(workers) = self.workers {
            stop_workers(workers, quarter).await;
        }
        stop_background(&self.background, quarter).await;
        db.close().await;
        served.context("HTTP server failed")
    }
}
