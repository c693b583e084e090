//! An envelope schema turned into the reader's plan: which fields are
//! read as values, which are passed over, and which shapes are left to
//! apache-avro's generic reader (`None` from any step).

use std::collections::HashMap;

use apache_avro::schema::{DecimalSchema, InnerDecimalSchema, Name, NamespaceRef, RecordSchema};
use apache_avro::Schema;

use super::{Cell, ImageReader, Leaf, Pick, Skip, SourceField};

// Deeper nesting than this (or a recursive type) is left to the generic
// reader.
const MAX_DEPTH: usize = 32;

pub(super) struct Compiler<'a> {
    pub(super) names: &'a HashMap<Name, &'a Schema>,
}

impl<'a> Compiler<'a> {
    /// Follows references to the named schema they stand for, with the
    /// namespace names inside it resolve against.
    pub(super) fn resolve<'s>(
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
    pub(super) fn image(&self, s: &Schema, ns: NamespaceRef) -> Option<ImageReader> {
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

    pub(super) fn source(
        &self,
        s: &Schema,
        ns: NamespaceRef,
    ) -> Option<Vec<(Option<Pick>, SourceField)>> {
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

    pub(super) fn skip(&self, s: &Schema, ns: NamespaceRef, depth: usize) -> Option<Skip> {
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
