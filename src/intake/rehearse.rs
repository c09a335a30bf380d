//! `rally rehearse`: an audience simulated against any Rally form.
//!
//! Every simulated person opens the form (own connection, own cookies, own
//! hidden fields), waits, and then everyone presses Send at the same moment.
//! With `fresh_connections` each person sends on a new connection, as a
//! phone that filled the form for a minute does (its first connection long
//! gone), and the time to connect is reported apart. With `trickle` they
//! send one at a time instead, and each submission's time from its answer
//! to being processed is reported.
//! The report gives acceptance, errors by kind and latency percentiles; with
//! the database or the instance's `/metrics` at hand it also waits for the
//! workers and reports when the last submission became a prospect. It is
//! also the benchmark harness.

use std::{
    collections::BTreeMap,
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context as TaskContext, Poll},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::{Barrier, Semaphore};

/// Where to read how many submissions the instance has processed.
#[derive(Debug, Clone)]
pub enum Watch {
    /// The instance's database (local runs): also checks for duplicates.
    Database(crate::platform::config::DatabaseUrl),
    /// The instance's `/metrics` (deployed runs), with its bearer token if set.
    Metrics { url: String, token: Option<String> },
}

impl Watch {
    /// Opens what the watch reads from, once for the whole run.
    async fn open(&self, timeout: Duration) -> anyhow::Result<Watcher> {
        Ok(match self {
            Self::Database(url) => Watcher::Database(crate::platform::db::connect(url).await?),
            Self::Metrics { url, token } => Watcher::Metrics {
                client: reqwest::Client::builder().timeout(timeout).build()?,
                url: url.clone(),
                token: token.clone(),
            },
        })
    }
}

/// An open [`Watch`]: a database connection or an HTTP client.
enum Watcher {
    Database(crate::platform::db::Db),
    Metrics {
        client: reqwest::Client,
        url: String,
        token: Option<String>,
    },
}

impl Watcher {
    /// Submissions processed so far. From the database, exactly this run's
    /// (form-submission entries of the run's own prospects, whatever else
    /// the instance writes meanwhile); from `/metrics`, every form
    /// submission the instance has processed, so other traffic during the
    /// run counts too.
    async fn processed(&self, run_id: &str) -> anyhow::Result<i64> {
        match self {
            Self::Database(db) => {
                let pattern = format!("rehearsal-{run_id}-%");
                Ok(crate::on_pool!(&db.read, p => sqlx::query_scalar(
                    "SELECT COUNT(*) FROM timeline_entries t JOIN prospects p ON p.id = t.prospect_id
                     WHERE t.kind = 'form_submission' AND p.email LIKE $1",
                )
                .bind(&pattern)
                .fetch_one(p)
                .await)?)
            }
            Self::Metrics { client, url, token } => {
                let mut req = client.get(url);
                if let Some(token) = token {
                    req = req.bearer_auth(token);
                }
                let text = req.send().await?.error_for_status()?.text().await?;
                text.lines()
                    .find_map(|l| l.strip_prefix("rally_submissions_processed_total "))
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .map(|v| v as i64)
                    .context("no rally_submissions_processed_total in the metrics")
            }
        }
    }

    /// Whether the submission of `email` has been processed; through
    /// `/metrics`, whether `total` submissions have (one at a time: the
    /// trickle waits for each before the next).
    async fn processed_one(&self, email: &str, total: i64) -> anyhow::Result<bool> {
        match self {
            Self::Database(db) => {
                let n: i64 = crate::on_pool!(&db.read, p => sqlx::query_scalar(
                    "SELECT COUNT(*) FROM timeline_entries t JOIN prospects p ON p.id = t.prospect_id
                     WHERE t.kind = 'form_submission' AND p.email = $1",
                )
                .bind(email)
                .fetch_one(p)
                .await)?;
                Ok(n > 0)
            }
            Self::Metrics { .. } => Ok(self.processed("").await? >= total),
        }
    }

    /// How often the trickle looks for its submission: finer than the
    /// drain's, as it times each one.
    fn poll_one_every(&self) -> Duration {
        match self {
            Self::Database(_) => Duration::from_millis(2),
            Self::Metrics { .. } => Duration::from_millis(20),
        }
    }

    fn poll_every(&self) -> Duration {
        match self {
            Self::Database(_) => Duration::from_millis(20),
            Self::Metrics { .. } => Duration::from_millis(250),
        }
    }

