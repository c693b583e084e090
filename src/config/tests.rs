//! Whole-file checks through [`Connector::from_toml`], with a fake
//! environment so no test depends on the process's.

use std::path::Path;
use std::time::Duration;

use super::*;

const GOOD: &str = r#"
name = "shop"

[source]
url = "mysql://cdc@127.0.0.1:3307/shop"
password_env = "SHOP_PW"
server_id = 5401
tables = ["shop.*", "crm.users"]
exclude_tables = ["shop.tmp_*"]
exclude_columns = ["shop.customers.ssn"]
key_columns = { "shop.events" = ["event_id"] }
heartbeat = "500ms"

[kafka]
brokers = "${KAFKA_HOST}:9092, b:9093"
[kafka.options]
"compression.type" = "zstd"
"linger.ms" = 5
"socket.keepalive.enable" = true

[registry]
url = "http://127.0.0.1:8081/"

[sink]
table_uri = "s3://lake/{db}/{table}"
deletes = "soft"

[metrics]
listen = "0.0.0.0:9464"
"#;

fn env(name: &str) -> Option<String> {
    match name {
        "SHOP_PW" => Some("hunter2".into()),
        "KAFKA_HOST" => Some("k1".into()),
        _ => None,
    }
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn load(text: &str) -> Result<Connector, Vec<String>> {
    Connector::from_toml(Path::new("c.toml"), text, &env, true).map_err(|e| e.lines().collect())
}

fn errors(text: &str) -> Vec<String> {
    load(text).expect_err("the file should be refused")
}

#[test]
fn a_full_file_loads_with_values_and_defaults() {
    let c = load(GOOD).unwrap();
    assert_eq!(c.name, "shop");
    let s = c.source.as_ref().unwrap();
    assert_eq!(s.url.host, "127.0.0.1");
    assert_eq!(s.url.port, 3307);
    assert_eq!(s.url.database.as_deref(), Some("shop"));
    assert_eq!(s.password.as_ref().map(Secret::expose), Some("hunter2"));
    assert_eq!(s.server_id, 5401);
    assert_eq!(s.snapshot, SnapshotMode::Initial);
    assert_eq!(s.heartbeat, Duration::from_millis(500));
    assert!(s.table_selected("shop", "orders"));
    assert!(s.table_selected("crm", "users"));
    assert!(!s.table_selected("shop", "tmp_x"));
    assert!(!s.table_selected("crm", "deals"));
    assert!(s.column_excluded("shop", "customers", "SSN"));
    assert!(!s.column_excluded("shop", "orders", "ssn"));
    assert_eq!(
        s.key_columns_for("shop", "events"),
        Some(&["event_id".to_string()][..])
    );
    assert_eq!(s.key_columns_for("shop", "orders"), None);
    assert_eq!(c.kafka.bootstrap_servers(), "k1:9092,b:9093");
    assert_eq!(c.kafka.options["linger.ms"], "5");
    assert_eq!(c.kafka.options["socket.keepalive.enable"], "true");
    assert_eq!(c.registry.url, "http://127.0.0.1:8081");
    let sink = c.sink.as_ref().unwrap();
    assert_eq!(sink.flush_interval, DEFAULT_FLUSH_INTERVAL);
    assert_eq!(sink.max_batch_rows, DEFAULT_MAX_BATCH_ROWS);
    assert_eq!(sink.deletes, DeleteMode::Soft);
    assert_eq!(
        sink.table_uri_for("shop", "orders"),
        "s3://lake/shop/orders"
    );
    assert_eq!(c.metrics.unwrap().listen.port(), 9464);
    assert_eq!(c.topic_for("shop", "orders"), "shop.shop.orders");
}

#[test]
fn offline_needs_no_password_but_still_needs_interpolated_variables() {
    let c = Connector::from_toml(
        Path::new("c.toml"),
        GOOD,
        &|n| (n == "KAFKA_HOST").then(|| "k".into()),
        false,
    )
    .unwrap();
    assert!(c.source.unwrap().password.is_none());
    let e = Connector::from_toml(Path::new("c.toml"), GOOD, &no_env, false).unwrap_err();
    let lines: Vec<String> = e.lines().collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with(
            "c.toml:15:11: key `kafka.brokers`: environment variable KAFKA_HOST is not set"
        ),
        "{lines:?}"
    );
}

