//! What runs after every successful commit, in Paimon 0.9's order (`TableCommitImpl.expire`):
//!
//! 1. consumer expiry (`consumer.expiration-time`; also with `write-only`, as in Paimon), first so
//!    that stale consumers stop holding snapshots;
//! 2. snapshot expiry (unless `write-only`), then, for tables whose changelog outlives its
//!    snapshots (`changelog.*` retaining more), changelog expiry;
//! 3. tags (unless `write-only`, Paimon's `TagAutoManager`): automatic creation
//!    (`tag.automatic-creation`), then deletion of tags whose retention time has passed.
//!    `batch` creation runs after a batch commit only.

use std::sync::Arc;

use crate::commit::AfterCommit;
use crate::error::Result;
use crate::io::FileIO;
use crate::maintenance::auto_tag::{create_batch_tag, AutoTagConfig, AutoTagReport, TagAutoCreation};
use crate::maintenance::expire::{expire_snapshots, ExpireConfig};
use crate::maintenance::expire_changelog::expire_changelogs;
use crate::maintenance::tags::{expire_tags, TagExpireReport};
use crate::spec::options::TagCreationMode;
use crate::spec::snapshot::BATCH_COMMIT_IDENTIFIER;
use crate::spec::TableSchema;
use crate::store::{ConsumerManager, SnapshotManager};

/// The hook [`crate::Table::new_commit`] installs; None when there is nothing to run.
pub(crate) fn after_commit_hook(io: FileIO, schema: Arc<TableSchema>) -> Result<Option<AfterCommit>> {
    let opts = schema.core_options();
    let write_only = opts.write_only()?;
    let consumer_expiration = opts.consumer_expiration_time()?;
    let (expire, tags) = if write_only {
        (None, None)
    } else {
        (Some(ExpireConfig::from_options(&opts)?), Some(AutoTagConfig::from_options(&opts)?))
    };
    let expire_changelog = match &expire {
        Some(_) if opts.changelog_lifecycle_decoupled()? => Some(ExpireConfig::for_changelogs(&opts)?),
        _ => None,
    };
    if consumer_expiration.is_none() && expire.is_none() {
        return Ok(None);
    }
    // The period-based creator, made at the first commit and kept across this committer's commits.
    let creator: Arc<tokio::sync::Mutex<Option<TagAutoCreation>>> = Arc::new(tokio::sync::Mutex::new(None));
    Ok(Some(Arc::new(move |snapshot_id| {
        let (io, schema, creator, expire) = (io.clone(), schema.clone(), creator.clone(), expire.clone());
        let expire_changelog = expire_changelog.clone();
        Box::pin(async move {
            if let Some(d) = consumer_expiration {
                expire_consumers(&io, d).await?;
            }
            if let Some(config) = expire {
                expire_snapshots(&io, schema.clone(), &config).await?;
            }
            if let Some(config) = expire_changelog {
                expire_changelogs(&io, schema.clone(), &config).await?;
            }
            if let Some(config) = tags {
                match config.mode {
                    TagCreationMode::Batch => {
                        let s = SnapshotManager::new(io.clone()).snapshot(snapshot_id).await;
                        if s.is_ok_and(|s| s.commit_identifier == BATCH_COMMIT_IDENTIFIER) {
                            create_batch_tag(&io, schema.clone(), &config).await?;
                        }
                    }
                    TagCreationMode::ProcessTime | TagCreationMode::Watermark => {
                        let mut guard = creator.lock().await;
                        if guard.is_none() {
                            *guard = TagAutoCreation::new(&io, schema.clone(), config).await?;
                        }
                        if let Some(c) = guard.as_mut() {
                            c.run().await?;
                        }
                    }
                    TagCreationMode::None => {}
                }
                expire_tags(&io, schema).await?;
            }
            Ok(())
        })
    })))
}

/// Deletes consumers whose file was not modified within `expiration` (Paimon's
/// `ConsumerManager.expire`); returns their ids.
pub(crate) async fn expire_consumers(io: &FileIO, expiration: std::time::Duration) -> Result<Vec<String>> {
    let ms = i64::try_from(expiration.as_millis()).unwrap_or(i64::MAX);
    let before = chrono::Utc::now().timestamp_millis().saturating_sub(ms);
    ConsumerManager::new(io.clone()).expire(before).await
}

/// What [`run_tag_maintenance`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TagMaintenanceReport {
    pub auto: AutoTagReport,
    pub expired: TagExpireReport,
}

/// The tag part of the post-commit work, on demand (for tables written with `write-only`, or
/// from the CLI): automatic creation over every snapshot not yet considered (process-time and
/// watermark; `batch` tags the latest snapshot), then retention expiry.
pub(crate) async fn run_tag_maintenance(io: &FileIO, schema: Arc<TableSchema>) -> Result<TagMaintenanceReport> {
    let config = AutoTagConfig::from_options(&schema.core_options())?;
    let auto = match config.mode {
        TagCreationMode::Batch => create_batch_tag(io, schema.clone(), &config).await?,
        TagCreationMode::None => AutoTagReport::default(),
        TagCreationMode::ProcessTime | TagCreationMode::Watermark => {
            match TagAutoCreation::new(io, schema.clone(), config).await? {
                Some(mut c) => c.run().await?,
                None => AutoTagReport::default(),
            }
        }
    };
    let expired = expire_tags(io, schema).await?;
    Ok(TagMaintenanceReport { auto, expired })
}
