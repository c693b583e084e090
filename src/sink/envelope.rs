//! A writer's envelope schema compiled, once, into a reader that takes from
//! each record only what the sink uses: `op`, the row images as values in
//! column order, and six `source` fields. apache-avro's generic reader
//! builds a named value tree of the whole envelope — a `String` per field
//! name per record, the `source` block and the transaction included — and
//! that tree was most of the sink's decoding time (bench/README.md).
//!
//! The values are the ones the generic reader yields for the same schema
//! (the tests hold the two together). A schema outside what is compiled
//! here — a column of another shape, an `op` that is not a plain string, a
//! `source` that is not a record — gets no reader, and the sink decodes it
//! with the generic one. One difference is on purpose: a datum that ends
//! early is an error here, where the generic reader reads a missing
//! boolean, string or union as null.

use std::collections::HashMap;

use apache_avro::schema::{
    DecimalSchema, InnerDecimalSchema, Name, NamespaceRef, RecordSchema, ResolvedSchema,
};
use apache_avro::types::Value as Avro;
use apache_avro::{Decimal, Schema};
use thiserror::Error;

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

// Deeper nesting than this (or a recursive type) is left to the generic
// reader.
const MAX_DEPTH: usize = 32;

struct Compiler<'a> {
    names: &'a HashMap<Name, &'a Schema>,
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
        let mut input = Input { buf: datum };
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

impl<'a> Compiler<'a> {
    /// Follows references to the named schema they stand for, with the
    /// namespace names inside it resolve against.
    fn resolve<'s>(
        &self,
        s: &'s Schema,
        ns: NamespaceRef<'s>,
        depth: usize,
    ) -> Option<(&'s Schema, NamespaceRef<'s>)>
    where
        'a: 's,
    {
        if depth > MAX_DEPTH {
            return None;
        }
        match s {
            Schema::Ref { name } => {
                let full = name.fully_qualified_name(ns);
                let target: &'a Schema = self.names.get(full.as_ref())?;
                self.resolve(target, ns, depth + 1)
            }
            Schema::Record(RecordSchema { name, .. }) => {
                let inner = name.fully_qualified_name(ns);
                // The record's own namespace, as a name from the schema
                // (not the temporary) so it lives as long as the schema.
                let own = match name.namespace() {
                    Some(n) => Some(n),
                    None if inner.namespace().is_some() => ns,
                    None => None,
                };
                Some((s, own))
            }
            _ => Some((s, ns)),
        }
    }

    fn leaf(&self, s: &Schema) -> Option<Leaf> {
        Some(match s {
            Schema::Null => Leaf::Null,
            Schema::Boolean => Leaf::Boolean,
            Schema::Int => Leaf::Int,
            Schema::Long => Leaf::Long,
            Schema::Float => Leaf::Float,
            Schema::Double => Leaf::Double,
            Schema::Bytes => Leaf::Bytes,
            Schema::String => Leaf::String,
            Schema::Fixed(f) => Leaf::Fixed(f.size),
            Schema::Enum(e) => Leaf::Enum(e.symbols.clone()),
            Schema::Date => Leaf::Date,
            Schema::TimeMillis => Leaf::TimeMillis,
            Schema::TimeMicros => Leaf::TimeMicros,
            Schema::TimestampMillis => Leaf::TimestampMillis,
            Schema::TimestampMicros => Leaf::TimestampMicros,
            Schema::TimestampNanos => Leaf::TimestampNanos,
            Schema::LocalTimestampMillis => Leaf::LocalTimestampMillis,
            Schema::LocalTimestampMicros => Leaf::LocalTimestampMicros,
            Schema::LocalTimestampNanos => Leaf::LocalTimestampNanos,
            Schema::Decimal(DecimalSchema { inner, .. }) => match inner {
                InnerDecimalSchema::Bytes => Leaf::DecimalBytes,
                InnerDecimalSchema::Fixed(f) => Leaf::DecimalFixed(f.size),
            },
            _ => return None,
        })
    }

    /// A column read whole: a leaf or a union of leaves.
    fn cell(&self, s: &Schema, ns: NamespaceRef) -> Option<Cell> {
        let (s, _) = self.resolve(s, ns, 0)?;
        match s {
            Schema::Union(u) => u
                .variants()
                .iter()
                .map(|v| {
                    self.resolve(v, ns, 0)
                        .and_then(|(v, _)| self.leaf(v))
                        .map(Some)
                })
                .collect::<Option<Vec<_>>>()
                .map(Cell::Union),
            other => self.leaf(other).map(Cell::Leaf),
        }
    }

    fn row(&self, s: &Schema, ns: NamespaceRef) -> Option<Vec<Cell>> {
        let (s, ns) = self.resolve(s, ns, 0)?;
        let Schema::Record(RecordSchema { fields, .. }) = s else {
            return None;
        };
        fields.iter().map(|f| self.cell(&f.schema, ns)).collect()
    }

    /// `before` / `after`: a row record, or a union of null and row
    /// records. Any other branch is left to the generic reader.
    fn image(&self, s: &Schema, ns: NamespaceRef) -> Option<ImageReader> {
        let (s, _) = self.resolve(s, ns, 0)?;
        match s {
            Schema::Union(u) => u
                .variants()
                .iter()
                .map(|v| match self.resolve(v, ns, 0)? {
                    (Schema::Null, _) => Some(None),
                    _ => self.row(v, ns).map(Some),
                })
                .collect::<Option<Vec<_>>>()
                .map(ImageReader::Union),
            _ => self.row(s, ns).map(ImageReader::Row),
        }
    }

    fn source(&self, s: &Schema, ns: NamespaceRef) -> Option<Vec<(Option<Pick>, SourceField)>> {
        let (s, ns) = self.resolve(s, ns, 0)?;
        let Schema::Record(RecordSchema { fields, .. }) = s else {
            return None;
        };
        fields
            .iter()
            .map(|f| {
                // A picked field is read whole and kept if of its type,
                // as `Source::take` keeps it from the generic value.
                let pick = Pick::of(&f.name);
                let field = match pick.and_then(|_| self.cell(&f.schema, ns)) {
                    Some(cell) => SourceField::Cell(cell),
                    None => SourceField::Skip(self.skip(&f.schema, ns, 0)?),
                };
                Some((pick, field))
            })
            .collect()
    }

    fn skip(&self, s: &Schema, ns: NamespaceRef, depth: usize) -> Option<Skip> {
        if depth > MAX_DEPTH {
            return None;
        }
        let (s, ns) = self.resolve(s, ns, depth)?;
        Some(match s {
            Schema::Null => Skip::Null,
            Schema::Boolean => Skip::Boolean,
            Schema::Int | Schema::Date | Schema::TimeMillis => Skip::Int,
            Schema::Long
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => Skip::Long,
            Schema::Float => Skip::Float,
            Schema::Double => Skip::Double,
            Schema::Bytes => Skip::Bytes,
            Schema::String => Skip::String,
            Schema::Fixed(f) => Skip::Fixed(f.size),
            Schema::Enum(e) => Skip::Enum(e.symbols.len()),
            Schema::Decimal(DecimalSchema { inner, .. }) => match inner {
                InnerDecimalSchema::Bytes => Skip::Bytes,
                InnerDecimalSchema::Fixed(f) => Skip::Fixed(f.size),
            },
            Schema::Array(a) => Skip::Array(Box::new(self.skip(&a.items, ns, depth + 1)?)),
            Schema::Map(m) => Skip::Map(Box::new(self.skip(&m.types, ns, depth + 1)?)),
            Schema::Union(u) => Skip::Union(
                u.variants()
                    .iter()
                    .map(|v| self.skip(v, ns, depth + 1))
                    .collect::<Option<_>>()?,
            ),
            Schema::Record(RecordSchema { fields, .. }) => Skip::Record(
                fields
                    .iter()
                    .map(|f| self.skip(&f.schema, ns, depth + 1))
                    .collect::<Option<_>>()?,
            ),
            // Uuid, BigDecimal, Duration: checked by the generic reader in
            // ways not repeated here.
            _ => return None,
        })
    }
}

