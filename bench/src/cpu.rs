//! CPU time of whole process trees, for runs where the system under test is several
//! processes (cluster nodes, PostgreSQL's postmaster and its per-connection backends,
//! nats-server). A tree's time is the sum, over every live process in it, of its own user +
//! system time plus that of its reaped children (`cutime` + `cstime`): a backend that exits
//! between two samples moves from "live" into its parent's reaped total, so it is neither
//! lost nor counted twice.

use std::collections::{BTreeMap, HashMap};

/// A named process tree to account for (`node1=1234`, `postgres=999`).
#[derive(Debug, Clone)]
pub struct Watched {
    pub name: String,
    pub pid: u32,
}

impl Watched {
    /// `NAME=PID`, or a bare `PID` (named after itself).
    pub fn parse(s: &str) -> anyhow::Result<Watched> {
        let (name, pid) = match s.split_once('=') {
            Some((n, p)) => (n.to_owned(), p),
            None => (s.to_owned(), s),
        };
        let pid = pid
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("--cpu-pid wants NAME=PID, got {s:?}"))?;
        Ok(Watched { name, pid })
    }
}

/// One process's parent and CPU ticks (own + reaped children), from `/proc/PID/stat`.
fn stat(pid: u32) -> Option<(u32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let f: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
    let ppid = f.get(1)?.parse().ok()?;
    let ticks = [11, 12, 13, 14]
        .iter()
        .map(|&i| f.get(i)?.parse::<u64>().ok())
        .sum::<Option<u64>>()?;
    Some((ppid, ticks))
}

/// CPU seconds of each watched tree now. A tree whose root is gone reads as absent.
pub fn sample(watched: &[Watched]) -> BTreeMap<String, f64> {
    let mut procs: HashMap<u32, (u32, u64)> = HashMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            if let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) {
                if let Some(s) = stat(pid) {
                    procs.insert(pid, s);
                }
            }
        }
    }
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (&pid, &(ppid, _)) in &procs {
        children.entry(ppid).or_default().push(pid);
    }
    let ticks_per_s = 100.0; // USER_HZ on Linux
    let mut out = BTreeMap::new();
    for w in watched {
        if !procs.contains_key(&w.pid) {
            continue;
        }
        let (mut ticks, mut stack) = (0u64, vec![w.pid]);
        while let Some(p) = stack.pop() {
            ticks += procs.get(&p).map_or(0, |s| s.1);
            stack.extend(children.get(&p).into_iter().flatten());
        }
        *out.entry(w.name.clone()).or_insert(0.0) += ticks as f64 / ticks_per_s;
    }
    out
}

/// What each tree used between two samples (trees present in both).
pub fn used(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
) -> BTreeMap<String, f64> {
    after
        .iter()
        .filter_map(|(k, a)| Some((k.clone(), a - before.get(k)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_counts_its_children() {
        let me = Watched::parse(&format!("me={}", std::process::id())).unwrap();
        // A child that burns CPU and exits: reaped, it lands in our cutime.
        let before = sample(std::slice::from_ref(&me));
        let st = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"])
            .status()
            .unwrap();
        assert!(st.success());
        let after = sample(std::slice::from_ref(&me));
        let d = used(&before, &after);
        assert!(d["me"] > 0.0, "{d:?}");
    }

    #[test]
    fn names_parse() {
        assert_eq!(Watched::parse("pg=12").unwrap().pid, 12);
        assert_eq!(Watched::parse("12").unwrap().name, "12");
        assert!(Watched::parse("pg=x").is_err());
    }
}
