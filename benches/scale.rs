//! The scale benchmark (issue 7, BENCHMARKS.md): validate + plan at 100k apps from stored
//! observations, then a rollout, a no-op dry run and a one-app-at-a-time baseline against a
//! standalone `minifleet sandbox` with injected latency, and the daemon's steady state (calls per
//! app per resync of a converged fleet). Run with `cargo bench --bench scale`;
//! sizes and parts come from `MF_BENCH_*` environment variables (see [`Config`]).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use minifleet::daemon::rows;
use minifleet::fleet::{self, Fleet};
use minifleet::model::{Audit, AuditStatus, Build, Desired, Live, Observed, fingerprint_tag};
use minifleet::plan::rollout::{self, Member, Progress};
use minifleet::sandbox::RemoteSandbox;
use minifleet::sandbox::admin::Calls;
use minifleet::store::Store;

/// The allocator of the `minifleet` binary, so part (a) measures what the binary does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The binary under test.
const MINIFLEET: &str = env!("CARGO_BIN_EXE_minifleet");

/// What to run, from the environment.
#[derive(Debug, Clone)]
struct Config {
    /// `MF_BENCH_PARTS`: which parts, e.g. `a,b,c,d,e,f,g` (default all).
    parts: String,
    /// `MF_BENCH_PLAN_APPS`: the fleet sizes of part (a), comma-separated (default
    /// `1000,10000,100000`; the targets are for 100k).
    plan_apps: Vec<usize>,
    /// `MF_BENCH_PLAN_RUNS`: how many times part (a) runs; medians are reported (default 5).
    plan_runs: usize,
    /// `MF_BENCH_APPS`: apps of parts (b) and (c) (default 10000).
    apps: usize,
    /// `MF_BENCH_BASELINE_APPS`: apps the baseline (d) observes one by one (default 200);
    /// its time is scaled to `MF_BENCH_APPS`.
    baseline_apps: usize,
    /// `MF_BENCH_LATENCY_MS`: the sandbox's per-call latency (default 50).
    latency_ms: u64,
    /// `MF_BENCH_CONCURRENCY`: `--concurrency` of (b) and (c) (default 64).
    concurrency: usize,
    /// `MF_BENCH_RESYNC`: `watch --resync` of part (e) (default 10s).
    resync: Duration,
    /// `MF_BENCH_WINDOW`: how long part (e) counts resyncs, per setting (default 120s).
    window: Duration,
    /// `MF_BENCH_WAVES`: the fleet's `rollout` waves (default 4: regions r0, r1, r2, then the
    /// rest; 0: no rollout section).
    waves: usize,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

impl Config {
    fn from_env() -> Config {
        Config {
            parts: env_or("MF_BENCH_PARTS", "a,b,c,d,e,f,g".to_string()),
            plan_apps: env_or("MF_BENCH_PLAN_APPS", "1000,10000,100000".to_string())
                .split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect(),
            plan_runs: env_or("MF_BENCH_PLAN_RUNS", 5).max(1),
            apps: env_or("MF_BENCH_APPS", 10_000),
            baseline_apps: env_or("MF_BENCH_BASELINE_APPS", 200),
            latency_ms: env_or("MF_BENCH_LATENCY_MS", 50),
            concurrency: env_or("MF_BENCH_CONCURRENCY", 64),
            resync: Duration::from_secs(env_or("MF_BENCH_RESYNC", 10)),
            window: Duration::from_secs(env_or("MF_BENCH_WINDOW", 120)),
            waves: env_or("MF_BENCH_WAVES", 4),
        }
    }

