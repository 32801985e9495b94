//! The production-like deployment file is valid Compose and holds what it promises. (There
//! is no Docker engine here, so `config` is as far as it can be checked.)

use std::path::Path;
use std::process::Command;
use std::time::Duration;

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

/// nginx, or `None` (skip) when this run does not require the deployment tools.
fn nginx() -> Option<&'static str> {
    let found = |path: &str| {
        std::process::Command::new(path)
            .arg("-v")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if let Some(path) = ["nginx", "/usr/sbin/nginx"].into_iter().find(|p| found(p)) {
        return Some(path);
    }
    assert_ne!(
        std::env::var("CONFAB_REQUIRE_SERVICES").as_deref(),
        Ok("1"),
        "no nginx (scripts/toolchain.sh nginx installs it)"
    );
    eprintln!("skipped: no nginx");
    None
}

/// The compose file's proxy, run for real: `deploy/nginx.conf` with its two upstreams on
/// two Confab nodes that share nothing (so a request reaching the wrong one is refused).
/// Each client gets a random route cookie on its first response, and with it every
/// long-polling request of its Socket.IO session reaches the node that holds the session;
/// clients spread over both nodes, where `ip_hash` put everyone from one address on one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_keeps_each_session_on_one_node_by_cookie_and_spreads_clients() {
    use crate::cluster::{Node, embedded_env, free_port};

    let Some(nginx) = nginx() else {
        return;
    };
    let (data_a, data_b) = (
        tempfile::tempdir().expect("a"),
        tempfile::tempdir().expect("b"),
    );
    let (a, b) = (
        Node::start(&embedded_env(data_a.path(), &[])).await,
        Node::start(&embedded_env(data_b.path(), &[])).await,
    );

    let dir = tempfile::tempdir().expect("nginx's folder");
    let port = free_port();
    let shipped =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/nginx.conf"))
            .expect("deploy/nginx.conf");
    // Only the addresses change: the compose network's names become the two nodes.
    let mut site = shipped.clone();
    for (from, to) in [
        ("server confab-1:3000", format!("server {}", a.app.addr)),
        ("server confab-2:3000", format!("server {}", b.app.addr)),
        ("listen 80;", format!("listen 127.0.0.1:{port};")),
    ] {
        assert!(site.contains(from), "deploy/nginx.conf has `{from}`");
        site = site.replace(from, &to);
    }
    let d = dir.path().display();
    std::fs::write(dir.path().join("confab.conf"), site).expect("write");
    std::fs::write(
        dir.path().join("nginx.conf"),
        format!(
            "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{}}\nhttp {{\n  log_format routed '$upstream_addr $request_uri';\n  \
             access_log {d}/access.log routed;\n  client_body_temp_path {d}/body;\n  \
             proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  \
             uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
             include {d}/confab.conf;\n}}\n"
        ),
    )
    .expect("write");
    let mut proxy = Proxy(
        std::process::Command::new(nginx)
            .args(["-p", &d.to_string(), "-c", &format!("{d}/nginx.conf")])
            .spawn()
            .expect("start nginx"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while reqwest::get(format!("{base}/healthz")).await.is_err() {
        if let Ok(Some(status)) = proxy.0.try_wait() {
            let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
            panic!("nginx exited ({status}): {log}");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "nginx does not answer"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    const CLIENTS: usize = 16;
    let polling = format!("{base}/socket.io/?EIO=4&transport=polling");
    for client in 0..CLIENTS {
        // One browser: it keeps the cookies it is given.
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .expect("a client");
        let open = http.get(&polling).send().await.expect("handshake");
        assert_eq!(open.status().as_u16(), 200, "client {client}");
        let route = open
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("confab_route="))
            .map(str::to_owned);
        let route = route.unwrap_or_else(|| panic!("client {client}: no route cookie"));
        assert!(route.contains("HttpOnly"), "{route}");
        let body = open.text().await.expect("the handshake");
        let sid = body
            .split("\"sid\":\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("no sid in {body}"))
            .to_owned();
        let session = format!("{polling}&sid={sid}");
        // Several requests of the session (engine.io pongs, then the namespace's connect):
        // each must reach the node that made it (the other answers 400, "Session ID
        // unknown").
        for (round, packet) in ["3", "3", "3", "40"].into_iter().enumerate() {
            let post = http.post(&session).body(packet).send().await.expect("post");
            assert_eq!(
                post.status().as_u16(),
                200,
                "client {client}, request {round}: it went to another node than its session"
            );
            assert!(
                post.headers().get("set-cookie").is_none(),
                "the route cookie is set again"
            );
        }
        // The answer to the connect (refused: no token) waits on the same node; a poll may
        // bring only the server's ping first (packets are separated by a record separator).
        let mut answers = String::new();
        for _ in 0..3 {
            let poll = http.get(&session).send().await.expect("poll");
            assert_eq!(poll.status().as_u16(), 200, "client {client}");
            answers += &poll.text().await.expect("an answer");
            if answers
                .split('\u{1e}')
                .any(|packet| packet.starts_with("44"))
            {
                break;
            }
            answers.push('\u{1e}');
        }
        assert!(
            answers
                .split('\u{1e}')
                .any(|packet| packet.starts_with("44")),
            "client {client}: {answers}"
        );
    }

    // Where each client's handshake went.
    let log = std::fs::read_to_string(dir.path().join("access.log")).expect("the access log");
    let handshakes: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("transport=polling") && !line.contains("sid="))
        .filter_map(|line| line.split(' ').next())
        .collect();
    assert_eq!(handshakes.len(), CLIENTS, "{log}");
    let on_a = handshakes
        .iter()
        .filter(|up| **up == a.app.addr.to_string())
        .count();
    assert!(
        on_a > 0 && on_a < CLIENTS,
        "{on_a} of {CLIENTS} clients on one node: not spread\n{log}"
    );
    drop(proxy);
}

/// nginx in the foreground, stopped as its own signals say: SIGTERM ends the master and
/// its workers (a SIGKILL would leave the workers running).
struct Proxy(std::process::Child);

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}
