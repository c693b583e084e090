//! What a binlog Query event's statement means for capture. Only the
//! statements that change rows or tables without row events matter here:
//! `TRUNCATE [TABLE] [db.]t` (MySQL and MariaDB log it as a statement, never
//! as row deletions) and the statements that make a table appear or vanish
//! under a name: `CREATE TABLE`, `DROP TABLE`, `RENAME TABLE` and
//! `ALTER TABLE ... RENAME`. Column changes are left to the TABLE_MAP that
//! follows a DDL.

/// `db.table`, as a statement names it (default database resolved).
pub type TableName = (String, String);

/// A statement the source turns into an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    /// `TRUNCATE [TABLE] db.t`; `db` is the event's default database when
    /// the statement does not name one.
    Truncate { db: String, table: String },
    /// `CREATE [OR REPLACE] TABLE [IF NOT EXISTS] t ...` (also `LIKE` and
    /// `AS SELECT`, whose rows follow as row events). `if_not_exists`: the
    /// table may have existed already, and then nothing happened.
    Create {
        table: TableName,
        replace: bool,
        if_not_exists: bool,
    },
    /// `DROP TABLE [IF EXISTS] a, b, ...`.
    Drop { tables: Vec<TableName> },
    /// `RENAME TABLE a TO b, c TO d` or `ALTER TABLE a ... RENAME [TO] b`,
    /// in the order the server applies them.
    Rename { pairs: Vec<(TableName, TableName)> },
    /// `DROP DATABASE|SCHEMA [IF EXISTS] db`: every table in it is gone.
    DropDatabase { db: String },
}

