//! `rally rehearse`: an audience simulated against any Rally form.
//!
//! Every simulated person opens the form (own connection, own cookies, own
//! hidden fields), waits, and then everyone presses Send at the same moment.
//! The report gives acceptance, errors by kind and latency percentiles; with
//! the database or the instance's `/metrics` at hand it also waits for the
//! workers and reports when the last submission became a prospect. It is
//! also the benchmark harness.

use std::{
    collections::BTreeMap,
    sync::Arc,
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
    /// Latencies of every Send, accepted or not, sorted.
    pub latencies: Vec<Duration>,
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
    client: reqwest::Client,
    fields: Vec<(String, String)>,
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
    let fields = vec![
        ("_key".into(), key),
        ("_ts".into(), ts),
        ("website".into(), String::new()),
        ("name".into(), format!("Rehearsal {i}")),
        (
            "email".into(),
            format!("rehearsal-{run}-{i}@rehearse.example"),
        ),
        ("interest".into(), "rally rehearse".into()),
    ];
    Ok(Person { client, fields })
}

async fn send(options: &Options, person: &Person) -> (Outcome, Duration) {
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
    (outcome, started.elapsed())
}

pub async fn run(options: Options) -> anyhow::Result<Report> {
    if options.people == 0 {
        bail!("--people must be at least 1");
    }
    reqwest::Url::parse(&options.url).context("--url is not a URL")?;
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

    // Thinking, then everyone presses Send together.
    tokio::time::sleep(options.think).await;
    let sending = bar(options.progress, arrived, "sending");
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
    let burst_start = Instant::now();
    let mut latencies = Vec::with_capacity(arrived);
    while let Some(joined) = tasks.join_next().await {
        let (outcome, latency) = joined.context("a send task failed")?;
        *outcomes.entry(outcome).or_default() += 1;
        latencies.push(latency);
    }
    let burst = burst_start.elapsed();
    sending.finish();
    latencies.sort();
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
