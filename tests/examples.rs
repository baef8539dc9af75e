//! The recipes in `examples/` work as written: every `minifleet` command line in a CI workflow
//! parses, and the workflow for teams without a daemon, run step by step on the embedded sandbox,
//! validates and plans the repository's fleet file with the exit codes its comments promise.

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use clap::Parser;

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

/// The `run:` scripts of every step of every job, in order.
fn run_scripts(workflow: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(workflow).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text)
        .unwrap_or_else(|e| panic!("{}: not YAML: {e}", workflow.display()));
    assert!(doc.get("on").is_some(), "{}: no `on:`", workflow.display());
    let jobs = doc["jobs"]
        .as_mapping()
        .unwrap_or_else(|| panic!("{}: no `jobs:`", workflow.display()));
    jobs.values()
        .flat_map(|job| job["steps"].as_sequence().cloned().unwrap_or_default())
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
