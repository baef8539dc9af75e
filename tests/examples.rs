//! The recipes in `examples/` work as written: every `minifleet` command line in a CI workflow
//! parses, and the workflow for teams without a daemon, run step by step on the embedded sandbox,
//! validates and plans the repository's fleet file with the exit codes its comments promise; the
//! example fleet files validate with their secrets in place; the container and the systemd unit
//! start minifleet with arguments and environment it knows, as a user that is not root.

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use clap::Parser;
use yaml_rust2::{Yaml, YamlLoader};

/// One `minifleet …` command of a workflow step, with where its output goes.
#[derive(Debug)]
struct Invocation {
    /// The arguments after `minifleet`.
    args: Vec<String>,
    stdout: Option<String>,
    stderr: Option<String>,
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// The workflow files under `examples/ci`.
fn workflows() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples().join("ci"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    files
}

/// The YAML documents of `path`, read by yaml-rust2 (the fleet file's own YAML library).
fn yaml_documents(path: &Path) -> Vec<Yaml> {
    let text = std::fs::read_to_string(path).unwrap();
    YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{}: not YAML: {e}", path.display()))
}

/// The `run:` scripts of every step of every job, in order.
fn run_scripts(workflow: &Path) -> Vec<String> {
    let doc = yaml_documents(workflow).swap_remove(0);
    assert!(!doc["on"].is_badvalue(), "{}: no `on:`", workflow.display());
    let jobs = doc["jobs"]
        .as_hash()
        .unwrap_or_else(|| panic!("{}: no `jobs:`", workflow.display()));
    jobs.values()
        .flat_map(|job| job["steps"].as_vec().cloned().unwrap_or_default())
        .filter_map(|step| step["run"].as_str().map(str::to_owned))
        .collect()
}

/// The `minifleet` commands of a shell script, with `$VAR`s replaced from `vars` (a simple shell:
/// line continuations, `&&` / `;` lists, double quotes and `>` / `2>` redirections).
fn invocations(script: &str, vars: &[(&str, &str)]) -> Vec<Invocation> {
    let joined = script.replace("\\\n", " ");
    let mut found = Vec::new();
    for command in joined
        .lines()
        .flat_map(|line| line.split("&&"))
        .flat_map(|part| part.split(';'))
    {
        let Some(rest) = command.trim().strip_prefix("minifleet ") else {
            continue;
        };
        let mut words = words(rest, vars).into_iter();
        let mut invocation = Invocation {
            args: Vec::new(),
            stdout: None,
            stderr: None,
        };
        while let Some(word) = words.next() {
            match word.as_str() {
                ">" => invocation.stdout = words.next(),
                "2>" => invocation.stderr = words.next(),
                _ => invocation.args.push(word),
            }
        }
        found.push(invocation);
    }
    found
}

/// Splits on blanks outside double quotes, expanding `$NAME` from `vars`.
fn words(command: &str, vars: &[(&str, &str)]) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut chars = command.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '$' => {
                let mut name = String::new();
                while let Some(&n) = chars
                    .peek()
                    .filter(|n| n.is_ascii_alphanumeric() || **n == '_')
                {
                    name.push(n);
                    chars.next();
                }
                let value = vars.iter().find(|(k, _)| *k == name).unwrap_or_else(|| {
                    panic!("`${name}` in `{command}` has no value in this test")
                });
                word.push_str(value.1);
            }
            c if c.is_whitespace() && !quoted => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

#[test]
fn every_minifleet_command_in_the_ci_examples_parses() {
    let workflows = workflows();
    assert!(
        workflows.len() >= 2,
        "the daemon and the no-daemon workflows: {workflows:?}"
    );
    let vars = [
        ("RUNNER_TEMP", "/tmp/runner"),
        ("GITHUB_OUTPUT", "/tmp/out"),
    ];
    for workflow in &workflows {
        let commands: Vec<Invocation> = run_scripts(workflow)
            .iter()
            .flat_map(|script| invocations(script, &vars))
            .collect();
        assert!(
            commands.iter().any(|c| c.args.iter().any(|a| a == "plan")),
            "{}: no `minifleet plan` step",
            workflow.display()
        );
        for command in &commands {
            let argv = std::iter::once("minifleet").chain(command.args.iter().map(String::as_str));
            if let Err(err) = minifleet::cli::Cli::try_parse_from(argv) {
                panic!(
                    "{}: `minifleet {}` does not parse:\n{err}",
                    workflow.display(),
                    command.args.join(" ")
                );
            }
        }
        let text = std::fs::read_to_string(workflow).unwrap();
        for script in text
            .match_indices("require('./.github/scripts/")
            .map(|(i, _)| &text[i..])
        {
            let name = script.split('\'').nth(1).unwrap();
            assert_eq!(
                name,
                "./.github/scripts/minifleet-plan-comment.js",
                "{}: the comment script it names is examples/ci/plan-comment.js",
                workflow.display()
            );
            assert!(examples().join("ci/plan-comment.js").is_file());
        }
    }
}

#[test]
fn the_ci_workflow_without_a_daemon_validates_and_plans_the_repository_fleet_as_written() {
    let work = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(root.join("fleet.yaml"), work.path().join("fleet.yaml")).unwrap();
    let runner_temp = work.path().join("runner-temp");
    std::fs::create_dir(&runner_temp).unwrap();
    let runner_temp = runner_temp.to_str().unwrap().to_owned();
    let vars = [
        ("RUNNER_TEMP", runner_temp.as_str()),
        ("GITHUB_OUTPUT", "/dev/null"),
    ];

    let commands: Vec<Invocation> = run_scripts(&examples().join("ci/plan-without-daemon.yml"))
        .iter()
        .flat_map(|script| invocations(script, &vars))
        .collect();
    let verbs: Vec<&str> = commands
        .iter()
        .filter_map(|c| {
            c.args
                .iter()
                .find(|a| !a.starts_with('-') && !a.contains('='))
        })
        .map(String::as_str)
        .collect();
    assert_eq!(verbs, ["validate", "plan"], "{commands:?}");

    let mut codes = Vec::new();
    for command in &commands {
        let output = Command::cargo_bin("minifleet")
            .unwrap()
            .current_dir(work.path())
            .env_remove("MINIFLEET_FLEET")
            .env_remove("MINIFLEET_STORE")
            .args(&command.args)
            .timeout(Duration::from_secs(180))
            .output()
            .unwrap();
        for (target, bytes) in [
            (&command.stdout, &output.stdout),
            (&command.stderr, &output.stderr),
        ] {
            if let Some(target) = target {
                std::fs::write(work.path().join(target), bytes).unwrap();
            }
        }
        codes.push(output.status.code());
    }
    // A fresh sandbox: the file is valid, and every app has changes pending (exit 2, not 1).
    assert_eq!(codes, [Some(0), Some(2)]);
    let plan = std::fs::read_to_string(work.path().join("plan.txt")).unwrap();
    assert!(plan.contains("Plan:"), "{plan}");
    assert!(plan.len() < 60_000, "the comment would be cut");
    let errors = std::fs::read_to_string(work.path().join("errors.txt")).unwrap();
    assert!(!errors.contains("error"), "{errors}");
    // The throwaway store went where the workflow put it, not beside the fleet file.
    assert!(Path::new(&runner_temp).join("minifleet-store").is_dir());
    assert!(!work.path().join(".minifleet").exists());
}

/// The example fleet files, copied beside the secrets they read (the test fixtures' keys) and
/// validated with the environment they name: every one is valid as written.
#[test]
fn every_example_fleet_file_validates_with_its_secrets_in_place() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = tempfile::tempdir().unwrap();
    let secrets = work.path().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    let fixtures = root.join("tests/fixtures/alipay");
    std::fs::copy(
        fixtures.join("app_private_pkcs8.pem"),
        secrets.join("alipay-app-private.pem"),
    )
    .unwrap();
    std::fs::copy(
        fixtures.join("alipay_public.pem"),
        secrets.join("alipay-public.pem"),
    )
    .unwrap();
    let mut fleets: Vec<PathBuf> = std::fs::read_dir(examples().join("fleets"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    fleets.sort();
    assert!(
        fleets.len() >= 4,
        "WeChat, Alipay, Douyin, both: {fleets:?}"
    );
    for fleet in &fleets {
        let text = std::fs::read_to_string(fleet).unwrap();
        assert!(
            !text.contains("api_base: sandbox") && !text.contains("gateway: sandbox"),
            "{}: the examples show the real platforms (the repository's fleet.yaml is the sandbox one)",
            fleet.display()
        );
        let copy = work.path().join(fleet.file_name().unwrap());
        std::fs::write(&copy, &text).unwrap();
        let output = Command::cargo_bin("minifleet")
            .unwrap()
            .current_dir(work.path())
            .env_remove("MINIFLEET_STORE")
            .env("WECHAT_COMPONENT_SECRET", "component-secret")
            .env("DOUYIN_APP_SECRET", "app-secret")
            .env("DOUYIN_PUSH_TOKEN", "push-token")
            .env(
                "DOUYIN_AES_KEY",
                "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
            )
            .env("WECHAT_PUSH_TOKEN", "push-token")
            .env(
                "WECHAT_AES_KEY",
                "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
            )
            .arg("-f")
            .arg(&copy)
            .arg("validate")
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}:\n{}",
            fleet.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        // Nothing was stored: validating makes no store.
        assert!(!work.path().join(".minifleet").exists());
    }
}

/// The JSON array of a Dockerfile instruction (`ENTRYPOINT ["a", "b"]`).
fn docker_array(dockerfile: &str, instruction: &str) -> Vec<String> {
    let line = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix(instruction)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {instruction} in the Dockerfile"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{instruction} {line}: {e}"))
}

