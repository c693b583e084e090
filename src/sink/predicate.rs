//! A backfill's `--where` condition evaluated on lake rows, so that a
//! repairing backfill deletes only lake rows its condition covers.
//!
//! The sink has no SQL engine, so this is the subset of MySQL conditions
//! that describe ranges of rows: comparisons (`=`, `<>`, `!=`, `<`, `<=`,
//! `>`, `>=`) of a column with a literal, `BETWEEN`, `[NOT] IN`,
//! `IS [NOT] NULL`, `AND`, `OR`, `NOT` and parentheses. Literals are
//! numbers and quoted strings; a string compared with a DATE, DATETIME or
//! TIMESTAMP column is read as `YYYY-MM-DD[ HH:MM:SS[.ffffff]]` (TIMESTAMP in
//! UTC). Strings compare case-insensitively, as MySQL's default collations
//! do. Anything else is refused, and the backfill then deletes nothing.

use deltalake::arrow::array::{Array, AsArray, RecordBatch};
use deltalake::arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int32Type, Int64Type,
    TimestampMicrosecondType,
};
use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
#[error("the condition `{text}` cannot be evaluated on the lake: {reason}")]
pub struct PredicateError {
    pub text: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Lit {
    Null,
    /// Unscaled digits and scale.
    Num(i128, u32),
    Str(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp(String, Cmp, Lit),
    Between(String, Lit, Lit),
    In(String, Vec<Lit>),
    IsNull(String),
}

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Predicate(Expr);

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Num(String),
    Str(String),
    Op(String),
    LParen,
    RParen,
    Comma,
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '(' || ch == ')' || ch == ',' {
            out.push(match ch {
                '(' => Tok::LParen,
                ')' => Tok::RParen,
                _ => Tok::Comma,
            });
            i += 1;
        } else if ch == '\'' || ch == '"' {
            let mut t = String::new();
            i += 1;
            loop {
                match c.get(i) {
                    None => return Err("unterminated string".into()),
                    Some('\\') => {
                        t.push(*c.get(i + 1).ok_or("unterminated string")?);
                        i += 2;
                    }
                    Some(&q) if q == ch && c.get(i + 1) == Some(&ch) => {
                        t.push(ch);
                        i += 2;
                    }
                    Some(&q) if q == ch => {
                        i += 1;
                        break;
                    }
                    Some(&x) => {
                        t.push(x);
                        i += 1;
                    }
                }
            }
            out.push(Tok::Str(t));
        } else if ch == '`' {
            let end = c[i + 1..]
                .iter()
                .position(|&x| x == '`')
                .ok_or("unterminated `name`")?;
            out.push(Tok::Ident(c[i + 1..i + 1 + end].iter().collect()));
            i += end + 2;
        } else if ch.is_ascii_digit()
            || (ch == '-' && c.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            i += 1;
            while i < c.len() && (c[i].is_ascii_digit() || c[i] == '.') {
                i += 1;
            }
            out.push(Tok::Num(c[start..i].iter().collect()));
        } else if ch.is_alphanumeric() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_' || c[i] == '$') {
                i += 1;
            }
            out.push(Tok::Ident(c[start..i].iter().collect()));
        } else {
            let two: String = c[i..(i + 2).min(c.len())].iter().collect();
            let op = match two.as_str() {
                "<=" | ">=" | "<>" | "!=" => two,
                _ if "=<>".contains(ch) => ch.to_string(),
                _ => return Err(format!("unexpected `{ch}`")),
            };
            i += op.len();
            out.push(Tok::Op(op));
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
}

