//! TLS to MySQL against the local MariaDB, which `scripts/servers.sh` starts
//! with a private CA's certificate naming "localhost" only. A user created
//! here with `REQUIRE SSL` proves the connection really is encrypted.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts};

use binlake::config::{Connector, SslMode};
use binlake::source::binlog::{BinlogConnection, Flavour};
use binlake::source::connect::mysql_opts;
use binlake::source::position::Position;

const USER: &str = "binlake_tls";
const X509_USER: &str = "binlake_x509";
const PASSWORD: &str = "tls-secret";

fn admin_url() -> String {
    std::env::var("BINLAKE_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://binlake_admin:admin-secret@127.0.0.1:3307".into())
}

fn port() -> u16 {
    Opts::from_url(&admin_url())
        .expect("BINLAKE_TEST_MYSQL_URL")
        .tcp_port()
}

fn tls_dir() -> PathBuf {
    std::env::var_os("BINLAKE_MYSQL_TLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".data/tls"))
}

async fn admin() -> Conn {
    Conn::new(Opts::from_url(&admin_url()).expect("BINLAKE_TEST_MYSQL_URL"))
        .await
        .expect("MariaDB is not reachable: run `bash scripts/servers.sh start mariadb`")
}

/// A user the server lets in over TLS only, and one that must also show a
/// client certificate from the test CA.
async fn ensure_tls_users() {
    let mut conn = admin().await;
    for (user, require) in [(USER, "SSL"), (X509_USER, "X509")] {
        for host in ["%", "localhost"] {
            conn.query_drop(format!(
                "CREATE USER IF NOT EXISTS '{user}'@'{host}' IDENTIFIED BY '{PASSWORD}' REQUIRE {require}; \
                 GRANT REPLICATION SLAVE, BINLOG MONITOR, SELECT ON *.* TO '{user}'@'{host}'"
            ))
            .await
            .expect("create the TLS users");
        }
    }
}

/// The connector's `[source]` for `mysql://binlake_tls@HOST:PORT?QUERY`.
fn source(host: &str, query: &str) -> binlake::config::SourceConfig {
    source_as(USER, host, query)
}

fn source_as(user: &str, host: &str, query: &str) -> binlake::config::SourceConfig {
    let text = format!(
        "name = \"tls\"\n[source]\nurl = \"mysql://{user}@{host}:{port}?{query}\"\n\
         password_env = \"TLS_TEST_PASSWORD\"\nserver_id = 7100\ntables = [\"tls.*\"]\n\
         [kafka]\nbrokers = \"127.0.0.1:9092\"\n[registry]\nurl = \"http://127.0.0.1:8081\"\n",
        port = port()
    );
    let env = |name: &str| (name == "TLS_TEST_PASSWORD").then(|| PASSWORD.to_string());
    Connector::from_toml(std::path::Path::new("tls.toml"), &text, &env, true)
        .unwrap_or_else(|e| panic!("{e}"))
        .source
        .expect("[source]")
}

/// Connects as the source would; the session's cipher, or the error.
async fn cipher(host: &str, query: &str) -> Result<String, String> {
    cipher_as(USER, host, query).await
}

async fn cipher_as(user: &str, host: &str, query: &str) -> Result<String, String> {
    let opts = mysql_opts(&source_as(user, host, query)).map_err(|e| e.to_string())?;
    let mut conn = Conn::new(opts).await.map_err(|e| e.to_string())?;
    let row: Option<(String, String)> = conn
        .query_first("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        .await
        .map_err(|e| e.to_string())?;
    let _ = conn.disconnect().await;
    Ok(row.map(|(_, c)| c).unwrap_or_default())
}

fn ca(name: &str) -> String {
    tls_dir().join(name).display().to_string()
}

#[tokio::test]
async fn ssl_modes_check_what_they_promise() {
    ensure_tls_users().await;
    let ca_file = ca("ca.pem");
    let other = ca("other-ca.pem");

    // Plain text: the server refuses a REQUIRE SSL user.
    let plain = cipher("127.0.0.1", "ssl-mode=disabled").await;
    assert!(
        plain.as_ref().is_err_and(|e| e.contains("Access denied")),
        "{plain:?}"
    );

    // required: encrypted, the certificate unchecked.
    let c = cipher("127.0.0.1", "ssl-mode=required")
        .await
        .expect("required");
    assert!(!c.is_empty(), "no cipher under ssl-mode=required");

    // verify_identity: the certificate names "localhost", not 127.0.0.1.
    let c = cipher(
        "localhost",
        &format!("ssl-mode=verify_identity&ssl-ca={ca_file}"),
    )
    .await
    .expect("verify_identity on the certificate's name");
    assert!(!c.is_empty());
    let wrong_name = cipher(
        "127.0.0.1",
        &format!("ssl-mode=verify_identity&ssl-ca={ca_file}"),
    )
    .await;
    assert!(
        wrong_name
            .as_ref()
            .is_err_and(|e| e.contains("certificate")),
        "verify_identity accepted a certificate for another name: {wrong_name:?}"
    );

    // ssl-hostname: the name to find in the certificate, when the URL's host
    // is not it; the chain is still checked.
    let c = cipher(
        "127.0.0.1",
        &format!("ssl-mode=verify_identity&ssl-ca={ca_file}&ssl-hostname=localhost"),
    )
    .await;
    assert!(
        c.as_ref().is_ok_and(|c| !c.is_empty()),
        "ssl-hostname: {c:?}"
    );
    let other_name = cipher(
        "127.0.0.1",
        &format!("ssl-mode=verify_identity&ssl-ca={ca_file}&ssl-hostname=db.example"),
    )
    .await;
    assert!(
        other_name
            .as_ref()
            .is_err_and(|e| e.contains("certificate")),
        "{other_name:?}"
    );
    let untrusted = cipher(
        "localhost",
        &format!("ssl-mode=verify_identity&ssl-ca={other}"),
    )
    .await;
    assert!(
        untrusted.as_ref().is_err_and(|e| e.contains("certificate")),
        "verify_identity accepted a certificate from an untrusted CA: {untrusted:?}"
    );

    // A client certificate, for an account that requires one.
    let verify = format!("ssl-mode=verify_identity&ssl-ca={ca_file}");
    let without = cipher_as(X509_USER, "localhost", &verify).await;
    assert!(
        without.as_ref().is_err_and(|e| e.contains("Access denied")),
        "{without:?}"
    );
    let with = cipher_as(
        X509_USER,
        "localhost",
        &format!(
            "{verify}&ssl-cert={}&ssl-key={}",
            ca("client.pem"),
            ca("client-key.pem")
        ),
    )
    .await;
    assert!(
        with.as_ref().is_ok_and(|c| !c.is_empty()),
        "client certificate: {with:?}"
    );

    // A missing CA file is an error.
    let missing = cipher(
        "localhost",
        "ssl-mode=verify_identity&ssl-ca=/nonexistent/ca.pem",
    )
    .await;
    assert!(missing.is_err(), "{missing:?}");
}

#[tokio::test]
async fn the_binlog_streams_over_tls() {
    ensure_tls_users().await;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let db = format!(
        "bl_tls_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    let mut conn = admin().await;
    conn.query_drop(format!(
        "CREATE DATABASE {db}; CREATE TABLE {db}.t (id INT PRIMARY KEY)"
    ))
    .await
    .unwrap();
    let row: mysql_async::Row = conn
        .query_first("SHOW MASTER STATUS")
        .await
        .unwrap()
        .expect("binlog on");
    let from = Position {
        file: row.get(0).unwrap(),
        pos: row.get(1).unwrap(),
        ..Position::default()
    };

    let src = source(
        "localhost",
        &format!("ssl-mode=verify_identity&ssl-ca={}", ca("ca.pem")),
    );
    assert_eq!(src.url.tls.mode, SslMode::VerifyIdentity);
    let opts = mysql_opts(&src).unwrap();
    let mut binlog = BinlogConnection::open(
        opts,
        Flavour::MariaDb,
        7100 + std::process::id() % 500,
        Duration::from_secs(1),
        &from,
    )
    .await
    .expect("binlog over TLS");
    conn.query_drop(format!("INSERT INTO {db}.t VALUES (42)"))
        .await
        .unwrap();

    let mut saw_table = false;
    let read = async {
        while let Some(ev) = binlog.next_event().await.expect("binlog event") {
            if let Ok(Some(mysql_async::binlog::events::EventData::TableMapEvent(t))) =
                ev.read_data()
            {
                if t.database_name() == db && t.table_name() == "t" {
                    saw_table = true;
                    return;
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("no row event over TLS within 30 s");
    assert!(saw_table);
    binlog.close().await;
    conn.query_drop(format!("DROP DATABASE {db}"))
        .await
        .unwrap();
}