    /// Prospects of this run with more than one timeline entry: a submission
    /// processed twice would show here. Only the database can tell.
    async fn duplicates(&self, run_id: &str) -> anyhow::Result<Option<i64>> {
        let Self::Database(db) = self else {
            return Ok(None);
        };
        let pattern = format!("rehearsal-{run_id}-%");
        let n = crate::on_pool!(&db.read, p => sqlx::query_scalar(
            "SELECT COUNT(*) FROM (SELECT p.id FROM prospects p JOIN timeline_entries t ON t.prospect_id = p.id
             WHERE p.email LIKE $1 GROUP BY p.id HAVING COUNT(*) > 1) AS twice",
        )
        .bind(&pattern)
        .fetch_one(p)
        .await)?;
        Ok(Some(n))
    }

    async fn close(self) {
        if let Self::Database(db) = self {
            db.close().await;
        }
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    /// The form's address, e.g. `http://localhost:8080/f/demo`.
    pub url: String,
    pub people: usize,
    /// Time between opening the form and pressing Send (at least the
    /// server's minimum fill time, or every submission counts as a bot).
    pub think: Duration,
    /// Forms opened at once while the audience arrives.
    pub arrival_concurrency: usize,
    pub timeout: Duration,
    /// How to see the instance's processing: wait for it, and (with the
    /// database) check for duplicates.
    pub watch: Option<Watch>,
    pub progress: bool,
    /// Send on a new connection (no keep-alive reuse of the form's).
    pub fresh_connections: bool,
    /// Send one submission this often instead of all at once, timing each
    /// from its answer to being processed (needs `watch`).
    pub trickle: Option<Duration>,
}

/// What one person experienced when pressing Send.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Accepted,
    Status(u16),
    Timeout,
    Connect,
    Other,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Accepted => f.write_str("accepted"),
            Self::Status(code) => write!(f, "HTTP {code}"),
            Self::Timeout => f.write_str("timeout"),
            Self::Connect => f.write_str("connection error"),
            Self::Other => f.write_str("other error"),
        }
    }
}

#[derive(Debug)]
pub struct Report {
    pub people: usize,
    pub arrived: usize,
    pub outcomes: BTreeMap<Outcome, usize>,
    /// Latencies of every Send, accepted or not, sorted (with fresh
    /// connections, the connection's time included).
    pub latencies: Vec<Duration>,
    /// With fresh connections: how long each Send took to connect, sorted.
    pub connects: Vec<Duration>,
    /// In a trickle: from each accepted answer until that submission was
    /// processed, sorted (submissions not processed within the wait are
    /// left out, and show as `processed` short of `accepted`).
    pub ack_to_processed: Vec<Duration>,
    /// From the first Send to the last answer.
    pub burst: Duration,
    /// From the last answer until the last accepted submission was processed.
    pub drain: Option<Duration>,
    pub processed: Option<i64>,
    pub duplicates: Option<i64>,
}

impl Report {
    pub fn accepted(&self) -> usize {
        self.outcomes.get(&Outcome::Accepted).copied().unwrap_or(0)
    }

    pub fn percentile(&self, p: f64) -> Duration {
        percentile(&self.latencies, p)
    }
}

/// The `p`-th percentile (0–100) of sorted values, nearest-rank.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
        writeln!(
            f,
            "people:      {} ({} opened the form)",
            self.people, self.arrived
        )?;
        writeln!(f, "accepted:    {}", self.accepted())?;
        for (outcome, n) in self
            .outcomes
            .iter()
            .filter(|(o, _)| **o != Outcome::Accepted)
        {
            writeln!(f, "  {outcome}: {n}")?;
        }
        writeln!(
            f,
            "latency:     p50 {}  p90 {}  p99 {}  max {}",
            ms(self.percentile(50.0)),
            ms(self.percentile(90.0)),
            ms(self.percentile(99.0)),
            ms(self.latencies.last().copied().unwrap_or_default()),
        )?;
        let line = |f: &mut std::fmt::Formatter<'_>, label: &str, v: &[Duration]| {
            writeln!(
                f,
                "{label}p50 {}  p90 {}  p99 {}  max {}",
                ms(percentile(v, 50.0)),
                ms(percentile(v, 90.0)),
                ms(percentile(v, 99.0)),
                ms(v.last().copied().unwrap_or_default()),
            )
        };
        if !self.connects.is_empty() {
            line(f, "connect:     ", &self.connects)?;
        }
        if !self.ack_to_processed.is_empty() {
            line(f, "ack → processed: ", &self.ack_to_processed)?;
        }
        let rate = self.latencies.len() as f64 / self.burst.as_secs_f64().max(1e-9);
        writeln!(
            f,
            "burst:       {} ({rate:.0} submissions/s)",
            ms(self.burst)
        )?;
        if let Some(processed) = self.processed {
            writeln!(f, "processed:   {processed}")?;
        }
        match self.drain {
            Some(drain) => writeln!(f, "drained:     {} after the last answer", ms(drain))?,
            None if self.processed.is_some() => writeln!(f, "drained:     not within the wait")?,
            None => {}
        }
        if let Some(duplicates) = self.duplicates {
            writeln!(f, "duplicates:  {duplicates}")?;
        }
        Ok(())
    }
}

