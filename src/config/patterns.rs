//! Table and column selection patterns: `DB.TABLE` and `DB.TABLE.COLUMN`,
//! each part a glob (`*`, `?`, `[a-z]`, `{a,b}`).
//!
//! Database and table names match case-sensitively, as MySQL stores them on
//! Linux; column names match case-insensitively, as MySQL compares them.

use globset::{GlobBuilder, GlobMatcher};

/// An include or exclude pattern for tables, e.g. `shop.tmp_*`.
#[derive(Debug, Clone)]
pub struct TablePattern {
    text: String,
    db: GlobMatcher,
    table: GlobMatcher,
}

impl TablePattern {
    /// Parses `DB.TABLE`; the error says what is wrong with the pattern.
    pub fn parse(text: &str) -> Result<TablePattern, String> {
        let [db, table] = split::<2>(text, "DB.TABLE")?;
        Ok(TablePattern {
            text: text.to_string(),
            db: glob(db, false, text)?,
            table: glob(table, false, text)?,
        })
    }

    /// Whether the table `db`.`table` matches.
    pub fn matches(&self, db: &str, table: &str) -> bool {
        self.db.is_match(db) && self.table.is_match(table)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// A column pattern, e.g. `shop.customers.ssn` or `*.*.password_*`.
#[derive(Debug, Clone)]
pub struct ColumnPattern {
    text: String,
    table: TablePattern,
    column: GlobMatcher,
}

impl ColumnPattern {
    /// Parses `DB.TABLE.COLUMN`; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<ColumnPattern, String> {
        let [db, table, column] = split::<3>(text, "DB.TABLE.COLUMN")?;
        Ok(ColumnPattern {
            text: text.to_string(),
            table: TablePattern {
                text: format!("{db}.{table}"),
                db: glob(db, false, text)?,
                table: glob(table, false, text)?,
            },
            column: glob(column, true, text)?,
        })
    }

    /// Whether column `column` of `db`.`table` matches.
    pub fn matches(&self, db: &str, table: &str, column: &str) -> bool {
        self.table.matches(db, table) && self.column.is_match(column)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Whether `name` is a plain name, with none of the glob metacharacters.
pub fn is_literal(name: &str) -> bool {
    !name.contains(['*', '?', '[', ']', '{', '}', '\\'])
}

/// Splits on dots into exactly `N` non-empty parts.
fn split<'a, const N: usize>(text: &'a str, shape: &str) -> Result<[&'a str; N], String> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() < N {
        return Err(format!(
            "pattern {text:?} has too few dot-separated parts for {shape}"
        ));
    }
    if parts.len() > N {
        return Err(format!("pattern {text:?} has too many dots for {shape}"));
    }
    if let Some(i) = parts.iter().position(|p| p.trim().is_empty()) {
        let part = shape.split('.').nth(i).unwrap_or("name");
        return Err(format!(
            "pattern {text:?} has an empty {part} part; write {shape}"
        ));
    }
    parts
        .try_into()
        .map_err(|_| format!("pattern {text:?} must have the form {shape}"))
}

fn glob(part: &str, case_insensitive: bool, whole: &str) -> Result<GlobMatcher, String> {
    GlobBuilder::new(part)
        .case_insensitive(case_insensitive)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| format!("pattern {whole:?} is not a valid glob: {}", e.kind()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_globs_match_db_and_table_separately() {
        let p = TablePattern::parse("shop.*").unwrap();
        assert!(p.matches("shop", "orders"));
        assert!(!p.matches("shop2", "orders"));
        assert!(
            !p.matches("Shop", "orders"),
            "database names are case-sensitive"
        );
        let p = TablePattern::parse("s?op.tmp_[0-9]*").unwrap();
        assert!(p.matches("shop", "tmp_1x"));
        assert!(!p.matches("shop", "tmp_x"));
        let p = TablePattern::parse("{shop,crm}.{orders,users}").unwrap();
        assert!(p.matches("crm", "users"));
        assert!(!p.matches("crm", "events"));
        assert_eq!(p.as_str(), "{shop,crm}.{orders,users}");
    }

    #[test]
    fn a_star_does_not_cross_the_dot() {
        let p = TablePattern::parse("*.orders").unwrap();
        assert!(p.matches("a", "orders"));
        assert!(!p.matches("a", "b.orders"));
    }

    #[test]
    fn table_patterns_need_exactly_one_dot_and_valid_globs() {
        let e = TablePattern::parse("orders").unwrap_err();
        assert_eq!(
            e,
            "pattern \"orders\" has too few dot-separated parts for DB.TABLE"
        );
        assert!(TablePattern::parse("a.b.c")
            .unwrap_err()
            .contains("too many dots"));
        assert!(TablePattern::parse(".orders")
            .unwrap_err()
            .contains("empty DB part"));
        assert!(TablePattern::parse("shop.")
            .unwrap_err()
            .contains("empty TABLE part"));
        let e = TablePattern::parse("shop.[").unwrap_err();
        assert!(
            e.contains("not a valid glob") && e.contains("unclosed"),
            "{e}"
        );
    }

    #[test]
    fn column_patterns_match_columns_case_insensitively() {
        let p = ColumnPattern::parse("shop.customers.ssn").unwrap();
        assert!(p.matches("shop", "customers", "ssn"));
        assert!(p.matches("shop", "customers", "SSN"));
        assert!(!p.matches("shop", "customers", "ssn2"));
        assert!(!p.matches("shop", "users", "ssn"));
        let p = ColumnPattern::parse("*.*.password_*").unwrap();
        assert!(p.matches("crm", "users", "password_hash"));
        assert!(ColumnPattern::parse("shop.customers")
            .unwrap_err()
            .contains("DB.TABLE.COLUMN"));
        assert!(ColumnPattern::parse("shop.c.{").is_err());
    }

    #[test]
    fn literal_names_have_no_metacharacters() {
        assert!(is_literal("event_id"));
        assert!(!is_literal("tmp_*"));
        assert!(!is_literal("a[1]"));
    }
}
