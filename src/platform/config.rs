//! Typed settings from the environment (`DATABASE_URL`, `PORT`, `RALLY_*`),
//! validated once at start-up.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::{Context, bail};

/// Where Rally keeps its data: an embedded SQLite file (the default) or a
/// Postgres server, chosen by the URL's scheme.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            Self::Postgres(url) => f.write_str(&redact_password(url)),
        }
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

impl DatabaseUrl {
    /// Accepts `postgres://…` / `postgresql://…`, or `sqlite:PATH`,
    /// `sqlite://PATH` or a bare file path.
    pub fn parse(raw: &str) -> anyhow::Result<Self> {
        let raw = raw.trim();
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(Self::Postgres(raw.to_string()));
        }
        let path = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
            .unwrap_or(raw);
        let path = path.split('?').next().unwrap_or(path);
        if path.is_empty() || path.contains("://") {
            bail!("DATABASE_URL: expected sqlite:PATH or postgres://…, got {raw:?}");
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }

    /// The URL itself, password included: for handing to a child process,
    /// never for logs (use `Debug`).
    pub fn to_url(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("sqlite:{}", path.display()),
            Self::Postgres(url) => url.clone(),
        }
    }

    /// The SQLite file, when the database is one.
    pub fn sqlite_path(&self) -> Option<&std::path::Path> {
        match self {
            Self::Sqlite(path) => Some(path),
            Self::Postgres(_) => None,
        }
    }
}

/// A secret that never shows up in logs or `Debug` output. Shared, not
/// copied: the app state holding it is cloned into every request.
#[derive(Clone)]
pub struct SecretKey(std::sync::Arc<[u8]>);

impl SecretKey {
    pub const MIN_LEN: usize = 32;

    pub fn new(bytes: Vec<u8>) -> anyhow::Result<Self> {
        if bytes.len() < Self::MIN_LEN {
            bail!(
                "RALLY_SECRET_KEY must be at least {} bytes long",
                Self::MIN_LEN
            );
        }
        Ok(Self(bytes.into()))
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// A token compared against requests; never shown in logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(pub String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: SocketAddr,
    /// Connections the kernel may hold accepted but not yet taken by Rally
    /// (`listen(2)`'s backlog), `RALLY_LISTEN_BACKLOG`, default 8,192: a
    /// room of 10,000 phones reconnecting at once.
    pub listen_backlog: u32,
    pub database: DatabaseUrl,
    /// `None` until resolved by [`Settings::resolve_secret`].
    pub secret_key: Option<SecretKey>,
    pub production: bool,
    /// Submissions posted sooner than this after the form was rendered are
    /// treated as bots.
    pub form_min_fill: Duration,
    pub worker_concurrency: usize,
    /// Submissions that may wait for the intake writer before new ones get 503.
    pub intake_backlog: usize,
    /// Intake writer tasks; 0 picks: 1 on SQLite (one writer at a time), 4
    /// on Postgres (commits run in parallel).
    pub intake_writers: usize,
    /// Submissions handled at once before new ones get 503.
    pub max_in_flight: usize,
    /// Unfinished jobs past which new submissions get 503.
    pub max_queue_backlog: i64,
    /// Form sends per second and burst allowed from one client address; a
    /// room behind one NAT shares it, hence the generous defaults.
    pub rate_ip_per_sec: u32,
    pub rate_ip_burst: u32,
    /// Peers whose Fly-Client-IP / X-Forwarded-For headers are believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// When set, `/metrics` wants `Authorization: Bearer <token>`.
    pub metrics_token: Option<Token>,
    /// Finished jobs are deleted after this long (dead letters are kept).
    pub job_retention: Duration,
    /// Held submissions (too fast, honeypot) are deleted this long after
    /// they were sent unless released or discarded first
    /// (`RALLY_HELD_RETENTION_DAYS`, default 30).
    pub held_retention: Duration,
    pub job_heartbeat: Duration,
    pub job_poll_interval: Duration,
    /// On SIGTERM, how long a process may take to finish what it holds
    /// (requests in flight, then jobs in flight) before it exits anyway.
    /// fly.toml's `kill_timeout` is set a few seconds above it.
    pub shutdown_timeout: Duration,
    /// Where jobs wait: the database (`sql`) or Amazon SQS (`sqs`).
    pub queue_backend: QueueBackend,
    /// SQS queue naming and working, when the backend is `sqs`.
    pub sqs: jobs::SqsConfig,
    /// An SQS client to use instead of one from the AWS SDK's standard
    /// environment (for embedding and tests; never set from the environment).
    pub sqs_client: Option<jobs::sqs::aws::Client>,
    pub mail: MailSettings,
    /// Sign-in (and password-reset) attempts allowed per minute for one
    /// account and from one address.
    pub signin_per_account_per_min: u32,
    pub signin_per_ip_per_min: u32,
    /// Sign-ups per client address per minute (`RALLY_SIGNUP_PER_IP_PER_MIN`);
    /// per email address, `signin_per_account_per_min`.
    pub signup_per_ip_per_min: u32,
    /// Requests that may wait for or hold a password-hashing turn at once
    /// (`RALLY_PASSWORD_QUEUE`); past it, 503 with `Retry-After` at once.
    pub password_queue: usize,
    /// The address people reach Rally at, for links in emails; taken from
    /// each request's host when unset.
    pub public_url: Option<String>,
    pub json_logs: bool,
    /// `RALLY_OPERATORS`: comma-separated addresses (lower-cased) of the
    /// people who run this deployment (besides those added with `rally
    /// operators add`): they alone see every organization's jobs.
    pub operators: Vec<String>,
}

/// Transactional email: Mailgun when its key and domain are set, otherwise
/// the development mailbox (`/dev/mailbox`).
#[derive(Debug, Clone)]
pub struct MailSettings {
    pub mailgun_api_key: Option<Token>,
    pub mailgun_domain: Option<String>,
    /// The API's base address: the US or EU region's, or `MAILGUN_BASE_URL`.
    pub mailgun_base_url: String,
    pub from: String,
}

/// `RALLY_QUEUE_BACKEND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueBackend {
    Sql,
    Sqs,
}