/// The names `minifleet watch` reads from the environment (its `--help`'s `[env: …]`).
fn watch_env_names() -> Vec<String> {
    let help = Command::cargo_bin("minifleet")
        .unwrap()
        .args(["watch", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    help.split("[env: ")
        .skip(1)
        .filter_map(|rest| rest.split('=').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_container_runs_watch_as_a_user_that_is_not_root_with_the_store_on_its_volume() {
    let dockerfile = std::fs::read_to_string(examples().join("container/Dockerfile")).unwrap();
    let mut argv = docker_array(&dockerfile, "ENTRYPOINT");
    argv.extend(docker_array(&dockerfile, "CMD"));
    assert_eq!(argv[0], "minifleet");
    if let Err(err) = minifleet::cli::Cli::try_parse_from(&argv) {
        panic!("the container's command does not parse: {argv:?}\n{err}");
    }
    assert!(argv.iter().any(|a| a == "watch"), "{argv:?}");
    // Runs as a numeric, non-root user (Kubernetes' runAsNonRoot needs a number).
    let user = dockerfile
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER");
    let uid: u32 = user.trim().parse().expect("a numeric user");
    assert_ne!(uid, 0);
    // The store is the volume, and minifleet reads where it is from the environment.
    let volume = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("VOLUME "))
        .expect("a VOLUME")
        .trim();
    assert!(
        dockerfile.contains(&format!("MINIFLEET_STORE={volume}")),
        "the store is on the volume {volume}"
    );
    let known = watch_env_names();
    for name in ["MINIFLEET_STORE", "MINIFLEET_FLEET"] {
        assert!(dockerfile.contains(&format!("{name}=")), "{name} is set");
        assert!(
            known.iter().any(|k| k == name),
            "watch reads {name}: {known:?}"
        );
    }
    // It listens beyond loopback, on the port it exposes.
    let listen = argv.iter().position(|a| a == "--listen").expect("--listen");
    let port = argv[listen + 1].rsplit(':').next().unwrap();
    assert!(
        dockerfile.contains(&format!("EXPOSE {port}")),
        "EXPOSE {port}"
    );
}

#[test]
fn the_systemd_unit_starts_watch_with_arguments_it_knows_and_is_locked_down() {
    let path = examples().join("systemd/minifleet.service");
    let unit = std::fs::read_to_string(&path).unwrap();
    let value = |key: &str| -> Vec<&str> {
        unit.lines()
            .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .collect()
    };
    let exec = value("ExecStart");
    assert_eq!(exec.len(), 1, "{exec:?}");
    let argv: Vec<&str> = exec[0].split_whitespace().collect();
    assert!(argv[0].ends_with("/minifleet"), "{argv:?}");
    if let Err(err) = minifleet::cli::Cli::try_parse_from(&argv) {
        panic!("ExecStart does not parse: {argv:?}\n{err}");
    }
    let known = watch_env_names();
    for env in value("Environment") {
        let name = env.split('=').next().unwrap();
        if name.starts_with("MINIFLEET_") {
            assert!(
                known.iter().any(|k| k == name),
                "watch reads {name}: {known:?}"
            );
        }
    }
    assert_eq!(
        value("Environment")
            .iter()
            .filter(|e| e.starts_with("MINIFLEET_STORE=/var/lib/minifleet"))
            .count(),
        1
    );
    for (key, wanted) in [
        ("DynamicUser", "yes"),
        ("StateDirectory", "minifleet"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("CapabilityBoundingSet", ""),
        ("KillSignal", "SIGTERM"),
    ] {
        assert_eq!(value(key), [wanted], "{key}");
    }
    // Where systemd's own checker is installed, it accepts the unit (with a stand-in binary).
    if let Ok(out) = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
        && out.status.success()
    {
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("minifleet.service");
        std::fs::write(&copy, unit.replace(argv[0], "/bin/true")).unwrap();
        let verify = std::process::Command::new("systemd-analyze")
            .arg("verify")
            .arg(&copy)
            .output()
            .unwrap();
        assert!(
            verify.status.success(),
            "systemd-analyze verify: {}",
            String::from_utf8_lossy(&verify.stderr)
        );
    }
}

#[test]
fn the_kubernetes_statefulset_runs_one_shard_per_replica_with_its_own_store() {
    let docs = yaml_documents(&examples().join("kubernetes/minifleet.yaml"));
    let kind = |k: &str| -> Vec<&Yaml> {
        docs.iter()
            .filter(|d| d["kind"].as_str() == Some(k))
            .collect()
    };
    let set = kind("StatefulSet")[0];
    let replicas = set["spec"]["replicas"].as_i64().expect("replicas");
    let pod = &set["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let args: Vec<String> = container["args"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let argv: Vec<&str> = std::iter::once("minifleet")
        .chain(args.iter().map(String::as_str))
        .collect();
    if let Err(err) = minifleet::cli::Cli::try_parse_from(&argv) {
        panic!("the container's arguments do not parse: {argv:?}\n{err}");
    }
    let shard = args.iter().position(|a| a == "--shard").expect("--shard");
    assert_eq!(
        args[shard + 1],
        format!("pod/{replicas}"),
        "N is the replica count"
    );
    // Each replica's store is its own volume, where minifleet is told to keep it.
    let env: Vec<(&str, &str)> = container["env"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["value"].as_str().unwrap()))
        .collect();
    let known = watch_env_names();
    for (name, _) in &env {
        assert!(known.iter().any(|k| k == name), "watch reads {name}");
    }
    let store = env.iter().find(|(n, _)| *n == "MINIFLEET_STORE").unwrap().1;
    let mounts = container["volumeMounts"].as_vec().unwrap();
    let store_mount = mounts
        .iter()
        .find(|m| m["mountPath"].as_str() == Some(store))
        .expect("the store is mounted");
    let claims = set["spec"]["volumeClaimTemplates"].as_vec().unwrap();
    assert!(
        claims
            .iter()
            .any(|c| c["metadata"]["name"] == store_mount["name"]),
        "a volume per replica"
    );
    let fleet = env.iter().find(|(n, _)| *n == "MINIFLEET_FLEET").unwrap().1;
    assert!(
        mounts
            .iter()
            .any(|m| fleet.starts_with(m["mountPath"].as_str().unwrap())
                && m["readOnly"].as_bool() == Some(true))
    );
    // Probes on the daemon's endpoints; not root; time to stop gracefully.
    assert_eq!(
        container["readinessProbe"]["httpGet"]["path"].as_str(),
        Some("/readyz")
    );
    assert_eq!(
        container["livenessProbe"]["httpGet"]["path"].as_str(),
        Some("/healthz")
    );
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    assert_ne!(pod["securityContext"]["runAsUser"].as_i64(), Some(0));
    assert!(
        pod["terminationGracePeriodSeconds"].as_i64().unwrap() > 30,
        "more than watch's --grace"
    );
    // Pushes reach any replica, which relays them: the push Service selects every replica, and
    // `--shard-peers` names each replica through the headless Service, on the port it serves.
    let push = kind("Service")
        .into_iter()
        .find(|s| s["metadata"]["name"].as_str() == Some("minifleet-push"))
        .expect("a Service for pushes");
    assert_eq!(
        push["spec"]["selector"], set["spec"]["template"]["metadata"]["labels"],
        "the push Service selects every replica"
    );
    let peers = args
        .iter()
        .position(|a| a == "--shard-peers")
        .expect("--shard-peers");
    let headless = set["spec"]["serviceName"].as_str().unwrap();
    let name = set["metadata"]["name"].as_str().unwrap();
    let port = container["ports"][0]["containerPort"].as_i64().unwrap();
    assert_eq!(
        args[peers + 1],
        format!("http://{name}-{{i}}.{headless}:{port}"),
        "each replica by its stable name"
    );
    assert!(
        kind("Service")
            .iter()
            .any(|s| s["metadata"]["name"].as_str() == Some(headless)
                && s["spec"]["clusterIP"].as_str() == Some("None")),
        "{headless} is a headless Service"
    );
}