impl ImageReader {
    fn read(&self, input: &mut Input) -> Result<Image, Malformed> {
        let cells = match self {
            ImageReader::Row(cells) => cells,
            ImageReader::Union(branches) => match branches.get(input.branch(branches.len())?) {
                Some(Some(cells)) => cells,
                _ => return Ok(Image::Absent),
            },
        };
        let mut row = Vec::with_capacity(cells.len());
        for cell in cells {
            row.push(cell.read(input)?);
        }
        Ok(Image::Row(row))
    }
}

impl Cell {
    fn read(&self, input: &mut Input) -> Result<Avro, Malformed> {
        match self {
            Cell::Leaf(l) => input.leaf(l),
            Cell::Union(branches) => match branches.get(input.branch(branches.len())?) {
                Some(Some(l)) => input.leaf(l),
                _ => Ok(Avro::Null),
            },
        }
    }
}

struct Input<'b> {
    buf: &'b [u8],
}

impl<'b> Input<'b> {
    fn take(&mut self, n: usize) -> Result<&'b [u8], Malformed> {
        if n > self.buf.len() {
            return Err(Malformed::Truncated {
                needed: n - self.buf.len(),
            });
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn long(&mut self) -> Result<i64, Malformed> {
        let mut z: u64 = 0;
        for i in 0..10 {
            let [b, rest @ ..] = self.buf else {
                return Err(Malformed::Truncated { needed: 1 });
            };
            self.buf = rest;
            z |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(((z >> 1) as i64) ^ -((z & 1) as i64));
            }
        }
        Err(Malformed::LongVarint)
    }

    fn int(&mut self) -> Result<i32, Malformed> {
        let v = self.long()?;
        i32::try_from(v).map_err(|_| Malformed::IntRange(v))
    }

    fn len(&mut self) -> Result<usize, Malformed> {
        let n = self.long()?;
        usize::try_from(n).map_err(|_| Malformed::NegativeLength(n))
    }