impl std::str::FromStr for QueueBackend {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw {
            "sql" => Ok(Self::Sql),
            "sqs" => Ok(Self::Sqs),
            other => Err(format!("expected sql or sqs, got {other:?}")),
        }
    }
}

impl Settings {
    /// Reads the environment; every variable has a laptop-friendly default.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let production = matches!(
            get("RALLY_ENV").as_deref(),
            Some("production") | Some("prod")
        );
        let port: u16 = parse_or(&get, "PORT", 8080)?;
        let bind = match get("RALLY_BIND") {
            Some(raw) => raw
                .parse()
                .with_context(|| format!("RALLY_BIND: not a socket address: {raw:?}"))?,
            None => SocketAddr::from(([0, 0, 0, 0], port)),
        };
        let database =
            DatabaseUrl::parse(&get("DATABASE_URL").unwrap_or("sqlite:rally.db".into()))?;
        let secret_key = match get("RALLY_SECRET_KEY") {
            Some(raw) => Some(SecretKey::new(raw.into_bytes())?),
            None if production => bail!("RALLY_SECRET_KEY must be set when RALLY_ENV=production"),
            None => None,
        };
        let worker_concurrency: usize = parse_or(&get, "RALLY_WORKER_CONCURRENCY", 4)?;
        if worker_concurrency == 0 {
            bail!("RALLY_WORKER_CONCURRENCY must be at least 1");
        }
        let heartbeat_secs: u64 = parse_or(&get, "RALLY_JOB_HEARTBEAT_SECS", 5)?;
        if heartbeat_secs == 0 {
            bail!("RALLY_JOB_HEARTBEAT_SECS must be at least 1");
        }
        let mail = mail_settings(&get, production)?;
        // Links in emails are built from RALLY_PUBLIC_URL. Without it they
        // come from the request's Host header, which a client chooses: that
        // is acceptable only while mail stays in the development mailbox
        // (read on this machine), never once real mail goes out.
        let sends_real_mail = mail.mailgun_api_key.is_some();
        Ok(Self {
            bind,
            database,
            secret_key,
            production,
            form_min_fill: Duration::from_millis(parse_or(&get, "RALLY_FORM_MIN_FILL_MS", 1500)?),
            worker_concurrency,
            intake_backlog: parse_or(&get, "RALLY_INTAKE_BACKLOG", 20_000)?,
            intake_writers: parse_or(&get, "RALLY_INTAKE_WRITERS", 0)?,
            max_in_flight: parse_or(&get, "RALLY_MAX_IN_FLIGHT", 16_384)?,
            max_queue_backlog: parse_or(&get, "RALLY_MAX_QUEUE_BACKLOG", 500_000)?,
            rate_ip_per_sec: parse_or(&get, "RALLY_RATE_IP_PER_SEC", 1_000)?,
            rate_ip_burst: parse_or(&get, "RALLY_RATE_IP_BURST", 20_000)?,
            trusted_proxies: crate::platform::web::ratelimit::parse_proxies(
                &get("RALLY_TRUSTED_PROXIES").unwrap_or_default(),
            )
            .map_err(|e| anyhow::anyhow!("RALLY_TRUSTED_PROXIES: {e}"))?,
            job_retention: Duration::from_secs(
                parse_or::<u64>(&get, "RALLY_JOB_RETENTION_DAYS", 7)? * 24 * 3600,
            ),
            held_retention: Duration::from_secs(
                parse_or::<u64>(&get, "RALLY_HELD_RETENTION_DAYS", 30)? * 24 * 3600,
            ),
            metrics_token: match get("RALLY_METRICS_TOKEN").filter(|t| !t.is_empty()) {
                Some(token) => Some(Token(token)),
                None if production => bail!(
                    "RALLY_METRICS_TOKEN must be set when RALLY_ENV=production: /metrics shows queues and traffic, and only a scraper holding the token may read it"
                ),
                None => None,
            },
            job_heartbeat: Duration::from_secs(heartbeat_secs),
            job_poll_interval: Duration::from_millis(parse_or(&get, "RALLY_JOB_POLL_MS", 100)?),
            shutdown_timeout: Duration::from_secs(parse_or(
                &get,
                "RALLY_SHUTDOWN_TIMEOUT_SECS",
                25,
            )?),
            queue_backend: parse_or(&get, "RALLY_QUEUE_BACKEND", QueueBackend::Sql)?,
            sqs: jobs::SqsConfig {
                prefix: get("RALLY_SQS_QUEUE_PREFIX").unwrap_or_else(|| "rally".into()),
                max_receives: parse_or(&get, "RALLY_SQS_MAX_RECEIVES", 5)?,
                fifo: parse_or(&get, "RALLY_SQS_FIFO", false)?,
                wait: Duration::from_secs(
                    parse_or::<u64>(&get, "RALLY_SQS_WAIT_SECS", 20)?.min(20),
                ),
                visibility: Duration::from_secs(parse_or(&get, "RALLY_SQS_VISIBILITY_SECS", 60)?),
                // SQS's own maximum is 15 minutes; longer delays wait in
                // the database (see `jobs::delay`).
                max_delay: Duration::from_secs(
                    parse_or::<u64>(&get, "RALLY_SQS_MAX_DELAY_SECS", 900)?.min(900),
                ),
            },
            sqs_client: None,
            mail,
            listen_backlog: parse_or(&get, "RALLY_LISTEN_BACKLOG", 8192)?,
            signin_per_account_per_min: parse_or(&get, "RALLY_SIGNIN_PER_ACCOUNT_PER_MIN", 5)?,
            signin_per_ip_per_min: parse_or(&get, "RALLY_SIGNIN_PER_IP_PER_MIN", 30)?,
            signup_per_ip_per_min: parse_or(&get, "RALLY_SIGNUP_PER_IP_PER_MIN", 10)?,
            password_queue: parse_or(&get, "RALLY_PASSWORD_QUEUE", 16)?,
            public_url: match get("RALLY_PUBLIC_URL")
                .map(|u| u.trim_end_matches('/').to_string())
                .filter(|u| !u.is_empty())
            {
                Some(url) if url.starts_with("https://") || url.starts_with("http://") => Some(url),
                Some(url) => bail!("RALLY_PUBLIC_URL: expected an http(s) address, got {url:?}"),
                None if production => bail!(
                    "RALLY_PUBLIC_URL must be set when RALLY_ENV=production: links in emails are built from it"
                ),
                None if sends_real_mail => bail!(
                    "RALLY_PUBLIC_URL must be set when Mailgun is configured: links in emails are built from it, never from a request's Host header"
                ),
                None => None,
            },
            json_logs: parse_or(&get, "RALLY_LOG_JSON", production)?,
            operators: get("RALLY_OPERATORS")
                .unwrap_or_default()
                .split(',')
                .map(|email| email.trim().to_lowercase())
                .filter(|email| !email.is_empty())
                .collect(),
        })
    }

    /// The secret key: configured, or (outside production) generated once and
    /// kept beside the database so sessions and signed forms survive restarts.
    pub fn resolve_secret(&mut self) -> anyhow::Result<SecretKey> {
        if let Some(key) = &self.secret_key {
            return Ok(key.clone());
        }
        let Some(database) = self.database.sqlite_path() else {
            bail!(
                "RALLY_SECRET_KEY is required with a Postgres DATABASE_URL: every web and worker process must share one key"
            );
        };
        let mut path = database.as_os_str().to_owned();
        path.push(".secret");
        let path = PathBuf::from(path);
        let key = match std::fs::read(&path) {
            Ok(bytes) => SecretKey::new(bytes)
                .with_context(|| format!("secret key file {} is damaged", path.display()))?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let bytes = crate::platform::security::random_token().into_bytes();
                write_private(&path, &bytes)
                    .with_context(|| format!("cannot write secret key file {}", path.display()))?;
                tracing::warn!(
                    file = %path.display(),
                    "RALLY_SECRET_KEY is not set: generated one for development and saved it beside the database"
                );
                SecretKey::new(bytes)?
            }
            Err(err) => {
                return Err(err).with_context(|| format!("cannot read {}", path.display()));
            }
        };
        self.secret_key = Some(key.clone());
        Ok(key)
    }
}

