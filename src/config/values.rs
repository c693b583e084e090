//! Checks of single values (URLs, addresses, names, templates), each
//! returning the parsed value or what is wrong and how to fix it.

use url::Url;

use super::model::{MysqlTls, MysqlUrl, SslMode};

/// What is wrong with a value, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub problem: String,
    pub fix: String,
}

fn invalid<T>(problem: impl Into<String>, fix: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid {
        problem: problem.into(),
        fix: fix.into(),
    })
}

/// The longest `name`: leaves room in Kafka's 249-character topic names
/// for `.{db}.{table}`.
pub const MAX_NAME_LEN: usize = 200;

/// A connector name: a Kafka topic-name prefix.
pub fn check_name(name: &str) -> Result<(), Invalid> {
    const FIX: &str = "use only letters, digits, '.', '_' and '-', e.g. name = \"shop\"";
    if name.is_empty() {
        return invalid("the name is empty", FIX);
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return invalid(format!("{c:?} cannot appear in a Kafka topic name"), FIX);
    }
    if name.len() > MAX_NAME_LEN {
        return invalid(
            format!(
                "the name has {} characters, more than {MAX_NAME_LEN}",
                name.len()
            ),
            "shorten it",
        );
    }
    Ok(())
}

/// `mysql://USER@HOST[:PORT][/DB][?ssl-mode=…&ssl-ca=…]`. A password in the
/// URL is refused: the message never repeats the URL, so the secret does not
/// reach logs.
pub fn parse_mysql_url(text: &str) -> Result<MysqlUrl, Invalid> {
    const SHAPE: &str = "write mysql://USER@HOST:PORT, e.g. url = \"mysql://cdc@127.0.0.1:3306\"";
    let url = match Url::parse(text) {
        Ok(url) => url,
        Err(e) => return invalid(format!("not a valid URL ({e})"), SHAPE),
    };
    if url.password().is_some() {
        return invalid(
            "the URL contains a password, and secrets never live in the connector file",
            "remove \":PASSWORD\" from the URL and put the password in the environment variable named by source.password_env",
        );
    }
    if url.scheme() != "mysql" {
        return invalid(
            format!("the URL scheme is {:?}, not \"mysql\"", url.scheme()),
            SHAPE,
        );
    }
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']');
    if host.is_empty() {
        return invalid("the URL has no host", SHAPE);
    }
    let user = percent_encoding::percent_decode_str(url.username())
        .decode_utf8_lossy()
        .into_owned();
    if user.is_empty() {
        return invalid("the URL has no user", SHAPE);
    }
    if url.fragment().is_some() {
        return invalid("the URL has a #fragment, which binlake does not use", SHAPE);
    }
    let tls = parse_tls(&url)?;
    let database = match url.path().trim_start_matches('/') {
        "" => None,
        db if db.contains('/') => return invalid(format!("{db:?} is not a database name"), SHAPE),
        db => Some(
            percent_encoding::percent_decode_str(db)
                .decode_utf8_lossy()
                .into_owned(),
        ),
    };
    Ok(MysqlUrl {
        host: host.to_string(),
        port: url.port().unwrap_or(3306),
        user,
        database,
        tls,
    })
}

