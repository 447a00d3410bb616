//! Fan-out: R rooms × S online subscribers each, one sender per room posting M messages at a
//! fixed rate or as fast as the connection takes them. Every body carries the send time; each
//! subscriber's connection is scanned for those markers, giving delivered events/s and
//! time-to-deliver percentiles. "fanout" is this with R = 1, "rooms" with R > 1.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use serde::Serialize;

use crate::cpu::{self, Watched};
use crate::measure::{marker, now_us, proc_sample, Percentiles, Scanner};
use crate::register::{ensure_accounts, Registrar};
use crate::xmpp::{esc, RawWriter, Target, Xmpp};

pub const NODE_MESSAGES: &str = "urn:xmpp:mucsub:nodes:messages";
pub const NODE_SUBJECT: &str = "urn:xmpp:mucsub:nodes:subject";

/// Where and as whom.
#[derive(Debug, Clone)]
pub struct Env {
    pub target: Target,
    pub domain: String,
    pub muc: String,
    pub password: String,
    pub registrar: Registrar,
    /// Account name prefix (accounts are reused between runs).
    pub prefix: String,
    /// Server process to sample (CPU, RSS), when known.
    pub server_pid: Option<u32>,
    /// Logins/subscriptions in flight at once during setup.
    pub parallel: usize,
    /// Several nodes of one cluster (fanout and rooms only): the node each room is created
    /// through (so, in a cluster, the node that claims it), the node the senders log in to,
    /// and the nodes the subscribers are spread over, round robin. Each defaults to `target`.
    pub owner_target: Option<Target>,
    pub sender_target: Option<Target>,
    pub sub_targets: Vec<Target>,
    /// Process trees whose CPU time the run reports (all nodes, PostgreSQL, nats-server).
    pub cpu: Vec<Watched>,
}

impl Env {
    fn sub_target(&self, i: usize) -> &Target {
        match self.sub_targets.len() {
            0 => &self.target,
            n => &self.sub_targets[i % n],
        }
    }
}

#[derive(Debug, Clone)]
pub struct FanoutParams {
    pub rooms: usize,
    pub subs_per_room: usize,
    pub messages: usize,
    /// Messages per second per sender; 0 = as fast as possible.
    pub rate: f64,
    /// Hard bound on the measurement phase.
    pub timeout: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct FanoutResult {
    pub scenario: &'static str,
    pub rooms: usize,
    pub subs_per_room: usize,
    pub messages: usize,
    pub rate: f64,
    pub expected: u64,
    pub delivered: u64,
    pub seconds: f64,
    pub events_per_s: f64,
    pub latency: Percentiles,
    pub server_cpu_s: Option<f64>,
    pub server_rss_mb: Option<f64>,
    /// Events per second of server CPU time: a load-independent efficiency figure.
    pub events_per_server_cpu_s: Option<f64>,
    /// CPU seconds of each `--cpu-pid` tree over the run, their sum, and that sum per
    /// 1,000 delivered events (empty / absent without `--cpu-pid`).
    pub cpu_s_by_process: BTreeMap<String, f64>,
    pub cpu_s_total: Option<f64>,
    pub cpu_s_per_1000_events: Option<f64>,
}

/// Run id unique enough that rooms never collide with earlier runs on a persistent server.
pub fn run_id() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    format!("{:x}{:x}", t, std::process::id())
}

/// Subscribe IQ to `room` with `nodes`.
pub fn subscribe_iq(room: &str, nick: &str, nodes: &[&str], id: &str) -> String {
    let ev: String = nodes
        .iter()
        .map(|n| format!("<event node='{n}'/>"))
        .collect();
    format!(
        "<iq xmlns='jabber:client' type='set' to='{}' id='{id}'><subscribe xmlns='urn:xmpp:mucsub:0' nick='{}'>{ev}</subscribe></iq>",
        esc(room),
        esc(nick)
    )
}