fn mail_settings(
    get: &impl Fn(&str) -> Option<String>,
    production: bool,
) -> anyhow::Result<MailSettings> {
    let api_key = get("MAILGUN_API_KEY").filter(|k| !k.is_empty()).map(Token);
    let domain = get("MAILGUN_DOMAIN").filter(|d| !d.is_empty());
    if api_key.is_some() != domain.is_some() {
        bail!("MAILGUN_API_KEY and MAILGUN_DOMAIN must be set together");
    }
    if production && api_key.is_none() {
        bail!(
            "MAILGUN_API_KEY and MAILGUN_DOMAIN are required when RALLY_ENV=production: the development mailbox is for development"
        );
    }
    let region_base = match get("MAILGUN_REGION").as_deref().unwrap_or("us") {
        "us" => "https://api.mailgun.net",
        "eu" => "https://api.eu.mailgun.net",
        other => bail!("MAILGUN_REGION: expected us or eu, got {other:?}"),
    };
    Ok(MailSettings {
        mailgun_api_key: api_key,
        mailgun_domain: domain,
        mailgun_base_url: get("MAILGUN_BASE_URL").unwrap_or_else(|| region_base.to_string()),
        from: get("RALLY_EMAIL_FROM").unwrap_or_else(|| "Rally <no-reply@rally.localhost>".into()),
    })
}

