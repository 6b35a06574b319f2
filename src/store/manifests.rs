//! Reading and writing manifest files and manifest lists, and reconciling their entries into the
//! live file set of a snapshot.

use std::collections::HashMap;

use futures::stream::{self, StreamExt, TryStreamExt};

use crate::error::Result;
use crate::io::FileIO;
use crate::spec::manifest::{
    decode_manifest_entries, decode_manifest_list, encode_manifest_entries, encode_manifest_list, FileIdentifier,
};
use crate::spec::paths::manifest_path;
use crate::spec::{FileKind, ManifestEntry, ManifestFileMeta, Snapshot, SpecError};

#[derive(Clone, Debug)]
pub struct ManifestStore {
    io: FileIO,
    compression: String,
}

/// A fresh `<prefix>-<uuid>-<n>` name generator (one uuid per writer, counting up).
#[derive(Debug)]
pub struct FileNamer {
    uuid: String,
    next: u64,
}

impl FileNamer {
    pub fn new() -> Self {
        FileNamer { uuid: uuid::Uuid::new_v4().to_string(), next: 0 }
    }
    pub fn next(&mut self, prefix: &str, suffix: &str) -> String {
        let n = self.next;
        self.next += 1;
        format!("{prefix}-{}-{n}{suffix}", self.uuid)
    }
}

impl Default for FileNamer {
    fn default() -> Self {
        Self::new()
    }
}

impl ManifestStore {
    pub fn new(io: FileIO, compression: &str) -> Self {
        ManifestStore { io, compression: compression.to_string() }
    }

    pub async fn read_manifest(&self, name: &str) -> Result<Vec<ManifestEntry>> {
        let path = manifest_path(name);
        let bytes = self.io.read(&path).await?;
        Ok(decode_manifest_entries(&bytes, &format!("{}/{path}", self.io.uri()))?)
    }

    /// The live entries of an index manifest (a full list: ADDs, with any DELETE applied).
    pub async fn read_index_manifest(&self, name: &str) -> Result<Vec<crate::spec::manifest::IndexManifestEntry>> {
        let path = manifest_path(name);
        let bytes = self.io.read(&path).await?;
        let entries = crate::spec::manifest::decode_index_manifest(&bytes, &format!("{}/{path}", self.io.uri()))?;
        let deleted: std::collections::HashSet<String> =
            entries.iter().filter(|e| e.kind == crate::spec::FileKind::Delete).map(|e| e.file_name.clone()).collect();
        Ok(entries
            .into_iter()
            .filter(|e| e.kind == crate::spec::FileKind::Add && !deleted.contains(&e.file_name))
            .collect())
    }

    pub async fn read_manifest_list(&self, name: &str) -> Result<Vec<ManifestFileMeta>> {
        let path = manifest_path(name);
        let bytes = self.io.read(&path).await?;
        Ok(decode_manifest_list(&bytes, &format!("{}/{path}", self.io.uri()))?)
    }

    /// Writes one manifest file and returns its meta (partition stats computed by the caller).
    pub async fn write_manifest(
        &self,
        namer: &mut FileNamer,
        entries: &[ManifestEntry],
        schema_id: i64,
        partition_stats: crate::spec::SimpleStats,
    ) -> Result<ManifestFileMeta> {
        let name = namer.next("manifest", "");
        let bytes = encode_manifest_entries(entries, &self.compression)?;
        let size = bytes.len() as i64;
        self.io.write(&manifest_path(&name), bytes).await?;
        let bucket_range = entries.iter().map(|e| e.bucket);
        let level_range = entries.iter().map(|e| e.file.level);
        Ok(ManifestFileMeta {
            file_name: name,
            file_size: size,
            num_added_files: entries.iter().filter(|e| e.kind == FileKind::Add).count() as i64,
            num_deleted_files: entries.iter().filter(|e| e.kind == FileKind::Delete).count() as i64,
            partition_stats,
            schema_id,
            min_bucket: bucket_range.clone().min(),
            max_bucket: bucket_range.max(),
            min_level: level_range.clone().min(),
            max_level: level_range.max(),
        })
    }

