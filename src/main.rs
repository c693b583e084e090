//! The `binlake` command line: parses arguments and calls into the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use binlake::logging::{self, LogFormat};

#[derive(Parser)]
#[command(
    name = "binlake",
    version,
    about = "MySQL/MariaDB binlog → Kafka (Avro) → Delta Lake"
)]
struct Cli {
    /// Log format: human-readable text or one JSON object per line.
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Log filter (e.g. `info`, `binlake=debug`); overrides RUST_LOG.
    #[arg(long, global = true)]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the pipeline(s) a connector file describes until SIGTERM/SIGINT.
    Run {
        file: PathBuf,
        #[arg(long, value_enum, default_value = "all")]
        role: Role,
    },
    /// Preflight checks of connector files; exit 0 only when all pass.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Check the files alone, without contacting any server (for CI).
        #[arg(long)]
        offline: bool,
        /// The schemas directory whose drift from the live tables is
        /// reported (when it holds files of the connector).
        #[arg(long, value_name = "DIR", default_value = "schemas")]
        schemas: PathBuf,
    },
    /// The key and value schemas of the captured tables, kept in git.
    Schemas {
        #[command(subcommand)]
        action: SchemasAction,
    },
    /// Positions and lags of a running or stopped pipeline.
    Status {
        file: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Repaint every SECS seconds (default 2) until Ctrl-C; with
        /// --json, one JSON document per line.
        #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "2",
              value_parser = clap::value_parser!(u64).range(1..))]
        watch: Option<u64>,
    },
    /// Compares each MySQL table with its Delta table; exit 1 on any difference.
    Verify {
        file: PathBuf,
        /// Only this table.
        #[arg(long, value_name = "DB.TABLE")]
        table: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Asks the running source to read a table again, or only the rows
    /// matching --where (a backfill); the sink applies them as upserts.
    Snapshot {
        file: PathBuf,
        #[arg(long, value_name = "DB.TABLE")]
        table: String,
        /// An SQL condition on the table's columns, e.g. "id BETWEEN 100 AND 200".
        #[arg(long = "where", value_name = "CONDITION")]
        predicate: Option<String>,
    },
    /// Serve the embedded Confluent-compatible schema registry.
    Registry {
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: SocketAddr,
        #[arg(long)]
        data_dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum SchemasAction {
    /// Write the key and value schema of every table the files capture,
    /// one file per subject, from the live tables.
    Write {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, value_name = "DIR", default_value = "schemas")]
        dir: PathBuf,
    },
    /// For CI, offline: reject a change to the schemas directory that a
    /// subject's compatibility level would reject.
    Check {
        /// Compare with the directory at this git revision.
        #[arg(long, value_name = "GIT-REV", required_unless_present = "against_dir")]
        against: Option<String>,
        /// Compare with another copy of the directory.
        #[arg(long, value_name = "DIR", conflicts_with = "against")]
        against_dir: Option<PathBuf>,
        #[arg(long, value_name = "DIR", default_value = "schemas")]
        dir: PathBuf,
        /// Connector files the subjects' compatibility levels come from
        /// (`[registry] compatibility`); BACKWARD for subjects of none.
        #[arg(long = "connector", value_name = "FILE")]
        connectors: Vec<PathBuf>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Role {
    Source,
    Sink,
    All,
}

/// mimalloc for Rust and, through its `override` feature, for librdkafka's
/// C allocations too: the source allocates each record on one thread and
/// librdkafka frees it on another, which under glibc's malloc spent a
/// fifth of the source's CPU in arena locks and chunk consolidation.
///
/// Built with `no_thp` (no transparent huge pages: a huge page stays
/// resident while any 4 KiB of it is in use) and, unless `MIMALLOC_PURGE_DELAY`
/// says otherwise, freed pages returned to the OS after 10 ms instead of
/// mimalloc 3's 1 s: the sink's compactions and batches free tens of MiB
/// at a time, and with both defaults its RSS stayed at twice what it used
/// (bench/README.md, "Sink memory"). A process that runs the source alone
/// keeps the 1 s (`tune_allocator_for_source_alone`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's `mi_option_e` (the same index in
/// mimalloc 2 and 3; libmimalloc-sys declares no constant for it).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;
const PURGE_DELAY_MS: std::ffi::c_long = 10;
/// mimalloc's own purge delay, for a process that runs the source alone.
const SOURCE_PURGE_DELAY_MS: std::ffi::c_long = 1000;

extern "C" {
    /// Sets an option unless the environment (`MIMALLOC_*`) already did.
    fn mi_option_set_default(option: std::ffi::c_int, value: std::ffi::c_long);
    /// Sets an option, whatever set it before.
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

fn tune_allocator() {
    // SAFETY: plain option setters of the linked mimalloc; no pointers.
    unsafe { mi_option_set_default(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
}

/// A process that runs the source alone keeps freed pages for mimalloc's
/// own 1 s, unless `MIMALLOC_PURGE_DELAY` says otherwise: librdkafka frees
/// each record on its polling thread while the decoding thread allocates
/// the next ones, and pages returned after 10 ms were faulted in again at
/// once, a tenth of that thread's CPU (bench/README.md, "The source keeps
/// its pages"). The source's memory is its bounded window of records, so
/// its RSS does not grow for it; the sink's batches and compactions are
/// what the 10 ms is for.
fn tune_allocator_for_source_alone() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: a plain option setter of the linked mimalloc; no pointers.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, SOURCE_PURGE_DELAY_MS) };
    }
}

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    if let Err(e) = logging::init(cli.log_format, cli.log_level.as_deref()) {
        eprintln!("binlake: {e:#}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("binlake: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let code = match runtime.block_on(dispatch(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("binlake: {e:#}");
            ExitCode::FAILURE
        }
    };
    // Everything binlake waits for is done here. A helper thread still
    // blocked in a broker call (the snapshot-signal reader creating its
    // topic while the broker is away) would otherwise hold the exit until
    // that call's own timeout, a minute for an admin request.
    runtime.shutdown_timeout(EXIT_GRACE);
    code
}

/// How long the exit waits for helper threads that are still blocked.
const EXIT_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

async fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run { file, role } => {
            let connector = std::sync::Arc::new(binlake::config::Connector::load(&file)?);
            run(connector, role).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check {
            files,
            offline,
            schemas,
        } => Ok(check(&files, offline, &schemas).await),
        Command::Schemas { action } => schemas(action).await,
        Command::Verify { file, table, json } => {
            let connector = binlake::config::Connector::load(&file)?;
            let reports = binlake::verify::verify(&connector, table.as_deref()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&reports)?);
            } else {
                print!("{}", binlake::verify::render(&reports));
            }
            Ok(
                if reports.iter().all(binlake::verify::TableReport::is_equal) {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                },
            )
        }
        Command::Status { file, json, watch } => {
            let connector = binlake::config::Connector::load(&file)?;
            if let Some(secs) = watch {
                watch_status(&connector, json, std::time::Duration::from_secs(secs)).await?;
                return Ok(ExitCode::SUCCESS);
            }
            let status = binlake::status::status(&connector).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print!("{}", binlake::status::render(&status));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Snapshot {
            file,
            table,
            predicate,
        } => {
            let connector = binlake::config::Connector::load_offline(&file)?;
            let signal = binlake::source::snapshot::signal::Signal {
                id: uuid::Uuid::new_v4().to_string(),
                kind: "snapshot".into(),
                table: table.clone(),
                predicate,
            };
            if let Err(why) = binlake::source::snapshot::signal::job_of(
                &connector,
                Some(&serde_json::to_vec(&signal)?),
            ) {
                anyhow::bail!("{why}; name a table the connector's [source] tables select");
            }
            let offset = binlake::source::snapshot::signal::send(&connector, &signal).await?;
            println!(
                "snapshot {} of {table} requested ({} offset {offset}); the running source reads it, \
                 and `binlake status` shows its progress",
                signal.id,
                binlake::wire::signals_topic(&connector.name)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Registry { listen, data_dir } => {
            binlake::registry::serve(listen, &data_dir, shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `status --watch`: the report again every `every` until Ctrl-C or
/// SIGTERM. A failed round (Kafka down) is shown and retried, since
/// watching a recovery is what the loop is for.
async fn watch_status(
    connector: &binlake::config::Connector,
    json: bool,
    every: std::time::Duration,
) -> anyhow::Result<()> {
    use std::io::{IsTerminal, Write};
    let repaint = !json && std::io::stdout().is_terminal();
    let stop = shutdown_signal();
    tokio::pin!(stop);
    loop {
        let report = tokio::select! {
            _ = &mut stop => return Ok(()),
            r = binlake::status::status(connector) => r,
        };
        let now = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC");
        let header = format!("{now}, every {}s (Ctrl-C stops)\n", every.as_secs());
        let text = match (&report, json) {
            (Ok(s), true) => serde_json::to_string(s)? + "\n",
            (Err(e), true) => serde_json::json!({ "error": format!("{e:#}") }).to_string() + "\n",
            (Ok(s), false) => header + &binlake::status::render(s),
            (Err(e), false) => format!("{header}status failed: {e:#}\n"),
        };
        {
            let mut out = std::io::stdout().lock();
            // Home and clear, so the report repaints in place on a terminal.
            if repaint {
                write!(out, "\x1b[H\x1b[2J")?;
            } else if !json {
                writeln!(out)?;
            }
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
        tokio::select! {
            _ = &mut stop => return Ok(()),
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// Runs the roles the file and `--role` ask for until a shutdown signal.
async fn run(
    connector: std::sync::Arc<binlake::config::Connector>,
    role: Role,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let want_source = matches!(role, Role::Source | Role::All) && connector.source.is_some();
    let want_sink = matches!(role, Role::Sink | Role::All) && connector.sink.is_some();
    if role == Role::Source && connector.source.is_none() {
        anyhow::bail!(
            "{}: --role source needs a [source] section",
            connector.file.display()
        );
    }
    if role == Role::Sink && connector.sink.is_none() {
        anyhow::bail!(
            "{}: --role sink needs a [sink] section",
            connector.file.display()
        );
    }
    if want_source && !want_sink {
        tune_allocator_for_source_alone();
    }
    if let Some(m) = connector.metrics {
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            if let Err(e) = binlake::metrics::serve(m.listen, stop).await {
                tracing::error!(listen = %m.listen, error = %e, "metrics endpoint failed");
            }
        });
    }
    // With both roles, either one failing stops the process (and the other).
    let source = async {
        if want_source {
            binlake::source::runner::run(connector.clone(), stop_rx.clone()).await?;
        }
        anyhow::Ok(())
    };
    let sink = async {
        if want_sink {
            binlake::sink::runner::run(connector.clone(), stop_rx.clone()).await?;
        }
        anyhow::Ok(())
    };
    tokio::try_join!(source, sink)?;
    Ok(())
}

async fn check(files: &[PathBuf], offline: bool, schemas: &std::path::Path) -> ExitCode {
    let mut failed = false;
    for file in files {
        let result = if offline {
            binlake::config::Connector::load_offline(file)
        } else {
            binlake::config::Connector::load(file)
        };
        match result {
            Ok(connector) => {
                let problems = if offline {
                    Vec::new()
                } else {
                    let mut p = binlake::preflight::check(&connector).await;
                    p.extend(binlake::schemas::drift::drift(&connector, schemas).await);
                    p
                };
                if problems.is_empty() {
                    println!("ok: {}", file.display());
                } else {
                    failed = true;
                    for p in problems {
                        println!("{}: {p}", file.display());
                    }
                }
            }
            Err(e) => {
                failed = true;
                for line in e.lines() {
                    println!("{line}");
                }
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

async fn schemas(action: SchemasAction) -> anyhow::Result<ExitCode> {
    use binlake::schemas::{ci, live};
    match action {
        SchemasAction::Write { files, dir } => {
            let mut failed = false;
            for file in &files {
                let connector = binlake::config::Connector::load(file)?;
                let schemas = live::live_schemas(&connector).await?;
                let report = live::write(&dir, &connector.name, &schemas)?;
                for p in &report.written {
                    println!("wrote {}", p.display());
                }
                for p in &report.removed {
                    println!("removed {}", p.display());
                }
                println!(
                    "{}: {} subjects, {} written, {} unchanged, {} removed",
                    file.display(),
                    schemas.subjects.len(),
                    report.written.len(),
                    report.unchanged.len(),
                    report.removed.len()
                );
                for p in &schemas.problems {
                    failed = true;
                    println!("{}: {p}", file.display());
                }
            }
            Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        SchemasAction::Check {
            against,
            against_dir,
            dir,
            connectors,
        } => {
            let loaded = connectors
                .iter()
                .map(|f| {
                    binlake::config::Connector::load_offline(f).map_err(|e| anyhow::anyhow!("{e}"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let (base, base_name) = match (against, against_dir) {
                (_, Some(d)) => (ci::Base::Dir(d.clone()), d.display().to_string()),
                (Some(rev), None) => (ci::Base::Git(rev.clone()), rev),
                (None, None) => anyhow::bail!("give --against GIT-REV or --against-dir DIR"),
            };
            let findings = ci::check(&dir, &base, &ci::Levels::new(loaded))?;
            let mut rejected = 0;
            for f in &findings {
                match &f.rejected {
                    None => println!("ok: {}: {}", f.subject, f.note),
                    Some(why) => {
                        rejected += 1;
                        for w in why {
                            println!(
                                "rejected: {}: subject {} ({}): {w}",
                                dir.join(binlake::schemas::layout::file_name(&f.subject))
                                    .display(),
                                f.subject,
                                f.note
                            );
                        }
                    }
                }
            }
            println!(
                "{} subjects in {} checked against {base_name}: {rejected} rejected",
                findings.len(),
                dir.display()
            );
            Ok(if rejected == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received");
}

#[cfg(test)]
mod tests {
    use super::*;

    extern "C" {
        fn mi_option_get(option: std::ffi::c_int) -> std::ffi::c_long;
    }

    /// One test, as the option is the process's: the default, then the
    /// source-alone delay, each unless the environment set it.
    #[test]
    fn the_purge_delay_is_set_unless_the_environment_set_it() {
        // SAFETY: reads an option of the linked mimalloc.
        let get = || unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) };
        let from_env = std::env::var("MIMALLOC_PURGE_DELAY").ok();
        tune_allocator();
        match &from_env {
            Some(v) => assert_eq!(get().to_string(), *v),
            None => assert_eq!(get(), PURGE_DELAY_MS),
        }
        tune_allocator_for_source_alone();
        match &from_env {
            Some(v) => assert_eq!(get().to_string(), *v),
            None => assert_eq!(get(), SOURCE_PURGE_DELAY_MS),
        }
    }
}