struct Person {
    /// The client Send uses: the form's (its connection kept alive), or with
    /// fresh connections one that has none yet.
    client: reqwest::Client,
    fields: Vec<(String, String)>,
    email: String,
    /// With fresh connections: the time the client's connection took
    /// (nanoseconds; 0 before it connects).
    connect: Option<Arc<AtomicU64>>,
}

/// Times each connection a client makes (TCP, and TLS for https) into one
/// slot: a fresh client makes exactly one.
#[derive(Clone)]
struct TimeConnect(Arc<AtomicU64>);

impl<S> tower_layer::Layer<S> for TimeConnect {
    type Service = TimedConnect<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TimedConnect {
            inner,
            slot: self.0.clone(),
        }
    }
}

#[derive(Clone)]
struct TimedConnect<S> {
    inner: S,
    slot: Arc<AtomicU64>,
}

impl<S, R> tower_service::Service<R> for TimedConnect<S>
where
    S: tower_service::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let (started, slot) = (Instant::now(), self.slot.clone());
        let connecting = self.inner.call(req);
        Box::pin(async move {
            let conn = connecting.await;
            slot.store(
                started.elapsed().as_nanos().max(1) as u64,
                Ordering::Relaxed,
            );
            conn
        })
    }
}

/// The value of the hidden input `name` in a rendered form.
pub fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_string())
}

fn classify(err: &reqwest::Error) -> Outcome {
    if err.is_timeout() {
        Outcome::Timeout
    } else if err.is_connect() {
        Outcome::Connect
    } else {
        Outcome::Other
    }
}

