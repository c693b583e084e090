//! Snapshot progress, stored with the source position in `{name}.offsets`
//! so a restarted source resumes after the last chunk it handed to Kafka.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::chunk::KeyParam;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SnapshotState {
    /// Tables (`db.table`) whose initial snapshot is complete, or that the
    /// stream saw created (it carries all their rows).
    #[serde(default)]
    pub done: BTreeSet<String>,
    /// Captured names whose table the stream saw dropped or renamed away
    /// (and not back since): a `CREATE TABLE IF NOT EXISTS` of one surely
    /// creates a new table.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub gone: BTreeSet<String>,
    /// Snapshots under way or waiting, in the order they were asked for.
    #[serde(default)]
    pub jobs: Vec<Job>,
    /// The next `{name}.signals` offset to read.
    #[serde(default)]
    pub signal_offset: i64,
}

/// One table (or one predicate of it) to read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    /// `db.table`.
    pub table: String,
    /// A backfill's `--where`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicate: Option<String>,
    /// The initial snapshot of the table (else a backfill).
    #[serde(default)]
    pub initial: bool,
    /// Key of the last row handed to Kafka: the next chunk starts after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Vec<KeyParam>>,
    /// Its table appeared under a captured name while the source ran: if
    /// the table is gone when read, a later statement removed it, which the
    /// stream will reach and call the job off.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub appeared: bool,
    #[serde(default)]
    pub rows: u64,
    #[serde(default)]
    pub chunks: u64,
}

impl Job {
    pub fn initial(table: String) -> Job {
        Job {
            id: format!("initial:{table}"),
            table,
            predicate: None,
            initial: true,
            after: None,
            appeared: false,
            rows: 0,
            chunks: 0,
        }
    }
}

impl SnapshotState {
    /// Adds an initial job for every selected table neither done nor queued.
    pub fn plan_initial(&mut self, selected: &[String]) {
        for t in selected {
            let queued = self.jobs.iter().any(|j| j.initial && &j.table == t);
            if !self.done.contains(t) && !queued {
                self.jobs.push(Job::initial(t.clone()));
            }
        }
    }

    /// Records a chunk handed to Kafka.
    pub fn chunk_emitted(
        &mut self,
        job: &str,
        after: Option<Vec<KeyParam>>,
        rows: u64,
        last: bool,
    ) {
        let Some(i) = self.jobs.iter().position(|j| j.id == job) else {
            return;
        };
        let j = &mut self.jobs[i];
        if after.is_some() {
            j.after = after;
        }
        j.rows += rows;
        j.chunks += 1;
        if last {
            let j = self.jobs.remove(i);
            if j.initial {
                self.done.insert(j.table);
            }
        }
    }

    /// Drops a job that cannot run.
    pub fn abandon(&mut self, job: &str) {
        self.jobs.retain(|j| j.id != job);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_jobs_are_planned_once_and_finish_into_done() {
        let mut s = SnapshotState::default();
        s.plan_initial(&["d.a".into(), "d.b".into()]);
        s.plan_initial(&["d.a".into(), "d.b".into()]);
        assert_eq!(s.jobs.len(), 2);
        s.chunk_emitted("initial:d.a", Some(vec![KeyParam::Int(5)]), 5, false);
        assert_eq!(s.jobs[0].after, Some(vec![KeyParam::Int(5)]));
        s.chunk_emitted("initial:d.a", None, 0, true);
        assert!(s.done.contains("d.a"));
        assert_eq!(s.jobs.len(), 1);
        // A table added to the file later is planned; finished ones are not.
        s.plan_initial(&["d.a".into(), "d.b".into(), "d.c".into()]);
        let t: Vec<&str> = s.jobs.iter().map(|j| j.table.as_str()).collect();
        assert_eq!(t, vec!["d.b", "d.c"]);
        let back: SnapshotState =
            serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }
}
