//! The production-like deployment file is valid Compose and holds what it promises. (There
//! is no Docker engine here, so `config` is as far as it can be checked.)

use std::path::Path;
use std::process::Command;

/// `docker compose` (v2) or, failing that, `docker-compose` (v1).
fn compose() -> Option<Command> {
    let works = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if works("docker", &["compose"]) {
        let mut command = Command::new("docker");
        command.arg("compose");
        Some(command)
    } else if works("docker-compose", &[]) {
        Some(Command::new("docker-compose"))
    } else {
        None
    }
}

#[test]
fn the_compose_file_is_valid_and_runs_two_nodes_behind_a_proxy_on_the_four_services() {
    let Some(mut compose) = compose() else {
        assert_ne!(
            std::env::var("CONFAB_REQUIRE_SERVICES").as_deref(),
            Ok("1"),
            "no docker compose nor docker-compose (scripts/toolchain.sh compose installs it)"
        );
        eprintln!("skipped: no docker compose");
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = compose
        .current_dir(&root)
        .args(["-f", "docker-compose.yml", "config", "--services"])
        .output()
        .expect("run compose");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let services = String::from_utf8_lossy(&output.stdout);
    let mut names: Vec<&str> = services.lines().collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "confab-1", "confab-2", "kafka", "minio", "mongo", "proxy", "redis"
        ]
    );
}
