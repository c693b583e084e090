//! `binlake check` without `--offline`: the connector file against the live
//! systems. Every problem is one line that names the fix.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::config::Connector;
use crate::kafka::{client_config, ClientKind};

const TIMEOUT: Duration = Duration::from_secs(10);

/// The problems found; empty when everything is ready.
pub async fn check(connector: &Connector) -> Vec<String> {
    let mut problems = Vec::new();
    let mut selected: Vec<(String, String)> = Vec::new();
    if let Some(source) = &connector.source {
        match tokio::time::timeout(TIMEOUT * 3, mysql(connector, &mut selected)).await {
            Ok(p) => problems.extend(p),
            Err(_) => problems.push(format!(
                "MySQL at {}:{}: no answer within 30 s; check [source].url and the network",
                source.url.host, source.url.port
            )),
        }
    }
    problems.extend(kafka(connector).await);
    problems.extend(registry(connector).await);
    if let Some(sink) = &connector.sink {
        let tables: Vec<(String, String)> = if selected.is_empty() {
            vec![("db".into(), "table".into())]
        } else {
            selected
        };
        for (db, table) in tables {
            let location = sink.table_uri_for(&db, &table);
            if let Some(p) =
                crate::sink::delta::probe::check_location(&location, &sink.storage).await
            {
                problems.push(p);
                break;
            }
        }
    }
    problems
}

async fn mysql(connector: &Connector, selected: &mut Vec<(String, String)>) -> Vec<String> {
    let Some(source) = &connector.source else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let opts = match crate::source::connect::mysql_opts(source) {
        Ok(o) => o,
        Err(e) => return vec![format!("[source]: {e}")],
    };
    let pool = mysql_async::Pool::new(opts);
    let result = async {
        let mut conn = match pool.get_conn().await {
            Ok(c) => c,
            Err(e) => {
                out.push(format!(
                    "MySQL at {}:{} as {}: cannot connect ({e}); check [source].url, the password variable and that the server is up",
                    source.url.host, source.url.port, source.url.user
                ));
                return;
            }
        };
        // The flavour when the server's version and settings are right, else
        // `None` (the schema check below needs a server binlake can run
        // against). Each problem is one line naming the fix.
        let flavour = match crate::source::server::check(&mut conn).await {
            Ok((version, problems)) if problems.is_empty() => Some(version.flavour),
            Ok((_, problems)) => {
                out.extend(problems.iter().map(ToString::to_string));
                None
            }
            Err(e) => {
                out.push(format!("MySQL: {e}"));
                None
            }
        };
        match conn.query::<String, _>("SHOW GRANTS").await {
            Ok(grants) => {
                let all = grants.join(" ").to_ascii_uppercase();
                let has = |p: &str| all.contains("ALL PRIVILEGES") || all.contains(p);
                for (p, why) in [
                    ("REPLICATION SLAVE", "to read the binlog"),
                    ("REPLICATION CLIENT", "to read binlog positions"),
                    ("SELECT", "to read table definitions (and snapshots)"),
                ] {
                    // MariaDB 10.5+ may show REPLICATION SLAVE as BINLOG REPLAY / SLAVE MONITOR.
                    let alt = match p {
                        "REPLICATION SLAVE" => has("BINLOG REPLAY") || has("REPLICATION REPLICA"),
                        "REPLICATION CLIENT" => has("BINLOG MONITOR") || has("SLAVE MONITOR"),
                        _ => false,
                    };
                    if !has(p) && !alt {
                        out.push(format!(
                            "MySQL user lacks {p} ({why}): GRANT {p} ON *.* TO the binlake user"
                        ));
                    }
                }
            }
            Err(e) => out.push(format!("MySQL: SHOW GRANTS failed ({e})")),
        }
        *selected = match crate::source::catalog::selected_tables(&mut conn, source).await {
            Ok(t) => t,
            Err(e) => {
                out.push(format!("MySQL: cannot list tables ({e})"));
                return;
            }
        };
        if selected.is_empty() {
            out.push(
                "[source].tables selects no table on this server; check its patterns and exclude_tables"
                    .into(),
            );
        }
        for (db, table) in selected.iter() {
            let key = crate::source::catalog::key_columns(&mut conn, source, db, table).await;
            if key.is_ok_and(|k| k.is_empty()) {
                out.push(format!(
                    "table {db}.{table} has no primary key: add one, or set key_columns = {{ \"{db}.{table}\" = [\"col\"] }}, or exclude it"
                ));
            }
        }
        out.extend(gtid_mode(&mut conn).await);
        out.extend(retention(connector, &mut conn).await);
        if let Some(flavour) = flavour {
            out.extend(registry_compatibility(connector, &pool, flavour, selected).await);
        }
    };
    result.await;
    let _ = pool.disconnect().await;
    out
}

