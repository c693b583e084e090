//! The server dialect and settings checks on rows as each server version
//! returns them.

use super::*;

fn row(cols: &[(&str, Value)]) -> NamedRow {
    NamedRow::new(
        cols.iter().map(|(n, _)| n.to_string()).collect(),
        cols.iter().map(|(_, v)| v.clone()).collect(),
    )
}

fn text(s: &str) -> Value {
    Value::Bytes(s.as_bytes().to_vec())
}

#[test]
fn versions_parse_with_their_flavour() {
    let v = ServerVersion::parse("8.4.3").unwrap();
    assert_eq!(
        (v.flavour, v.major, v.minor, v.patch),
        (Flavour::MySql, 8, 4, 3)
    );
    let v = ServerVersion::parse("8.0.36-google").unwrap();
    assert_eq!((v.major, v.minor, v.patch), (8, 0, 36));
    let v = ServerVersion::parse("5.7.44-log").unwrap();
    assert_eq!(
        (v.flavour, v.major, v.minor, v.patch),
        (Flavour::MySql, 5, 7, 44)
    );
    let v = ServerVersion::parse("10.11.6-MariaDB-0+deb12u1").unwrap();
    assert_eq!(
        (v.flavour, v.major, v.minor, v.patch),
        (Flavour::MariaDb, 10, 11, 6)
    );
    let v = ServerVersion::parse("5.5.5-10.5.23-MariaDB-log").unwrap();
    assert_eq!(
        (v.flavour, v.major, v.minor, v.patch),
        (Flavour::MariaDb, 10, 5, 23)
    );
    let v = ServerVersion::parse("9.1").unwrap();
    assert_eq!((v.major, v.minor, v.patch), (9, 1, 0));
    assert!(ServerVersion::parse("").is_none());
    assert!(ServerVersion::parse("mysql").is_none());
}

#[test]
fn old_servers_are_refused_naming_the_supported_versions() {
    let refusal = ServerVersion::parse("5.7.44-log")
        .unwrap()
        .refusal()
        .unwrap()
        .to_string();
    assert!(
        refusal.starts_with("MySQL 5.7.44 is not supported"),
        "{refusal}"
    );
    assert!(refusal.contains(SUPPORTED), "{refusal}");
    assert!(refusal.contains("end of life"), "{refusal}");
    let refusal = ServerVersion::parse("10.4.32-MariaDB")
        .unwrap()
        .refusal()
        .unwrap()
        .to_string();
    assert!(
        refusal.starts_with("MariaDB 10.4.32 is not supported"),
        "{refusal}"
    );
    for ok in [
        "8.0.14",
        "8.4.3",
        "9.1.0",
        "10.5.0-MariaDB",
        "11.4.2-MariaDB",
    ] {
        assert_eq!(ServerVersion::parse(ok).unwrap().refusal(), None, "{ok}");
    }
}

/// `check` prints these lines and tests outside the crate compare them:
/// the text of each problem stays exactly as it is.
#[test]
fn problems_print_their_exact_lines() {
    let text = |p: &ServerProblem| p.to_string();
    let old = ServerVersion::parse("5.7.44-log").unwrap();
    assert_eq!(
        text(&old.refusal().unwrap()),
        "MySQL 5.7.44 is not supported (MySQL 5.7 and older are past their end of life): \
         binlake supports MySQL 8.0, 8.4 LTS and 9.x, and MariaDB 10.5 and later; upgrade the server"
    );
    let old = ServerVersion::parse("10.4.32-MariaDB").unwrap();
    assert_eq!(
        text(&old.refusal().unwrap()),
        "MariaDB 10.4.32 is not supported: binlake supports MySQL 8.0, 8.4 LTS and 9.x, \
         and MariaDB 10.5 and later; upgrade the server"
    );
    let bad = vars(&[
        ("log_bin", "OFF"),
        ("binlog_format", "mixed"),
        ("binlog_row_image", "FULL"),
        ("log_bin_compress", "ON"),
        ("binlog_transaction_compression", "ON"),
        ("binlog_row_value_options", "PARTIAL_JSON"),
    ]);
    let lines: Vec<String> = settings_problems(&bad).iter().map(text).collect();
    assert_eq!(
        lines,
        [
            "MySQL setting log_bin=OFF (set log_bin=ON); without the binlog there is nothing to capture",
            "MySQL setting binlog_format=MIXED (set binlog_format=ROW); statement or mixed binlogs \
             carry no row images",
            "MySQL setting binlog_row_metadata is unknown to this server (binlake needs \
             binlog_row_metadata=FULL); binlake supports MySQL 8.0, 8.4 LTS and 9.x, and MariaDB \
             10.5 and later",
            "MySQL setting log_bin_compress=ON: binlake cannot read compressed events; \
             SET GLOBAL log_bin_compress=OFF",
            "MySQL setting binlog_transaction_compression=ON: binlake cannot read compressed \
             transaction payloads; SET PERSIST binlog_transaction_compression=OFF",
            "MySQL setting binlog_row_value_options=PARTIAL_JSON: JSON updates are written as \
             diffs, not whole values; SET PERSIST binlog_row_value_options=''",
        ]
    );
}

