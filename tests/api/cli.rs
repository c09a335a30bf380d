//! The `rally` binary's commands and start-up errors.

use std::process::Command;

fn rally(db: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rally"));
    cmd.env("DATABASE_URL", format!("sqlite:{}", db.display()))
        .env(
            "RALLY_SECRET_KEY",
            "cli-test-secret-key-long-enough-for-hmac",
        )
        .env("RUST_LOG", "error");
    cmd
}

#[test]
fn migrate_then_export_prints_csv() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cli.db");
    let out = rally(&db).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(db.exists(), "migrate creates the database");

    // No such organization: a clear error, not a panic.
    let out = rally(&db)
        .args(["export", "prospects", "--org", "demo"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no organization with slug \"demo\""), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let db =
            rally::platform::db::connect(&rally::platform::config::DatabaseUrl::Sqlite(db.clone()))
                .await
                .unwrap();
        rally::app::demo::seed_demo(&db.write, "unused-hash")
            .await
            .unwrap();
        db.close().await;
    });
    let out = rally(&db)
        .args(["export", "prospects", "--org", "demo"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        // A UTF-8 byte-order mark first, for spreadsheets.
        "\u{feff}id,name,email,phone,company,source,created_at,submissions,stage,owner,owner_email,tags,notes,location,last_activity\n"
    );
}

#[test]
fn bad_settings_stop_start_up_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cli.db");
    for (var, value) in [
        ("PORT", "eighty"),
        ("RALLY_FORM_MIN_FILL_MS", "-1"),
        ("RALLY_SECRET_KEY", "short"),
    ] {
        let out = rally(&db).env(var, value).arg("serve").output().unwrap();
        assert!(!out.status.success(), "{var}={value} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(var), "{var}: {err}");
    }
    let out = rally(&db)
        .env_remove("RALLY_SECRET_KEY")
        .env("RALLY_ENV", "production")
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("RALLY_SECRET_KEY"));
}

/// Needs a Postgres server: runs in the suite's Postgres pass.
#[test]
fn a_missing_postgres_database_is_named_at_start_up() {
    let Ok(server) = std::env::var("RALLY_TEST_POSTGRES") else {
        eprintln!("RALLY_TEST_POSTGRES unset: covered by the Postgres pass");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let name = format!("rally_missing_{}", std::process::id());
    let out = rally(&dir.path().join("unused.db"))
        .env(
            "DATABASE_URL",
            format!("{}/{name}", server.trim_end_matches('/')),
        )
        .arg("migrate")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("Postgres database \"{name}\" does not exist")),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
