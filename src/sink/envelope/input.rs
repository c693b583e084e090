//! Avro's binary encoding read against a compiled plan: varints,
//! lengths, union branches and blocks, with the checks apache-avro's
//! generic reader makes.

use apache_avro::types::Value as Avro;
use apache_avro::Decimal;

use super::{Cell, Image, ImageReader, Leaf, Malformed, Skip};

impl ImageReader {
    pub(super) fn read(&self, input: &mut Input) -> Result<Image, Malformed> {
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
    pub(super) fn read(&self, input: &mut Input) -> Result<Avro, Malformed> {
        match self {
            Cell::Leaf(l) => input.leaf(l),
            Cell::Union(branches) => match branches.get(input.branch(branches.len())?) {
                Some(Some(l)) => input.leaf(l),
                _ => Ok(Avro::Null),
            },
        }
    }
}

pub(super) struct Input<'b> {
    buf: &'b [u8],
}

impl<'b> Input<'b> {
    pub(super) fn new(buf: &'b [u8]) -> Self {
        Input { buf }
    }

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

    pub(super) fn string(&mut self) -> Result<String, Malformed> {
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

    pub(super) fn skip(&mut self, skip: &Skip) -> Result<(), Malformed> {
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
