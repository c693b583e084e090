//! Semantic checks of a parsed file, turning the raw serde types into the
//! [`Connector`] model. Every problem is recorded, so one run reports all of
//! a file's mistakes. The larger sections have their own modules.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use super::check_kafka::kafka;
use super::check_sink::sink;
use super::check_source::source;
use super::checker::Checker;
use super::model::*;
use super::raw::*;
use super::values::{check_name, parse_http_url};

/// Checks `raw`; `Some` only when no problem was found. With
/// `need_password`, the variable named by `source.password_env` must be set.
pub fn connector(
    raw: &RawConnector,
    ck: &mut Checker,
    file: &Path,
    need_password: bool,
) -> Option<Connector> {
    let name = match &raw.name {
        None => {
            ck.report(
                None,
                "name",
                "this required key is missing",
                "add name = \"…\" (topic prefix), e.g. name = \"shop\"",
            );
            None
        }
        Some(value) => ck
            .text(value, "name")
            .and_then(|name| match check_name(&name) {
                Ok(()) => Some(name),
                Err(e) => {
                    ck.invalid(Some(value.span()), "name", e);
                    None
                }
            }),
    };
    if raw.source.is_none() && raw.sink.is_none() {
        ck.report(
            None,
            "",
            "the file has neither a [source] nor a [sink] table, so there is nothing to run",
            "add [source] (capture from MySQL), [sink] (apply to Delta), or both",
        );
    }
    let source = raw
        .source
        .as_ref()
        .and_then(|s| source(s, ck, need_password));
    let sink = raw.sink.as_ref().and_then(|s| sink(s, ck));
    let needs_transport = raw.source.is_some() || raw.sink.is_some();
    let kafka = match &raw.kafka {
        Some(k) => kafka(k, ck),
        None if needs_transport => {
            ck.report(
                None,
                "kafka",
                "the [kafka] table is missing",
                "add [kafka] with brokers = \"HOST:PORT\"",
            );
            None
        }
        None => None,
    };
    let registry = match &raw.registry {
        Some(r) => registry(r, ck),
        None if needs_transport => {
            ck.report(
                None,
                "registry",
                "the [registry] table is missing",
                "add [registry] with url = \"http://HOST:PORT\"",
            );
            None
        }
        None => None,
    };
    let metrics = raw.metrics.as_ref().map(|m| metrics(m, ck));
    if !ck.errors.is_empty() {
        return None;
    }
    Some(Connector {
        file: file.to_path_buf(),
        name: name?,
        source,
        kafka: kafka?,
        registry: registry?,
        sink,
        metrics: metrics.flatten(),
    })
}

fn registry(raw: &RawRegistry, ck: &mut Checker) -> Option<RegistryConfig> {
    let Some(v) = &raw.url else {
        ck.missing(
            &["registry"],
            "registry.url",
            "add url = \"http://HOST:PORT\"",
        );
        return None;
    };
    let text = ck.text(v, "registry.url")?;
    let url = parse_http_url(&text)
        .map_err(|e| ck.invalid(Some(v.span()), "registry.url", e))
        .ok();
    let compatibility = match &raw.compatibility {
        None => Some(Level::default()),
        Some(v) => ck
            .text(v, "registry.compatibility")
            .and_then(|t| level(ck, v, &t, "registry.compatibility")),
    };
    let mut subject_compatibility = BTreeMap::new();
    let mut subjects_ok = true;
    for (subject, v) in &raw.subject_compatibility {
        let key = format!("registry.subject_compatibility.{}", subject.get_ref());
        match ck.text(v, &key).and_then(|t| level(ck, v, &t, &key)) {
            Some(l) => {
                subject_compatibility.insert(subject.get_ref().clone(), l);
            }
            None => subjects_ok = false,
        }
    }
    Some(RegistryConfig {
        url: url?,
        compatibility: compatibility?,
        subject_compatibility: subjects_ok.then_some(subject_compatibility)?,
    })
}

/// A compatibility level's name, as the registry spells it (any case).
fn level(ck: &mut Checker, v: &Str, text: &str, key: &str) -> Option<Level> {
    match text.parse::<Level>() {
        Ok(l) => Some(l),
        Err(_) => {
            ck.report(
                Some(v.span()),
                key,
                format!("{text:?} is not a compatibility level"),
                "use one of \"NONE\", \"BACKWARD\", \"BACKWARD_TRANSITIVE\", \"FORWARD\", \
                 \"FORWARD_TRANSITIVE\", \"FULL\", \"FULL_TRANSITIVE\"",
            );
            None
        }
    }
}

fn metrics(raw: &RawMetrics, ck: &mut Checker) -> Option<MetricsConfig> {
    let Some(v) = &raw.listen else {
        ck.missing(
            &["metrics"],
            "metrics.listen",
            "add listen = \"IP:PORT\", e.g. \"0.0.0.0:9464\", or drop [metrics]",
        );
        return None;
    };
    let text = ck.text(v, "metrics.listen")?;
    match text.parse::<SocketAddr>() {
        Ok(listen) => Some(MetricsConfig { listen }),
        Err(_) => {
            ck.report(
                Some(v.span()),
                "metrics.listen",
                format!("{text:?} is not a socket address"),
                "write IP:PORT, e.g. \"127.0.0.1:9464\" or \"0.0.0.0:9464\" ([::]:9464 for IPv6)",
            );
            None
        }
    }
}
