//! A source told to stop exits promptly even while one of its helpers is
//! blocked in a broker call. The `binlake` binary runs against the local
//! MariaDB, an embedded registry and librdkafka's mock cluster, which has
//! no CreateTopics: the snapshot-signal reader's request to create
//! `{name}.signals` waits out the admin timeout (a minute), as it does
//! against a broker that went away. SIGTERM comes while it waits.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::mocking::MockCluster;

use super::kafka_refusal::{cdc_password, connector_toml};
use super::kafka_txn::registry;

/// Far below the admin request's minute, far above a clean stop.
const EXIT_WITHIN: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_source_exits_while_a_helper_waits_on_the_broker() {
    let name = format!("stop{}", uuid::Uuid::new_v4().simple());
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster
        .create_topic(&format!("{name}.offsets"), 1, 1)
        .expect("offsets topic");
    let registry = registry().await;

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("stop.toml");
    std::fs::write(
        &file,
        connector_toml(&name, &name, &cluster.bootstrap_servers(), &registry),
    )
    .expect("connector file");
    let log = dir.path().join("source.log");
    let mut source = Command::new(env!("CARGO_BIN_EXE_binlake"))
        .args(["run", file.to_str().expect("path"), "--role", "source"])
        .env("BINLAKE_MYSQL_PASSWORD", cdc_password())
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("binlake");
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();

    let started = Instant::now();
    while !read_log().contains("streaming binlog") {
        if let Some(status) = source.try_wait().expect("wait") {
            panic!(
                "the source exited ({status}) before streaming: {}",
                read_log()
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the source did not start streaming: {}",
            read_log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The signal reader asks for its topic as the source starts; a second
    // later it is surely waiting on the mock's answer, which never comes.
    tokio::time::sleep(Duration::from_secs(1)).await;

    // SAFETY: a signal to this test's own child process.
    assert_eq!(unsafe { libc::kill(source.id() as i32, libc::SIGTERM) }, 0);
    let asked = Instant::now();
    let status = loop {
        if let Some(status) = source.try_wait().expect("wait") {
            break status;
        }
        if asked.elapsed() > EXIT_WITHIN {
            let _ = source.kill();
            let _ = source.wait();
            panic!(
                "the source was still running {EXIT_WITHIN:?} after SIGTERM: {}",
                read_log()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let log = read_log();
    assert!(status.success(), "the source exited with {status}: {log}");
    assert!(
        log.contains("source stopped"),
        "no clean stop logged: {log}"
    );
    assert!(
        !log.contains("refused") && !log.contains("ERROR"),
        "the stop logged an error: {log}"
    );
}
