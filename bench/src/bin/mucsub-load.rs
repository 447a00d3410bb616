//! `mucsub-load`: the load generator. Targets any XMPP server over TCP or WebSocket so one
//! run measures our server and the reference ejabberd side by side. Prints one JSON line per
//! run on stdout (progress goes to stderr).

use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};
use mucsub_bench::cpu::Watched;
use mucsub_bench::fanout::{self, Env, FanoutParams};
use mucsub_bench::register::Registrar;
use mucsub_bench::scenarios;
use mucsub_bench::xmpp::Target;

#[derive(Parser)]
#[command(
    name = "mucsub-load",
    about = "MucSub load generator (any XMPP server, TCP or WebSocket)"
)]
struct Cli {
    /// tcp://host:port (or host:port) or ws://host:port/path.
    #[arg(long, global = true, default_value = "127.0.0.1:5222")]
    target: String,
    #[arg(long, global = true, default_value = "localhost")]
    domain: String,
    /// MUC service (default conference.<domain>).
    #[arg(long, global = true)]
    muc: Option<String>,
    #[arg(long, global = true, default_value = "pw")]
    password: String,
    /// How to create accounts: inband, none, or ejabberd's API URL (http://127.0.0.1:15280/api).
    #[arg(long, global = true, default_value = "inband")]
    register: String,
    /// Account name prefix.
    #[arg(long, global = true, default_value = "bench")]
    prefix: String,
    /// The server's process id, to report its CPU time and RSS.
    #[arg(long, global = true)]
    server_pid: Option<u32>,
    /// Cluster runs (fanout, rooms): the node rooms are created through, so the node that
    /// claims them (default --target).
    #[arg(long, global = true)]
    owner_target: Option<String>,
    /// Cluster runs: the node the senders post through (default --target).
    #[arg(long, global = true)]
    sender_target: Option<String>,
    /// Cluster runs: nodes the subscribers are spread over, round robin, comma-separated
    /// (default --target).
    #[arg(long, global = true, value_delimiter = ',')]
    sub_targets: Vec<String>,
    /// NAME=PID, repeatable: a process tree (the process and every descendant, including
    /// reaped ones) whose CPU time the run reports; their sum per 1,000 events is the
    /// cost figure for runs over several processes (nodes, PostgreSQL, nats-server).
    #[arg(long, global = true)]
    cpu_pid: Vec<String>,
    /// Logins in flight at once during setup.
    #[arg(long, global = true, default_value_t = 32)]
    parallel: usize,
    /// Repeat the run this many times (each prints its line; a median line follows).
    #[arg(long, global = true, default_value_t = 1)]
    runs: usize,
    /// Fail (exit 1) unless every expected event/reply arrived: the smoke test's check.
    #[arg(long, global = true)]
    check: bool,
    /// Label copied into every JSON line (e.g. "mucsub" or "ejabberd").
    #[arg(long, global = true, default_value = "")]
    label: String,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// One room, S subscribers online, M messages at a fixed rate (--rate) or max (0).
    Fanout {
        #[arg(long, default_value_t = 10)]
        subs: usize,
        #[arg(long, default_value_t = 100)]
        messages: usize,
        #[arg(long, default_value_t = 0.0)]
        rate: f64,
        #[arg(long, default_value_t = 120)]
        timeout_secs: u64,
    },
    /// R rooms × s subscribers, one concurrent sender per room.
    Rooms {
        #[arg(long, default_value_t = 10)]
        rooms: usize,
        #[arg(long, default_value_t = 10)]
        subs: usize,
        #[arg(long, default_value_t = 100)]
        messages: usize,
        #[arg(long, default_value_t = 0.0)]
        rate: f64,
        #[arg(long, default_value_t = 120)]
        timeout_secs: u64,
    },
    /// C clients each subscribing to R existing rooms, one IQ at a time.
    Storm {
        #[arg(long, default_value_t = 20)]
        clients: usize,
        #[arg(long, default_value_t = 20)]
        rooms: usize,
    },
    /// N messages posted across R rooms while a native SDK client is away; time to catch up.
    Resync {
        #[arg(long, default_value_t = 1000)]
        messages: usize,
        #[arg(long, default_value_t = 10)]
        rooms: usize,
    },
    /// MAM page latency (newest page, then walking back with `before`).
    Archive {
        /// Room to query (bare JID); created and filled with --fill messages when absent.
        #[arg(long)]
        room: Option<String>,
        #[arg(long, default_value_t = 1000)]
        fill: usize,
        #[arg(long, default_value_t = 100)]
        page: usize,
        #[arg(long, default_value_t = 200)]
        queries: usize,
    },
    /// Idle cost: cold start (when --server-bin is given), first login, subscription list, RSS.
    Idle {
        /// Spawn this mucsub-server binary (with --config and --data-dir) and time its start.
        #[arg(long)]
        server_bin: Option<String>,
        #[arg(long, requires = "server_bin")]
        config: Option<String>,
        #[arg(long, requires = "server_bin")]
        data_dir: Option<String>,
        /// Account to log in as (must exist).
        #[arg(long, default_value = "seeduser0")]
        user: String,
        /// With --check: the subscription count the account must have.
        #[arg(long)]
        expect_subscriptions: Option<usize>,
        #[arg(long, default_value_t = 2)]
        idle_secs: u64,
    },
}