/// The URL's TLS parameters, named as MySQL's clients name them
/// (`ssl_mode` etc. are accepted too).
fn parse_tls(url: &Url) -> Result<MysqlTls, Invalid> {
    const PARAMS: &str =
        "the URL takes ssl-mode, ssl-ca, ssl-cert, ssl-key and ssl-hostname, e.g. \
        mysql://cdc@db:3306?ssl-mode=verify_identity&ssl-ca=/etc/binlake/ca.pem";
    let mut tls = MysqlTls::default();
    let mut mode = None;
    for (key, value) in url.query_pairs() {
        let path = || -> Result<Option<std::path::PathBuf>, Invalid> {
            if value.is_empty() {
                return invalid(format!("{key} is empty"), "give the path of a PEM file");
            }
            Ok(Some(std::path::PathBuf::from(value.as_ref())))
        };
        match key.replace('_', "-").to_ascii_lowercase().as_str() {
            "ssl-mode" => mode = Some(
                match value.replace('-', "_").to_ascii_lowercase().as_str() {
                    "disabled" => SslMode::Disabled,
                    "required" => SslMode::Required,
                    "verify_identity" => SslMode::VerifyIdentity,
                    // mysql_async 0.37 with rustls 0.23 fails the name check
                    // even when told to skip it, so the mode would lie.
                    "verify_ca" => {
                        return invalid(
                            "ssl-mode=verify_ca is not available: this build always checks the certificate's name",
                            "use ssl-mode=verify_identity, with ssl-hostname=NAME when the certificate names another host than the URL",
                        )
                    }
                    "preferred" => return invalid(
                        "ssl-mode=preferred falls back to plain text without saying so",
                        "choose ssl-mode=required (or verify_ca / verify_identity), or disabled",
                    ),
                    other => {
                        return invalid(
                            format!("ssl-mode {other:?} is not a mode"),
                            "use disabled, required or verify_identity",
                        )
                    }
                },
            ),
            "ssl-ca" => tls.ca = path()?,
            "ssl-cert" => tls.cert = path()?,
            "ssl-key" => tls.key = path()?,
            "ssl-hostname" => {
                if value.is_empty() {
                    return invalid("ssl-hostname is empty", "give the name the server's certificate carries");
                }
                tls.hostname = Some(value.into_owned());
            }
            _ => return invalid(format!("the URL parameter {key:?} is unknown"), PARAMS),
        }
    }
    // A CA or client certificate without a mode means the user wants TLS.
    let any_file =
        tls.ca.is_some() || tls.cert.is_some() || tls.key.is_some() || tls.hostname.is_some();
    tls.mode = match mode {
        Some(m) => m,
        None if tls.ca.is_some() => SslMode::VerifyIdentity,
        None if any_file => SslMode::Required,
        None => SslMode::Disabled,
    };
    if tls.mode == SslMode::Disabled && any_file {
        return invalid(
            "ssl-mode=disabled, yet the URL names TLS files",
            "remove the other ssl-* parameters or choose another ssl-mode",
        );
    }
    if tls.hostname.is_some() && tls.mode != SslMode::VerifyIdentity {
        return invalid(
            "ssl-hostname only matters when the name is checked",
            "use ssl-mode=verify_identity with it, or remove it",
        );
    }
    if tls.cert.is_some() != tls.key.is_some() {
        return invalid(
            "ssl-cert and ssl-key come together",
            "give both the client certificate and its key, or neither",
        );
    }
    Ok(tls)
}

/// A comma-separated `HOST:PORT` list.
pub fn parse_brokers(text: &str) -> Result<Vec<String>, Invalid> {
    const FIX: &str =
        "write comma-separated HOST:PORT entries, e.g. brokers = \"kafka1:9092,kafka2:9092\"";
    let brokers: Vec<String> = text.split(',').map(|b| b.trim().to_string()).collect();
    for broker in &brokers {
        if broker.is_empty() {
            return invalid("an empty broker entry", FIX);
        }
        if let Err(problem) = check_host_port(broker) {
            return invalid(format!("broker {broker:?}: {problem}"), FIX);
        }
    }
    Ok(brokers)
}

