//! `${VAR}` expansion inside string values. It runs on values already
//! parsed, so a secret from the environment never passes through the TOML
//! parser or its error messages.

/// Why a string could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterpolationError {
    /// `${VAR}` names a variable that is not set.
    Unset(String),
    /// `${…}` holds something that is not a variable name.
    BadName(String),
    /// `${` without its closing `}`.
    Unterminated,
}

/// Replaces each `${VAR}` by `lookup(VAR)`; `$${` writes a literal `${`.
/// A `$` not followed by `{` stays as it is.
pub fn expand(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, InterpolationError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(escaped) = after.strip_prefix("${") {
            out.push_str("${");
            rest = escaped;
        } else if let Some(open) = after.strip_prefix('{') {
            let end = open.find('}').ok_or(InterpolationError::Unterminated)?;
            let name = &open[..end];
            if !is_env_name(name) {
                return Err(InterpolationError::BadName(name.to_string()));
            }
            let value = lookup(name).ok_or_else(|| InterpolationError::Unset(name.to_string()))?;
            out.push_str(&value);
            rest = &open[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Whether `name` is a portable environment variable name:
/// `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("db.internal".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_set_variables() {
        assert_eq!(
            expand("mysql://cdc@${HOST}:3306", &env),
            Ok("mysql://cdc@db.internal:3306".into())
        );
        assert_eq!(expand("${HOST}${EMPTY}x", &env), Ok("db.internalx".into()));
        assert_eq!(expand("no vars", &env), Ok("no vars".into()));
    }

    #[test]
    fn leaves_lone_dollars_and_unescapes_double_dollar() {
        assert_eq!(expand("a$b$", &env), Ok("a$b$".into()));
        assert_eq!(expand("$${HOST}", &env), Ok("${HOST}".into()));
    }

    #[test]
    fn reports_unset_bad_and_unterminated_references() {
        assert_eq!(
            expand("${NOPE}", &env),
            Err(InterpolationError::Unset("NOPE".into()))
        );
        assert_eq!(
            expand("${1X}", &env),
            Err(InterpolationError::BadName("1X".into()))
        );
        assert_eq!(
            expand("${}", &env),
            Err(InterpolationError::BadName(String::new()))
        );
        assert_eq!(
            expand("${HOST", &env),
            Err(InterpolationError::Unterminated)
        );
    }

    #[test]
    fn env_names() {
        assert!(is_env_name("SHOP_MYSQL_PASSWORD"));
        assert!(is_env_name("_x1"));
        assert!(!is_env_name("1X"));
        assert!(!is_env_name("A-B"));
        assert!(!is_env_name(""));
    }
}