async fn kafka(connector: &Connector) -> Vec<String> {
    let kafka = connector.kafka.clone();
    let r = tokio::task::spawn_blocking(move || -> Result<(), String> {
        let consumer: BaseConsumer = client_config(&kafka, ClientKind::Other, &[])
            .create()
            .map_err(|e| e.to_string())?;
        consumer
            .fetch_metadata(None, TIMEOUT)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await;
    match r {
        Ok(Ok(())) => Vec::new(),
        Ok(Err(e)) => vec![format!(
            "Kafka at {}: {e}; check [kafka].brokers and [kafka.options]",
            connector.kafka.bootstrap_servers()
        )],
        Err(e) => vec![format!("Kafka: {e}")],
    }
}

async fn registry(connector: &Connector) -> Vec<String> {
    let url = format!("{}/subjects", connector.registry.url);
    let client = match reqwest::Client::builder().timeout(TIMEOUT).build() {
        Ok(c) => c,
        Err(e) => return vec![format!("schema registry: {e}")],
    };
    let mut request = client.get(&url);
    if let Ok(user) = std::env::var(crate::avro::registry_client::USER_ENV) {
        let password = std::env::var(crate::avro::registry_client::PASSWORD_ENV).ok();
        request = request.basic_auth(user, password);
    }
    match request.send().await {
        Ok(r) if r.status().is_success() => Vec::new(),
        Ok(r) => vec![format!(
            "schema registry at {}: GET /subjects answered {}; check [registry].url",
            connector.registry.url,
            r.status()
        )],
        Err(e) => vec![format!(
            "schema registry at {}: {e}; check [registry].url and that it runs",
            connector.registry.url
        )],
    }
}

/// MySQL without GTIDs resumes by file:pos, which a failover to a replica
/// does not carry over; MariaDB always writes GTIDs.
async fn gtid_mode(conn: &mut mysql_async::Conn) -> Vec<String> {
    let version: Option<String> = conn.query_first("SELECT VERSION()").await.ok().flatten();
    if version.is_some_and(|v| v.to_ascii_lowercase().contains("mariadb")) {
        return Vec::new();
    }
    let mode: Option<String> = conn
        .query_first("SELECT @@GLOBAL.gtid_mode")
        .await
        .ok()
        .flatten();
    match mode.as_deref().map(str::to_ascii_uppercase).as_deref() {
        Some("ON") | None => Vec::new(),
        Some(m) => vec![format!(
            "MySQL setting gtid_mode={m}: set gtid_mode=ON and enforce_gtid_consistency=ON; \
             without GTIDs binlake resumes by binlog file and offset, which do not survive a failover to a replica"
        )],
    }
}

/// The stored position must still be on the server, and the binlogs must
/// outlive the source's current lag with room to spare.
async fn retention(connector: &Connector, conn: &mut mysql_async::Conn) -> Vec<String> {
    let Ok(admin) = crate::kafka::admin::Admin::new(&connector.kafka) else {
        return Vec::new();
    };
    let stored = match crate::source::kafka::offsets::PositionStore::open(
        &admin,
        &connector.kafka,
        connector.offsets_topic(),
        connector.name.clone(),
    )
    .await
    {
        Ok(store) => store.load().await.ok().flatten(),
        Err(_) => None,
    };
    let Some(stored) = stored else {
        return Vec::new(); // a new pipeline starts at the server's current position
    };
    let logs = match crate::source::server::binary_logs(conn).await {
        Ok(l) => l,
        Err(e) => return vec![format!("MySQL: {e}")],
    };
    let file = &stored.position.file;
    let oldest = logs.first().map(|(f, _)| f.clone()).unwrap_or_default();
    if !file.is_empty()
        && crate::source::position::compare_file_pos((file, 0), (&oldest, 0)).is_lt()
    {
        return vec![format!(
            "the stored source position {file} was purged from the server (oldest binlog {oldest}): \
             the source cannot resume without losing changes; raise binlog_expire_logs_seconds, then \
             start a new pipeline (a new name) so it snapshots again"
        )];
    }
    let expire: Option<u64> = conn
        .query_first("SELECT @@GLOBAL.binlog_expire_logs_seconds")
        .await
        .ok()
        .flatten();
    let behind_s = if stored.source_ts_ms > 0 {
        (crate::clock::now_ms() - stored.source_ts_ms).max(0) as u64 / 1000
    } else {
        0
    };
    let bytes = crate::source::server::bytes_behind(logs.into_iter(), &stored.position);
    match expire {
        Some(expire) if expire > 0 && bytes > 0 && behind_s * 2 >= expire => vec![format!(
            "the source is {behind_s} s behind and binlogs expire after {expire} s: \
             raise binlog_expire_logs_seconds (at least twice the worst lag) or the position will be purged"
        )],
        _ => Vec::new(),
    }
}

/// Each table's current shape, as the source would register it, against the
/// registry's versions at the subject's compatibility level.
async fn registry_compatibility(
    connector: &Connector,
    pool: &mysql_async::Pool,
    flavour: crate::source::binlog::Flavour,
    selected: &[(String, String)],
) -> Vec<String> {
    let Some(source) = &connector.source else {
        return Vec::new();
    };
    let Ok(client) = crate::avro::RegistryClient::new(&connector.registry.url) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (db, table) in selected {
        let Ok(t) = crate::source::snapshot::table::load(pool, flavour, source, db, table).await
        else {
            continue; // no key or unsupported type: reported above or by the source
        };
        let Ok(schemas) = crate::avro::schema::TableAvroSchemas::new(&connector.name, &t.schema)
        else {
            continue;
        };
        let topic = crate::avro::topic_name(&connector.name, &t.schema);
        for (subject, json) in [
            (crate::wire::key_subject(&topic), &schemas.key_json),
            (crate::wire::value_subject(&topic), &schemas.value_json),
        ] {
            match client.check_compatibility(&subject, json).await {
                Ok(Some((false, messages))) => out.push(format!(
                    "table {db}.{table}: its current schema is incompatible with subject {subject} in the registry ({}); \
                     make the change compatible (e.g. a new column nullable or with a default), or set the subject's \
                     compatibility to NONE and let the sink take the new schema",
                    if messages.is_empty() { "no reason given".to_string() } else { messages.join("; ") }
                )),
                Ok(_) => {}
                Err(e) => {
                    out.push(format!("schema registry: cannot check {subject} ({e})"));
                    return out;
                }
            }
        }
    }
    out
}
