//! A writer's envelope schema compiled, once, into a reader that takes from
//! each record only what the sink uses: `op`, the row images as values in
//! column order, and six `source` fields. apache-avro's generic reader
//! builds a named value tree of the whole envelope — a `String` per field
//! name per record, the `source` block and the transaction included — and
//! that tree was most of the sink's decoding time (bench/README.md). The
//! schema is turned into a plan of what to read ([`compile`]); the bytes
//! are read against that plan ([`input`]).
//!
//! The values are the ones the generic reader yields for the same schema
//! (the tests hold the two together). A schema outside what is compiled
//! here — a column of another shape, an `op` that is not a plain string, a
//! `source` that is not a record — gets no reader, and the sink decodes it
//! with the generic one. One difference is on purpose: a datum that ends
//! early is an error here, where the generic reader reads a missing
//! boolean, string or union as null.

use apache_avro::schema::{RecordSchema, ResolvedSchema};
use apache_avro::types::Value as Avro;
use apache_avro::Schema;
use thiserror::Error;

use compile::Compiler;
use input::Input;

mod compile;
mod input;

/// Why a datum could not be read against its writer schema.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum Malformed {
    #[error("the datum ends {needed} byte(s) early")]
    Truncated { needed: usize },
    #[error("a varint runs past ten bytes")]
    LongVarint,
    #[error("negative length {0}")]
    NegativeLength(i64),
    #[error("union branch {index} of a {count}-branch union")]
    Branch { index: i64, count: usize },
    #[error("enum index {index} of {count} symbols")]
    EnumIndex { index: i64, count: usize },
    #[error("boolean byte {0:#04x}")]
    Boolean(u8),
    #[error("int {0} out of range")]
    IntRange(i64),
    #[error("a string is not UTF-8")]
    Utf8,
}

/// What the sink takes from one envelope. Each field is what the generic
/// reader's value would give for it, unions unwrapped.
#[derive(Debug, Default, PartialEq)]
pub struct Envelope {
    /// `op`, when it is a string.
    pub op: Option<String>,
    pub before: Image,
    pub after: Image,
    /// `source`, when it is a record.
    pub source: Option<Source>,
}

/// A `before` or `after` field.
#[derive(Debug, Default, PartialEq)]
pub enum Image {
    /// Null, or no such field.
    #[default]
    Absent,
    /// A record: its field values in order, unions unwrapped, null as
    /// `Avro::Null`.
    Row(Vec<Avro>),
    /// Anything else.
    Other,
}

/// The `source` fields the sink uses; a field of another type counts as
/// missing, as in the generic path.
#[derive(Debug, Default, PartialEq)]
pub struct Source {
    pub ts_ms: Option<i64>,
    pub gtid: Option<String>,
    pub file: Option<String>,
    pub pos: Option<i64>,
    pub db: String,
    pub table: String,
}

impl Envelope {
    /// The same view of a value the generic reader decoded.
    pub fn from_value(value: Avro) -> Result<Envelope, String> {
        let Avro::Record(fields) = value else {
            return Err(format!("not a record: {value:?}"));
        };
        let mut out = Envelope::default();
        for (name, v) in fields {
            match name.as_str() {
                "op" => {
                    out.op = match v {
                        Avro::String(s) => Some(s),
                        _ => None,
                    }
                }
                "before" => out.before = Image::from_value(v),
                "after" => out.after = Image::from_value(v),
                "source" => out.source = Source::from_value(v),
                _ => {}
            }
        }
        Ok(out)
    }
}

impl Image {
    fn from_value(v: Avro) -> Image {
        match unwrap_union(v) {
            None => Image::Absent,
            Some(Avro::Record(cols)) => Image::Row(
                cols.into_iter()
                    .map(|(_, v)| unwrap_union(v).unwrap_or(Avro::Null))
                    .collect(),
            ),
            Some(_) => Image::Other,
        }
    }
}

impl Source {
    fn from_value(v: Avro) -> Option<Source> {
        let Avro::Record(fields) = v else {
            return None;
        };
        let mut s = Source::default();
        for (name, v) in fields {
            if let Some(pick) = Pick::of(&name) {
                if let Some(v) = unwrap_union(v) {
                    s.take(pick, v);
                }
            }
        }
        Some(s)
    }

    fn take(&mut self, pick: Pick, v: Avro) {
        match (pick, v) {
            (Pick::TsMs, Avro::Long(t)) => self.ts_ms = Some(t),
            (Pick::Gtid, Avro::String(g)) => self.gtid = Some(g),
            (Pick::File, Avro::String(f)) => self.file = Some(f),
            (Pick::Pos, Avro::Long(p)) => self.pos = Some(p),
            (Pick::Db, Avro::String(d)) => self.db = d,
            (Pick::Table, Avro::String(t)) => self.table = t,
            _ => {}
        }
    }
}

