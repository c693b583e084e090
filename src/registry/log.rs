//! Persistence: an append-only JSON-lines log of [`Op`]s in the data
//! directory, each line fsync'ed before the request that wrote it is
//! answered, plus a lock file so only one registry uses a directory.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::error::RegistryError;
use super::state::Op;

const LOG_FILE: &str = "registry.log";
const LOCK_FILE: &str = "registry.lock";

/// The open log; holding it holds the directory lock.
#[derive(Debug)]
pub struct Log {
    file: File,
    path: PathBuf,
    /// Bytes of complete lines; a failed append is cut back to this.
    len: u64,
    _lock: File,
}

impl Log {
    /// Creates the directory if needed, takes its lock and reads back every
    /// logged op. A torn last line (a write cut short by a crash, so never
    /// acknowledged) is truncated away; any other unreadable line is an error.
    pub fn open(dir: &Path) -> Result<(Log, Vec<Op>), RegistryError> {
        fs::create_dir_all(dir).map_err(|e| {
            RegistryError::io(format!("cannot create data directory {}", dir.display()), e)
        })?;
        let lock = lock_dir(dir)?;
        let path = dir.join(LOG_FILE);
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| RegistryError::io(format!("cannot open {}", path.display()), e))?;
        if !existed {
            sync_dir(dir)?;
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| RegistryError::io(format!("cannot read {}", path.display()), e))?;

        let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        if complete < bytes.len() {
            tracing::warn!(
                path = %path.display(),
                bytes = bytes.len() - complete,
                "dropping a torn last line of the registry log (an unacknowledged write cut short)"
            );
            file.set_len(complete as u64)
                .and_then(|()| file.sync_all())
                .map_err(|e| RegistryError::io(format!("cannot truncate {}", path.display()), e))?;
        }
        let ops = parse_lines(&path, &bytes[..complete])?;
        let log = Log {
            file,
            path,
            len: complete as u64,
            _lock: lock,
        };
        Ok((log, ops))
    }

    /// Appends one op and waits until it is on disk.
    pub fn append(&mut self, op: &Op) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(op).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let result = self
            .file
            .write_all(&line)
            .and_then(|()| self.file.sync_data());
        match result {
            Ok(()) => {
                self.len += line.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Best effort: a half-written line must not be replayed later.
                let _ = self.file.set_len(self.len);
                Err(e)
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn parse_lines(path: &Path, bytes: &[u8]) -> Result<Vec<Op>, RegistryError> {
    let mut ops = Vec::new();
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let op = serde_json::from_slice(line).map_err(|e| RegistryError::CorruptLog {
            path: path.to_owned(),
            line: i + 1,
            reason: e.to_string(),
        })?;
        ops.push(op);
    }
    Ok(ops)
}

/// An exclusive advisory lock, released by the OS when the process dies, so
/// a kill -9 never leaves a stale lock behind.
fn lock_dir(dir: &Path) -> Result<File, RegistryError> {
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| RegistryError::io(format!("cannot open lock file {}", path.display()), e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(RegistryError::Locked {
                dir: dir.to_owned(),
                lock: path,
            })
        }
        Err(TryLockError::Error(e)) => {
            return Err(RegistryError::io(
                format!("cannot lock {}", path.display()),
                e,
            ))
        }
    }
    // The pid is only for humans looking for the holder.
    let pid = format!("{}\n", std::process::id());
    let _ = file
        .set_len(0)
        .and_then(|()| file.write_all(pid.as_bytes()));
    Ok(file)
}

fn sync_dir(dir: &Path) -> Result<(), RegistryError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| RegistryError::io(format!("cannot sync directory {}", dir.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(n: u32) -> Op {
        Op::Register {
            subject: "s".into(),
            version: n,
            id: n,
            schema: "\"int\"".into(),
        }
    }

    #[test]
    fn replays_and_drops_a_torn_tail() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        {
            let (mut log, ops) = Log::open(dir.path())?;
            assert!(ops.is_empty());
            log.append(&op(1))?;
            log.append(&op(2))?;
        }
        let path = dir.path().join(LOG_FILE);
        let mut f = OpenOptions::new().append(true).open(&path)?;
        f.write_all(br#"{"op":"regis"#)?;
        drop(f);
        {
            let (mut log, ops) = Log::open(dir.path())?;
            assert_eq!(ops, vec![op(1), op(2)]);
            log.append(&op(3))?;
        }
        let (_log, ops) = Log::open(dir.path())?;
        assert_eq!(ops, vec![op(1), op(2), op(3)]);
        Ok(())
    }

    #[test]
    fn a_corrupt_middle_line_is_refused() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        fs::write(dir.path().join(LOG_FILE), "garbage\n{\"op\":\"x\"}\n")?;
        let err = Log::open(dir.path()).err();
        assert!(
            matches!(err, Some(RegistryError::CorruptLog { line: 1, .. })),
            "{err:?}"
        );
        Ok(())
    }

    #[test]
    fn a_second_opener_is_refused() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let first = Log::open(dir.path())?;
        assert!(matches!(
            Log::open(dir.path()),
            Err(RegistryError::Locked { .. })
        ));
        drop(first);
        assert!(Log::open(dir.path()).is_ok());
        Ok(())
    }
}