fn bar(show: bool, len: usize, message: &'static str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64).with_message(message);
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

async fn arrive(options: &Options, run: &str, i: usize) -> Result<Person, Outcome> {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(options.timeout)
        .pool_max_idle_per_host(1)
        .build()
        .map_err(|_| Outcome::Other)?;
    let res = client
        .get(&options.url)
        .send()
        .await
        .map_err(|e| classify(&e))?;
    if !res.status().is_success() {
        return Err(Outcome::Status(res.status().as_u16()));
    }
    let html = res.text().await.map_err(|e| classify(&e))?;
    let (Some(key), Some(ts)) = (hidden(&html, "_key"), hidden(&html, "_ts")) else {
        return Err(Outcome::Other);
    };
    let email = format!("rehearsal-{run}-{i}@rehearse.example");
    let fields = vec![
        ("_key".into(), key),
        ("_ts".into(), ts),
        ("website".into(), String::new()),
        ("name".into(), format!("Rehearsal {i}")),
        ("email".into(), email.clone()),
        ("interest".into(), "rally rehearse".into()),
    ];
    if !options.fresh_connections {
        return Ok(Person {
            client,
            fields,
            email,
            connect: None,
        });
    }
    // The form's client (and its connection) is dropped here: Send gets a
    // client of its own, made now so that making it is not timed, which
    // connects when it sends and keeps nothing for reuse.
    let slot = Arc::new(AtomicU64::new(0));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(options.timeout)
        .pool_max_idle_per_host(0)
        .connector_layer(TimeConnect(slot.clone()))
        .build()
        .map_err(|_| Outcome::Other)?;
    Ok(Person {
        client,
        fields,
        email,
        connect: Some(slot),
    })
}

/// What one Send gave: its outcome, its latency, and with a fresh
/// connection the time connecting took (`None` when it never connected).
async fn send(options: &Options, person: &Person) -> (Outcome, Duration, Option<Duration>) {
    let started = Instant::now();
    let outcome = match person
        .client
        .post(&options.url)
        .form(&person.fields)
        .send()
        .await
    {
        Ok(res) if res.status().is_success() || res.status().is_redirection() => Outcome::Accepted,
        Ok(res) => Outcome::Status(res.status().as_u16()),
        Err(err) => classify(&err),
    };
    let connect = person
        .connect
        .as_ref()
        .map(|slot| slot.load(Ordering::Relaxed))
        .filter(|&nanos| nanos > 0)
        .map(Duration::from_nanos);
    (outcome, started.elapsed(), connect)
}

pub async fn run(options: Options) -> anyhow::Result<Report> {
    if options.people == 0 {
        bail!("--people must be at least 1");
    }
    reqwest::Url::parse(&options.url).context("--url is not a URL")?;
    if options.trickle.is_some() && options.watch.is_none() {
        bail!("a trickle times each submission until processed: give --database or --metrics-url");
    }
    let run_id = format!("{:x}", crate::platform::db::now_ms());
    let options = Arc::new(options);

    // Arrival: everyone opens the form.
    let arriving = bar(options.progress, options.people, "arriving");
    let gate = Arc::new(Semaphore::new(options.arrival_concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..options.people {
        let (options, gate, run_id, arriving) = (
            options.clone(),
            gate.clone(),
            run_id.clone(),
            arriving.clone(),
        );
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await;
            let person = arrive(&options, &run_id, i).await;
            arriving.inc(1);
            person
        });
    }
    let mut people = Vec::with_capacity(options.people);
    let mut outcomes: BTreeMap<Outcome, usize> = BTreeMap::new();
    while let Some(joined) = tasks.join_next().await {
        match joined.context("an arrival task failed")? {
            Ok(person) => people.push(person),
            Err(outcome) => *outcomes.entry(outcome).or_default() += 1,
        }
    }
    arriving.finish();
    let arrived = people.len();

    let watcher = match &options.watch {
        Some(watch) => Some(watch.open(options.timeout).await?),
        None => None,
    };
    let before = match &watcher {
        Some(watcher) => Some(watcher.processed(&run_id).await?),
        None => None,
    };

    // Thinking, then everyone presses Send together (or, in a trickle, one
    // after another).
    tokio::time::sleep(options.think).await;
    let sending = bar(options.progress, arrived, "sending");
    let mut latencies = Vec::with_capacity(arrived);
    let mut connects = Vec::new();
    let mut ack_to_processed = Vec::new();
    let burst_start;
    if let (Some(every), Some(watcher), Some(before)) = (options.trickle, &watcher, before) {
        burst_start = Instant::now();
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut accepted = 0;
        for person in people {
            ticks.tick().await;
            let (outcome, latency, connect) = send(&options, &person).await;
            let answered = Instant::now();
            sending.inc(1);
            latencies.push(latency);
            connects.extend(connect);
            if outcome == Outcome::Accepted {
                accepted += 1;
                let deadline = answered + options.timeout;
                while Instant::now() < deadline {
                    if watcher
                        .processed_one(&person.email, before + accepted)
                        .await?
                    {
                        ack_to_processed.push(answered.elapsed());
                        break;
                    }
                    tokio::time::sleep(watcher.poll_one_every()).await;
                }
            }
            *outcomes.entry(outcome).or_default() += 1;
        }
    } else {
        let barrier = Arc::new(Barrier::new(arrived + 1));
        let mut tasks = tokio::task::JoinSet::new();
        for person in people {
            let (options, barrier, sending) = (options.clone(), barrier.clone(), sending.clone());
            tasks.spawn(async move {
                barrier.wait().await;
                let result = send(&options, &person).await;
                sending.inc(1);
                result
            });
        }
        barrier.wait().await;
        burst_start = Instant::now();
        while let Some(joined) = tasks.join_next().await {
            let (outcome, latency, connect) = joined.context("a send task failed")?;
            *outcomes.entry(outcome).or_default() += 1;
            latencies.push(latency);
            connects.extend(connect);
        }
    }
    let burst = burst_start.elapsed();
    sending.finish();
    latencies.sort();
    connects.sort();
    ack_to_processed.sort();
    let accepted = outcomes.get(&Outcome::Accepted).copied().unwrap_or(0) as i64;

    let (mut drain, mut processed, mut duplicates) = (None, None, None);
    if let (Some(watcher), Some(before)) = (watcher, before) {
        let answered = Instant::now();
        let deadline = answered + Duration::from_secs(300);
        loop {
            let done = watcher.processed(&run_id).await? - before;
            processed = Some(done);
            if done >= accepted {
                drain = Some(answered.elapsed());
                break;
            }
            if Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(watcher.poll_every()).await;
        }
        duplicates = watcher.duplicates(&run_id).await?;
        watcher.close().await;
    }
    Ok(Report {
        people: options.people,
        arrived,
        outcomes,
        latencies,
        connects,
        ack_to_processed,
        burst,
        drain,
        processed,
        duplicates,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&v, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&v, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&v[..1], 99.0), Duration::from_millis(1));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }
}