fn median_line(label: &str, lines: &[serde_json::Value]) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    out.insert("label".into(), label.into());
    out.insert("median_of".into(), lines.len().into());
    let keys = [
        "events_per_s",
        "events_per_server_cpu_s",
        "server_cpu_s",
        "cpu_s_total",
        "cpu_s_per_1000_events",
        "server_rss_mb",
        "iq_per_s",
        "seconds",
        "messages_per_s",
        "start_s",
        "first_login_s",
        "list_ms",
        "server_rss_idle_mb",
    ];
    let lat_keys = ["p50_ms", "p99_ms", "max_ms"];
    let med = |mut v: Vec<f64>| -> Option<f64> {
        if v.is_empty() {
            return None;
        }
        v.sort_by(|a, b| a.total_cmp(b));
        Some(v[v.len() / 2])
    };
    for k in keys {
        let v: Vec<f64> = lines.iter().filter_map(|l| l.get(k)?.as_f64()).collect();
        if let Some(m) = med(v) {
            out.insert(k.into(), m.into());
        }
    }
    for k in lat_keys {
        let v: Vec<f64> = lines
            .iter()
            .filter_map(|l| l.get("latency")?.get(k)?.as_f64())
            .collect();
        if let Some(m) = med(v) {
            out.insert(format!("latency_{k}"), m.into());
        }
    }
    serde_json::Value::Object(out)
}

async fn one(cli: &Cli, env: &Env) -> Result<(serde_json::Value, bool)> {
    let (v, complete) = match &cli.scenario {
        Scenario::Fanout {
            subs,
            messages,
            rate,
            timeout_secs,
        } => {
            let p = FanoutParams {
                rooms: 1,
                subs_per_room: *subs,
                messages: *messages,
                rate: *rate,
                timeout: Duration::from_secs(*timeout_secs),
            };
            let r = fanout::run(env, &p).await?;
            let ok = r.delivered == r.expected;
            (serde_json::to_value(&r)?, ok)
        }
        Scenario::Rooms {
            rooms,
            subs,
            messages,
            rate,
            timeout_secs,
        } => {
            let p = FanoutParams {
                rooms: *rooms,
                subs_per_room: *subs,
                messages: *messages,
                rate: *rate,
                timeout: Duration::from_secs(*timeout_secs),
            };
            let r = fanout::run(env, &p).await?;
            let ok = r.delivered == r.expected;
            (serde_json::to_value(&r)?, ok)
        }
        Scenario::Storm { clients, rooms } => {
            let r = scenarios::storm(env, *clients, *rooms).await?;
            let ok = r.ok == r.iqs;
            (serde_json::to_value(&r)?, ok)
        }
        Scenario::Resync { messages, rooms } => {
            let r = scenarios::resync(env, *messages, *rooms).await?;
            let ok = r.received == r.messages;
            (serde_json::to_value(&r)?, ok)
        }
        Scenario::Archive {
            room,
            fill,
            page,
            queries,
        } => {
            let r = scenarios::archive(env, room.clone(), *fill, *page, *queries).await?;
            let ok = r.ok == r.queries;
            (serde_json::to_value(&r)?, ok)
        }
        Scenario::Idle {
            server_bin,
            config,
            data_dir,
            user,
            expect_subscriptions,
            idle_secs,
        } => {
            let spawn = match (server_bin, config, data_dir) {
                (Some(b), Some(c), Some(d)) => Some((b.clone(), c.clone(), d.clone())),
                (Some(_), _, _) => anyhow::bail!("--server-bin needs --config and --data-dir"),
                _ => None,
            };
            let r = scenarios::idle(env, spawn, user, *idle_secs).await?;
            let ok = expect_subscriptions.is_none_or(|n| n == r.subscriptions);
            (serde_json::to_value(&r)?, ok)
        }
    };
    let mut v = v;
    if let Some(o) = v.as_object_mut() {
        o.insert("label".into(), cli.label.clone().into());
        o.insert("complete".into(), complete.into());
    }
    Ok((v, complete))
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let env = Env {
        target: Target::parse(&cli.target)?,
        muc: cli
            .muc
            .clone()
            .unwrap_or_else(|| format!("conference.{}", cli.domain)),
        domain: cli.domain.clone(),
        password: cli.password.clone(),
        registrar: Registrar::parse(&cli.register)?,
        prefix: cli.prefix.clone(),
        server_pid: cli.server_pid,
        parallel: cli.parallel,
        owner_target: cli.owner_target.as_deref().map(Target::parse).transpose()?,
        sender_target: cli
            .sender_target
            .as_deref()
            .map(Target::parse)
            .transpose()?,
        sub_targets: cli
            .sub_targets
            .iter()
            .map(|t| Target::parse(t))
            .collect::<Result<_>>()?,
        cpu: cli
            .cpu_pid
            .iter()
            .map(|w| Watched::parse(w))
            .collect::<Result<_>>()?,
    };
    // One thread: the SDK session is not `Send`, and a single generator thread leaves the
    // other core to the server under test.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let mut lines = Vec::new();
        let mut all_complete = true;
        for _ in 0..cli.runs.max(1) {
            let (v, complete) = one(&cli, &env).await?;
            println!("{v}");
            all_complete &= complete;
            lines.push(v);
        }
        if lines.len() > 1 {
            println!("{}", median_line(&cli.label, &lines));
        }
        if cli.check && !all_complete {
            anyhow::bail!("incomplete run: not every expected event or reply arrived");
        }
        Ok(())
    })
}
