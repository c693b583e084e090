//! Problems found in a connector file, each tied to the file, the position
//! and the dotted key, so a user can jump straight to it.

use std::fmt;
use std::path::{Path, PathBuf};

use super::position::Position;

/// One problem in a connector file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The connector file, as given on the command line.
    pub file: PathBuf,
    /// Where in the file; `None` when the file could not be read at all.
    pub position: Option<Position>,
    /// The dotted key, e.g. `source.server_id` or `source.tables[1]`.
    pub key: Option<String>,
    /// What is wrong.
    pub problem: String,
    /// How to fix it.
    pub fix: String,
}

impl ConfigError {
    /// A problem at `position` of `file`, optionally under `key`.
    pub fn new(
        file: &Path,
        position: Option<Position>,
        key: Option<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            file: file.to_path_buf(),
            position,
            key,
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

/// `FILE:LINE:COL: key `a.b`: problem; fix` — the shape compilers use, so
/// editors and CI annotate the right line.
impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(p) = self.position {
            write!(f, ":{}:{}", p.line, p.col)?;
        }
        f.write_str(": ")?;
        if let Some(key) = &self.key {
            write!(f, "key `{key}`: ")?;
        }
        f.write_str(&self.problem)?;
        if !self.fix.is_empty() {
            write!(f, "; {}", self.fix)?;
        }
        Ok(())
    }
}

/// Every problem found in one connector file (never empty), in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    errors: Vec<ConfigError>,
}

impl ConfigErrors {
    /// Wraps the problems, sorted by position; `None` when there are none.
    pub fn from_vec(mut errors: Vec<ConfigError>) -> Option<ConfigErrors> {
        if errors.is_empty() {
            return None;
        }
        errors.sort_by_key(|e| e.position);
        Some(ConfigErrors { errors })
    }

    /// The problems, in file order.
    pub fn errors(&self) -> &[ConfigError] {
        &self.errors
    }

    /// One printable line per problem.
    pub fn lines(&self) -> impl Iterator<Item = String> + '_ {
        self.errors.iter().map(ToString::to_string)
    }
}

impl std::error::Error for ConfigError {}

// Display and Error are written by hand: the line shape is computed, which
// a thiserror format string cannot express.
impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> ConfigErrors {
        ConfigErrors {
            errors: vec![error],
        }
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, line) in self.lines().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            f.write_str(&line)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_file_line_col_key_problem_fix() {
        let e = ConfigError::new(
            Path::new("c/shop.toml"),
            Some(Position { line: 3, col: 13 }),
            Some("source.server_id".into()),
            "0 is out of range",
            "use 1..=4294967295",
        );
        assert_eq!(
            e.to_string(),
            "c/shop.toml:3:13: key `source.server_id`: 0 is out of range; use 1..=4294967295"
        );
    }

    #[test]
    fn sorts_by_position_and_unreadable_files_have_no_position() {
        let at = |line| {
            ConfigError::new(
                Path::new("f"),
                Some(Position { line, col: 1 }),
                None,
                "p",
                "",
            )
        };
        let errors = ConfigErrors::from_vec(vec![at(9), at(2)]).unwrap();
        assert_eq!(errors.lines().collect::<Vec<_>>(), ["f:2:1: p", "f:9:1: p"]);
        let unreadable =
            ConfigError::new(Path::new("f"), None, None, "cannot read", "check the path");
        assert_eq!(unreadable.to_string(), "f: cannot read; check the path");
        assert!(ConfigErrors::from_vec(Vec::new()).is_none());
    }
}
