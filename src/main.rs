//! The `rally` command: parse the CLI, load settings, start telemetry, run.

use anyhow::Context;
use clap::{Parser, Subcommand};
use rally::{
    app::App,
    platform::{config::Settings, db, telemetry},
};

/// mimalloc rather than glibc's allocator: a form submission makes a few
/// dozen small allocations, and glibc's malloc and free (with the free-list
/// consolidation behind them) were about 12% of its CPU in a profile.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "rally", version, about = "Capture prospects at any scale")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web server with in-process workers.
    Serve {
        /// Address to listen on (default 0.0.0.0:$PORT, PORT defaulting to 8080).
        #[arg(long)]
        bind: Option<std::net::SocketAddr>,
        /// Seed the demo organization, owner and form at /f/demo.
        #[arg(long)]
        demo: bool,
        /// Serve the web only; jobs wait for a process that runs workers.
        #[arg(long)]
        no_workers: bool,
    },
    /// Run job workers only (no HTTP), until SIGTERM or Ctrl-C.
    Worker {
        /// Queues to work, comma-separated (default: all).
        #[arg(long, value_delimiter = ',')]
        queues: Vec<String>,
        /// Jobs run at once per queue (default: RALLY_WORKER_CONCURRENCY).
        #[arg(long)]
        concurrency: Option<usize>,
    },
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Manage SQS queues.
    Queues {
        #[command(subcommand)]
        what: Queues,
    },
    /// Simulate an audience against a form: everyone opens it, then sends at once.
    Rehearse {
        /// The form's address, e.g. http://localhost:8080/f/demo.
        #[arg(long)]
        url: String,
        /// How many people.
        #[arg(long)]
        people: usize,
        /// Milliseconds between opening the form and pressing Send.
        #[arg(long, default_value_t = 2000)]
        think_ms: u64,
        /// Forms opened at once while the audience arrives.
        #[arg(long, default_value_t = 100)]
        arrival_concurrency: usize,
        /// Per-request timeout in seconds.
        #[arg(long, default_value_t = 30)]
        timeout_secs: u64,
        /// The instance's database (sqlite:PATH or postgres://…): wait for processing and check duplicates.
        #[arg(long, conflicts_with = "metrics_url")]
        database: Option<String>,
        /// The instance's /metrics address: wait for processing (deployed instances).
        #[arg(long)]
        metrics_url: Option<String>,
        /// Bearer token for --metrics-url (the instance's RALLY_METRICS_TOKEN).
        #[arg(long, env = "RALLY_METRICS_TOKEN", hide_env_values = true)]
        metrics_token: Option<String>,
        /// Send each submission on a new connection, as phones that filled
        /// the form for a minute reconnect to send (the default reuses the
        /// connection that fetched the form); connect times are reported.
        #[arg(long)]
        fresh_connections: bool,
        /// Instead of all at once, send one submission every this many
        /// milliseconds and report how long each took from its answer to
        /// being processed (needs --database or --metrics-url).
        #[arg(long)]
        trickle_ms: Option<u64>,
        /// No progress bars (for scripts).
        #[arg(long)]
        quiet: bool,
    },
    /// Write data out.
    Export {
        #[command(subcommand)]
        what: Export,
    },
    /// Manage the deployment's operators (who see every organization's jobs
    /// at /ops/jobs; also RALLY_OPERATORS).
    Operators {
        #[command(subcommand)]
        what: Operators,
    },
}

#[derive(Subcommand)]
enum Operators {
    /// Make the account with this address an operator (once it is confirmed).
    Add { email: String },
    /// Stop this address being an operator.
    Remove { email: String },
    /// List the stored operators (RALLY_OPERATORS is listed separately).
    List,
}

#[derive(Subcommand)]
enum Queues {
    /// Create every queue and its dead-letter queue under
    /// RALLY_SQS_QUEUE_PREFIX (or update their settings); safe to repeat.
    Create,
}

