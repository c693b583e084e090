//! Deletion vectors (Delta protocol, "Deletion Vector Format"): which rows
//! of a data file no longer exist. The kernel's writer lays out the file;
//! binlake names it and reads it back.

use delta_kernel::actions::deletion_vector_writer::{
    KernelDeletionVector, StreamingDeletionVectorWriter,
};
use deltalake::kernel::{DeletionVectorDescriptor, StorageType};
use roaring::RoaringTreemap;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum DvError {
    #[error("deletion vector `{0}`: storage type {1:?} is not supported")]
    Storage(String, StorageType),
    #[error("deletion vector `{path}`: {reason}")]
    Corrupt { path: String, reason: String },
    #[error("cannot write a deletion vector: {0}")]
    Write(String),
}

/// The file name of a deletion vector stored relative to the table root,
/// from its descriptor's `pathOrInlineDv` (optional prefix + z85 UUID).
pub fn relative_path(d: &DeletionVectorDescriptor) -> Result<String, DvError> {
    if d.storage_type != StorageType::UuidRelativePath {
        return Err(DvError::Storage(
            d.path_or_inline_dv.clone(),
            d.storage_type,
        ));
    }
    let s = &d.path_or_inline_dv;
    if s.len() < 20 {
        return Err(DvError::Corrupt {
            path: s.clone(),
            reason: "pathOrInlineDv is shorter than a z85 UUID".into(),
        });
    }
    let (prefix, encoded) = s.split_at(s.len() - 20);
    let bytes = z85::decode(encoded).map_err(|e| DvError::Corrupt {
        path: s.clone(),
        reason: format!("bad z85 UUID: {e}"),
    })?;
    let uuid = uuid::Uuid::from_slice(&bytes).map_err(|e| DvError::Corrupt {
        path: s.clone(),
        reason: e.to_string(),
    })?;
    Ok(if prefix.is_empty() {
        format!("deletion_vector_{uuid}.bin")
    } else {
        format!("{prefix}/deletion_vector_{uuid}.bin")
    })
}

/// Parses one vector from the bytes of its file: at `offset`, a big-endian
/// size, the little-endian portable-roaring magic, the 64-bit bitmap, and a
/// big-endian CRC-32 of magic + bitmap.
pub fn parse(file: &[u8], d: &DeletionVectorDescriptor) -> Result<RoaringTreemap, DvError> {
    let corrupt = |reason: &str| DvError::Corrupt {
        path: d.path_or_inline_dv.clone(),
        reason: reason.into(),
    };
    let offset = d.offset.unwrap_or(1) as usize;
    let size_at = file
        .get(offset..offset + 4)
        .ok_or_else(|| corrupt("truncated"))?;
    let size = u32::from_be_bytes([size_at[0], size_at[1], size_at[2], size_at[3]]) as usize;
    let body = file
        .get(offset + 4..offset + 4 + size)
        .ok_or_else(|| corrupt("shorter than its size"))?;
    let crc_at = file
        .get(offset + 4 + size..offset + 8 + size)
        .ok_or_else(|| corrupt("no checksum"))?;
    let crc = u32::from_be_bytes([crc_at[0], crc_at[1], crc_at[2], crc_at[3]]);
    if crc32fast::hash(body) != crc {
        return Err(corrupt("checksum mismatch"));
    }
    if body.len() < 4 || u32::from_le_bytes([body[0], body[1], body[2], body[3]]) != 1681511377 {
        return Err(corrupt("not a portable roaring bitmap"));
    }
    let map = RoaringTreemap::deserialize_from(&body[4..]).map_err(|e| corrupt(&e.to_string()))?;
    if map.len() != d.cardinality as u64 {
        return Err(corrupt("cardinality differs from the log"));
    }
    Ok(map)
}

/// Deletion vectors for several files, written into one new file.
pub struct DvFile {
    uuid: uuid::Uuid,
    bytes: Vec<u8>,
    descriptors: Vec<DeletionVectorDescriptor>,
}

impl DvFile {
    pub fn write(vectors: &[&RoaringTreemap]) -> Result<Self, DvError> {
        let uuid = uuid::Uuid::new_v4();
        let encoded = z85::encode(uuid.as_bytes());
        let mut bytes = Vec::new();
        let mut descriptors = Vec::with_capacity(vectors.len());
        {
            let mut w = StreamingDeletionVectorWriter::new(&mut bytes);
            for v in vectors {
                let mut dv = KernelDeletionVector::new();
                dv.add_deleted_row_indexes(v.iter());
                let r = w
                    .write_deletion_vector(dv)
                    .map_err(|e| DvError::Write(e.to_string()))?;
                descriptors.push(DeletionVectorDescriptor {
                    storage_type: StorageType::UuidRelativePath,
                    path_or_inline_dv: encoded.clone(),
                    offset: Some(r.offset),
                    size_in_bytes: r.size_in_bytes,
                    cardinality: r.cardinality,
                });
            }
            w.finalize().map_err(|e| DvError::Write(e.to_string()))?;
        }
        Ok(DvFile {
            uuid,
            bytes,
            descriptors,
        })
    }

    pub fn path(&self) -> String {
        format!("deletion_vector_{}.bin", self.uuid)
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn descriptors(&self) -> &[DeletionVectorDescriptor] {
        &self.descriptors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_vectors_read_back() {
        let a: RoaringTreemap = [0u64, 5, 1 << 33].into_iter().collect();
        let b: RoaringTreemap = (100u64..200).collect();
        let f = DvFile::write(&[&a, &b]).unwrap();
        let ds = f.descriptors();
        assert_eq!(relative_path(&ds[0]).unwrap(), f.path());
        assert_eq!(parse(f.bytes(), &ds[0]).unwrap(), a);
        assert_eq!(parse(f.bytes(), &ds[1]).unwrap(), b);
        let mut broken = f.bytes().to_vec();
        let last = broken.len() - 6;
        broken[last] ^= 1;
        assert!(parse(&broken, &ds[1]).is_err());
    }
}
