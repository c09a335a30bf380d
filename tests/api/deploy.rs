//! The deployment files say what the code does: fly.toml's process groups
//! run real `rally` commands, health checks hit real routes, migrations run
//! on release, and Fly waits longer than the graceful drain takes.

use std::process::Command;

fn fly() -> toml::Table {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fly.toml")).unwrap();
    text.parse().expect("fly.toml parses")
}

fn get<'a>(table: &'a toml::Table, path: &str) -> &'a toml::Value {
    let mut parts = path.split('.');
    let mut value = table
        .get(parts.next().unwrap())
        .unwrap_or_else(|| panic!("no {path}"));
    for part in parts {
        value = value
            .get(part)
            .unwrap_or_else(|| panic!("no {path} in fly.toml"));
    }
    value
}

/// Runs a fly.toml command line with `--help` appended: clap accepts it
/// only if every subcommand and flag exists.
fn accepted(command: &str) -> bool {
    let mut words = command.split_whitespace();
    assert_eq!(words.next(), Some("rally"), "{command}");
    Command::new(env!("CARGO_BIN_EXE_rally"))
        .args(words)
        .arg("--help")
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn fly_toml_runs_web_and_worker_groups_with_checks_and_a_release_command() {
    let fly = fly();
    let web = get(&fly, "processes.web").as_str().unwrap();
    let worker = get(&fly, "processes.worker").as_str().unwrap();
    assert!(
        web.contains("serve") && web.contains("--no-workers"),
        "{web}"
    );
    assert!(worker.starts_with("rally worker"), "{worker}");
    assert!(accepted(web) && accepted(worker));

    let release = get(&fly, "deploy.release_command").as_str().unwrap();
    assert_eq!(release, "rally migrate");
    assert!(accepted(release));

    let http = get(&fly, "http_service");
    assert_eq!(
        http["processes"].as_array().unwrap(),
        &vec![toml::Value::from("web")],
        "only the web group takes HTTP"
    );
    assert_eq!(http["internal_port"].as_integer(), Some(8080));
    let paths: Vec<&str> = http["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["/healthz", "/readyz"]);

    // Fly kills a machine kill_timeout seconds after SIGTERM: the drain
    // must fit inside it.
    let drain: u64 = get(&fly, "env.RALLY_SHUTDOWN_TIMEOUT_SECS")
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let kill = get(&fly, "kill_timeout").as_integer().unwrap() as u64;
    assert_eq!(get(&fly, "kill_signal").as_str(), Some("SIGTERM"));
    assert!(
        kill > drain && kill <= drain + 10,
        "kill {kill}, drain {drain}"
    );
    let settings = rally::platform::config::Settings::from_lookup(|key| {
        (key == "RALLY_SHUTDOWN_TIMEOUT_SECS").then(|| drain.to_string())
    })
    .unwrap();
    assert_eq!(settings.shutdown_timeout.as_secs(), drain);
}

#[test]
fn dockerfile_is_multi_stage_and_runs_as_a_user() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile")).unwrap();
    let stages = text.lines().filter(|l| l.starts_with("FROM ")).count();
    assert_eq!(stages, 2, "build and runtime stages");
    assert!(
        text.contains("FROM debian:bookworm-slim"),
        "small runtime image"
    );
    let user = text
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER line");
    assert_ne!(user.trim(), "root");
    assert!(text.contains("CMD [\"rally\", \"serve\"]"));
}

/// fly.toml's environment plus the secrets docs/deploy.md lists is a
/// configuration production accepts; without the Mailgun secrets it is not.
#[test]
fn fly_environment_with_its_secrets_is_a_valid_production_configuration() {
    let fly = fly();
    let env = get(&fly, "env").as_table().unwrap().clone();
    let lookup = |with_mail: bool| {
        let env = env.clone();
        move |key: &str| -> Option<String> {
            if let Some(value) = env.get(key) {
                return value.as_str().map(str::to_string);
            }
            match key {
                "DATABASE_URL" => Some("postgres://rally:secret@db.internal:5432/rally".into()),
                "RALLY_SECRET_KEY" => Some("a-production-secret-key-of-enough-length".into()),
                "MAILGUN_API_KEY" if with_mail => Some("key-123".into()),
                "MAILGUN_DOMAIN" if with_mail => Some("mg.rally.example".into()),
                "RALLY_METRICS_TOKEN" => Some("a-metrics-token".into()),
                _ => None,
            }
        }
    };
    let settings =
        rally::platform::config::Settings::from_lookup(lookup(true)).expect("valid settings");
    assert!(settings.production);
    assert!(
        settings
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    );
    let err = rally::platform::config::Settings::from_lookup(lookup(false))
        .unwrap_err()
        .to_string();
    assert!(err.contains("MAILGUN_API_KEY"), "{err}");
}