/// Classifies `sql`, run with `default_db` as the current database.
/// Comments, backquoted names (with doubled backquotes) and a trailing `;`
/// are understood; anything else returns `None`. `TEMPORARY` tables are
/// never logged as rows, so their statements are `None` too.
pub fn classify(sql: &str, default_db: &str) -> Option<Statement> {
    let mut lx = Lexer::new(sql);
    if lx.keyword("TRUNCATE") {
        lx.keyword("TABLE");
        let (db, table) = lx.table_name(default_db)?;
        lx.punct(';');
        return lx.at_end().then_some(Statement::Truncate { db, table });
    }
    if lx.keyword("CREATE") {
        let replace = lx.keyword("OR") && lx.keyword("REPLACE");
        if lx.keyword("TEMPORARY") || !lx.keyword("TABLE") {
            return None;
        }
        let if_not_exists = lx.keyword("IF") && lx.keyword("NOT") && lx.keyword("EXISTS");
        let table = lx.table_name(default_db)?;
        return Some(Statement::Create {
            table,
            replace,
            if_not_exists,
        });
    }
    if lx.keyword("DROP") {
        if lx.keyword("DATABASE") || lx.keyword("SCHEMA") {
            if lx.keyword("IF") && !lx.keyword("EXISTS") {
                return None;
            }
            let db = lx.name()?;
            lx.punct(';');
            return lx.at_end().then_some(Statement::DropDatabase { db });
        }
        if lx.keyword("TEMPORARY") || !lx.keyword("TABLE") {
            return None;
        }
        if lx.keyword("IF") && !lx.keyword("EXISTS") {
            return None;
        }
        let mut tables = vec![lx.table_name(default_db)?];
        while lx.punct(',') {
            tables.push(lx.table_name(default_db)?);
        }
        return Some(Statement::Drop { tables });
    }
    if lx.keyword("RENAME") {
        if !(lx.keyword("TABLE") || lx.keyword("TABLES")) {
            return None;
        }
        if lx.keyword("IF") && !lx.keyword("EXISTS") {
            return None;
        }
        let mut pairs = Vec::new();
        loop {
            let from = lx.table_name(default_db)?;
            if lx.keyword("WAIT") {
                lx.name()?;
            } else {
                lx.keyword("NOWAIT");
            }
            if !lx.keyword("TO") {
                return None;
            }
            pairs.push((from, lx.table_name(default_db)?));
            if !lx.punct(',') {
                break;
            }
        }
        return Some(Statement::Rename { pairs });
    }
    if lx.keyword("ALTER") {
        lx.keyword("ONLINE");
        lx.keyword("IGNORE");
        if !lx.keyword("TABLE") {
            return None;
        }
        if lx.keyword("IF") && !lx.keyword("EXISTS") {
            return None;
        }
        let from = lx.table_name(default_db)?;
        let to = lx.alter_rename(default_db)?;
        return Some(Statement::Rename {
            pairs: vec![(from, to)],
        });
    }
    None
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

    /// `db.t`, or `t` in `default_db`.
    fn table_name(&mut self, default_db: &str) -> Option<TableName> {
        let first = self.name()?;
        if self.punct('.') {
            return Some((first, self.name()?));
        }
        (!default_db.is_empty()).then(|| (default_db.to_owned(), first))
    }

    /// The new name of an `ALTER TABLE`'s `RENAME [TO|AS] t` clause, found
    /// among its other clauses at the top level (`RENAME COLUMN`, `RENAME
    /// INDEX` and `RENAME KEY` rename something else).
    fn alter_rename(&mut self, default_db: &str) -> Option<TableName> {
        let mut depth = 0usize;
        let mut at_clause = true;
        loop {
            self.skip();
            let c = self.rest.chars().next()?;
            match c {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                '\'' | '"' => {
                    self.string(c)?;
                    at_clause = false;
                    continue;
                }
                ',' if depth == 0 => {
                    self.rest = &self.rest[1..];
                    at_clause = true;
                    continue;
                }
                _ => {}
            }
            if c == '(' || c == ')' || !(c == '`' || is_ident_char(c)) {
                self.rest = &self.rest[c.len_utf8()..];
                at_clause = false;
                continue;
            }
            if depth == 0 && at_clause && self.keyword("RENAME") {
                if self.keyword("COLUMN") || self.keyword("INDEX") || self.keyword("KEY") {
                    at_clause = false;
                    continue;
                }
                if !self.keyword("TO") {
                    self.keyword("AS");
                }
                return self.table_name(default_db);
            }
            self.name()?;
            at_clause = false;
        }
    }

    /// Skips a quoted string (doubled quotes and backslash escapes inside).
    fn string(&mut self, quote: char) -> Option<()> {
        let body = &self.rest[quote.len_utf8()..];
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            if c == '\\' {
                chars.next();
            } else if c == quote {
                if body[i + 1..].starts_with(quote) {
                    chars.next();
                } else {
                    self.rest = &body[i + 1..];
                    return Some(());
                }
            }
        }
        None
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
    fn n(db: &str, t: &str) -> TableName {
        (db.into(), t.into())
    }

    #[test]
    fn create_forms() {
        let create = |db, t, replace, if_not_exists| {
            Some(Statement::Create {
                table: n(db, t),
                replace,
                if_not_exists,
            })
        };
        assert_eq!(
            classify(
                "CREATE TABLE `c` (\n `id` int(11) NOT NULL,\n PRIMARY KEY (`id`)\n)",
                "d"
            ),
            create("d", "c", false, false)
        );
        assert_eq!(
            classify("create table if not exists x.y like d.s", "d"),
            create("x", "y", false, true)
        );
        assert_eq!(
            classify("CREATE OR REPLACE TABLE t AS SELECT 1", "d"),
            create("d", "t", true, false)
        );
        assert_eq!(classify("CREATE TEMPORARY TABLE t (i int)", "d"), None);
        assert_eq!(classify("CREATE VIEW v AS SELECT 1", "d"), None);
        assert_eq!(classify("CREATE DATABASE x", "d"), None);
    }

    #[test]
    fn drop_forms() {
        assert_eq!(
            classify("DROP TABLE `l3`,`c2` /* generated by server */", "d"),
            Some(Statement::Drop {
                tables: vec![n("d", "l3"), n("d", "c2")]
            })
        );
        assert_eq!(
            classify("drop table if exists o.a , b restrict;", "d"),
            Some(Statement::Drop {
                tables: vec![n("o", "a"), n("d", "b")]
            })
        );
        assert_eq!(classify("DROP TEMPORARY TABLE IF EXISTS t", "d"), None);
        assert_eq!(
            classify("DROP DATABASE IF EXISTS `shop`", ""),
            Some(Statement::DropDatabase { db: "shop".into() })
        );
        assert_eq!(classify("DROP INDEX i ON t", "d"), None);
    }

    #[test]
    fn rename_forms() {
        assert_eq!(
            classify("RENAME TABLE l TO l2, x.c TO y.c2", "d"),
            Some(Statement::Rename {
                pairs: vec![(n("d", "l"), n("d", "l2")), (n("x", "c"), n("y", "c2"))]
            })
        );
        assert_eq!(
            classify("RENAME TABLES IF EXISTS a WAIT 5 TO b", "d"),
            Some(Statement::Rename {
                pairs: vec![(n("d", "a"), n("d", "b"))]
            })
        );
        assert_eq!(
            classify("ALTER TABLE l2 RENAME TO l3", "d"),
            Some(Statement::Rename {
                pairs: vec![(n("d", "l2"), n("d", "l3"))]
            })
        );
        assert_eq!(
            classify(
                "alter table a add column x int default 'RENAME TO z', rename as o.b",
                "d"
            ),
            Some(Statement::Rename {
                pairs: vec![(n("d", "a"), n("o", "b"))]
            })
        );
        assert_eq!(
            classify("ALTER TABLE a RENAME b", "d"),
            Some(Statement::Rename {
                pairs: vec![(n("d", "a"), n("d", "b"))]
            })
        );
        // Renames of other things, and ALTERs without a rename.
        assert_eq!(classify("ALTER TABLE a RENAME COLUMN x TO y", "d"), None);
        assert_eq!(classify("ALTER TABLE a RENAME INDEX i TO j", "d"), None);
        assert_eq!(classify("ALTER TABLE a ADD COLUMN b INT", "d"), None);
        assert_eq!(
            classify("ALTER TABLE a ADD COLUMN `rename` INT, ADD KEY (x)", "d"),
            None
        );
        assert_eq!(classify("RENAME USER a TO b", "d"), None);
    }
}