#[test]
fn online_load_names_the_unset_password_variable() {
    let e = Connector::from_toml(
        Path::new("c.toml"),
        GOOD,
        &|n| (n == "KAFKA_HOST").then(|| "k".into()),
        true,
    )
    .unwrap_err();
    let lines: Vec<String> = e.lines().collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with(
            "c.toml:6:16: key `source.password_env`: environment variable SHOP_PW is not set"
        ),
        "{lines:?}"
    );
}

#[test]
fn every_semantic_problem_is_reported_at_once() {
    let text = GOOD
        .replace("server_id = 5401", "server_id = 0")
        .replace("\"500ms\"", "\"5 parsecs\"")
        .replace("deletes = \"soft\"", "deletes = \"soft-ish\"")
        .replace("0.0.0.0:9464", "localhost");
    let lines = errors(&text);
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(
        lines[0].starts_with("c.toml:7:13: key `source.server_id`: 0 is out of range"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("c.toml:12:13: key `source.heartbeat`:"),
        "{lines:?}"
    );
    assert!(lines[2].starts_with("c.toml:26:11: key `sink.deletes`: \"soft-ish\" is not a valid value; use one of \"hard\", \"soft\""), "{lines:?}");
    assert!(
        lines[3].starts_with("c.toml:29:10: key `metrics.listen`:"),
        "{lines:?}"
    );
}

#[test]
fn missing_keys_point_at_their_table() {
    let lines = errors("name = \"x\"\n\n[kafka]\n[registry]\nurl = \"http://r\"\n[sink]\n");
    assert_eq!(lines, [
        "c.toml:3:2: key `kafka.brokers`: this required key is missing; add brokers = \"HOST:PORT\" (comma-separated for several)",
        "c.toml:6:2: key `sink.table_uri`: this required key is missing; add table_uri = \"s3://bucket/{db}/{table}\" (or file:// or a path)",
    ]);
}

#[test]
fn dotted_key_tables_work_and_locate() {
    let text = "name = \"x\"\nsink.table_uri = \"/d/{table}\"\nkafka.brokers = \"k:1\"\nregistry.url = \"http://r\"\nsink.deletes = 1\n";
    assert_eq!(errors(text), ["c.toml:5:16: key `sink.deletes`: wrong type: found integer `1`, expected a string; write a string here"]);
    let ok = text.replace("sink.deletes = 1\n", "");
    assert_eq!(load(&ok).unwrap().sink.unwrap().table_uri, "/d/{table}");
}

#[test]
fn sink_partitions_default_to_the_group_and_take_all() {
    let text = "name = \"x\"\nsink.table_uri = \"/d/{table}\"\nkafka.brokers = \"k:1\"\nregistry.url = \"http://r\"\n";
    assert_eq!(
        load(text).unwrap().sink.unwrap().partitions,
        PartitionMode::Group
    );
    let all = format!("{text}sink.partitions = \"all\"\n");
    assert_eq!(
        load(&all).unwrap().sink.unwrap().partitions,
        PartitionMode::All
    );
    let bad = format!("{text}sink.partitions = \"some\"\n");
    assert_eq!(errors(&bad), ["c.toml:5:19: key `sink.partitions`: \"some\" is not a valid value; use one of \"group\", \"all\""]);
}

#[test]
fn unquoted_dotted_kafka_options_get_a_hint() {
    let text = "name = \"x\"\n[sink]\ntable_uri = \"/d/{table}\"\n[kafka]\nbrokers = \"k:1\"\n[kafka.options]\ncompression.type = \"zstd\"\n[registry]\nurl = \"http://r\"\n";
    let lines = errors(text);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("key `kafka.options.compression"),
        "{lines:?}"
    );
    assert!(
        lines[0].contains("quote librdkafka keys that contain dots"),
        "{lines:?}"
    );
}

