//! `binlake check --offline` on good and bad connector files: exit codes and
//! the exact `FILE:LINE:COL: key `…`` of every reported problem.

use std::process::{Command, Output};

const DIR: &str = "tests/fixtures/connectors";

/// Variables the fixtures refer to; removed so the host's environment
/// cannot change a result.
const VARS: [&str; 4] = [
    "BINLAKE_MYSQL_PASSWORD",
    "BINLAKE_TEST_SOURCE_PASSWORD",
    "BINLAKE_TEST_UNSET_HOST",
    "BINLAKE_TEST_SET_HOST",
];

fn binlake(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_binlake"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args(args);
    for var in VARS {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("binlake runs")
}

fn stdout(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn fixture(name: &str) -> String {
    format!("{DIR}/{name}.toml")
}

/// Checks one bad fixture offline: exit 1 and exactly the expected lines,
/// each given as (LINE:COL, text the line continues with).
fn assert_bad(name: &str, expected: &[(&str, &str)]) -> Vec<String> {
    let file = fixture(name);
    let out = binlake(&["check", "--offline", &file], &[]);
    let lines = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{name}: {lines:#?}");
    assert_eq!(lines.len(), expected.len(), "{name}: {lines:#?}");
    for (line, (at, text)) in lines.iter().zip(expected) {
        let want = format!("{file}:{at}: {text}");
        assert!(
            line.starts_with(&want),
            "{name}:\n  got  {line}\n  want {want}…"
        );
    }
    lines
}

#[test]
fn good_files_pass_offline() {
    for file in [
        "connectors/shop.toml",
        &fixture("good_source_only"),
        &fixture("good_sink_only"),
    ] {
        let out = binlake(&["check", "--offline", file], &[]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{file}: {:?} {}",
            stdout(&out),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stdout(&out), [format!("ok: {file}")]);
    }
}

#[test]
fn online_check_requires_the_password_variable() {
    // Only the file-level failure is asserted: with the variable set, the
    // online check would go on to contact servers, which a test cannot rely on.
    let file = fixture("good_source_only");
    let out = binlake(&["check", &file], &[]);
    assert_eq!(out.status.code(), Some(1));
    let want = format!(
        "{file}:6:16: key `source.password_env`: environment variable BINLAKE_TEST_SOURCE_PASSWORD is not set; \
         export BINLAKE_TEST_SOURCE_PASSWORD=<the MySQL password> (empty for none), or use `binlake check --offline`"
    );
    let lines = stdout(&out);
    assert!(lines.contains(&want), "{lines:#?}");
}

#[test]
fn several_files_fail_if_any_fails_and_print_every_failure() {
    let (good, wrong, enums) = (
        fixture("good_sink_only"),
        fixture("bad_wrong_type"),
        fixture("bad_enum"),
    );
    let out = binlake(&["check", "--offline", &good, &wrong, &enums], &[]);
    assert_eq!(out.status.code(), Some(1));
    let lines = stdout(&out);
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert_eq!(lines[0], format!("ok: {good}"));
    assert!(
        lines[1].starts_with(&format!("{wrong}:6:13: key `source.server_id`")),
        "{lines:#?}"
    );
    assert!(
        lines[2].starts_with(&format!("{enums}:8:12: key `source.snapshot`")),
        "{lines:#?}"
    );
    assert!(
        lines[3].starts_with(&format!("{enums}:18:11: key `sink.deletes`")),
        "{lines:#?}"
    );
}

#[test]
fn a_missing_file_is_reported() {
    let out = binlake(
        &["check", "--offline", "tests/fixtures/connectors/nope.toml"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let lines = stdout(&out);
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].starts_with("tests/fixtures/connectors/nope.toml: cannot read the file:"),
        "{lines:?}"
    );
}

#[test]
fn variables_are_interpolated_when_set() {
    let out = binlake(
        &["check", "--offline", &fixture("bad_unset_var")],
        &[("BINLAKE_TEST_UNSET_HOST", "db")],
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", stdout(&out));
}

#[test]
fn unknown_top_level_key() {
    assert_bad(
        "bad_unknown_top_key",
        &[(
            "2:1",
            "key `topic_prefix`: unknown key `topic_prefix`; remove it or use one of: name, source",
        )],
    );
}

#[test]
fn unknown_nested_key_suggests_the_right_one() {
    assert_bad("bad_unknown_nested_key", &[("11:1", "key `sink.flush_intervall`: unknown key `flush_intervall`; did you mean `flush_interval`?")]);
}

#[test]
fn wrong_type() {
    assert_bad(
        "bad_wrong_type",
        &[(
            "6:13",
            "key `source.server_id`: wrong type: found string \"abc\", expected an integer",
        )],
    );
}

#[test]
fn server_id_out_of_range() {
    assert_bad(
        "bad_server_id_range",
        &[(
            "6:13",
            "key `source.server_id`: 4294967296 is out of range; use 1..=4294967295",
        )],
    );
}

#[test]
fn snapshot_settings_out_of_range() {
    assert_bad(
        "bad_snapshot_settings",
        &[
            (
                "8:23",
                "key `source.snapshot_chunk_rows`: 0 is out of range; use 1..=1000000 rows",
            ),
            (
                "9:24",
                "key `source.snapshot_parallelism`: 500 is out of range; use 1..=64",
            ),
        ],
    );
}

#[test]
fn missing_required_keys_are_all_reported() {
    assert_bad(
        "bad_missing_required",
        &[
            (
                "1:1",
                "key `name`: this required key is missing; add name = ",
            ),
            (
                "9:2",
                "key `kafka.brokers`: this required key is missing; add brokers = ",
            ),
        ],
    );
}

#[test]
fn bad_glob_pattern() {
    assert_bad("bad_glob", &[("7:21", "key `source.tables[1]`: pattern \"shop.[\" is not a valid glob: unclosed character class")]);
}

#[test]
fn pattern_without_a_db_part() {
    assert_bad("bad_pattern_no_db", &[("7:11", "key `source.tables[0]`: pattern \"orders\" has too few dot-separated parts for DB.TABLE; write DB.TABLE")]);
}

#[test]
fn bad_duration() {
    assert_bad("bad_duration", &[("8:13", "key `source.heartbeat`: \"5 parsecs\" is not a duration (unknown time unit \"parsecs\"")]);
}

#[test]
fn bad_enum_values() {
    assert_bad(
        "bad_enum",
        &[
            ("8:12", "key `source.snapshot`: \"sometimes\" is not a valid value; use one of \"initial\", \"never\""),
            ("18:11", "key `sink.deletes`: \"soft-ish\" is not a valid value; use one of \"hard\", \"soft\""),
        ],
    );
}

#[test]
fn unset_variable() {
    assert_bad("bad_unset_var", &[("4:7", "key `source.url`: environment variable BINLAKE_TEST_UNSET_HOST is not set (referenced as ${BINLAKE_TEST_UNSET_HOST})")]);
}

#[test]
fn password_in_url_is_refused_without_repeating_it() {
    let lines = assert_bad("bad_password_in_url", &[("4:7", "key `source.url`: the URL contains a password, and secrets never live in the connector file")]);
    assert!(!lines[0].contains("hunter2"), "{lines:?}");
}

#[test]
fn table_uri_without_table() {
    assert_bad(
        "bad_table_uri_no_table",
        &[(
            "10:13",
            "key `sink.table_uri`: the template has no {table} placeholder",
        )],
    );
}

#[test]
fn table_uri_with_unknown_placeholder() {
    assert_bad(
        "bad_table_uri_placeholder",
        &[(
            "10:13",
            "key `sink.table_uri`: unknown placeholder {schema}; only {db} and {table}",
        )],
    );
}

#[test]
fn reserved_kafka_option() {
    assert_bad(
        "bad_reserved_kafka_option",
        &[("17:1", "key `kafka.options.\"bootstrap.servers\"`: bootstrap.servers cannot be set here: it comes from kafka.brokers; set brokers = ")],
    );
}

#[test]
fn bad_metrics_listen_address() {
    assert_bad(
        "bad_metrics_listen",
        &[(
            "13:10",
            "key `metrics.listen`: \"localhost:9464\" is not a socket address; write IP:PORT",
        )],
    );
}

#[test]
fn neither_source_nor_sink() {
    assert_bad(
        "bad_no_source_no_sink",
        &[("1:1", "the file has neither a [source] nor a [sink] table")],
    );
}

#[test]
fn key_columns_with_an_empty_list() {
    assert_bad(
        "bad_key_columns_empty",
        &[(
            "8:17",
            "key `source.key_columns.\"shop.events\"`: the list of key columns is empty",
        )],
    );
}

#[test]
fn toml_syntax_error() {
    assert_bad(
        "bad_syntax",
        &[(
            "3:6",
            "TOML syntax error: invalid table header, expected `.`, `]`; fix the syntax",
        )],
    );
}

#[test]
fn name_that_is_not_a_topic_prefix() {
    assert_bad(
        "bad_name",
        &[("1:8", "key `name`: '/' cannot appear in a Kafka topic name")],
    );
}

#[test]
fn max_batch_rows_out_of_range() {
    assert_bad(
        "bad_max_batch_rows",
        &[(
            "5:18",
            "key `sink.max_batch_rows`: 0 is out of range; use 1..=10000000",
        )],
    );
}

#[test]
fn broker_without_port() {
    assert_bad(
        "bad_brokers",
        &[("7:11", "key `kafka.brokers`: broker \"kafka\": no port")],
    );
}

#[test]
fn registry_url_without_scheme() {
    assert_bad(
        "bad_registry_url",
        &[("10:7", "key `registry.url`: not a valid URL")],
    );
}
