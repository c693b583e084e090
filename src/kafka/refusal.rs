//! What a failed record means: Kafka refusing the record itself stops the
//! source with the setting to change (retrying cannot help); anything else
//! is retried with a rebuilt writer.
//!
//! With `enable.gapless.guarantee` a batch the broker refuses for good turns
//! the producer fatal, and the records after it fail as `Fatal`, are purged
//! from its queue, or are refused at once by `produce`. The refusal is then
//! read from the producer's fatal reason, which quotes the broker's error in librdkafka's
//! own text for its code.

use rdkafka::error::KafkaError as RdError;
use rdkafka::types::RDKafkaErrorCode;

use super::KafkaError;

/// Broker answers that refuse a record for good.
const PERMANENT: [RDKafkaErrorCode; 3] = [
    RDKafkaErrorCode::MessageSizeTooLarge,
    RDKafkaErrorCode::InvalidRecord,
    RDKafkaErrorCode::TopicAuthorizationFailed,
];

/// The error for a record that failed with `e`; `size` is its key and value
/// bytes, `fatal` the producer's fatal error, if it has one.
pub fn delivery_error(
    topic: String,
    e: RdError,
    size: usize,
    fatal: Option<(RDKafkaErrorCode, String)>,
) -> KafkaError {
    let (code, detail, what) = match (e.rdkafka_error_code(), fatal) {
        (Some(code), _) if PERMANENT.contains(&code) => (
            Some(code),
            e.to_string(),
            format!("a record of {size} bytes"),
        ),
        // Once the producer is fatal, every record failing is its
        // consequence, whatever its own code: the queued ones are purged
        // (`PurgeQueue`), and their reports can come before the refused
        // batch's own.
        (_, Some((code, reason))) => {
            let refused = PERMANENT
                .into_iter()
                .find(|c| reason.contains(&librdkafka_text(*c)));
            (refused.or(Some(code)), reason, "a record".to_string())
        }
        (code, None) => (code, e.to_string(), format!("a record of {size} bytes")),
    };
    match code {
        Some(RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::InvalidRecord) => {
            KafkaError::Rejected {
                topic,
                message: format!(
                    "{what} was refused ({detail}); raise \"message.max.bytes\" in [kafka.options] \
                     and the topic's max.message.bytes"
                ),
            }
        }
        Some(RDKafkaErrorCode::TopicAuthorizationFailed) => KafkaError::Rejected {
            topic,
            message: format!(
                "{detail}; grant the connector's Kafka user write access to the topic"
            ),
        },
        _ => KafkaError::Delivery {
            topic,
            message: detail,
        },
    }
}

/// librdkafka's text for a code ("Broker: Message size too large"), the
/// part of rdkafka's `Name (text)` display in parentheses.
fn librdkafka_text(code: RDKafkaErrorCode) -> String {
    let shown = code.to_string();
    match shown.split_once(" (") {
        Some((_, text)) => text.strip_suffix(')').unwrap_or(text).to_string(),
        None => shown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fatal() -> RdError {
        RdError::MessageProduction(RDKafkaErrorCode::Fatal)
    }

    #[test]
    fn a_refusal_behind_the_gapless_guarantee_names_the_setting() {
        // The reason librdkafka 2.12 gave for a batch the mock broker refused.
        let reason = "Local: Gap-less ordering would not be guaranteed if proceeding: ProduceRequest \
                      for t [1] with 1032 message(s) failed: Broker: Message size too large (broker 1 \
                      PID{Id:611132000,Epoch:0}, base seq 11964): unable to satisfy gap-less guarantee";
        let fatal_code = Some((RDKafkaErrorCode::GaplessGuarantee, reason.to_string()));
        let e = delivery_error("t".into(), fatal(), 10, fatal_code);
        match e {
            KafkaError::Rejected { message, .. } => {
                assert!(message.contains("message.max.bytes"), "{message}");
                assert!(message.contains("base seq 11964"), "{message}");
            }
            other => panic!("a refusal stops the source: {other}"),
        }
    }

    #[test]
    fn a_purged_record_behind_a_refusal_names_the_setting_too() {
        // A queued record purged when the producer turned fatal can be the
        // first one reported (seen in a run of tests/it/kafka_refusal.rs).
        let reason = "Local: Gap-less ordering would not be guaranteed if proceeding: ProduceRequest \
                      for t [5] with 3209 message(s) failed: Broker: Message size too large (broker 1 \
                      PID{Id:352080000,Epoch:0}, base seq 0): unable to satisfy gap-less guarantee";
        let e = delivery_error(
            "t".into(),
            RdError::MessageProduction(RDKafkaErrorCode::PurgeQueue),
            10,
            Some((RDKafkaErrorCode::GaplessGuarantee, reason.into())),
        );
        assert!(
            matches!(&e, KafkaError::Rejected { message, .. } if message.contains("message.max.bytes")),
            "{e}"
        );
    }

    #[test]
    fn librdkafka_text_is_the_broker_message() {
        assert_eq!(
            librdkafka_text(RDKafkaErrorCode::MessageSizeTooLarge),
            "Broker: Message size too large"
        );
    }

    #[test]
    fn other_fatal_errors_and_plain_failures_are_retried() {
        let reason =
            "Local: Gap-less ordering would not be guaranteed if proceeding: ProduceRequest \
                      for t [0] failed: Broker: Not enough in-sync replicas";
        let e = delivery_error(
            "t".into(),
            fatal(),
            10,
            Some((RDKafkaErrorCode::GaplessGuarantee, reason.into())),
        );
        assert!(matches!(e, KafkaError::Delivery { .. }), "{e}");
        let e = delivery_error(
            "t".into(),
            RdError::MessageProduction(RDKafkaErrorCode::MessageTimedOut),
            10,
            None,
        );
        assert!(matches!(e, KafkaError::Delivery { .. }), "{e}");
    }

    #[test]
    fn a_record_refused_directly_is_named_with_its_size() {
        let e = delivery_error(
            "t".into(),
            RdError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge),
            2_000_000,
            None,
        );
        assert!(
            matches!(&e, KafkaError::Rejected { message, .. } if message.contains("2000000 bytes")),
            "{e}"
        );
    }
}
