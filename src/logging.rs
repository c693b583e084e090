//! Process-wide `tracing` setup: human-readable by default, JSON for machines.

use tracing_subscriber::EnvFilter;

/// Output format of the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The Delta libraries log every snapshot and scan at `info`; a plain
/// level (no per-target directives) keeps them at `warn`.
fn with_quiet_libraries(spec: &str) -> String {
    if spec.contains('=') {
        spec.to_owned()
    } else {
        format!("{spec},deltalake_core=warn,buoyant_kernel=warn,delta_kernel=warn")
    }
}

/// Installs the global subscriber. `level` (from `--log-level`) wins over
/// `RUST_LOG`; with neither, binlake logs at `info`.
pub fn init(format: LogFormat, level: Option<&str>) -> anyhow::Result<()> {
    let spec = match level {
        Some(level) => level.to_owned(),
        None => std::env::var(EnvFilter::DEFAULT_ENV).unwrap_or_else(|_| "info".into()),
    };
    let filter = EnvFilter::try_new(with_quiet_libraries(&spec))?;
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot install the log subscriber: {e}"))
}