#[derive(Subcommand)]
enum Export {
    /// An organization's prospects as CSV on standard output.
    Prospects {
        /// The organization's slug.
        #[arg(long)]
        org: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut settings = Settings::from_env()?;
    telemetry::init(settings.json_logs);
    match cli.command {
        Command::Serve {
            bind,
            demo,
            no_workers,
        } => {
            if let Some(bind) = bind {
                settings.bind = bind;
            }
            let app = App::build(settings, demo, !no_workers).await?;
            let token = app.shutdown_token();
            tokio::spawn(async move {
                shutdown_signal().await;
                tracing::info!("shutting down");
                token.cancel();
            });
            tracing::info!(addr = %app.addr, "Rally is listening");
            if let Some(demo) = &app.demo {
                println!("Demo form:  http://{}/f/demo", display_addr(app.addr));
                println!("Sign in at: http://{}/signin", display_addr(app.addr));
                println!("  email:    {}", demo.email);
                println!("  password: {}", demo.password);
            }
            app.run().await
        }
        Command::Queues {
            what: Queues::Create,
        } => {
            let sqs = rally::app::sqs_queue(&settings).await;
            let names = sqs
                .create_queues(&rally::app::work::queues())
                .await
                .context("creating SQS queues")?;
            for name in names {
                println!("{name}");
            }
            Ok(())
        }
        Command::Worker {
            queues,
            concurrency,
        } => {
            let worker = rally::app::WorkerProcess::build(settings, &queues, concurrency).await?;
            let token = worker.shutdown_token();
            tokio::spawn(async move {
                shutdown_signal().await;
                tracing::info!("shutting down");
                token.cancel();
            });
            tracing::info!("Rally workers are running");
            worker.run().await
        }
        Command::Rehearse {
            url,
            people,
            think_ms,
            arrival_concurrency,
            timeout_secs,
            database,
            metrics_url,
            metrics_token,
            fresh_connections,
            trickle_ms,
            quiet,
        } => {
            let watch = match (database, metrics_url) {
                (Some(db), _) => Some(rally::intake::rehearse::Watch::Database(
                    rally::platform::config::DatabaseUrl::parse(&db).context("--database")?,
                )),
                (None, Some(url)) => Some(rally::intake::rehearse::Watch::Metrics {
                    url,
                    token: metrics_token,
                }),
                (None, None) => None,
            };
            let report = rally::intake::rehearse::run(rally::intake::rehearse::Options {
                url,
                people,
                think: std::time::Duration::from_millis(think_ms),
                arrival_concurrency,
                timeout: std::time::Duration::from_secs(timeout_secs),
                watch,
                progress: !quiet,
                fresh_connections,
                trickle: trickle_ms.map(std::time::Duration::from_millis),
            })
            .await?;
            print!("{report}");
            Ok(())
        }
        Command::Migrate => {
            let db = db::connect(&settings.database).await?;
            rally::app::migrate(&db.write)
                .await
                .context("migrating the database")?;
            println!("database is up to date");
            Ok(())
        }
        Command::Operators { what } => {
            let db = db::connect(&settings.database).await?;
            rally::app::migrate(&db.write).await?;
            let parse = |email: &str| {
                rally::platform::text::Email::parse(email)
                    .map_err(|problem| anyhow::anyhow!("{email:?}: {problem}"))
            };
            match what {
                Operators::Add { email } => {
                    let email = parse(&email)?;
                    rally::organizations::operators::add(&db.write, &email).await?;
                    println!("{} is an operator", email.as_str());
                }
                Operators::Remove { email } => {
                    let email = parse(&email)?;
                    if rally::organizations::operators::remove(&db.write, &email).await? {
                        println!("{} is no longer an operator", email.as_str());
                    } else {
                        anyhow::bail!("{} was not a stored operator", email.as_str());
                    }
                }
                Operators::List => {
                    for email in rally::organizations::operators::list(&db.read).await? {
                        println!("{email}");
                    }
                    for email in &settings.operators {
                        println!("{email} (RALLY_OPERATORS)");
                    }
                }
            }
            Ok(())
        }
        Command::Export {
            what: Export::Prospects { org },
        } => {
            let db = db::connect(&settings.database).await?;
            rally::app::migrate(&db.write).await?;
            rally::prospects::export::prospects(&db.read, &org, std::io::stdout().lock()).await?;
            Ok(())
        }
    }
}

/// 0.0.0.0 is where we listen, not an address a browser can open.
fn display_addr(addr: std::net::SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("localhost:{}", addr.port())
    } else {
        addr.to_string()
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
