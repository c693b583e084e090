//! `[sink.storage]`: the object store's non-secret settings (endpoint,
//! region, allow_http, use_emulator, …), handed to delta-rs as storage
//! options. Credentials come from each provider's standard environment and
//! credential chain, never from the connector file: a key that carries a
//! secret is refused with the variable to use instead.

use std::str::FromStr;

use object_store::aws::AmazonS3ConfigKey;
use object_store::azure::AzureConfigKey;
use object_store::gcp::GoogleConfigKey;

use super::values::Invalid;

/// The store a `table_uri` lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Local,
    S3,
    Azure,
    Gcs,
}

impl Provider {
    /// The provider of a `table_uri` (template or location).
    pub fn of(table_uri: &str) -> Provider {
        match table_uri.split_once("://").map(|(s, _)| s) {
            Some("s3" | "s3a") => Provider::S3,
            Some("az" | "abfs" | "abfss" | "azure" | "adl") => Provider::Azure,
            Some("gs") => Provider::Gcs,
            _ => Provider::Local,
        }
    }

    /// Where this provider's credentials come from.
    pub fn credentials(self) -> &'static str {
        match self {
            Provider::S3 => {
                "the AWS chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, \
                 AWS_PROFILE, web identity (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN) or instance metadata"
            }
            Provider::Azure => {
                "the environment: AZURE_STORAGE_ACCOUNT_KEY, AZURE_STORAGE_SAS_TOKEN, \
                 AZURE_CLIENT_ID/AZURE_CLIENT_SECRET/AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE, or managed identity"
            }
            Provider::Gcs => {
                "GOOGLE_APPLICATION_CREDENTIALS (a service-account file) or the instance's metadata server"
            }
            Provider::Local => "the local file system",
        }
    }
}

/// delta-rs's own keys that apply to every store (retries of the object
/// store client).
const COMMON_KEYS: &[&str] = &["max_retries", "retry_timeout"];

/// Substrings of key names that carry secrets, whatever the store.
const SECRET_WORDS: &[&str] = &[
    "secret",
    "password",
    "access_key",
    "account_key",
    "master_key",
    "sas_key",
    "sas_token",
    "session_token",
    "bearer_token",
    "service_account_key",
    "customer_key",
];

/// Checks one `[sink.storage]` key for a table in `provider`'s store and
/// returns it as delta-rs takes it (lower case).
pub fn check_key(provider: Provider, key: &str) -> Result<String, Invalid> {
    let k = key.trim().to_ascii_lowercase();
    if looks_secret(provider, &k) {
        return Err(Invalid {
            problem: format!("`{key}` is a credential; secrets never go in the connector file"),
            fix: format!(
                "remove it and give the credential through {}",
                provider.credentials()
            ),
        });
    }
    if COMMON_KEYS.contains(&k.as_str()) {
        return Ok(k);
    }
    let known =
        match provider {
            Provider::Local => return Err(Invalid {
                problem: "a local table_uri takes no storage options".into(),
                fix: "remove [sink.storage], or point table_uri at s3://, az://, abfss:// or gs://"
                    .into(),
            }),
            Provider::S3 => AmazonS3ConfigKey::from_str(&k).is_ok(),
            Provider::Azure => AzureConfigKey::from_str(&k).is_ok(),
            Provider::Gcs => GoogleConfigKey::from_str(&k).is_ok(),
        };
    if !known {
        return Err(Invalid {
            problem: format!("`{key}` is not a setting of this object store"),
            fix: "use a key listed in connectors/README.md (e.g. endpoint, region, allow_http)"
                .into(),
        });
    }
    Ok(k)
}

fn looks_secret(provider: Provider, k: &str) -> bool {
    if k == "token" || SECRET_WORDS.iter().any(|w| k.contains(w)) {
        return true;
    }
    match provider {
        Provider::S3 => matches!(
            AmazonS3ConfigKey::from_str(k),
            Ok(AmazonS3ConfigKey::AccessKeyId
                | AmazonS3ConfigKey::SecretAccessKey
                | AmazonS3ConfigKey::Token)
        ),
        Provider::Azure => matches!(
            AzureConfigKey::from_str(k),
            Ok(AzureConfigKey::AccessKey
                | AzureConfigKey::ClientSecret
                | AzureConfigKey::SasKey
                | AzureConfigKey::Token
                | AzureConfigKey::FabricSessionToken)
        ),
        Provider::Gcs => matches!(
            GoogleConfigKey::from_str(k),
            Ok(GoogleConfigKey::ServiceAccountKey)
        ),
        Provider::Local => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_follow_the_scheme() {
        assert_eq!(Provider::of("s3://b/{table}"), Provider::S3);
        assert_eq!(
            Provider::of("abfss://c@a.dfs.core.windows.net/t"),
            Provider::Azure
        );
        assert_eq!(Provider::of("az://c/t"), Provider::Azure);
        assert_eq!(Provider::of("gs://b/t"), Provider::Gcs);
        assert_eq!(Provider::of("/var/lib/{table}"), Provider::Local);
        assert_eq!(Provider::of("file:///x"), Provider::Local);
    }

    #[test]
    fn plain_settings_pass_and_secrets_are_refused() {
        assert_eq!(check_key(Provider::S3, "Endpoint").unwrap(), "endpoint");
        assert!(check_key(Provider::S3, "region").is_ok());
        assert!(check_key(Provider::S3, "allow_http").is_ok());
        assert!(check_key(Provider::S3, "aws_allow_http").is_ok());
        assert!(check_key(Provider::S3, "max_retries").is_ok());
        assert!(check_key(Provider::Azure, "use_emulator").is_ok());
        assert!(check_key(Provider::Azure, "account_name").is_ok());
        assert!(check_key(Provider::Gcs, "google_base_url").is_ok());
        for (p, k) in [
            (Provider::S3, "aws_secret_access_key"),
            (Provider::S3, "access_key_id"),
            (Provider::S3, "session_token"),
            (Provider::S3, "token"),
            (Provider::Azure, "azure_storage_account_key"),
            (Provider::Azure, "sas_token"),
            (Provider::Azure, "client_secret"),
            (Provider::Gcs, "service_account_key"),
            (Provider::Local, "aws_secret_access_key"),
        ] {
            let e = check_key(p, k).unwrap_err();
            assert!(e.problem.contains("credential"), "{k}: {}", e.problem);
        }
        assert!(check_key(Provider::S3, "endpiont")
            .unwrap_err()
            .problem
            .contains("not a setting"));
        assert!(check_key(Provider::Local, "endpoint").is_err());
    }
}
