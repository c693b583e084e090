//! How binlake connects to MySQL/MariaDB: connection options from the
//! connector file (address, user, the password variable, TLS). The source,
//! `check`, `status`, `verify` and `schemas write` all connect the same way.

use mysql_async::{ClientIdentity, Opts, OptsBuilder, SslOpts};

use super::SourceError;
use crate::config::{MysqlTls, SourceConfig, SslMode};

/// Connection options from the connector file and the password variable.
pub fn mysql_opts(source: &SourceConfig) -> Result<Opts, SourceError> {
    let password = source.password.as_ref().ok_or_else(|| {
        SourceError::Connect(format!(
            "environment variable {} is not set",
            source.password_env
        ))
    })?;
    let builder = OptsBuilder::default()
        .ip_or_hostname(source.url.host.clone())
        .tcp_port(source.url.port)
        .user(Some(source.url.user.clone()))
        .pass(Some(password.expose().to_string()))
        .db_name(source.url.database.clone())
        .prefer_socket(false)
        .ssl_opts(ssl_opts(&source.url.tls));
    Ok(Opts::from(builder))
}

/// mysql_async's TLS settings for `ssl-mode`.
fn ssl_opts(tls: &MysqlTls) -> Option<SslOpts> {
    if tls.mode == SslMode::Disabled {
        return None;
    }
    install_crypto_provider();
    let mut opts = SslOpts::default();
    if let Some(ca) = &tls.ca {
        // The named CA is the trust anchor, as with the mysql client.
        opts = opts
            .with_root_certs(vec![ca.clone().into()])
            .with_disable_built_in_roots(true);
    }
    if let (Some(cert), Some(key)) = (&tls.cert, &tls.key) {
        opts = opts.with_client_identity(Some(ClientIdentity::new(
            cert.clone().into(),
            key.clone().into(),
        )));
    }
    if let Some(name) = &tls.hostname {
        // Only the name checked changes; the chain is verified as ever.
        opts = opts.with_danger_tls_hostname_override(Some(name.clone()));
    }
    Some(match tls.mode {
        SslMode::Required => opts.with_danger_accept_invalid_certs(true),
        SslMode::VerifyIdentity | SslMode::Disabled => opts,
    })
}

/// rustls needs one process-wide crypto provider; two are compiled in
/// (delta-rs's dependencies bring ring too), so name it.
fn install_crypto_provider() {
    // An error means one is installed already, which is all that matters.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Options for the snapshot's connections: TIMESTAMP values read in UTC,
/// as the binlog carries them.
pub fn snapshot_opts(source: &SourceConfig) -> Result<Opts, SourceError> {
    let base = mysql_opts(source)?;
    Ok(Opts::from(
        OptsBuilder::from_opts(base).init(vec!["SET time_zone = '+00:00'"]),
    ))
}