fn check_host_port(text: &str) -> Result<(), String> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, port) = rest
            .split_once("]:")
            .ok_or("an IPv6 host needs [ADDR]:PORT")?;
        (host, port)
    } else {
        text.rsplit_once(':').ok_or("no port")?
    };
    let host_ok = !host.is_empty()
        && (text.starts_with('[')
            || host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')));
    if !host_ok {
        return Err(format!("{host:?} is not a host name or address"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!("{port:?} is not a port (1-65535)")),
    }
}

/// An `http(s)://HOST[:PORT][/PATH]` base URL, returned without a trailing slash.
pub fn parse_http_url(text: &str) -> Result<String, Invalid> {
    const FIX: &str = "write http://HOST:PORT, e.g. url = \"http://127.0.0.1:8081\"";
    let url = match Url::parse(text) {
        Ok(url) => url,
        Err(e) => return invalid(format!("not a valid URL ({e})"), FIX),
    };
    if !matches!(url.scheme(), "http" | "https") {
        return invalid(
            format!("the URL scheme is {:?}, not http or https", url.scheme()),
            FIX,
        );
    }
    if url.password().is_some() || !url.username().is_empty() {
        return invalid(
            "the URL contains credentials, and secrets never live in the connector file",
            FIX,
        );
    }
    if url.host_str().unwrap_or_default().is_empty() {
        return invalid("the URL has no host", FIX);
    }
    if url.query().is_some() || url.fragment().is_some() {
        return invalid("the URL has a query or fragment", FIX);
    }
    Ok(text.trim_end_matches('/').to_string())
}

/// Schemes a `table_uri` may use; anything without `://` is a local path.
pub const TABLE_URI_SCHEMES: [&str; 7] = ["file", "s3", "s3a", "az", "abfs", "abfss", "gs"];

/// A `table_uri` template: `{table}` required, `{db}` allowed, nothing else
/// in braces.
pub fn check_table_uri(text: &str) -> Result<(), Invalid> {
    const FIX: &str =
        "write e.g. table_uri = \"s3://bucket/{db}/{table}\" or \"/var/lib/binlake/{db}/{table}\"";
    if text.trim().is_empty() {
        return invalid("the table URI is empty", FIX);
    }
    if let Some((scheme, _)) = text.split_once("://") {
        if !TABLE_URI_SCHEMES.contains(&scheme) {
            return invalid(
                format!("scheme {scheme:?} is not supported"),
                format!(
                    "use one of {}:// or a plain path",
                    TABLE_URI_SCHEMES.join("://, ")
                ),
            );
        }
    }
    let mut rest = text;
    let mut has_table = false;
    while let Some(i) = rest.find(['{', '}']) {
        let after = &rest[i..];
        if after.starts_with('}') {
            return invalid(
                "a '}' without its '{'",
                "only {db} and {table} may appear in braces",
            );
        }
        let Some(end) = after.find('}') else {
            return invalid(
                "a '{' without its '}'",
                "only {db} and {table} may appear in braces",
            );
        };
        match &after[..=end] {
            "{table}" => has_table = true,
            "{db}" => {}
            other => {
                return invalid(
                    format!("unknown placeholder {other}"),
                    "only {db} and {table} may appear in braces",
                )
            }
        }
        rest = &after[end + 1..];
    }
    if !has_table {
        return invalid(
            "the template has no {table} placeholder, so every table would share one location",
            FIX,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("shop").is_ok());
        assert!(check_name("shop-eu_1.prod").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("shop/eu").unwrap_err().problem.contains("'/'"));
        assert!(check_name(&"a".repeat(201)).is_err());
        assert!(check_name(&"a".repeat(200)).is_ok());
    }

    #[test]
    fn mysql_urls() {
        let u = parse_mysql_url("mysql://cdc@127.0.0.1:3307").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.user.as_str(), u.database),
            ("127.0.0.1", 3307, "cdc", None)
        );
        let u = parse_mysql_url("mysql://c%40dc@db.example/shop").unwrap();
        assert_eq!(
            (u.user.as_str(), u.port, u.database.as_deref()),
            ("c@dc", 3306, Some("shop"))
        );
        assert_eq!(
            parse_mysql_url("mysql://cdc@[::1]:3306").unwrap().host,
            "::1"
        );
        let e = parse_mysql_url("mysql://cdc:hunter2@db:3306").unwrap_err();
        assert!(
            e.problem.contains("password")
                && !e.problem.contains("hunter2")
                && !e.fix.contains("hunter2")
        );
        assert!(parse_mysql_url("postgres://cdc@db")
            .unwrap_err()
            .problem
            .contains("scheme"));
        assert!(parse_mysql_url("mysql://db:3306")
            .unwrap_err()
            .problem
            .contains("no user"));
        assert!(parse_mysql_url("mysql://cdc@db:99999").is_err());
        assert!(parse_mysql_url("mysql://cdc@db/a/b").is_err());
        assert!(parse_mysql_url("mysql://cdc@db?ssl=1").is_err());
        assert!(parse_mysql_url("mysql://cdc@db#x").is_err());
    }

    #[test]
    fn mysql_url_tls() {
        let tls = |u: &str| parse_mysql_url(u).map(|u| u.tls);
        assert_eq!(tls("mysql://cdc@db").unwrap(), MysqlTls::default());
        let t =
            tls("mysql://cdc@db:3306/shop?ssl-mode=VERIFY_IDENTITY&ssl-ca=/etc/ca.pem").unwrap();
        assert_eq!(t.mode, SslMode::VerifyIdentity);
        assert_eq!(t.ca.as_deref(), Some(std::path::Path::new("/etc/ca.pem")));
        assert_eq!(
            tls("mysql://cdc@db?ssl_mode=required").unwrap().mode,
            SslMode::Required
        );
        assert_eq!(
            tls("mysql://cdc@db?ssl-mode=verify-identity").unwrap().mode,
            SslMode::VerifyIdentity
        );
        assert!(tls("mysql://cdc@db?ssl-mode=verify_ca")
            .unwrap_err()
            .fix
            .contains("ssl-hostname"));
        let named =
            tls("mysql://cdc@10.0.0.5?ssl-mode=verify_identity&ssl-hostname=db.internal").unwrap();
        assert_eq!(named.hostname.as_deref(), Some("db.internal"));
        assert!(tls("mysql://cdc@db?ssl-mode=required&ssl-hostname=db").is_err());
        // A CA alone asks for full verification, as the mysql client does.
        assert_eq!(
            tls("mysql://cdc@db?ssl-ca=/ca.pem").unwrap().mode,
            SslMode::VerifyIdentity
        );
        let both = tls("mysql://cdc@db?ssl-mode=required&ssl-cert=/c.pem&ssl-key=/k.pem").unwrap();
        assert_eq!((both.cert.is_some(), both.key.is_some()), (true, true));
        assert!(tls("mysql://cdc@db?ssl-mode=required&ssl-cert=/c.pem")
            .unwrap_err()
            .problem
            .contains("together"));
        assert!(tls("mysql://cdc@db?ssl-mode=preferred")
            .unwrap_err()
            .fix
            .contains("required"));
        assert!(tls("mysql://cdc@db?ssl-mode=on").is_err());
        assert!(tls("mysql://cdc@db?ssl-mode=disabled&ssl-ca=/ca.pem").is_err());
        assert!(tls("mysql://cdc@db?ssl-ca=").is_err());
        assert!(tls("mysql://cdc@db?sslmode=require")
            .unwrap_err()
            .fix
            .contains("ssl-mode"));
        assert!(parse_mysql_url("127.0.0.1:3306").is_err());
    }

    #[test]
    fn broker_lists() {
        assert_eq!(
            parse_brokers("a:9092, b:9093").unwrap(),
            ["a:9092", "b:9093"]
        );
        assert_eq!(parse_brokers("[::1]:9092").unwrap(), ["[::1]:9092"]);
        assert!(parse_brokers("a").unwrap_err().problem.contains("no port"));
        assert!(parse_brokers("a:x").is_err());
        assert!(parse_brokers("a:0").is_err());
        assert!(parse_brokers("a:9092,")
            .unwrap_err()
            .problem
            .contains("empty"));
        assert!(parse_brokers(":9092").is_err());
        assert!(parse_brokers("kafka://a:9092").is_err());
    }

    #[test]
    fn http_urls() {
        assert_eq!(
            parse_http_url("http://127.0.0.1:8081/").unwrap(),
            "http://127.0.0.1:8081"
        );
        assert_eq!(
            parse_http_url("https://reg.example/api").unwrap(),
            "https://reg.example/api"
        );
        assert!(parse_http_url("ftp://x").is_err());
        assert!(parse_http_url("http://u:p@x")
            .unwrap_err()
            .problem
            .contains("credentials"));
        assert!(parse_http_url("127.0.0.1:8081").is_err());
    }

    #[test]
    fn table_uri_templates() {
        assert!(check_table_uri("file:///var/lib/binlake/{db}/{table}").is_ok());
        assert!(check_table_uri("s3://bucket/{table}").is_ok());
        assert!(check_table_uri("./.data/{db}/{table}").is_ok());
        assert!(check_table_uri("s3://bucket/{db}")
            .unwrap_err()
            .problem
            .contains("no {table}"));
        assert!(check_table_uri("s3://b/{schema}/{table}")
            .unwrap_err()
            .problem
            .contains("{schema}"));
        assert!(check_table_uri("s3://b/{table").is_err());
        assert!(check_table_uri("s3://b/table}").is_err());
        assert!(check_table_uri("hdfs://b/{table}")
            .unwrap_err()
            .problem
            .contains("hdfs"));
    }
}
