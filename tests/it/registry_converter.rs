//! The `schema_registry_converter` crate (an independent Confluent client)
//! against the in-process registry: TopicNameStrategy registration, the
//! Confluent wire format, decoding back, schema evolution.

use std::net::SocketAddr;

use apache_avro::types::Value as Avro;
use binlake::registry;
use schema_registry_converter::async_impl::avro::{AvroDecoder, AvroEncoder};
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use schema_registry_converter::schema_registry_common::{
    SchemaType, SubjectNameStrategy, SuppliedSchema,
};
use serde_json::Value;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

const KEY: &str = r#"{"type":"record","name":"Key","namespace":"shop.orders","fields":[{"name":"id","type":"long"}]}"#;
const VALUE_V1: &str = r#"{"type":"record","name":"Value","namespace":"shop.orders","fields":[
    {"name":"id","type":"long"},
    {"name":"note","type":["null","string"],"default":null}]}"#;
const VALUE_V2: &str = r#"{"type":"record","name":"Value","namespace":"shop.orders","fields":[
    {"name":"id","type":"long"},
    {"name":"note","type":["null","string"],"default":null},
    {"name":"qty","type":"int","default":1}]}"#;

fn supplied(name: &str, schema: &str) -> SuppliedSchema {
    SuppliedSchema::new(Some(name.to_owned()), SchemaType::Avro, schema.to_owned())
}

/// Splits Confluent's wire format: magic byte 0, 4-byte big-endian id, body.
fn wire_id(bytes: &[u8]) -> Option<u32> {
    match bytes {
        [0, a, b, c, d, ..] => Some(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => None,
    }
}

async fn latest_id(base: &str, subject: &str) -> Result<Option<u32>, reqwest::Error> {
    let body: Value = reqwest::get(format!("{base}/subjects/{subject}/versions/latest"))
        .await?
        .json()
        .await?;
    Ok(body["id"].as_u64().and_then(|id| u32::try_from(id).ok()))
}

fn field<'a>(value: &'a Avro, name: &str) -> Option<&'a Avro> {
    match value {
        Avro::Record(fields) => fields.iter().find(|(n, _)| n == name).map(|(_, v)| v),
        _ => None,
    }
}

#[tokio::test]
async fn encode_register_and_decode_through_the_registry() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = registry::bind(SocketAddr::from(([127, 0, 0, 1], 0)), dir.path()).await?;
    let base = format!("http://{}", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));

    let settings = SrSettings::new(base.clone());
    let encoder = AvroEncoder::new(settings.clone());
    let topic = "shop.orders";

    let key_strategy = SubjectNameStrategy::TopicNameStrategyWithSchema(
        topic.to_owned(),
        true,
        supplied("shop.orders.Key", KEY),
    );
    let value_strategy = SubjectNameStrategy::TopicNameStrategyWithSchema(
        topic.to_owned(),
        false,
        supplied("shop.orders.Value", VALUE_V1),
    );
    let key_bytes = encoder
        .encode(vec![("id", Avro::Long(42))], key_strategy)
        .await?;
    let value_bytes = encoder
        .encode(
            vec![
                ("id", Avro::Long(42)),
                (
                    "note",
                    Avro::Union(1, Box::new(Avro::String("hello".into()))),
                ),
            ],
            value_strategy,
        )
        .await?;

    // Both subjects exist and the wire ids are the registered ones.
    let subjects: Value = reqwest::get(format!("{base}/subjects"))
        .await?
        .json()
        .await?;
    assert_eq!(
        subjects,
        serde_json::json!(["shop.orders-key", "shop.orders-value"])
    );
    let key_id = wire_id(&key_bytes).ok_or("key is not in the wire format")?;
    let value_id = wire_id(&value_bytes).ok_or("value is not in the wire format")?;
    assert_eq!(Some(key_id), latest_id(&base, "shop.orders-key").await?);
    assert_eq!(Some(value_id), latest_id(&base, "shop.orders-value").await?);
    assert_ne!(key_id, value_id);
    // Avro body of the key: zig-zag varint of 42 is 84.
    assert_eq!(&key_bytes[5..], &[84]);

    // A fresh decoder knows nothing: it must fetch the schema by id.
    let decoder = AvroDecoder::new(SrSettings::new(base.clone()));
    let key = decoder.decode(Some(&key_bytes)).await?;
    assert_eq!(key.value, Avro::Record(vec![("id".into(), Avro::Long(42))]));
    let value = decoder.decode(Some(&value_bytes)).await?;
    assert_eq!(field(&value.value, "id"), Some(&Avro::Long(42)));
    assert_eq!(
        field(&value.value, "note"),
        Some(&Avro::Union(1, Box::new(Avro::String("hello".into()))))
    );

    // Registering an evolved (backward compatible) value schema gives a new
    // id; old messages still decode. (A new encoder: encoders cache the
    // schema per subject.)
    let encoder = AvroEncoder::new(settings.clone());
    let evolved = SubjectNameStrategy::TopicNameStrategyWithSchema(
        topic.to_owned(),
        false,
        supplied("shop.orders.Value", VALUE_V2),
    );
    let v2_bytes = encoder
        .encode(
            vec![
                ("id", Avro::Long(7)),
                ("note", Avro::Union(0, Box::new(Avro::Null))),
                ("qty", Avro::Int(3)),
            ],
            evolved,
        )
        .await?;
    let v2_id = wire_id(&v2_bytes).ok_or("not in the wire format")?;
    assert!(v2_id > value_id);
    assert_eq!(Some(v2_id), latest_id(&base, "shop.orders-value").await?);
    let decoded = decoder.decode(Some(&v2_bytes)).await?;
    assert_eq!(field(&decoded.value, "qty"), Some(&Avro::Int(3)));
    assert!(decoder.decode(Some(&value_bytes)).await.is_ok());

    // Without a supplied schema the encoder uses the subject's latest version.
    let by_latest = AvroEncoder::new(SrSettings::new(base.clone()));
    let latest_bytes = by_latest
        .encode(
            vec![
                ("id", Avro::Long(1)),
                ("note", Avro::Union(0, Box::new(Avro::Null))),
                ("qty", Avro::Int(1)),
            ],
            SubjectNameStrategy::TopicNameStrategy(topic.to_owned(), false),
        )
        .await?;
    assert_eq!(wire_id(&latest_bytes), Some(v2_id));

    // An incompatible schema is refused and nothing is encoded.
    let encoder = AvroEncoder::new(settings);
    let incompatible = SubjectNameStrategy::TopicNameStrategyWithSchema(
        topic.to_owned(),
        false,
        supplied(
            "shop.orders.Value",
            r#"{"type":"record","name":"Value","namespace":"shop.orders","fields":[{"name":"id","type":"string"}]}"#,
        ),
    );
    let refused = encoder
        .encode(vec![("id", Avro::String("x".into()))], incompatible)
        .await;
    assert!(
        refused.is_err(),
        "an incompatible schema must not be registered"
    );

    let _ = stop.send(());
    drop((encoder, decoder, by_latest));
    task.await??;
    Ok(())
}