#[test]
fn key_columns_must_name_captured_tables_and_unexcluded_columns() {
    let text = GOOD.replace(
        "key_columns = { \"shop.events\" = [\"event_id\"] }",
        "key_columns = { \"shop.events\" = [\"event_id\", \"EVENT_ID\"], \"other.t\" = [\"id\"], \"shop.customers\" = [\"ssn\"], \"shop.*\" = [\"id\"] }",
    );
    let lines = errors(&text);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].contains(
            "key `source.key_columns.\"shop.events\"[1]`: column \"EVENT_ID\" is listed twice"
        ),
        "{lines:?}"
    );
    assert!(
        lines[1].contains(
            "key `source.key_columns.\"shop.*\"`: \"shop.*\" is not a plain DB.TABLE name"
        ),
        "{lines:?}"
    );
    let text = GOOD.replace(
        "key_columns = { \"shop.events\" = [\"event_id\"] }",
        "key_columns = { \"other.t\" = [\"id\"], \"shop.customers\" = [\"ssn\"] }",
    );
    let lines = errors(&text);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].contains("key `source.key_columns.\"other.t\"`: table other.t is not captured"),
        "{lines:?}"
    );
    assert!(
        lines[1].contains(
            "key `source.key_columns.\"shop.customers\"[0]`: key column \"ssn\" is excluded"
        ),
        "{lines:?}"
    );
}

#[test]
fn secrets_from_the_environment_never_show_in_messages() {
    let text = GOOD.replace(
        "mysql://cdc@127.0.0.1:3307/shop",
        "mysql://cdc:${SHOP_PW}@127.0.0.1:3307",
    );
    let lines = errors(&text);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("key `source.url`: the URL contains a password"),
        "{lines:?}"
    );
    assert!(!lines[0].contains("hunter2"), "{lines:?}");
}

#[test]
fn sink_storage_takes_settings_and_refuses_credentials() {
    let with = |storage: &str| {
        GOOD.replace(
            "deletes = \"soft\"\n",
            &format!("deletes = \"soft\"\n[sink.storage]\n{storage}\n"),
        )
    };
    let c = load(&with(
        "endpoint = \"http://${KAFKA_HOST}:9000\"\nallow_http = true\nRegion = \"eu-west-1\"",
    ))
    .unwrap();
    let s = c.sink.unwrap();
    assert_eq!(s.storage["endpoint"], "http://k1:9000");
    assert_eq!(s.storage["allow_http"], "true");
    assert_eq!(s.storage["region"], "eu-west-1");

    let e = errors(&with(
        "aws_secret_access_key = \"x\"\nendpiont = \"http://h\"",
    ));
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].contains("sink.storage.aws_secret_access_key"), "{e:?}");
    assert!(
        e[0].contains("secrets never go in the connector file"),
        "{e:?}"
    );
    assert!(e[0].contains("AWS_SECRET_ACCESS_KEY"), "{e:?}");
    assert!(e[1].contains("sink.storage.endpiont"), "{e:?}");

    let local = GOOD
        .replace("s3://lake/{db}/{table}", "/var/lib/lake/{db}/{table}")
        .replace(
            "deletes = \"soft\"\n",
            "deletes = \"soft\"\n[sink.storage]\nregion = \"x\"\n",
        );
    assert!(errors(&local)[0].contains("takes no storage options"));
}

#[test]
fn compatibility_levels_default_to_backward_and_can_be_set_per_subject() {
    use crate::registry::compat::Level;
    let c = load(GOOD).unwrap();
    assert_eq!(
        c.registry.level_of("shop.shop.orders-value"),
        Level::Backward
    );
    let text = GOOD.replace(
        "url = \"http://127.0.0.1:8081/\"",
        "url = \"http://127.0.0.1:8081/\"\ncompatibility = \"full_transitive\"\n\
         subject_compatibility = { \"shop.shop.orders-value\" = \"NONE\" }",
    );
    let c = load(&text).unwrap();
    assert_eq!(c.registry.level_of("shop.shop.orders-value"), Level::None);
    assert_eq!(
        c.registry.level_of("shop.shop.orders-key"),
        Level::FullTransitive
    );
    let bad = text.replace("\"NONE\"", "\"SIDEWAYS\"");
    let lines = errors(&bad);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("key `registry.subject_compatibility.shop.shop.orders-value`: \"SIDEWAYS\" is not a compatibility level; use one of \"NONE\", \"BACKWARD\""),
        "{lines:?}"
    );
}
