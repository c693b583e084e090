//! Reading a table in primary-key chunks: the next `limit` rows after a key,
//! in key order. Each chunk is one short statement, so a large table is never
//! read by one long-running query on the production server (the snapshot and
//! `binlake verify` both read this way).

use mysql_async::Value;

/// `` `name` `` with backticks doubled.
pub fn quote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `SELECT cols FROM table WHERE key > ? AND (predicate) ORDER BY key LIMIT n`;
/// `table` is already quoted, `cols` and `keys` are plain names. With
/// `after`, [`params`] of the previous chunk's last key fill the `?`s.
pub fn select_sql(
    table: &str,
    cols: &[&str],
    keys: &[&str],
    after: bool,
    predicate: Option<&str>,
    limit: usize,
) -> String {
    let cols: Vec<String> = cols.iter().map(|c| quote(c)).collect();
    let keys: Vec<String> = keys.iter().map(|k| quote(k)).collect();
    let mut conds = Vec::new();
    if after {
        // (k1 > ?) OR (k1 = ? AND k2 > ?) OR …: every engine uses the key's
        // range for this form, unlike a row-constructor comparison.
        let ors: Vec<String> = (0..keys.len())
            .map(|i| {
                let mut parts: Vec<String> = keys[..i].iter().map(|k| format!("{k} = ?")).collect();
                parts.push(format!("{} > ?", keys[i]));
                format!("({})", parts.join(" AND "))
            })
            .collect();
        conds.push(format!("({})", ors.join(" OR ")));
    }
    if let Some(p) = predicate {
        conds.push(format!("({p})"));
    }
    let filter = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    format!(
        "SELECT {} FROM {table}{filter} ORDER BY {} LIMIT {limit}",
        cols.join(", "),
        keys.join(", "),
    )
}

/// Parameters for [`select_sql`]'s key condition, from the last key read.
pub fn params(after: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for i in 0..after.len() {
        out.extend(after[..=i].iter().cloned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composite_keys() {
        assert_eq!(
            select_sql("`d`.`t`", &["a", "b", "c"], &["a", "b"], true, Some("c > 3"), 10),
            "SELECT `a`, `b`, `c` FROM `d`.`t` WHERE ((`a` > ?) OR (`a` = ? AND `b` > ?)) AND (c > 3) ORDER BY `a`, `b` LIMIT 10"
        );
        assert_eq!(
            select_sql("`d`.`t`", &["a", "b`x"], &["a"], false, None, 5),
            "SELECT `a`, `b``x` FROM `d`.`t` ORDER BY `a` LIMIT 5"
        );
        assert_eq!(
            params(&[Value::Int(1), Value::Bytes(b"ab".to_vec())]),
            vec![Value::Int(1), Value::Int(1), Value::Bytes(b"ab".to_vec())]
        );
    }
}