impl Parser {
    fn peek_kw(&self, kw: &str) -> bool {
        matches!(self.toks.get(self.at), Some(Tok::Ident(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn kw(&mut self, kw: &str) -> bool {
        let yes = self.peek_kw(kw);
        if yes {
            self.at += 1;
        }
        yes
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut e = self.and()?;
        while self.kw("OR") {
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut e = self.not()?;
        while self.kw("AND") {
            e = Expr::And(Box::new(e), Box::new(self.not()?));
        }
        Ok(e)
    }

    fn not(&mut self) -> Result<Expr, String> {
        if self.kw("NOT") {
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn lit(&mut self) -> Result<Lit, String> {
        match self.next() {
            Some(Tok::Num(n)) => num(&n).ok_or(format!("bad number {n}")),
            Some(Tok::Str(s)) => Ok(Lit::Str(s)),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("NULL") => Ok(Lit::Null),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("TRUE") => Ok(Lit::Num(1, 0)),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("FALSE") => Ok(Lit::Num(0, 0)),
            other => Err(format!("expected a literal, found {other:?}")),
        }
    }

    fn primary(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Tok::LParen) => {
                let e = self.or()?;
                match self.next() {
                    Some(Tok::RParen) => Ok(e),
                    other => Err(format!("expected `)`, found {other:?}")),
                }
            }
            Some(Tok::Ident(col)) => {
                if self.kw("IS") {
                    let negated = self.kw("NOT");
                    if !self.kw("NULL") {
                        return Err("only IS [NOT] NULL is understood".into());
                    }
                    let e = Expr::IsNull(col);
                    return Ok(if negated { Expr::Not(Box::new(e)) } else { e });
                }
                let negated = self.kw("NOT");
                let e = if self.kw("BETWEEN") {
                    let lo = self.lit()?;
                    if !self.kw("AND") {
                        return Err("BETWEEN without AND".into());
                    }
                    Expr::Between(col, lo, self.lit()?)
                } else if self.kw("IN") {
                    if self.next() != Some(Tok::LParen) {
                        return Err("IN without `(`".into());
                    }
                    let mut items = vec![self.lit()?];
                    loop {
                        match self.next() {
                            Some(Tok::Comma) => items.push(self.lit()?),
                            Some(Tok::RParen) => break,
                            other => return Err(format!("expected `,` or `)`, found {other:?}")),
                        }
                    }
                    Expr::In(col, items)
                } else if negated {
                    return Err("NOT must precede BETWEEN or IN here".into());
                } else {
                    let op = match self.next() {
                        Some(Tok::Op(o)) => match o.as_str() {
                            "=" => Cmp::Eq,
                            "<>" | "!=" => Cmp::Ne,
                            "<" => Cmp::Lt,
                            "<=" => Cmp::Le,
                            ">" => Cmp::Gt,
                            _ => Cmp::Ge,
                        },
                        other => return Err(format!("expected a comparison, found {other:?}")),
                    };
                    Expr::Cmp(col, op, self.lit()?)
                };
                Ok(if negated { Expr::Not(Box::new(e)) } else { e })
            }
            other => Err(format!("expected a column or `(`, found {other:?}")),
        }
    }
}

fn num(text: &str) -> Option<Lit> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let scale = u32::try_from(frac.len()).ok()?;
    let digits = format!("{int}{frac}");
    Some(Lit::Num(digits.parse().ok()?, scale))
}

impl Predicate {
    pub fn parse(text: &str) -> Result<Predicate, PredicateError> {
        let err = |reason: String| PredicateError {
            text: text.to_string(),
            reason,
        };
        let mut p = Parser {
            toks: lex(text).map_err(err)?,
            at: 0,
        };
        let e = p.or().map_err(err)?;
        if p.at < p.toks.len() {
            return Err(err(format!("unexpected {:?}", p.toks[p.at])));
        }
        Ok(Predicate(e))
    }

    /// Whether row `i` of `batch` matches (SQL's three-valued logic: only a
    /// true result matches). A column the lake lacks is an error.
    pub fn matches(&self, batch: &RecordBatch, i: usize) -> Result<bool, String> {
        Ok(eval(&self.0, batch, i)? == Some(true))
    }
}

fn eval(e: &Expr, b: &RecordBatch, i: usize) -> Result<Option<bool>, String> {
    Ok(match e {
        Expr::And(x, y) => match (eval(x, b, i)?, eval(y, b, i)?) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        Expr::Or(x, y) => match (eval(x, b, i)?, eval(y, b, i)?) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        Expr::Not(x) => eval(x, b, i)?.map(|v| !v),
        Expr::IsNull(c) => Some(column(b, c)?.is_null(i)),
        Expr::Cmp(c, op, lit) => compare(b, c, i, lit)?.map(|o| match op {
            Cmp::Eq => o.is_eq(),
            Cmp::Ne => o.is_ne(),
            Cmp::Lt => o.is_lt(),
            Cmp::Le => o.is_le(),
            Cmp::Gt => o.is_gt(),
            Cmp::Ge => o.is_ge(),
        }),
        Expr::Between(c, lo, hi) => match (compare(b, c, i, lo)?, compare(b, c, i, hi)?) {
            (Some(a), Some(z)) => Some(a.is_ge() && z.is_le()),
            _ => None,
        },
        Expr::In(c, items) => {
            let mut unknown = false;
            for l in items {
                match compare(b, c, i, l)? {
                    Some(o) if o.is_eq() => return Ok(Some(true)),
                    None => unknown = true,
                    _ => {}
                }
            }
            (!unknown).then_some(false)
        }
    })
}

fn column<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a dyn Array, String> {
    let schema = b.schema();
    let idx = schema
        .fields()
        .iter()
        .position(|f| f.name().eq_ignore_ascii_case(name))
        .ok_or_else(|| format!("the lake table has no column `{name}`"))?;
    Ok(b.column(idx).as_ref())
}

/// The cell compared with the literal; `None` when either is NULL.
fn compare(
    b: &RecordBatch,
    name: &str,
    i: usize,
    lit: &Lit,
) -> Result<Option<std::cmp::Ordering>, String> {
    let col = column(b, name)?;
    if col.is_null(i) || *lit == Lit::Null {
        return Ok(None);
    }
    let bad = || {
        format!(
            "column `{name}` ({}) cannot be compared with {lit:?}",
            col.data_type()
        )
    };
    let o = match (col.data_type(), lit) {
        (DataType::Int32, Lit::Num(n, s)) => dec_cmp(
            i128::from(col.as_primitive::<Int32Type>().value(i)),
            0,
            *n,
            *s,
        ),
        (DataType::Int64, Lit::Num(n, s)) => dec_cmp(
            i128::from(col.as_primitive::<Int64Type>().value(i)),
            0,
            *n,
            *s,
        ),
        (DataType::Boolean, Lit::Num(n, s)) => {
            dec_cmp(i128::from(col.as_boolean().value(i)), 0, *n, *s)
        }
        (DataType::Decimal128(_, cs), Lit::Num(n, s)) => {
            let cs = u32::try_from(*cs).map_err(|_| bad())?;
            dec_cmp(col.as_primitive::<Decimal128Type>().value(i), cs, *n, *s)
        }
        (DataType::Float32 | DataType::Float64, Lit::Num(n, s)) => {
            let v = match col.data_type() {
                DataType::Float32 => f64::from(col.as_primitive::<Float32Type>().value(i)),
                _ => col.as_primitive::<Float64Type>().value(i),
            };
            let l = *n as f64 / 10f64.powi(*s as i32);
            v.partial_cmp(&l)
        }
        (DataType::Utf8, Lit::Str(s)) => Some(
            col.as_string::<i32>()
                .value(i)
                .to_lowercase()
                .cmp(&s.to_lowercase()),
        ),
        (DataType::Date32, Lit::Str(s)) => {
            let days = i64::from(col.as_primitive::<Date32Type>().value(i));
            let (ld, lus) = datetime(s).ok_or_else(bad)?;
            Some((days, 0).cmp(&(ld, lus)))
        }
        (DataType::Timestamp(_, _), Lit::Str(s)) => {
            let v = col.as_primitive::<TimestampMicrosecondType>().value(i);
            let (ld, lus) = datetime(s).ok_or_else(bad)?;
            Some(v.cmp(&(ld * 86_400_000_000 + lus)))
        }
        _ => return Err(bad()),
    };
    Ok(o)
}

/// Compares `a` at scale `sa` with `b` at scale `sb`.
fn dec_cmp(a: i128, sa: u32, b: i128, sb: u32) -> Option<std::cmp::Ordering> {
    let up = |v: i128, by: u32| v.checked_mul(10i128.checked_pow(by)?);
    let s = sa.max(sb);
    Some(up(a, s - sa)?.cmp(&up(b, s - sb)?))
}

/// `YYYY-MM-DD[ HH:MM:SS[.ffffff]]` as days since the epoch and
/// microseconds into the day.
fn datetime(s: &str) -> Option<(i64, i64)> {
    let s = s.trim();
    let (date, time) = s.split_once([' ', 'T']).unwrap_or((s, ""));
    let d = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?;
    let days = (d - epoch).num_days();
    if time.is_empty() {
        return Some((days, 0));
    }
    let t = chrono::NaiveTime::parse_from_str(time, "%H:%M:%S%.f").ok()?;
    let us = (t - chrono::NaiveTime::MIN).num_microseconds()?;
    Some((days, us))
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{Date32Array, Int64Array, StringArray};
    use deltalake::arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("d", DataType::Date32, true),
            Field::new("Name", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![Some(5), Some(150), None])),
                // 2024-01-10 is day 19732.
                Arc::new(Date32Array::from(vec![
                    Some(19732),
                    Some(19740),
                    Some(19732),
                ])),
                Arc::new(StringArray::from(vec![Some("Bob"), None, Some("x")])),
            ],
        )
        .unwrap()
    }

