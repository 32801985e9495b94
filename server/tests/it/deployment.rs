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
    if compose().is_none() {
        assert_ne!(
            std::env::var("CONFAB_REQUIRE_SERVICES").as_deref(),
            Ok("1"),
            "no docker compose nor docker-compose (scripts/toolchain.sh compose installs it)"
        );
        eprintln!("skipped: no docker compose");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // An empty env file: no `.env` of a developer's is read.
    let project = tempfile::tempdir().expect("a temporary folder");
    let env_file = project.path().join("empty.env");
    std::fs::write(&env_file, "").expect("write");
    let required = [
        ("CONFAB_PUBLIC_URL", "https://chat.example.com"),
        ("S3_PUBLIC_ENDPOINT", "https://media.example.com"),
        ("S3_SECRET_ACCESS_KEY", "a-long-random-secret"),
    ];
    let config = |unset: Option<&str>| {
        let mut command = compose().expect("found above");
        command
            .current_dir(&root)
            .args(["-f", "docker-compose.yml", "--env-file"])
            .arg(&env_file)
            .args(["config", "--services"]);
        for (name, value) in required {
            command.env_remove(name);
            if Some(name) != unset {
                command.env(name, value);
            }
        }
        command.output().expect("run compose")
    };
    let output = config(None);
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
            "confab-1", "confab-2", "kafka", "mongo", "proxy", "redis", "s3"
        ]
    );
    // No loopback default stands in for what an operator must set: compose refuses, and
    // says which variable is missing.
    for (name, _) in required {
        let output = config(Some(name));
        assert!(!output.status.success(), "compose ran without {name}");
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(said.contains(name), "{said}");
    }
}

/// `kubernetes-validate` (scripts/toolchain.sh installs it), or `None` (skip) when this run
/// does not require the deployment tools.
fn kubernetes_validate() -> Option<Command> {
    let found = Command::new("kubernetes-validate")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some(Command::new("kubernetes-validate"));
    }
    assert_ne!(
        std::env::var("CONFAB_REQUIRE_SERVICES").as_deref(),
        Ok("1"),
        "no kubernetes-validate (scripts/toolchain.sh kubernetes-validate installs it)"
    );
    eprintln!("skipped: no kubernetes-validate");
    None
}

fn validate(files: &[std::path::PathBuf]) -> std::process::Output {
    kubernetes_validate()
        .expect("checked by the caller")
        .args(["--strict", "--kubernetes-version", "1.31.0"])
        .args(files)
        .output()
        .expect("run kubernetes-validate")
}

/// Every manifest in deploy/kubernetes passes the Kubernetes 1.31 schemas strictly (no
/// unknown field), the kustomization lists them all, and the probes and port are the ones
/// the server serves.
#[test]
fn the_kubernetes_manifests_are_valid_and_probe_what_the_server_serves() {
    if kubernetes_validate().is_none() {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes");
    let mut manifests: Vec<_> = std::fs::read_dir(&dir)
        .expect("deploy/kubernetes")
        .map(|entry| entry.expect("an entry").path())
        .filter(|path| {
            path.extension().is_some_and(|e| e == "yaml")
                && path.file_name().is_some_and(|n| n != "kustomization.yaml")
        })
        .collect();
    manifests.sort();
    let output = validate(&manifests);
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    let read = |name: &str| std::fs::read_to_string(dir.join(name)).expect(name);
    let kustomization = read("kustomization.yaml");
    for manifest in &manifests {
        let name = manifest
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a name");
        assert_eq!(
            kustomization.contains(&format!("- {name}")),
            name != "secret.example.yaml",
            "{name}: listed in the kustomization exactly when it is not the secret's example"
        );
    }
    let deployment = read("deployment.yaml");
    for probe in ["path: /healthz", "path: /readyz", "containerPort: 3000"] {
        assert!(deployment.contains(probe), "the deployment has {probe}");
    }
    assert!(read("configmap.yaml").contains("CONFAB_ADDR: \"0.0.0.0:3000\""));
}

/// The schema check can fail: a Deployment with a field of the wrong type and an unknown
/// field is refused (so the passing test above means something).
#[test]
fn the_kubernetes_schema_check_refuses_a_broken_manifest() {
    if kubernetes_validate().is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("a temporary folder");
    let broken = dir.path().join("broken.yaml");
    let deployment = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes/deployment.yaml"),
    )
    .expect("deployment.yaml")
    .replace("replicas: 2", "replicas: two\n  replicaz: 2");
    std::fs::write(&broken, deployment).expect("write");
    assert!(!validate(&[broken]).status.success());
}
