//! The state of one file's semantic check: where problems are collected,
//! how spans become positions and how `${VAR}`s are expanded.

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use super::duration;
use super::error::ConfigError;
use super::interpolate::{self, InterpolationError};
use super::locate;
use super::position::Position;
use super::raw::Str;
use super::values::Invalid;

/// Looks up an environment variable; injectable so tests need not touch
/// the process environment.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Collects every problem of one file.
pub struct Checker<'a> {
    file: &'a Path,
    text: &'a str,
    root: &'a toml_edit::Table,
    env: EnvLookup<'a>,
    /// The problems found so far.
    pub errors: Vec<ConfigError>,
}

impl<'a> Checker<'a> {
    /// A checker for `text`, the content of `file`, parsed as `root`.
    pub fn new(
        file: &'a Path,
        text: &'a str,
        root: &'a toml_edit::Table,
        env: EnvLookup<'a>,
    ) -> Self {
        Checker {
            file,
            text,
            root,
            env,
            errors: Vec::new(),
        }
    }

    /// Records a problem with `key` at `span` (the start of the file when unknown).
    pub fn report(
        &mut self,
        span: Option<Range<usize>>,
        key: &str,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) {
        let position = span.map_or(Position::START, |s| Position::of(self.text, s.start));
        let key = (!key.is_empty()).then(|| key.to_string());
        self.errors.push(ConfigError::new(
            self.file,
            Some(position),
            key,
            problem,
            fix,
        ));
    }

    /// Records a value check's failure.
    pub fn invalid(&mut self, span: Option<Range<usize>>, key: &str, invalid: Invalid) {
        self.report(span, key, invalid.problem, invalid.fix);
    }

    /// Records that `key` is required but absent from the table at
    /// `section` (pointing at that table's header).
    pub fn missing(&mut self, section: &[&str], key: &str, fix: impl Into<String>) {
        let span = locate::key_span(self.root, section);
        self.report(span, key, "this required key is missing", fix);
    }

    /// Looks up an environment variable.
    pub fn env(&self, name: &str) -> Option<String> {
        (self.env)(name)
    }

    /// The string value with `${VAR}`s expanded; `None` (and a recorded
    /// problem) when a variable is unset or a reference is malformed.
    pub fn text(&mut self, value: &Str, key: &str) -> Option<String> {
        self.expand(value.get_ref(), Some(value.span()), key)
    }

    /// Expands `${VAR}`s in `text`, which sits at `span`.
    pub fn expand(&mut self, text: &str, span: Option<Range<usize>>, key: &str) -> Option<String> {
        match interpolate::expand(text, self.env) {
            Ok(expanded) => Some(expanded),
            Err(InterpolationError::Unset(var)) => {
                self.report(
                    span,
                    key,
                    format!("environment variable {var} is not set (referenced as ${{{var}}})"),
                    format!("export {var} before running binlake, or write the value in the file"),
                );
                None
            }
            Err(InterpolationError::BadName(name)) => {
                self.report(
                    span,
                    key,
                    format!("${{{name}}} is not a variable reference"),
                    "write ${NAME} with NAME of letters, digits and '_', or $${ for a literal ${",
                );
                None
            }
            Err(InterpolationError::Unterminated) => {
                self.report(
                    span,
                    key,
                    "'${' without its closing '}'",
                    "close the reference: ${NAME}",
                );
                None
            }
        }
    }

    /// An optional positive duration, `default` when absent.
    pub fn duration(
        &mut self,
        value: Option<&Str>,
        key: &str,
        default: Duration,
    ) -> Option<Duration> {
        let Some(value) = value else {
            return Some(default);
        };
        let text = self.text(value, key)?;
        match duration::parse_positive(&text) {
            Ok(d) => Some(d),
            Err(problem) => {
                self.report(
                    Some(value.span()),
                    key,
                    problem,
                    "write a positive duration such as \"500ms\", \"10s\" or \"1m\"",
                );
                None
            }
        }
    }

    /// One of the words in `choices`, `default` when absent.
    pub fn choice<T: Copy>(
        &mut self,
        value: Option<&Str>,
        key: &str,
        choices: &[(&str, T)],
        default: T,
    ) -> Option<T> {
        let Some(value) = value else {
            return Some(default);
        };
        let text = self.text(value, key)?;
        if let Some((_, choice)) = choices.iter().find(|(word, _)| *word == text) {
            return Some(*choice);
        }
        let words: Vec<String> = choices.iter().map(|(w, _)| format!("{w:?}")).collect();
        self.report(
            Some(value.span()),
            key,
            format!("{text:?} is not a valid value"),
            format!("use one of {}", words.join(", ")),
        );
        None
    }
}