    /// Writes an index manifest (`index-manifest-<uuid>-<n>`, a full list of the live index files).
    pub async fn write_index_manifest(
        &self,
        namer: &mut FileNamer,
        entries: &[crate::spec::manifest::IndexManifestEntry],
    ) -> Result<String> {
        let name = namer.next("index-manifest", "");
        let bytes = crate::spec::manifest::encode_index_manifest(entries, &self.compression)?;
        self.io.write(&manifest_path(&name), bytes).await?;
        Ok(name)
    }

    pub async fn write_manifest_list(&self, namer: &mut FileNamer, metas: &[ManifestFileMeta]) -> Result<String> {
        let name = namer.next("manifest-list", "");
        let bytes = encode_manifest_list(metas, &self.compression)?;
        self.io.write(&manifest_path(&name), bytes).await?;
        Ok(name)
    }

    pub async fn delete(&self, name: &str) -> Result<()> {
        Ok(self.io.delete(&manifest_path(name)).await?)
    }

    /// The manifests of a snapshot's data: base list then delta list.
    pub async fn data_manifests(&self, snapshot: &Snapshot) -> Result<Vec<ManifestFileMeta>> {
        let mut metas = self.read_manifest_list(&snapshot.base_manifest_list).await?;
        metas.extend(self.read_manifest_list(&snapshot.delta_manifest_list).await?);
        Ok(metas)
    }

    /// Reads manifests concurrently, keeping their order.
    pub async fn read_entries(&self, metas: &[ManifestFileMeta]) -> Result<Vec<ManifestEntry>> {
        // Owned futures (no borrows of `self` or `metas`), so callers' futures stay `Send`.
        let chunks: Vec<Vec<ManifestEntry>> =
            stream::iter(metas.iter().map(|m| m.file_name.clone()).collect::<Vec<_>>())
                .map(|name| {
                    let store = self.clone();
                    async move { store.read_manifest(&name).await }
                })
                .buffered(8)
                .try_collect()
                .await?;
        Ok(chunks.into_iter().flatten().collect())
    }

    /// The live data files of a snapshot (ADD/DELETE reconciled).
    pub async fn live_files(&self, snapshot: &Snapshot) -> Result<Vec<ManifestEntry>> {
        let metas = self.data_manifests(snapshot).await?;
        let entries = self.read_entries(&metas).await?;
        merge_entries(entries, true, &format!("snapshot {}", snapshot.id))
    }
}

/// Paimon's `FileEntry.mergeEntries`: an ADD registers a file, a DELETE removes its ADD. With
/// `strict`, a DELETE whose ADD is not present is an error (a full file set is expected);
/// otherwise it is kept as a DELETE entry (merging a partial group of manifests).
pub(crate) fn merge_entries(entries: Vec<ManifestEntry>, strict: bool, context: &str) -> Result<Vec<ManifestEntry>> {
    let mut order: Vec<FileIdentifier> = Vec::with_capacity(entries.len());
    let mut map: HashMap<FileIdentifier, ManifestEntry> = HashMap::with_capacity(entries.len());
    for e in entries {
        let id = e.identifier();
        match e.kind {
            FileKind::Add => {
                if map.contains_key(&id) {
                    return Err(SpecError::corrupt(
                        "manifest",
                        context.to_string(),
                        format!("file {} is added twice", e.file.file_name),
                    )
                    .into());
                }
                order.push(id.clone());
                map.insert(id, e);
            }
            FileKind::Delete => match map.get(&id) {
                Some(existing) if existing.kind == FileKind::Add => {
                    map.remove(&id);
                }
                _ if strict => {
                    return Err(SpecError::corrupt(
                        "manifest",
                        context.to_string(),
                        format!("file {} is deleted but was never added", e.file.file_name),
                    )
                    .into());
                }
                _ => {
                    order.push(id.clone());
                    map.insert(id, e);
                }
            },
        }
    }
    Ok(order.into_iter().filter_map(|id| map.remove(&id)).collect())
}
