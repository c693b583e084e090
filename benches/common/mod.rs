//! Helpers the benches share: CPU time of this process and of each thread
//! of another one, peak RSS, and the server's binlog position.

#![allow(dead_code)]

use std::collections::BTreeMap;

use anyhow::Context;
use binlake::source::position::Position;
use mysql_async::prelude::Queryable;

pub fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// CPU seconds (user + system) of this process so far.
pub fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct we hand it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(usage.ru_utime) + t(usage.ru_stime)
}

/// Peak RSS (VmHWM) of a process, in MiB.
pub fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// CPU seconds of every live thread of `pid`, summed by thread group: the
/// process's main thread, librdkafka's broker threads (`rdk:broker…`) and
/// main thread (`rdk:main`), rust-rdkafka's polling threads, tokio's
/// workers and blocking threads, and the rest.
pub fn thread_cpu(pid: u32) -> BTreeMap<String, f64> {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let mut out = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // comm is in parentheses and may hold spaces: split after the last ')'.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = &stat[open + 1..close];
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        // utime and stime are fields 14 and 15 of stat, 11 and 12 here.
        let (Some(u), Some(s)) = (fields.get(11), fields.get(12)) else {
            continue;
        };
        let cpu = (u.parse::<f64>().unwrap_or(0.0) + s.parse::<f64>().unwrap_or(0.0)) / ticks;
        let main = task.file_name().to_str() == Some(pid.to_string().as_str());
        let group = if main {
            "main".into()
        } else {
            thread_group(comm)
        };
        *out.entry(group).or_insert(0.0) += cpu;
    }
    out
}

fn thread_group(comm: &str) -> String {
    if comm.starts_with("rdk:broker") {
        // One group for the bootstrap and the real broker threads.
        "rdk:broker".into()
    } else if comm.starts_with("rdk:") {
        comm.into()
    } else if comm.starts_with("tokio") {
        "tokio".into()
    } else if comm.starts_with("producer pollin") || comm.starts_with("admin client po") {
        // rust-rdkafka's threads that serve delivery reports and admin results.
        "rdkafka poll".into()
    } else {
        "other".into()
    }
}

/// `after - before`, per thread group, formatted `group 1.23 s, …`.
pub fn cpu_delta(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> String {
    let mut parts: Vec<(String, f64)> = after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, v)| *v >= 0.005)
        .collect();
    parts.sort_by(|a, b| b.1.total_cmp(&a.1));
    let total: f64 = parts.iter().map(|(_, v)| v).sum();
    let list: Vec<String> = parts.iter().map(|(k, v)| format!("{k} {v:.2} s")).collect();
    format!("{total:.2} CPU s ({})", list.join(", "))
}

/// The server's current binlog position.
pub async fn master_position(pool: &mysql_async::Pool) -> anyhow::Result<Position> {
    let mut conn = pool.get_conn().await?;
    let row: mysql_async::Row = conn
        .query_first("SHOW MASTER STATUS")
        .await?
        .context("binlog off")?;
    let file: String = row.get(0).context("file")?;
    let pos: u64 = row.get(1).context("pos")?;
    Ok(Position {
        file,
        pos,
        ..Position::default()
    })
}

/// Starts a fresh binlog file: a range the server rotates right after (its
/// file full) ends at the next file's first event, which no COMMIT reaches.
pub async fn fresh_binlog_file(conn: &mut mysql_async::Conn) -> anyhow::Result<()> {
    conn.query_drop("FLUSH BINARY LOGS").await?;
    Ok(())
}