    fn bytes(&mut self) -> Result<&'b [u8], Malformed> {
        let n = self.len()?;
        self.take(n)
    }

    fn str(&mut self) -> Result<&'b str, Malformed> {
        std::str::from_utf8(self.bytes()?).map_err(|_| Malformed::Utf8)
    }

    fn string(&mut self) -> Result<String, Malformed> {
        self.str().map(str::to_owned)
    }

    fn branch(&mut self, count: usize) -> Result<usize, Malformed> {
        let index = self.long()?;
        usize::try_from(index)
            .ok()
            .filter(|i| *i < count)
            .ok_or(Malformed::Branch { index, count })
    }

    fn boolean(&mut self) -> Result<bool, Malformed> {
        match self.take(1)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(Malformed::Boolean(b)),
        }
    }

    fn enum_index(&mut self, count: usize) -> Result<usize, Malformed> {
        let index = i64::from(self.int()?);
        usize::try_from(index)
            .ok()
            .filter(|i| *i < count)
            .ok_or(Malformed::EnumIndex { index, count })
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Malformed> {
        let b = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(b);
        Ok(a)
    }

    fn leaf(&mut self, leaf: &Leaf) -> Result<Avro, Malformed> {
        Ok(match leaf {
            Leaf::Null => Avro::Null,
            Leaf::Boolean => Avro::Boolean(self.boolean()?),
            Leaf::Int => Avro::Int(self.int()?),
            Leaf::Long => Avro::Long(self.long()?),
            Leaf::Float => Avro::Float(f32::from_le_bytes(self.array()?)),
            Leaf::Double => Avro::Double(f64::from_le_bytes(self.array()?)),
            Leaf::Bytes => Avro::Bytes(self.bytes()?.to_vec()),
            Leaf::String => Avro::String(self.string()?),
            Leaf::Fixed(n) => Avro::Fixed(*n, self.take(*n)?.to_vec()),
            Leaf::Enum(symbols) => {
                let i = self.enum_index(symbols.len())?;
                Avro::Enum(i as u32, symbols[i].clone())
            }
            Leaf::Date => Avro::Date(self.int()?),
            Leaf::TimeMillis => Avro::TimeMillis(self.int()?),
            Leaf::TimeMicros => Avro::TimeMicros(self.long()?),
            Leaf::TimestampMillis => Avro::TimestampMillis(self.long()?),
            Leaf::TimestampMicros => Avro::TimestampMicros(self.long()?),
            Leaf::TimestampNanos => Avro::TimestampNanos(self.long()?),
            Leaf::LocalTimestampMillis => Avro::LocalTimestampMillis(self.long()?),
            Leaf::LocalTimestampMicros => Avro::LocalTimestampMicros(self.long()?),
            Leaf::LocalTimestampNanos => Avro::LocalTimestampNanos(self.long()?),
            Leaf::DecimalBytes => Avro::Decimal(Decimal::from(self.bytes()?)),
            Leaf::DecimalFixed(n) => Avro::Decimal(Decimal::from(self.take(*n)?)),
        })
    }

    fn skip(&mut self, skip: &Skip) -> Result<(), Malformed> {
        match skip {
            Skip::Null => {}
            Skip::Boolean => {
                self.boolean()?;
            }
            Skip::Int => {
                self.int()?;
            }
            Skip::Long => {
                self.long()?;
            }
            Skip::Float => {
                self.take(4)?;
            }
            Skip::Double => {
                self.take(8)?;
            }
            Skip::Bytes => {
                self.bytes()?;
            }
            Skip::String => {
                self.str()?;
            }
            Skip::Fixed(n) => {
                self.take(*n)?;
            }
            Skip::Enum(count) => {
                self.enum_index(*count)?;
            }
            Skip::Array(item) => self.blocks(|input| input.skip(item), item.reads_nothing())?,
            Skip::Map(value) => self.blocks(
                |input| {
                    input.str()?;
                    input.skip(value)
                },
                false,
            )?,
            Skip::Union(branches) => {
                let i = self.branch(branches.len())?;
                self.skip(&branches[i])?;
            }
            Skip::Record(fields) => {
                for f in fields {
                    self.skip(f)?;
                }
            }
        }
        Ok(())
    }

    /// An array's or map's blocks: a count (negative: followed by the
    /// block's byte size), the items, until a count of zero.
    fn blocks(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<(), Malformed>,
        empty_items: bool,
    ) -> Result<(), Malformed> {
        loop {
            let count = self.long()?;
            if count == 0 {
                return Ok(());
            }
            if count < 0 {
                self.long()?;
            }
            let count = count.unsigned_abs();
            // Items that read nothing need no loop (and a huge count of
            // them must not spin); any other item reads at least a byte.
            if empty_items {
                continue;
            }
            if count > self.buf.len() as u64 {
                return Err(Malformed::Truncated {
                    needed: usize::try_from(count).unwrap_or(usize::MAX) - self.buf.len(),
                });
            }
            for _ in 0..count {
                item(self)?;
            }
        }
    }
}

impl Skip {
    /// Whether a value of this schema has no bytes at all.
    fn reads_nothing(&self) -> bool {
        match self {
            Skip::Null | Skip::Fixed(0) => true,
            Skip::Record(fields) => fields.iter().all(Skip::reads_nothing),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests;