    fn runs(&self, part: &str) -> bool {
        self.parts.split(',').any(|p| p.trim() == part)
    }
}

/// The `rollout` section of `waves` waves: one per region `r0`, `r1`, … (a canary of one app in
/// seven, a quarter of it at a time; the next ones half at a time), the last takes the rest; and
/// a `quota` section giving region `r0` priority.
fn rollout_yaml(waves: usize) -> String {
    if waves == 0 {
        return String::new();
    }
    let mut yaml = String::from("rollout:\n  waves:\n");
    for w in 0..waves - 1 {
        let max_update = if w == 0 { "25%" } else { "50%" };
        yaml.push_str(&format!(
            "    - {{ name: r{w}, match: {{ region: r{w} }}, max_update: {max_update} }}\n"
        ));
    }
    yaml.push_str("    - { name: rest }\n");
    // The quota's ledger too: slots kept for new merchants, the canary region first in line.
    yaml.push_str(
        "quota:\n  reserve: 5\n  priority:\n    - { match: { region: r0 }, priority: 10 }\n",
    );
    yaml
}

/// A fleet file of `n` apps, WeChat, Alipay and Douyin in turn; the first `base` carry
/// `base: "yes"`; with a `rollout` of `waves` waves.
fn fleet_yaml(n: usize, base: usize, sandbox_url: Option<&str>, waves: usize) -> String {
    let mut yaml = String::from(
        "version: 1\n\
         platforms:\n  wechat:\n    component_appid: wx00000000000000aa\n    api_base: sandbox\n\
         \x20 alipay:\n    app_id: \"2021000000000000\"\n    gateway: sandbox\n\
         \x20 douyin:\n    component_appid: tt00000000000000aa\n    api_base: sandbox\n\
         templates:\n  shop:\n    wechat: { template_id: 7 }\n    alipay: { template_id: \"2021000000000100\", template_version: 0.0.3 }\n    douyin: { template_id: 9133504853504535288 }\n\
         defaults:\n  template: shop\n  version: 1.0.0\n  description: Bench build\n  ext: { apiBase: https://api.example.com, theme: classic }\n  testers: []\n  gray: 100\n  stage: release\n  audit:\n    items:\n      - { address: pages/index/index, tag: shop, first_class: 餐饮, second_class: 餐厅, first_id: 220, second_id: 225, title: Home }\n\
         sandbox:\n  audit_delay: 0s\n  privacy_scan: 0s\n",
    );
    if let Some(url) = sandbox_url {
        yaml.push_str(&format!("  url: {url}\n"));
    }
    yaml.push_str(&rollout_yaml(waves));
    yaml.push_str("apps:\n");
    for i in 0..n {
        let (platform, appid) = match i % 3 {
            0 => ("wechat", format!("wx{i:016x}")),
            1 => ("alipay", format!("2021{i:012}")),
            _ => ("douyin", format!("tt{i:016x}")),
        };
        let base = if i < base { "yes" } else { "no" };
        yaml.push_str(&format!(
            "  - name: app-{i:06}\n    platform: {platform}\n    appid: \"{appid}\"\n    labels: {{ base: \"{base}\", region: r{} }}\n    ext: {{ shopId: \"{i}\" }}\n",
            i % 7
        ));
    }
    yaml
}

/// What the platform shows for an app that runs its wanted build everywhere.
fn in_sync(app: &Desired) -> Observed {
    let build = Build {
        version: app.version.clone(),
        fingerprint: Some(app.fingerprint.clone()),
        description: format!("{} {}", app.description, fingerprint_tag(&app.fingerprint)),
    };
    let alipay = app.platform == minifleet::platform::alipay::spec::KIND;
    Observed {
        authorized: true,
        experience: Some(build.clone()),
        audit: Some(Audit {
            id: "1".into(),
            build: build.clone(),
            status: AuditStatus::Approved,
            reason: None,
        }),
        live: Some(Live {
            build: build.clone(),
            gray: (app.gray < 100).then_some(app.gray),
        }),
        previous: None,
        members: app.testers.clone(),
        builds: if alipay { vec![build] } else { Vec::new() },
        dev_builds: Vec::new(),
        probe: None,
        wanted: None,
        domains: None,
        jump: None,
    }
}

/// Peak resident memory of this process, from `/proc/self/status` (`VmHWM`), in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Part (a), setup: the fleet file and a store holding an in-sync observation of every app.
fn plan_setup(apps: usize, dir: &Path, waves: usize) -> PathBuf {
    let path = dir.join("fleet.yaml");
    std::fs::write(&path, fleet_yaml(apps, 0, None, waves)).expect("write the fleet file");
    let fleet = fleet::load(&path, minifleet::platform::registry::SPECS)
        .expect("the generated fleet validates");
    let store = Store::open(&dir.join("store")).expect("open the store");
    for app in &fleet.apps {
        store
            .put_observation(&app.appid, &in_sync(app), 1)
            .expect("store an observation");
    }
    store.flush().expect("flush the store");
    path
}

/// Part (a), measured in a child process so its peak RSS is the planner's alone. It runs what
/// `minifleet status` runs: open the store, then load the fleet while a second thread plans each
/// app from its stored observation and record as soon as it is read ([`fleet::load_with`] with
/// [`rows::status_row`]).
fn plan_child(dir: &Path) {
    let started = Instant::now();
    let store = Store::open(&dir.join("store")).expect("open the store");
    let opened = started.elapsed();
    let now = now_s() * 1000;
    let (fleet, rows): (Fleet, Vec<_>) = fleet::load_with(
        &dir.join("fleet.yaml"),
        minifleet::platform::registry::SPECS,
        &|app| rows::status_row(&store, app, now),
    )
    .expect("the fleet validates");
    let rows: Vec<_> = rows
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("read the store");
    let loaded = started.elapsed();
    // The rollout's gate over the whole fleet, as every round of `reconcile` and `watch` runs it.
    let gated = fleet.rollout.as_ref().map_or(0, |rollout| {
        let members: Vec<Member> = fleet
            .apps
            .iter()
            .zip(&rows)
            .map(|(app, row)| {
                let progress = if row.state == "in_sync" {
                    Progress::Done
                } else {
                    Progress::Pending
                };
                Member::of(rollout, app, progress, true)
            })
            .collect();
        let mut state = store.rollout_state().expect("read the rollout's state");
        let gated = rollout::gate(rollout, &members, &mut state, now_s());
        gated.view.waves.len()
    });
    let planned = started.elapsed();
    let not_in_sync = rows
        .iter()
        .filter(|row: &&rows::StatusRow| row.state != "in_sync")
        .count();
    println!(
        "{{\"apps\":{},\"store_open_s\":{:.3},\"load_and_plan_s\":{:.3},\"gate_s\":{:.3},\"waves\":{gated},\"total_s\":{:.3},\"peak_rss_mib\":{:.1},\"not_in_sync\":{}}}",
        fleet.apps.len().min(rows.len()),
        secs(opened),
        secs(loaded - opened),
        secs(planned - loaded),
        secs(planned),
        peak_rss_mib(),
        not_in_sync
    );
}

/// Part (g): the web page's first page of a converged fleet (`MF_BENCH_PAGE_APPS`, default
/// 10,000): what `GET /` computes — every app's status row from the store (the counts per state
/// are the whole fleet's), then the HTML of the first 100 — median of 5, after one warm-up.
fn part_g(work: &Path) {
    let apps = env_or("MF_BENCH_PAGE_APPS", 10_000usize);
    let dir = work.join(format!("page-{apps}"));
    std::fs::create_dir_all(&dir).expect("a directory");
    let path = plan_setup(apps, &dir, 0);
    let fleet = fleet::load(&path, minifleet::platform::registry::SPECS).expect("valid");
    let store = Store::open(&dir.join("store")).expect("open the store");
    let labels: Vec<String> = fleet.apps.iter().map(|a| a.labels.words()).collect();
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..6 {
        let started = Instant::now();
        let rows = rows::status_rows(&store, &fleet.apps, now_s() * 1000).expect("rows");
        let html = minifleet::view::html::fleet_page(
            &rows,
            &labels,
            &minifleet::view::html::FleetQuery::default(),
            &[],
        );
        size = html.len();
        times.push(started.elapsed());
    }
    times.remove(0);
    times.sort();
    println!(
        "{{\"part\":\"g\",\"apps\":{apps},\"first_page_median_s\":{:.3},\"min_s\":{:.3},\"max_s\":{:.3},\"html_bytes\":{size}}}",
        secs(times[times.len() / 2]),
        secs(times[0]),
        secs(times[times.len() - 1])
    );
}

/// Part (a): validate + plan `apps` apps from stored observations, no API calls.
fn part_a(cfg: &Config, apps: usize, work: &Path) {
    let dir = work.join(format!("plan-{apps}"));
    std::fs::create_dir_all(&dir).expect("a work dir");
    let setup = Instant::now();
    plan_setup(apps, &dir, cfg.waves);
    eprintln!(
        "(a) setup: {apps} apps written with observations in {:.1}s",
        secs(setup.elapsed())
    );
    let exe = std::env::current_exe().expect("the bench binary");
    let runs: Vec<serde_json::Value> = (0..cfg.plan_runs)
        .map(|_| {
            let out = Command::new(&exe)
                .env("MF_BENCH_CHILD", &dir)
                .output()
                .expect("run the planning child");
            let line = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "planning child failed: {line}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            eprintln!("(a) run {}", line.trim());
            serde_json::from_str(line.trim()).expect("the child's JSON line")
        })
        .collect();
    let median = |key: &str| {
        let mut v: Vec<f64> = runs.iter().filter_map(|r| r[key].as_f64()).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let max_rss = runs
        .iter()
        .filter_map(|r| r["peak_rss_mib"].as_f64())
        .fold(f64::NAN, f64::max);
    println!(
        "(a) validate+plan, median of {} runs: {{\"apps\":{},\"store_open_s\":{:.3},\"load_and_plan_s\":{:.3},\"gate_s\":{:.3},\"total_s\":{:.3},\"peak_rss_mib\":{:.1},\"peak_rss_max_mib\":{:.1},\"not_in_sync\":{}}}",
        runs.len(),
        apps,
        median("store_open_s"),
        median("load_and_plan_s"),
        median("gate_s"),
        median("total_s"),
        median("peak_rss_mib"),
        max_rss,
        runs.iter()
            .map(|r| r["not_in_sync"].as_u64().unwrap_or(u64::MAX))
            .max()
            .unwrap_or(0)
    );
}

/// A standalone `minifleet sandbox` process, killed when dropped.
struct SandboxProcess {
    child: Child,
    url: String,
}

impl SandboxProcess {
    fn start(latency_ms: u64) -> SandboxProcess {
        let mut child = Command::new(MINIFLEET)
            .args(["sandbox", "--listen", "127.0.0.1:0", "--audit-delay", "0s"])
            .args(["--privacy-scan", "0s", "--audit-quota", "1000000"])
            .arg("--latency")
            .arg(format!("{latency_ms}ms"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start `minifleet sandbox`");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut first = String::new();
        BufReader::new(stdout)
            .read_line(&mut first)
            .expect("the sandbox prints its URL");
        let url = first.trim().rsplit(' ').next().expect("a URL").to_string();
        SandboxProcess { child, url }
    }
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One measured `minifleet reconcile` run.
struct Run {
    wall: Duration,
    calls: Calls,
    code: Option<i32>,
}

fn calls_of(rt: &tokio::runtime::Runtime, sandbox: &RemoteSandbox) -> Calls {
    rt.block_on(sandbox.calls()).expect("GET /sandbox/calls")
}

fn delta(after: Calls, before: Calls) -> Calls {
    let sub = |a: minifleet::sandbox::faults::CallCounts,
               b: minifleet::sandbox::faults::CallCounts| {
        minifleet::sandbox::faults::CallCounts {
            token: a.token - b.token,
            read: a.read - b.read,
            mutating: a.mutating - b.mutating,
        }
    };
    let by_call = after
        .by_call
        .iter()
        .map(|(call, n)| (call.clone(), n - before.by_call.get(call).unwrap_or(&0)))
        .collect();
    let platforms = after
        .platforms
        .iter()
        .map(|(name, a)| (name.clone(), sub(*a, before.platform(name))))
        .collect();
    Calls { platforms, by_call }
}

/// `wechat 12 [token 1 read 8 mutating 3], alipay …`: the calls of each platform that had any.
fn by_platform(calls: &Calls) -> String {
    let platforms: Vec<String> = calls
        .platforms
        .iter()
        .filter(|(_, c)| c.total() > 0)
        .map(|(name, c)| {
            format!(
                "{name} {} [token {} read {} mutating {}]",
                c.total(),
                c.token,
                c.read,
                c.mutating
            )
        })
        .collect();
    platforms.join(", ")
}

/// Runs `minifleet -f FLEET ARGS…`, output to `log`; returns its wall time and the calls it made.
fn reconcile(
    rt: &tokio::runtime::Runtime,
    sandbox: &RemoteSandbox,
    fleet: &Path,
    args: &[String],
    log: &Path,
) -> Run {
    let before = calls_of(rt, sandbox);
    let out = std::fs::File::create(log).expect("a log file");
    let started = Instant::now();
    let status = Command::new(MINIFLEET)
        .arg("-f")
        .arg(fleet)
        .args(args)
        .env_remove("MINIFLEET_STORE")
        .env("NO_COLOR", "1")
        .stdout(out.try_clone().expect("a log handle"))
        .stderr(out)
        .status()
        .expect("run minifleet");
    let wall = started.elapsed();
    Run {
        wall,
        calls: delta(calls_of(rt, sandbox), before),
        code: status.code(),
    }
}

fn common_args(concurrency: usize) -> Vec<String> {
    [
        "--concurrency",
        &concurrency.to_string(),
        "--rate",
        "wechat=1000000/s",
        "--rate",
        "alipay=1000000/s",
        "--rate",
        "douyin=1000000/s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Prints a run: wall time, calls per platform, calls per app and the ratio to the floor.
fn report(label: &str, run: &Run, apps: usize, cfg: &Config, concurrency: usize) {
    let total = run.calls.total();
    let floor = total as f64 * cfg.latency_ms as f64 / 1000.0 / concurrency as f64;
    println!(
        "{label}: apps {apps}, exit {:?}, wall {:.2}s, calls {total} ({}), {:.2} calls/app, floor {:.2}s, ratio {:.2}",
        run.code,
        secs(run.wall),
        by_platform(&run.calls),
        total as f64 / apps as f64,
        floor,
        secs(run.wall) / floor,
    );
}

/// Parts (b), (c) and (d) against one standalone sandbox.
fn parts_bcd(cfg: &Config, work: &Path) {
    let dir = work.join("fleet");
    std::fs::create_dir_all(&dir).expect("a work dir");
    let sandbox = SandboxProcess::start(cfg.latency_ms);
    let remote = RemoteSandbox::new(&sandbox.url);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let fleet = dir.join("fleet.yaml");
    std::fs::write(
        &fleet,
        fleet_yaml(cfg.apps, cfg.baseline_apps, Some(&sandbox.url), cfg.waves),
    )
    .expect("write the fleet file");
    eprintln!(
        "sandbox {} with latency {}ms; {} apps",
        sandbox.url, cfg.latency_ms, cfg.apps
    );
    let c = cfg.concurrency;
    // (c) first: it brings every app to its wanted release, which (b) and (d) then observe.
    let mut args = vec!["reconcile".to_string(), "--wait".to_string()];
    args.extend(["--interval", "100ms", "--timeout", "60m"].map(String::from));
    args.extend(common_args(c));
    let rollout = reconcile(&rt, &remote, &fleet, &args, &dir.join("rollout.log"));
    report("(c) rollout", &rollout, cfg.apps, cfg, c);
    let records = rt
        .block_on(remote.accepted())
        .expect("GET /sandbox/records");
    let commits = records
        .iter()
        .filter(|r| {
            [
                "wxa/commit",
                "alipay.open.mini.version.upload",
                "api/apps/v1/package_version/upload",
            ]
            .contains(&r.call.as_str())
        })
        .count();
    println!("(c) builds committed/uploaded: {commits} of {}", cfg.apps);
    if cfg.runs("b") {
        let mut args = vec!["reconcile".to_string(), "--dry-run".to_string()];
        args.push("--detailed-exitcode".to_string());
        args.extend(common_args(c));
        let noop = reconcile(&rt, &remote, &fleet, &args, &dir.join("noop.log"));
        report("(b) no-op dry run", &noop, cfg.apps, cfg, c);
        if cfg.runs("d") {
            baseline(cfg, &rt, &remote, &fleet, &dir, &noop);
        }
    }
    if cfg.runs("e") {
        // Today's resync (every one observes fully) beside the probe's, on the same fleet.
        for k in [1, 10] {
            steady_state(cfg, &rt, &remote, &fleet, &dir, k);
        }
    }
    if cfg.runs("f") {
        push_latency(cfg, &rt, &fleet, &dir);
    }
}

/// A `minifleet watch` process on the bench's fleet, killed when dropped.
struct Daemon {
    child: Child,
    url: String,
    /// Kept open while the daemon runs, so its later output never meets a closed pipe.
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Daemon {
    /// `watch` with `args`, its log (JSON lines) to `log`.
    fn start(cfg: &Config, fleet: &Path, args: &[String], log: &Path) -> Daemon {
        let log = std::fs::File::create(log).expect("a log file");
        let mut child = Command::new(MINIFLEET)
            .arg("-f")
            .arg(fleet)
            .args(["--log-format", "json", "watch", "--listen", "127.0.0.1:0"])
            .args(args)
            .args(common_args(cfg.concurrency))
            .env_remove("MINIFLEET_STORE")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start `minifleet watch`");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut first = String::new();
        stdout.read_line(&mut first).expect("watch prints its URL");
        let url = first.trim().rsplit(' ').next().expect("a URL").to_string();
        Daemon {
            child,
            url,
            _stdout: stdout,
        }
    }

    /// `minifleet_passes_total{trigger}` from its `/metrics`.
    fn passes(&self, rt: &tokio::runtime::Runtime, trigger: &str) -> u64 {
        let text = rt
            .block_on(async {
                reqwest::get(format!("{}/metrics", self.url))
                    .await?
                    .text()
                    .await
            })
            .expect("GET /metrics");
        let series = format!("minifleet_passes_total{{trigger=\"{trigger}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&series)?.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Waits until every app's start-up pass is done.
    fn started(&self, rt: &tokio::runtime::Runtime, apps: usize) {
        let started = Instant::now();
        while self.passes(rt, "start") < apps as u64 {
            assert!(
                started.elapsed() < Duration::from_secs(1800),
                "start-up passes never ended"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Part (f): audit verdicts pushed (signed and encrypted as WeChat does) to `watch` for random
/// WeChat apps while it resyncs the whole fleet back to back (`--resync 1s`, every resync in full,
/// so `--concurrency` passes are always in flight); per push, the time until the pass it
/// triggered finished (from the daemon's JSON log) — an upper bound of when the pass started.
fn push_latency(cfg: &Config, rt: &tokio::runtime::Runtime, fleet: &Path, dir: &Path) {
    use minifleet::platform::wechat::crypto::{self, MsgCrypt};
    use minifleet::platform::wechat::push::{SANDBOX_AES_KEY, SANDBOX_TOKEN, build_xml};
    use minifleet::secret::Secret;

    let log = dir.join("watch-push.log");
    let args = ["--resync", "1s", "--full-observe-every", "1"].map(String::from);
    let daemon = Daemon::start(cfg, fleet, &args, &log);
    daemon.started(rt, cfg.apps);
    let (token, key) = (Secret::new(SANDBOX_TOKEN), Secret::new(SANDBOX_AES_KEY));
    let crypt = MsgCrypt::new(&token, &key, "wx00000000000000aa").expect("the sandbox's keys");
    let http = reqwest::Client::new();
    let pushes = 200;
    let mut sent: Vec<(String, std::time::SystemTime)> = Vec::with_capacity(pushes);
    let wechat_apps: Vec<usize> = (0..cfg.apps).filter(|i| i % 2 == 0).collect();
    for _ in 0..pushes {
        let i = wechat_apps[fastrand::usize(..wechat_apps.len())];
        let (name, appid) = (format!("app-{i:06}"), format!("wx{i:016x}"));
        if sent.iter().any(|(n, _)| *n == name) {
            continue; // one push per app, so each pass is told apart
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            .to_string();
        let user = format!("gh_{appid}");
        let xml = build_xml(&[
            ("ToUserName", user.as_str()),
            ("FromUserName", "o_sandbox_system"),
            ("CreateTime", &now),
            ("MsgType", "event"),
            ("Event", "weapp_audit_success"),
            ("SuccTime", &now),
        ]);
        let encrypt = crypt.encrypt(&xml, fastrand::u128(..).to_le_bytes());
        let nonce = fastrand::u64(..).to_string();
        let msg_signature = crypto::signature(&token, &now, &nonce, &encrypt);
        let signature = crypto::plain_signature(&token, &now, &nonce);
        let body = build_xml(&[("ToUserName", &user), ("Encrypt", &encrypt)]);
        let query = [
            ("signature", signature.as_str()),
            ("timestamp", &now),
            ("nonce", &nonce),
            ("encrypt_type", "aes"),
            ("msg_signature", &msg_signature),
        ];
        let at = std::time::SystemTime::now();
        let status = rt
            .block_on(
                http.post(format!("{}/wechat/events/{appid}", daemon.url))
                    .query(&query)
                    .body(body)
                    .send(),
            )
            .expect("POST the push")
            .status();
        assert!(status.is_success(), "the daemon refused a push: {status}");
        sent.push((name, at));
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(10));
    drop(daemon);
    // The first push-triggered pass of each app that finished after its push.
    let text = std::fs::read_to_string(&log).expect("the daemon's log");
    let finished: Vec<(String, std::time::SystemTime)> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"] == "pass finished" && v["trigger"] == "push")
        .filter_map(|v| {
            let at = humantime::parse_rfc3339(v["timestamp"].as_str()?).ok()?;
            Some((v["app"].as_str()?.to_string(), at))
        })
        .collect();
    let mut waits: Vec<f64> = sent
        .iter()
        .filter_map(|(name, at)| {
            finished
                .iter()
                .filter(|(n, done)| n == name && done >= at)
                .map(|(_, done)| done.duration_since(*at).unwrap_or_default())
                .min()
        })
        .map(secs)
        .collect();
    waits.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        waits
            .get(((waits.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!(
        "(f) push latency: {} pushes, {} passes seen, push → pass finished: p50 {:.3}s, p90 {:.3}s, p99 {:.3}s, max {:.3}s",
        sent.len(),
        waits.len(),
        pct(0.5),
        pct(0.9),
        pct(0.99),
        waits.last().copied().unwrap_or(f64::NAN),
    );
}

/// Part (e): `watch` on the converged fleet, resyncing every `cfg.resync`, observing fully every
/// `k`-th resync; over `cfg.window` after the start-up passes, the platform calls per resync pass
/// (from the sandbox's counters and the daemon's `minifleet_passes_total{trigger="resync"}`).
fn steady_state(
    cfg: &Config,
    rt: &tokio::runtime::Runtime,
    sandbox: &RemoteSandbox,
    fleet: &Path,
    dir: &Path,
    k: u32,
) {
    let args = [
        "--full-observe-every".to_string(),
        k.to_string(),
        "--resync".to_string(),
        humantime::format_duration(cfg.resync).to_string(),
    ];
    let daemon = Daemon::start(cfg, fleet, &args, &dir.join(format!("watch-k{k}.log")));
    daemon.started(rt, cfg.apps);
    let passes = |trigger: &str| daemon.passes(rt, trigger);
    let (calls0, resyncs0) = (calls_of(rt, sandbox), passes("resync"));
    std::thread::sleep(cfg.window);
    let (calls1, resyncs1) = (calls_of(rt, sandbox), passes("resync"));
    drop(daemon);
    let calls = delta(calls1, calls0);
    let resyncs = resyncs1 - resyncs0;
    let per = |n: u64| n as f64 / resyncs.max(1) as f64;
    println!(
        "(e) steady state, full observation every {k} resync(s): {resyncs} resync passes in {:.0}s, calls {} ({}), {:.2} calls per app per resync",
        secs(cfg.window),
        calls.total(),
        by_platform(&calls),
        per(calls.total()),
    );
}

/// Part (d): the no-op pass one app after another, over `baseline_apps` apps, scaled to `apps`.
fn baseline(
    cfg: &Config,
    rt: &tokio::runtime::Runtime,
    remote: &RemoteSandbox,
    fleet: &Path,
    dir: &Path,
    noop: &Run,
) {
    let n = cfg.baseline_apps.min(cfg.apps);
    let mut args = vec!["reconcile".to_string(), "--dry-run".to_string()];
    args.extend(["--detailed-exitcode", "--selector", "base=yes"].map(String::from));
    args.extend(common_args(1));
    let run = reconcile(rt, remote, fleet, &args, &dir.join("baseline.log"));
    report("(d) baseline, concurrency 1", &run, n, cfg, 1);
    let scaled = secs(run.wall) / n as f64 * cfg.apps as f64;
    println!(
        "(d) baseline scaled to {} apps: {:.1}s; minifleet's speed-up: {:.1}x",
        cfg.apps,
        scaled,
        scaled / secs(noop.wall)
    );
}

fn main() {
    if let Some(dir) = std::env::var_os("MF_BENCH_CHILD") {
        plan_child(Path::new(&dir));
        return;
    }
    let cfg = Config::from_env();
    let work = tempfile::tempdir().expect("a temp dir");
    println!(
        "minifleet scale bench: {cfg:?}; nproc {}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if cfg.runs("a") {
        for &apps in &cfg.plan_apps {
            part_a(&cfg, apps, work.path());
        }
    }
    if ["b", "c", "e", "f"].iter().any(|p| cfg.runs(p)) {
        parts_bcd(&cfg, work.path());
    }
    if cfg.runs("g") {
        part_g(work.path());
    }
    if std::env::var_os("MF_BENCH_KEEP").is_some() {
        eprintln!("work directory kept: {}", work.keep().display());
    }
}
