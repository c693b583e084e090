//! Reading a connector file: the text, the TOML, then the semantic checks.

use std::path::Path;

use toml_edit::ImDocument;

use super::checker::{Checker, EnvLookup};
use super::error::{ConfigError, ConfigErrors};
use super::locate;
use super::model::Connector;
use super::position::Position;
use super::raw::RawConnector;
use super::validate;

impl Connector {
    /// Loads `path` for running it (and for online `check`): like
    /// [`Connector::load_offline`], and the variable named by
    /// `source.password_env` must also be set.
    pub fn load(path: &Path) -> Result<Connector, ConfigErrors> {
        Self::load_with(path, &process_env, true)
    }

    /// Loads `path` on its own, as CI does: the password variable must be
    /// a valid name but need not be set. `${VAR}`s must still be set.
    pub fn load_offline(path: &Path) -> Result<Connector, ConfigErrors> {
        Self::load_with(path, &process_env, false)
    }

    /// Reads `path` and checks it with `env` as the environment.
    pub fn load_with(
        path: &Path,
        env: EnvLookup,
        need_password: bool,
    ) -> Result<Connector, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(
                path,
                None,
                None,
                format!("cannot read the file: {e}"),
                "check the path and its permissions",
            )
        })?;
        Self::from_toml(path, &text, env, need_password)
    }

    /// Checks `text` as the content of `file` (which only names it in
    /// messages); every problem found is returned, in file order.
    pub fn from_toml(
        file: &Path,
        text: &str,
        env: EnvLookup,
        need_password: bool,
    ) -> Result<Connector, ConfigErrors> {
        let raw: RawConnector =
            toml::from_str(text).map_err(|e| locate::describe(file, text, &e))?;
        // Parsing succeeded above, so this only fails on parser disagreement.
        let doc = ImDocument::parse(text).map_err(|e| {
            let position = e.span().map(|s| Position::of(text, s.start));
            ConfigError::new(
                file,
                position,
                None,
                format!("TOML syntax error: {}", e.message()),
                "fix the syntax",
            )
        })?;
        let mut ck = Checker::new(file, text, doc.as_table(), env);
        let connector = validate::connector(&raw, &mut ck, file, need_password);
        match (connector, ConfigErrors::from_vec(ck.errors)) {
            (_, Some(errors)) => Err(errors),
            (Some(connector), None) => Ok(connector),
            // Unreachable by construction: every `None` records a problem.
            (None, None) => {
                Err(ConfigError::new(file, None, None, "invalid connector file", "").into())
            }
        }
    }
}

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}