/// Run `jobs` with at most `parallel` in flight, keeping their results in order.
/// Must run inside a `LocalSet`: the SDK session is not `Send`.
pub async fn bounded<T: 'static, F>(parallel: usize, jobs: Vec<F>) -> Result<Vec<T>>
where
    F: std::future::Future<Output = Result<T>> + 'static,
{
    let mut out: Vec<Option<T>> = (0..jobs.len()).map(|_| None).collect();
    let mut set = tokio::task::JoinSet::new();
    let mut it = jobs.into_iter().enumerate();
    loop {
        while set.len() < parallel.max(1) {
            let Some((i, j)) = it.next() else { break };
            set.spawn_local(async move { (i, j.await) });
        }
        match set.join_next().await {
            Some(r) => {
                let (i, v) = r?;
                out[i] = Some(v?);
            }
            None => break,
        }
    }
    out.into_iter()
        .map(|o| o.ok_or_else(|| anyhow!("job lost")))
        .collect()
}

pub async fn run(env: &Env, p: &FanoutParams) -> Result<FanoutResult> {
    if p.rooms == 0 || p.subs_per_room == 0 || p.messages == 0 {
        bail!("rooms, subscribers and messages must be at least 1");
    }
    let id = run_id();
    let rooms: Vec<String> = (0..p.rooms)
        .map(|r| format!("fan{id}r{r}@{}", env.muc))
        .collect();
    let senders: Vec<String> = (0..p.rooms)
        .map(|r| format!("{}send{r}", env.prefix))
        .collect();
    let subs: Vec<String> = (0..p.rooms * p.subs_per_room)
        .map(|i| format!("{}sub{i}", env.prefix))
        .collect();
    let all: Vec<String> = senders.iter().chain(subs.iter()).cloned().collect();
    eprintln!("[fanout] ensuring {} accounts", all.len());
    ensure_accounts(
        &env.registrar,
        &env.target,
        &env.domain,
        &all,
        &env.password,
        env.parallel,
    )
    .await?;

    // Senders first: subscribing creates the room (the sender is its owner) on both servers.
    // In a cluster the node that takes that first stanza claims the room; when the sender
    // is to post through another node, the subscription goes through the owner's node on a
    // connection of its own, closed before the sender logs in where it posts from.
    eprintln!("[fanout] logging in {} senders", senders.len());
    let sender_jobs: Vec<_> = senders
        .iter()
        .zip(&rooms)
        .map(|(u, room)| {
            let (env, u, room) = (env.clone(), u.clone(), room.clone());
            async move {
                let at = env.sender_target.as_ref().unwrap_or(&env.target);
                let sub = subscribe_iq(&room, "sender", &[NODE_SUBJECT], "s0");
                if let Some(owner) = &env.owner_target {
                    let mut o = Xmpp::login(owner, &env.domain, &u, &env.password).await?;
                    o.iq_ok(&sub, "s0").await?;
                    drop(o);
                    return Xmpp::login(at, &env.domain, &u, &env.password).await;
                }
                let mut x = Xmpp::login(at, &env.domain, &u, &env.password).await?;
                x.iq_ok(&sub, "s0").await?;
                Ok(x)
            }
        })
        .collect();
    let sender_conns = bounded(env.parallel, sender_jobs).await?;

    eprintln!(
        "[fanout] logging in and subscribing {} subscribers",
        subs.len()
    );
    let sub_jobs: Vec<_> = subs
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let (env, u, room) = (env.clone(), u.clone(), rooms[i / p.subs_per_room].clone());
            async move {
                let at = env.sub_target(i);
                let mut x = Xmpp::login(at, &env.domain, &u, &env.password).await?;
                x.iq_ok(
                    &subscribe_iq(&room, &format!("n{i}"), &[NODE_MESSAGES], "s1"),
                    "s1",
                )
                .await?;
                Ok(x)
            }
        })
        .collect();
    let sub_conns = bounded(env.parallel, sub_jobs).await?;

    let expected_each = p.messages as u64;
    let deadline = tokio::time::Instant::now() + p.timeout;
    let mut keep_writers: Vec<RawWriter> = Vec::new();
    let mut receivers = tokio::task::JoinSet::new();
    for x in sub_conns {
        let (mut r, w) = x.into_raw();
        keep_writers.push(w);
        receivers.spawn_local(async move {
            let scanner = Scanner::default();
            let mut buf = Vec::with_capacity(128 * 1024);
            let mut lat = Vec::with_capacity(expected_each as usize);
            let mut last = 0u64;
            while (lat.len() as u64) < expected_each {
                match tokio::time::timeout_at(deadline, r.read_into(&mut buf)).await {
                    Ok(Ok(true)) => {}
                    _ => break,
                }
                let now = now_us();
                scanner.scan(&mut buf, |ts| lat.push(now.saturating_sub(ts)));
                last = now;
            }
            (lat, last)
        });
    }

    let before = env.server_pid.and_then(proc_sample);
    let cpu_before = cpu::sample(&env.cpu);
    // Let every session settle into its read loop before the clock starts.
    tokio::time::sleep(Duration::from_millis(300)).await;
    eprintln!("[fanout] sending {} messages per room", p.messages);
    let start = now_us();
    let mut send_tasks = tokio::task::JoinSet::new();
    let mut drains = tokio::task::JoinSet::new();
    for (x, room) in sender_conns.into_iter().zip(rooms.iter().cloned()) {
        let (mut r, mut w) = x.into_raw();
        let (messages, rate) = (p.messages, p.rate);
        // Drain whatever the server sends the sender so its queue never fills.
        drains.spawn_local(async move {
            let mut sink = Vec::new();
            while let Ok(Ok(true)) = tokio::time::timeout_at(deadline, r.read_into(&mut sink)).await
            {
                sink.clear();
            }
        });
        send_tasks.spawn_local(async move {
            let t0 = tokio::time::Instant::now();
            for i in 0..messages {
                if rate > 0.0 {
                    tokio::time::sleep_until(t0 + Duration::from_secs_f64(i as f64 / rate)).await;
                }
                let msg = format!(
                    "<message xmlns='jabber:client' type='groupchat' to='{room}' id='m{i}'><body>{i} {}</body></message>",
                    marker(now_us())
                );
                w.send(msg).await?;
            }
            Ok::<_, anyhow::Error>(w)
        });
    }
    let mut all_lat = Vec::new();
    let mut last = start;
    while let Some(r) = receivers.join_next().await {
        let (lat, l) = r?;
        all_lat.extend(lat);
        last = last.max(l);
    }
    let after = env.server_pid.and_then(proc_sample);
    let cpu_by = cpu::used(&cpu_before, &cpu::sample(&env.cpu));
    drains.abort_all();
    let mut writers = Vec::new();
    while let Some(r) = send_tasks.join_next().await {
        writers.push(r??);
    }
    drop(writers);
    drop(keep_writers);

    let delivered = all_lat.len() as u64;
    let cpu_s_total = (!cpu_by.is_empty()).then(|| cpu_by.values().sum::<f64>());
    let seconds = (last.saturating_sub(start)) as f64 / 1e6;
    let cpu = match (before, after) {
        (Some(b), Some(a)) => Some(a.cpu_s - b.cpu_s),
        _ => None,
    };
    Ok(FanoutResult {
        scenario: if p.rooms == 1 { "fanout" } else { "rooms" },
        rooms: p.rooms,
        subs_per_room: p.subs_per_room,
        messages: p.messages,
        rate: p.rate,
        expected: expected_each * (p.rooms * p.subs_per_room) as u64,
        delivered,
        seconds,
        events_per_s: if seconds > 0.0 {
            delivered as f64 / seconds
        } else {
            0.0
        },
        latency: Percentiles::of(all_lat),
        server_cpu_s: cpu,
        server_rss_mb: after.map(|a| a.rss_mb),
        events_per_server_cpu_s: cpu.filter(|c| *c > 0.0).map(|c| delivered as f64 / c),
        cpu_s_total,
        cpu_s_per_1000_events: cpu_s_total
            .filter(|_| delivered > 0)
            .map(|c| c * 1000.0 / delivered as f64),
        cpu_s_by_process: cpu_by,
    })
}