    fn rows(text: &str) -> Vec<bool> {
        let p = Predicate::parse(text).unwrap();
        let b = batch();
        (0..b.num_rows())
            .map(|i| p.matches(&b, i).unwrap())
            .collect()
    }

    #[test]
    fn ranges_dates_lists_and_nulls() {
        assert_eq!(rows("id >= 100 AND id < 200"), vec![false, true, false]);
        assert_eq!(
            rows("d BETWEEN '2024-01-01' AND '2024-01-10'"),
            vec![true, false, true]
        );
        assert_eq!(rows("d > '2024-01-10 00:00:00'"), vec![false, true, false]);
        assert_eq!(
            rows("`id` IN (5, 7) OR name = 'bob'"),
            vec![true, false, false]
        );
        assert_eq!(rows("NOT (id BETWEEN 1 AND 10)"), vec![false, true, false]);
        assert_eq!(rows("id NOT IN (5)"), vec![false, true, false]);
        assert_eq!(rows("name IS NULL"), vec![false, true, false]);
        assert_eq!(rows("id = 150.0"), vec![false, true, false]);
        assert_eq!(rows("id <> 5 OR id IS NULL"), vec![false, true, true]);
    }

    #[test]
    fn what_the_lake_cannot_evaluate_is_an_error() {
        assert!(Predicate::parse("id + 1 > 3").is_err());
        assert!(Predicate::parse("YEAR(d) = 2024").is_err());
        assert!(Predicate::parse("id > 3 LIMIT 1").is_err());
        let p = Predicate::parse("missing = 1").unwrap();
        assert!(p.matches(&batch(), 0).is_err());
        let p = Predicate::parse("d = 5").unwrap();
        assert!(p.matches(&batch(), 0).is_err());
    }
}
