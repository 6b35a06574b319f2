//! The shape of a bucket's LSM tree, for people: its sorted runs by level, each file's key
//! range and size, and which files' key ranges overlap (what a read must merge).

use std::cmp::Ordering;

use crate::error::{Error, Result};
use crate::lsm::levels::Levels;
use crate::read::DataSplit;
use crate::spec::{DataFileMeta, DataType, Datum, TableSchema};

/// One file as placed in the tree.
#[derive(Clone, Debug)]
pub struct FileShape {
    pub file: DataFileMeta,
    pub min_key: Vec<Datum>,
    pub max_key: Vec<Datum>,
    /// How many files of other sorted runs overlap this file's key range.
    pub overlaps: usize,
}

/// One sorted run.
#[derive(Clone, Debug)]
pub struct RunShape {
    pub level: i32,
    pub files: Vec<FileShape>,
}

impl RunShape {
    pub fn size(&self) -> i64 {
        self.files.iter().map(|f| f.file.file_size).sum()
    }
    pub fn rows(&self) -> i64 {
        self.files.iter().map(|f| f.file.row_count).sum()
    }
}

/// One bucket's tree.
#[derive(Clone, Debug)]
pub struct BucketShape {
    /// `dt=2024-01-01/bucket-0`.
    pub bucket_path: String,
    pub max_level: i32,
    /// Newest first: each level-0 file, then each non-empty level.
    pub runs: Vec<RunShape>,
    /// Pairs of files in different runs whose key ranges overlap.
    pub overlapping_pairs: usize,
}

impl BucketShape {
    pub fn files(&self) -> impl Iterator<Item = &FileShape> {
        self.runs.iter().flat_map(|r| r.files.iter())
    }
    pub fn size(&self) -> i64 {
        self.runs.iter().map(RunShape::size).sum()
    }
}

pub fn compare_keys(a: &[Datum], b: &[Datum]) -> Ordering {
    a.iter().zip(b).map(|(x, y)| x.compare(y)).find(|o| o.is_ne()).unwrap_or(Ordering::Equal)
}

/// The tree of each split's bucket.
pub fn bucket_shapes(schema: &TableSchema, splits: &[DataSplit]) -> Result<Vec<BucketShape>> {
    if schema.primary_keys.is_empty() {
        return Err(Error::Unsupported("an append table has no LSM tree (it has no primary key)".into()));
    }
    let opts = schema.core_options();
    let num_levels = crate::lsm::universal::UniversalCompaction::from_options(&opts)?.num_levels(&opts);
    let key_types: Vec<DataType> = schema.trimmed_key_fields().iter().map(|f| f.data_type.clone()).collect();
    let mut out = vec![];
    for split in splits {
        let levels = Levels::new(num_levels, split.files.clone());
        let mut runs = vec![];
        for run in levels.sorted_runs() {
            let mut files = vec![];
            for f in run.files {
                let min_key = f
                    .min_key
                    .to_datums(&key_types)
                    .map_err(|e| Error::data_file(&f.file_name, format!("min key: {e}")))?;
                let max_key = f
                    .max_key
                    .to_datums(&key_types)
                    .map_err(|e| Error::data_file(&f.file_name, format!("max key: {e}")))?;
                files.push(FileShape { file: f, min_key, max_key, overlaps: 0 });
            }
            files.sort_by(|a, b| compare_keys(&a.min_key, &b.min_key));
            runs.push(RunShape { level: run.level, files });
        }
        // Overlaps between files of different runs.
        let mut pairs = 0;
        for i in 0..runs.len() {
            for j in i + 1..runs.len() {
                for a in 0..runs[i].files.len() {
                    for b in 0..runs[j].files.len() {
                        let (fa, fb) = (&runs[i].files[a], &runs[j].files[b]);
                        let overlap = compare_keys(&fa.min_key, &fb.max_key).is_le()
                            && compare_keys(&fb.min_key, &fa.max_key).is_le();
                        if overlap {
                            pairs += 1;
                            runs[i].files[a].overlaps += 1;
                            runs[j].files[b].overlaps += 1;
                        }
                    }
                }
            }
        }
        out.push(BucketShape {
            bucket_path: split.bucket_path.clone(),
            max_level: levels.max_level(),
            runs,
            overlapping_pairs: pairs,
        });
    }
    Ok(out)
}