#[test]
fn the_status_statement_follows_the_version() {
    let stmt = |v: &str| ServerVersion::parse(v).unwrap().status_statement();
    assert_eq!(stmt("8.0.36"), "SHOW MASTER STATUS");
    assert_eq!(stmt("8.1.0"), "SHOW MASTER STATUS");
    assert_eq!(stmt("8.2.0"), "SHOW BINARY LOG STATUS");
    assert_eq!(stmt("8.4.3"), "SHOW BINARY LOG STATUS");
    assert_eq!(stmt("9.1.0"), "SHOW BINARY LOG STATUS");
    assert_eq!(stmt("10.11.6-MariaDB"), "SHOW MASTER STATUS");
    assert_eq!(stmt("11.4.2-MariaDB"), "SHOW MASTER STATUS");
}

#[test]
fn mysql_status_is_read_by_column_name() {
    // MySQL: 5 columns, the GTID set last and wrapped over lines.
    let mysql = row(&[
        ("File", text("binlog.000007")),
        ("Position", text("1234")),
        ("Binlog_Do_DB", text("")),
        ("Binlog_Ignore_DB", text("")),
        (
            "Executed_Gtid_Set",
            text("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,\n4e11fa47-71ca-11e1-9e33-c80aa9429562:1-2"),
        ),
    ]);
    assert_eq!(
        BinlogStatus::from_row(&mysql).unwrap(),
        BinlogStatus {
            file: "binlog.000007".into(),
            pos: 1234,
            executed_gtid_set: Some(
                "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,4e11fa47-71ca-11e1-9e33-c80aa9429562:1-2"
                    .into()
            ),
        }
    );
    // MariaDB: 4 columns, no GTID; column order does not matter.
    let maria = row(&[
        ("Binlog_Do_DB", text("")),
        ("Position", Value::UInt(99)),
        ("file", text("mysql-bin.000002")),
        ("Binlog_Ignore_DB", text("")),
    ]);
    let s = BinlogStatus::from_row(&maria).unwrap();
    assert_eq!(
        (s.file.as_str(), s.pos, s.executed_gtid_set),
        ("mysql-bin.000002", 99, None)
    );
    // GTIDs off: an empty set is no set.
    let off = row(&[
        ("File", text("b.1")),
        ("Position", text("4")),
        ("Executed_Gtid_Set", text("")),
    ]);
    assert_eq!(
        BinlogStatus::from_row(&off).unwrap().executed_gtid_set,
        None
    );
    let bad = row(&[("Log_name", text("b.1"))]);
    let err = BinlogStatus::from_row(&bad).unwrap_err();
    assert!(
        err.contains("no column File") && err.contains("Log_name"),
        "{err}"
    );
}

#[test]
fn binary_logs_are_read_by_column_name_with_two_or_three_columns() {
    let three = [
        row(&[
            ("Log_name", text("binlog.000001")),
            ("File_size", text("180")),
            ("Encrypted", text("No")),
        ]),
        row(&[
            ("Log_name", text("binlog.000002")),
            ("File_size", text("2048")),
            ("Encrypted", text("No")),
        ]),
    ];
    assert_eq!(
        binary_log_sizes(&three).unwrap(),
        vec![
            ("binlog.000001".to_string(), 180),
            ("binlog.000002".to_string(), 2048)
        ]
    );
    let two = [row(&[
        ("Log_name", text("mysql-bin.000001")),
        ("File_size", Value::UInt(77)),
    ])];
    assert_eq!(
        binary_log_sizes(&two).unwrap(),
        vec![("mysql-bin.000001".to_string(), 77)]
    );
    let bad = [row(&[("Log_name", text("x")), ("File_size", text("big"))])];
    assert!(binary_log_sizes(&bad).is_err());
}

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const GOOD_MYSQL: [(&str, &str); 6] = [
    ("log_bin", "ON"),
    ("binlog_format", "ROW"),
    ("binlog_row_image", "FULL"),
    ("binlog_row_metadata", "FULL"),
    ("binlog_transaction_compression", "OFF"),
    ("binlog_row_value_options", ""),
];

#[test]
fn settings_pass_and_name_each_fix() {
    assert!(settings_problems(&vars(&GOOD_MYSQL)).is_empty());
    // MariaDB has neither MySQL-only variable: their absence is fine.
    assert!(settings_problems(&vars(&GOOD_MYSQL[..4])).is_empty());
    let mut bad = vars(&GOOD_MYSQL);
    bad[3].1 = "MINIMAL".into();
    bad[4].1 = "ON".into();
    bad[5].1 = "PARTIAL_JSON".into();
    let p: Vec<String> = settings_problems(&bad)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(p.len(), 3, "{p:?}");
    assert!(p[0]
        .starts_with("MySQL setting binlog_row_metadata=MINIMAL (set binlog_row_metadata=FULL)"));
    assert!(
        p[1].contains("SET PERSIST binlog_transaction_compression=OFF"),
        "{p:?}"
    );
    assert!(
        p[2].contains("binlog_row_value_options=PARTIAL_JSON"),
        "{p:?}"
    );
    assert!(
        p[2].contains("SET PERSIST binlog_row_value_options=''"),
        "{p:?}"
    );
    let p: Vec<String> = settings_problems(&vars(&[("log_bin", "ON")]))
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        p.iter()
            .any(|l| l.contains("binlog_row_metadata is unknown")),
        "{p:?}"
    );
}

#[test]
fn bytes_behind_counts_the_rest_of_this_file_and_all_later_ones() {
    let at = Position {
        file: "b.000002".into(),
        pos: 400,
        ..Position::default()
    };
    let logs = [("b.000001", 1000), ("b.000002", 1000), ("b.000003", 250)]
        .into_iter()
        .map(|(f, s)| (f.to_string(), s));
    assert_eq!(bytes_behind(logs, &at), 600 + 250);
}
