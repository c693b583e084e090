//! What a binlog Query event's statement means for capture. Only the
//! statements that change rows without row events matter here: `TRUNCATE
//! [TABLE] [db.]t` (MySQL and MariaDB log it as a statement, never as row
//! deletions). Everything else is left to the TABLE_MAP that follows a DDL.

/// A statement the source turns into an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    /// `TRUNCATE [TABLE] db.t`; `db` is the event's default database when
    /// the statement does not name one.
    Truncate { db: String, table: String },
}

/// Classifies `sql`, run with `default_db` as the current database.
/// Comments, backquoted names (with doubled backquotes) and a trailing `;`
/// are understood; anything else returns `None`.
pub fn classify(sql: &str, default_db: &str) -> Option<Statement> {
    let mut lx = Lexer::new(sql);
    if !lx.keyword("TRUNCATE") {
        return None;
    }
    lx.keyword("TABLE");
    let first = lx.name()?;
    let (db, table) = if lx.punct('.') {
        (first, lx.name()?)
    } else {
        if default_db.is_empty() {
            return None;
        }
        (default_db.to_owned(), first)
    };
    lx.punct(';');
    lx.at_end().then_some(Statement::Truncate { db, table })
}

struct Lexer<'a> {
    rest: &'a str,
}

impl<'a> Lexer<'a> {
    fn new(sql: &'a str) -> Self {
        Lexer { rest: sql }
    }

    /// Skips whitespace and comments (`/* */`, `-- `, `#`). Executable
    /// comments (`/*!...*/`) are skipped too: TRUNCATE takes no options.
    fn skip(&mut self) {
        loop {
            let t = self.rest.trim_start();
            if let Some(after) = t.strip_prefix("/*") {
                self.rest = after.find("*/").map_or("", |i| &after[i + 2..]);
            } else if t.starts_with("-- ")
                || t.starts_with("--\t")
                || t == "--"
                || t.starts_with('#')
            {
                self.rest = t.find('\n').map_or("", |i| &t[i + 1..]);
            } else {
                self.rest = t;
                return;
            }
        }
    }

    fn keyword(&mut self, word: &str) -> bool {
        self.skip();
        let n = word.len();
        let matches = self.rest.len() >= n
            && self.rest.is_char_boundary(n)
            && self.rest[..n].eq_ignore_ascii_case(word)
            && !self.rest[n..].starts_with(is_ident_char);
        if matches {
            self.rest = &self.rest[n..];
        }
        matches
    }

    fn punct(&mut self, c: char) -> bool {
        self.skip();
        match self.rest.strip_prefix(c) {
            Some(r) => {
                self.rest = r;
                true
            }
            None => false,
        }
    }

    /// A bare or backquoted identifier.
    fn name(&mut self) -> Option<String> {
        self.skip();
        if let Some(quoted) = self.rest.strip_prefix('`') {
            let mut out = String::new();
            let mut chars = quoted.char_indices();
            while let Some((i, c)) = chars.next() {
                if c == '`' {
                    if quoted[i + 1..].starts_with('`') {
                        out.push('`');
                        chars.next();
                    } else {
                        self.rest = &quoted[i + 1..];
                        return Some(out);
                    }
                } else {
                    out.push(c);
                }
            }
            None
        } else {
            let end = self
                .rest
                .find(|c: char| !is_ident_char(c))
                .unwrap_or(self.rest.len());
            if end == 0 {
                return None;
            }
            let (name, rest) = self.rest.split_at(end);
            self.rest = rest;
            Some(name.to_owned())
        }
    }

    fn at_end(&mut self) -> bool {
        self.skip();
        self.rest.is_empty()
    }
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(db: &str, table: &str) -> Option<Statement> {
        Some(Statement::Truncate {
            db: db.into(),
            table: table.into(),
        })
    }

    #[test]
    fn truncate_forms() {
        assert_eq!(
            classify("TRUNCATE TABLE orders", "shop"),
            t("shop", "orders")
        );
        assert_eq!(classify("truncate orders", "shop"), t("shop", "orders"));
        assert_eq!(
            classify("TRUNCATE TABLE inv.items;", "shop"),
            t("inv", "items")
        );
        assert_eq!(
            classify("  Truncate Table `my db`.`odd``name` ; ", ""),
            t("my db", "odd`name")
        );
        assert_eq!(classify("TRUNCATE `a`.b", "shop"), t("a", "b"));
        assert_eq!(
            classify(
                "/* app */ TRUNCATE /* x */ TABLE -- why\n inv . items # done",
                ""
            ),
            t("inv", "items")
        );
        assert_eq!(classify("TRUNCATE TABLE `tab`", "d"), t("d", "tab"));
        // A table called `table`, quoted.
        assert_eq!(classify("TRUNCATE TABLE `table`", "d"), t("d", "table"));
        assert_eq!(classify("TRUNCATE TABLE prénoms", "d"), t("d", "prénoms"));
    }

    #[test]
    fn other_statements_are_not_truncates() {
        assert_eq!(classify("BEGIN", "d"), None);
        assert_eq!(classify("ALTER TABLE t ADD COLUMN x INT", "d"), None);
        assert_eq!(classify("TRUNCATEX t", "d"), None);
        assert_eq!(classify("-- TRUNCATE t", "d"), None);
        assert_eq!(classify("/* TRUNCATE t */ COMMIT", "d"), None);
        // No database to resolve the name against.
        assert_eq!(classify("TRUNCATE t", ""), None);
        // Trailing garbage: not a statement binlake understands.
        assert_eq!(classify("TRUNCATE t, u", "d"), None);
        assert_eq!(classify("TRUNCATE `unterminated", "d"), None);
        assert_eq!(classify("TRUNCATE", "d"), None);
    }
}
