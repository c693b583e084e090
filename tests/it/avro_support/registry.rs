//! The embedded registry as a child process, and the fixture files for the
//! independent Python decoder check.

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use apache_avro::Schema;
use schema_registry_converter::async_impl::avro::AvroDecoder;
use schema_registry_converter::async_impl::schema_registry::SrSettings;

use binlake::avro::{CodecError, RegistryClient, RegistryClientError, TableCodec};
use binlake::event::{ColumnType, TableSchema};
use binlake::wire::value_subject;

use super::{cases, decode, every_type_table, Case};

/// Kills the registry when the test ends, however it ends.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

async fn wait_ready(url: &str, child: &mut ChildGuard, log: &Path) {
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if let Some(status) = child.0.try_wait().unwrap() {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            panic!("`binlake registry` exited with {status}:\n{text}");
        }
        if let Ok(r) = http.get(format!("{url}/subjects")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("`binlake registry` not ready at {url} after 20 s");
}

fn with_column(
    table: &TableSchema,
    name: &str,
    data_type: ColumnType,
    nullable: bool,
) -> TableSchema {
    let mut t = table.clone();
    t.columns
        .push(binlake::event::Column::plain(name, data_type, nullable));
    t
}

pub async fn registry_tests(bin: &str) {
    let data = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("registry.log");
    let port = free_port();
    let child = Command::new(bin)
        .args([
            "registry",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data.path())
        .stdout(Stdio::null())
        .stderr(File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut child = ChildGuard(child);
    let url = format!("http://127.0.0.1:{port}");
    wait_ready(&url, &mut child, &log).await;

    // v1: key and value registered, distinct ids, stored text parses back.
    let client = RegistryClient::new(&url).unwrap();
    let v1 = Arc::new(every_type_table());
    let codec = TableCodec::register("shop", v1.clone(), &client)
        .await
        .unwrap();
    assert_ne!(codec.key_schema_id(), codec.value_schema_id());
    let fresh = RegistryClient::new(&url).unwrap();
    for (id, schema) in [
        (codec.key_schema_id(), codec.key_schema()),
        (codec.value_schema_id(), codec.value_schema()),
    ] {
        let text = fresh.schema_by_id(id).await.unwrap();
        assert_eq!(&Schema::parse_str(&text).unwrap(), schema);
    }

    // Idempotent: the same schema gets the same id, from cache and from the server.
    let again = TableCodec::register("shop", v1.clone(), &client)
        .await
        .unwrap();
    let from_server = TableCodec::register("shop", v1.clone(), &fresh)
        .await
        .unwrap();
    for c in [&again, &from_server] {
        assert_eq!(
            (c.key_schema_id(), c.value_schema_id()),
            (codec.key_schema_id(), codec.value_schema_id())
        );
    }

    // A reader that knows only the registry decodes every message: the
    // framed id leads to the stored schema, which reads the datum.
    let decoder = AvroDecoder::new(SrSettings::new(url.clone()));
    for case in cases(&v1) {
        for (framed, schema) in [
            (codec.encode_key(&case.event).unwrap(), codec.key_schema()),
            (
                codec.encode_value(&case.event, 5).unwrap(),
                codec.value_schema(),
            ),
        ] {
            let (id, _) = binlake::avro::wire::parse(&framed).unwrap();
            let stored = Schema::parse_str(&fresh.schema_by_id(id).await.unwrap()).unwrap();
            let ours = decode(schema, &framed, id);
            assert_eq!(decode(&stored, &framed, id), ours, "{}", case.name);
            // So does an independent Confluent client.
            let theirs = decoder.decode(Some(&framed)).await.unwrap();
            assert_eq!(theirs.value, ours, "{}", case.name);
        }
    }

    // v2 adds a nullable column: allowed under BACKWARD; the key is unchanged.
    let subject = value_subject(codec.topic());
    client
        .set_compatibility(&subject, "BACKWARD")
        .await
        .unwrap();
    let v2 = Arc::new(with_column(&v1, "note", ColumnType::String, true));
    let codec2 = TableCodec::register("shop", v2.clone(), &client)
        .await
        .unwrap();
    assert_eq!(codec2.key_schema_id(), codec.key_schema_id());
    assert_ne!(codec2.value_schema_id(), codec.value_schema_id());

    // v3 turns `small` from int into string: incompatible.
    let mut v3 = (*v2).clone();
    v3.columns[2].data_type = ColumnType::String;
    let err = TableCodec::register("shop", Arc::new(v3), &client)
        .await
        .unwrap_err();
    match &err {
        CodecError::Registry(RegistryClientError::Incompatible { subject: s, .. }) => {
            assert_eq!(s, &subject)
        }
        other => panic!("expected an incompatible-schema error, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("compatibility level") && text.contains("/config/"),
        "{text}"
    );
    assert!(!err.is_retryable());

    // An added NOT NULL column without a default gets its type's zero value
    // as its Avro default, as Debezium writes it: a compatible version.
    let v4 = with_column(&v2, "must", ColumnType::Int, false);
    let codec4 = TableCodec::register("shop", Arc::new(v4), &client)
        .await
        .expect("a NOT NULL column without a default is a compatible version");
    assert_ne!(codec4.value_schema_id(), codec2.value_schema_id());
    assert!(
        codec4
            .value_schema_json()
            .contains(r#"{"name":"must","type":"int","default":0}"#),
        "{}",
        codec4.value_schema_json()
    );
}

/// Framed messages and schemas for `tests/python/test_avro_wire.py`, which
/// checks them against its own expectations with fastavro.
pub fn write_fixtures(dir: &Path, codec: &TableCodec, cases: &[Case], handled_ts: i64) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("key.avsc"), codec.key_schema_json()).unwrap();
    std::fs::write(dir.join("value.avsc"), codec.value_schema_json()).unwrap();
    let mut names = Vec::new();
    for case in cases {
        let key = codec.encode_key(&case.event).unwrap();
        let value = codec.encode_value(&case.event, handled_ts).unwrap();
        std::fs::write(dir.join(format!("{}.key.bin", case.name)), key).unwrap();
        std::fs::write(dir.join(format!("{}.value.bin", case.name)), value).unwrap();
        names.push(case.name);
    }
    let meta = serde_json::json!({
        "cases": names,
        "key_schema_id": codec.key_schema_id(),
        "value_schema_id": codec.value_schema_id(),
        "handled_ts_ms": handled_ts,
        "version": env!("CARGO_PKG_VERSION"),
        "topic": codec.topic(),
    });
    std::fs::write(dir.join("cases.json"), meta.to_string()).unwrap();
}