fn parse_or<T>(get: &impl Fn(&str) -> Option<String>, key: &str, default: T) -> anyhow::Result<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    match get(key) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|e| anyhow::anyhow!("{key}: cannot parse {raw:?}: {e}")),
    }
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_work_on_a_laptop() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.bind.port(), 8080);
        assert_eq!(s.database, DatabaseUrl::Sqlite("rally.db".into()));
        assert_eq!(s.form_min_fill, Duration::from_millis(1500));
        assert_eq!(s.held_retention, Duration::from_secs(30 * 24 * 3600));
        assert_eq!(s.listen_backlog, 8192);
        assert!(!s.production);
    }

    #[test]
    fn port_is_honoured_and_errors_name_the_variable() {
        assert_eq!(settings(&[("PORT", "9000")]).unwrap().bind.port(), 9000);
        let err = settings(&[("PORT", "nine")]).unwrap_err().to_string();
        assert!(err.contains("PORT"), "{err}");
        let err = settings(&[("RALLY_ENV", "production")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("RALLY_SECRET_KEY"), "{err}");
        let err = settings(&[("RALLY_SECRET_KEY", "short")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("RALLY_SECRET_KEY"), "{err}");
    }

    #[test]
    fn production_refuses_to_start_without_a_metrics_token() {
        let production = [
            ("RALLY_ENV", "production"),
            (
                "RALLY_SECRET_KEY",
                "a-production-secret-key-of-enough-length",
            ),
            ("RALLY_PUBLIC_URL", "https://rally.example"),
            ("MAILGUN_API_KEY", "key-1"),
            ("MAILGUN_DOMAIN", "mg.rally.example"),
        ];
        let err = settings(&production).unwrap_err().to_string();
        assert!(err.contains("RALLY_METRICS_TOKEN"), "{err}");
        let mut with_token = production.to_vec();
        with_token.push(("RALLY_METRICS_TOKEN", "scraper-token"));
        assert!(settings(&with_token).unwrap().metrics_token.is_some());
        // Outside production /metrics may stay open on a laptop.
        assert!(settings(&[]).unwrap().metrics_token.is_none());
    }

    #[test]
    fn real_mail_needs_a_public_url() {
        let mailgun = [
            ("MAILGUN_API_KEY", "key-1"),
            ("MAILGUN_DOMAIN", "mg.rally.example"),
        ];
        let err = settings(&mailgun).unwrap_err().to_string();
        assert!(err.contains("RALLY_PUBLIC_URL"), "{err}");
        let mut with_url = mailgun.to_vec();
        with_url.push(("RALLY_PUBLIC_URL", "https://rally.example"));
        assert_eq!(
            settings(&with_url).unwrap().public_url.as_deref(),
            Some("https://rally.example")
        );
        // The development mailbox may build links from the request.
        assert!(settings(&[]).unwrap().public_url.is_none());
    }

    #[test]
    fn database_urls() {
        assert_eq!(
            DatabaseUrl::parse("sqlite:///tmp/x.db").unwrap(),
            DatabaseUrl::Sqlite("/tmp/x.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:data/r.db?mode=rwc").unwrap(),
            DatabaseUrl::Sqlite("data/r.db".into())
        );
        assert!(DatabaseUrl::parse("mysql://x").is_err());
        let pg = DatabaseUrl::parse("postgres://rally:hunter2@db.internal:5432/rally").unwrap();
        assert_eq!(
            pg,
            DatabaseUrl::Postgres("postgres://rally:hunter2@db.internal:5432/rally".into())
        );
        assert_eq!(
            format!("{pg:?}"),
            "postgres://rally:***@db.internal:5432/rally"
        );
        assert_eq!(
            format!(
                "{:?}",
                DatabaseUrl::parse("postgresql://localhost/rally").unwrap()
            ),
            "postgresql://localhost/rally"
        );
    }

    #[test]
    fn secret_is_redacted() {
        let key = SecretKey::new(vec![b'a'; 40]).unwrap();
        assert!(!format!("{key:?}").contains("aaa"));
    }
}
