//! Semantic checks of `[kafka]`.

use std::collections::BTreeMap;

use super::checker::Checker;
use super::locate::join;
use super::model::KafkaConfig;
use super::raw::{OptionValue, RawKafka};
use super::values::parse_brokers;

/// librdkafka properties binlake sets itself, with the reason.
const RESERVED_OPTIONS: [(&str, &str); 7] = [
    (
        "bootstrap.servers",
        "it comes from kafka.brokers; set brokers = \"HOST:PORT,…\" instead",
    ),
    (
        "metadata.broker.list",
        "it comes from kafka.brokers; set brokers = \"HOST:PORT,…\" instead",
    ),
    (
        "enable.idempotence",
        "it is set by binlake, which needs idempotent, ordered delivery; remove it",
    ),
    (
        "transactional.id",
        "it is set by binlake from the connector name; remove it",
    ),
    (
        "group.id",
        "it is set by binlake: the consumer group is the connector name; remove it",
    ),
    (
        "enable.auto.commit",
        "it is set by binlake: the sink stores offsets in Delta commits; remove it",
    ),
    (
        "enable.auto.offset.store",
        "it is set by binlake: the sink stores offsets in Delta commits; remove it",
    ),
];

/// Checks `[kafka]`: brokers, and options binlake does not own.
pub fn kafka(raw: &RawKafka, ck: &mut Checker) -> Option<KafkaConfig> {
    let brokers = match &raw.brokers {
        None => {
            ck.missing(
                &["kafka"],
                "kafka.brokers",
                "add brokers = \"HOST:PORT\" (comma-separated for several)",
            );
            None
        }
        Some(v) => ck.text(v, "kafka.brokers").and_then(|text| {
            parse_brokers(&text)
                .map_err(|e| ck.invalid(Some(v.span()), "kafka.brokers", e))
                .ok()
        }),
    };
    let mut options = Some(BTreeMap::new());
    for (name, value) in &raw.options {
        let key = format!("kafka.options.{}", join(&[name.get_ref().clone()]));
        let span = Some(name.span());
        let property = name.get_ref().trim();
        let text = if property.is_empty() || property.contains(char::is_whitespace) {
            ck.report(
                span,
                &key,
                "not a librdkafka property name",
                "use the property's name, e.g. \"compression.type\"",
            );
            None
        } else if let Some((_, why)) = RESERVED_OPTIONS.iter().find(|(k, _)| *k == property) {
            ck.report(
                span,
                &key,
                format!("{property} cannot be set here: {why}"),
                "",
            );
            None
        } else {
            match value {
                OptionValue::Text(t) => ck.expand(t, span, &key),
                other => Some(other.to_text()),
            }
        };
        match (text, options.as_mut()) {
            (Some(t), Some(map)) => {
                map.insert(property.to_string(), t);
            }
            _ => options = None,
        }
    }
    Some(KafkaConfig {
        brokers: brokers?,
        options: options?,
        transactions: raw.transactions.as_ref().is_some_and(|v| *v.get_ref()),
    })
}
