//! The base versions of `schemas/` read from git (the `git` command, which
//! every CI checkout has), so the CI check needs no server and no network.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::layout;
use super::SchemasError;

/// The repository holding a `schemas/` directory.
#[derive(Debug, Clone)]
pub struct Repo {
    root: PathBuf,
    /// The directory's path inside the repository, `/`-terminated (empty
    /// for the top).
    prefix: String,
}

impl Repo {
    /// The repository `dir` is in; `dir` must exist.
    pub fn open(dir: &Path) -> Result<Repo, SchemasError> {
        let out = git(dir, &["rev-parse", "--show-toplevel", "--show-prefix"])?;
        let mut lines = out.lines();
        let root = lines.next().unwrap_or_default().trim().to_string();
        let prefix = lines.next().unwrap_or_default().trim().to_string();
        if root.is_empty() {
            return Err(SchemasError::Git {
                args: "rev-parse --show-toplevel".into(),
                why: format!("{} is not inside a git work tree", dir.display()),
            });
        }
        Ok(Repo {
            root: PathBuf::from(root),
            prefix,
        })
    }

    /// The commit `rev` names, as a full hash.
    pub fn resolve(&self, rev: &str) -> Result<String, SchemasError> {
        let spec = format!("{rev}^{{commit}}");
        git(&self.root, &["rev-parse", "--verify", "--quiet", &spec])
            .map(|s| s.trim().to_string())
            .map_err(|_| SchemasError::Git {
                args: format!("rev-parse --verify {spec}"),
                why: format!(
                    "{rev} is not a commit of this repository (in a shallow clone, fetch the base first)"
                ),
            })
    }

    /// Every `*.avsc` file of the directory at `commit`, as subject → text.
    pub fn files_at(&self, commit: &str) -> Result<BTreeMap<String, String>, SchemasError> {
        let listing = git(
            &self.root,
            &["ls-tree", "--name-only", commit, "--", &self.dir_spec()],
        )?;
        let mut files = BTreeMap::new();
        for path in listing.lines() {
            let name = path.rsplit('/').next().unwrap_or(path);
            let Some(subject) = name.strip_suffix(&format!(".{}", layout::EXTENSION)) else {
                continue;
            };
            files.insert(subject.to_string(), self.show(commit, path)?);
        }
        Ok(files)
    }

    /// The versions of `subject`'s file in the history of `commit`, newest
    /// first, each with the commit's short hash (for transitive levels).
    pub fn history(
        &self,
        commit: &str,
        subject: &str,
    ) -> Result<Vec<(String, String)>, SchemasError> {
        let path = self.path_of(subject);
        let commits = git(&self.root, &["log", "--format=%H %h", commit, "--", &path])?;
        let mut versions: Vec<(String, String)> = Vec::new();
        for line in commits.lines() {
            let mut parts = line.split(' ');
            let (Some(full), Some(short)) = (parts.next(), parts.next()) else {
                continue;
            };
            // The commit that deleted the file has no version of it.
            let Ok(text) = self.show(full, &path) else {
                continue;
            };
            if versions
                .last()
                .is_none_or(|(_, last)| !layout::same_json(last, &text))
            {
                versions.push((short.to_string(), text));
            }
        }
        Ok(versions)
    }

    /// The file's path from the top of the repository.
    pub fn path_of(&self, subject: &str) -> String {
        format!("{}{}", self.prefix, layout::file_name(subject))
    }

    fn dir_spec(&self) -> String {
        if self.prefix.is_empty() {
            ".".to_string()
        } else {
            self.prefix.clone()
        }
    }

    fn show(&self, commit: &str, path: &str) -> Result<String, SchemasError> {
        git(&self.root, &["show", &format!("{commit}:{path}")])
    }
}

/// Runs `git -C dir ARGS`, returning its standard output.
fn git(dir: &Path, args: &[&str]) -> Result<String, SchemasError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| SchemasError::Git {
            args: args.join(" "),
            why: format!("cannot run git ({e}); install git or use --against-dir"),
        })?;
    if !out.status.success() {
        return Err(SchemasError::Git {
            args: args.join(" "),
            why: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(dir: &Path, args: &[&str]) {
        let ok = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .unwrap();
        assert!(
            ok.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&ok.stderr)
        );
    }

    #[test]
    fn reads_a_directory_and_its_history_at_a_commit() {
        let repo = tempfile::tempdir().unwrap();
        let top = repo.path();
        run(top, &["init", "-q"]);
        run(top, &["config", "user.email", "t@example.com"]);
        run(top, &["config", "user.name", "t"]);
        let dir = top.join("schemas");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("a.b.c-key.avsc"), "{\"v\": 1}\n").unwrap();
        std::fs::write(dir.join("notes.txt"), "x").unwrap();
        run(top, &["add", "."]);
        run(top, &["commit", "-qm", "one"]);
        std::fs::write(dir.join("a.b.c-key.avsc"), "{\"v\": 2}\n").unwrap();
        run(top, &["commit", "-qam", "two"]);
        std::fs::write(dir.join("a.b.c-key.avsc"), "{\"v\": 3}\n").unwrap();

        let r = Repo::open(&dir).unwrap();
        assert_eq!(r.path_of("a.b.c-key"), "schemas/a.b.c-key.avsc");
        let head = r.resolve("HEAD").unwrap();
        let files = r.files_at(&head).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files["a.b.c-key"], "{\"v\": 2}\n");
        let history = r.history(&head, "a.b.c-key").unwrap();
        let texts: Vec<&str> = history.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(texts, vec!["{\"v\": 2}\n", "{\"v\": 1}\n"]);
        assert!(r.resolve("no-such-branch").is_err());
        assert!(r.files_at(&r.resolve("HEAD~1").unwrap()).unwrap()["a.b.c-key"].contains('1'));
    }
}