pub fn unwrap_union(v: Avro) -> Option<Avro> {
    match v {
        Avro::Null => None,
        Avro::Union(_, inner) => unwrap_union(*inner),
        other => Some(other),
    }
}

/// The `source` fields the sink reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pick {
    TsMs,
    Gtid,
    File,
    Pos,
    Db,
    Table,
}

impl Pick {
    fn of(name: &str) -> Option<Pick> {
        Some(match name {
            "ts_ms" => Pick::TsMs,
            "gtid" => Pick::Gtid,
            "file" => Pick::File,
            "pos" => Pick::Pos,
            "db" => Pick::Db,
            "table" => Pick::Table,
            _ => return None,
        })
    }
}

/// A value read as the `Avro` variant the generic reader gives it.
#[derive(Debug, Clone)]
enum Leaf {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Fixed(usize),
    Enum(Vec<String>),
    Date,
    TimeMillis,
    TimeMicros,
    TimestampMillis,
    TimestampMicros,
    TimestampNanos,
    LocalTimestampMillis,
    LocalTimestampMicros,
    LocalTimestampNanos,
    DecimalBytes,
    DecimalFixed(usize),
}

/// A value read only to pass over it, checked as the generic reader checks
/// it.
#[derive(Debug, Clone)]
enum Skip {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Fixed(usize),
    Enum(usize),
    Array(Box<Skip>),
    Map(Box<Skip>),
    Union(Vec<Skip>),
    Record(Vec<Skip>),
}

/// A column of a row image, or a picked `source` field: a leaf, or a union
/// of leaves and skipped branches.
#[derive(Debug, Clone)]
enum Cell {
    Leaf(Leaf),
    Union(Vec<Option<Leaf>>),
}

#[derive(Debug, Clone)]
enum ImageReader {
    Row(Vec<Cell>),
    /// Branches: `None` for null.
    Union(Vec<Option<Vec<Cell>>>),
}

#[derive(Debug)]
enum Top {
    Op,
    Before(ImageReader),
    After(ImageReader),
    Source(Vec<(Option<Pick>, SourceField)>),
    Skip(Skip),
}

#[derive(Debug)]
enum SourceField {
    Cell(Cell),
    Skip(Skip),
}

/// An envelope schema's compiled reader.
#[derive(Debug)]
pub struct EnvelopeReader {
    fields: Vec<Top>,
}

impl EnvelopeReader {
    /// A reader for `schema`, or `None` when the generic reader must read
    /// it.
    pub fn compile(schema: &Schema) -> Option<EnvelopeReader> {
        let resolved = ResolvedSchema::new(schema).ok()?;
        let c = Compiler {
            names: resolved.get_names(),
        };
        let Schema::Record(RecordSchema { name, fields, .. }) = schema else {
            return None;
        };
        let ns = name.namespace();
        let mut seen = [false; 4];
        let mut tops = Vec::with_capacity(fields.len());
        for f in fields {
            let (slot, top) = match f.name.as_str() {
                "op" => match c.resolve(&f.schema, ns, 0)? {
                    (Schema::String, _) => (0, Top::Op),
                    _ => return None,
                },
                "before" => (1, Top::Before(c.image(&f.schema, ns)?)),
                "after" => (2, Top::After(c.image(&f.schema, ns)?)),
                "source" => (3, Top::Source(c.source(&f.schema, ns)?)),
                _ => {
                    tops.push(Top::Skip(c.skip(&f.schema, ns, 0)?));
                    continue;
                }
            };
            if std::mem::replace(&mut seen[slot], true) {
                return None;
            }
            tops.push(top);
        }
        if !seen.iter().all(|s| *s) {
            return None;
        }
        Some(EnvelopeReader { fields: tops })
    }

    /// Reads one datum (after the wire header).
    pub fn read(&self, datum: &[u8]) -> Result<Envelope, Malformed> {
        let mut input = Input::new(datum);
        let mut out = Envelope::default();
        for top in &self.fields {
            match top {
                Top::Op => out.op = Some(input.string()?),
                Top::Before(r) => out.before = r.read(&mut input)?,
                Top::After(r) => out.after = r.read(&mut input)?,
                Top::Source(fields) => {
                    let mut s = Source::default();
                    for (pick, field) in fields {
                        match field {
                            SourceField::Skip(skip) => input.skip(skip)?,
                            SourceField::Cell(cell) => {
                                let v = cell.read(&mut input)?;
                                if let Some(pick) = pick {
                                    s.take(*pick, v);
                                }
                            }
                        }
                    }
                    out.source = Some(s);
                }
                Top::Skip(skip) => input.skip(skip)?,
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
