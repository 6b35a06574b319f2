//! One table's turn: every maintenance action its options ask for, in Paimon's order (consumers
//! first, so stale consumers stop holding snapshots; compaction; snapshot and changelog expiry;
//! tags; orphan files last, over what the rest left). Each action logs one line; a failing
//! action is logged and the others still run; nothing half-done is committed (every action is
//! a job that commits atomically or not at all).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::discover::TableName;
use super::lease::Lease;
use super::status::TableStatus;
use super::MaintainConfig;
use crate::error::{Error, Result};
use crate::maintenance::compact::CompactJob;
use crate::maintenance::expire::{expire_snapshots, expiry_preview, ExpireConfig};
use crate::maintenance::expire_changelog::expire_changelogs;
use crate::maintenance::orphan_files::remove_orphan_files;
use crate::maintenance::partition_expire::{expire_partitions, PartitionExpireConfig};
use crate::maintenance::post_commit::{expire_consumers, run_tag_maintenance};
use crate::maintenance::tags::local_now;
use crate::table::Table;

/// Logs one action of `table` (stderr, `key=value` fields) and records it in the status.
fn log(status: &mut TableStatus, table: &TableName, action: &str, fields: String) {
    let line = format!("action={action} {fields}");
    eprintln!("maintain table={table} {line}");
    status.actions.push(line);
}

fn log_error(status: &mut TableStatus, table: &TableName, action: &str, e: &Error) {
    let line = format!("action={action} error=\"{}\"", e.to_string().replace('"', "'"));
    eprintln!("maintain table={table} {line}");
    status.errors.push(line);
}

fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Whether `table` is compacted: writers that leave compaction to others (`write-only`), or
/// tables opted in by name.
fn compacts(table: &Table, name: &TableName, config: &MaintainConfig) -> Result<Option<String>> {
    let opts = table.schema().core_options();
    if !config.compaction {
        return Ok(Some("compaction is off (--no-compact)".into()));
    }
    if table.schema().primary_keys.is_empty() {
        return Ok(Some("an append table (shoal compacts primary-key tables)".into()));
    }
    let bucket = opts.bucket()?;
    if bucket < 1 {
        return Ok(Some(format!("bucket = {bucket} (shoal compacts fixed-bucket tables)")));
    }
    if !opts.write_only()? && !config.compact.as_ref().is_some_and(|p| p.matches(&name.table, &name.to_string())) {
        return Ok(Some("its writers compact it (not write-only; opt in with --compact)".into()));
    }
    Ok(None)
}

/// Whether this turn compacts fully: `full-compaction.delta-commits` commits or
/// `compaction.optimization-interval` since the last full compaction this service made.
fn wants_full(table: &Table, latest: Option<i64>, status: &mut TableStatus) -> Result<bool> {
    let opts = table.schema().core_options();
    let now = now_millis();
    let last_snapshot = *status.last_full_compaction_snapshot.get_or_insert(latest.unwrap_or(0));
    let last_time = *status.last_full_compaction_millis.get_or_insert(now);
    if let (Some(n), Some(latest)) = (opts.full_compaction_delta_commits()?, latest) {
        if latest - last_snapshot >= n as i64 {
            return Ok(true);
        }
    }
    if opts.get("compaction.optimization-interval").is_some() {
        let interval = opts.duration("compaction.optimization-interval", Duration::MAX)?;
        if now - last_time >= interval.as_millis() as i64 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The table's turn. `lease` is renewed between actions; losing it stops the turn.
pub(super) async fn maintain(
    table: &Table,
    name: &TableName,
    config: &MaintainConfig,
    status: &mut TableStatus,
    lease: &mut Lease,
) -> Result<()> {
    let started = Instant::now();
    status.last_pass_start_millis = now_millis();
    status.actions.clear();
    status.errors.clear();
    let opts = table.schema().core_options();
    let io = table.io();
    let schema: Arc<_> = table.schema().clone();
    let dry = config.dry_run;

    // 1. Consumers (`consumer.expiration-time`).
    match opts.consumer_expiration_time() {
        Ok(Some(d)) if !dry => match expire_consumers(io, d).await {
            Ok(gone) if !gone.is_empty() => {
                log(status, name, "expire-consumers", format!("expired={}", gone.join(",")))
            }
            Ok(_) => {}
            Err(e) => log_error(status, name, "expire-consumers", &e),
        },
        Ok(_) => {}
        Err(e) => log_error(status, name, "expire-consumers", &e.into()),
    }
    lease.renew().await?;

    // 2. Compaction.
    let latest = table.latest_snapshot().await?.map(|s| s.id);
    match compacts(table, name, config) {
        Ok(Some(why)) => log(status, name, "compact", format!("skipped=\"{why}\"")),
        Ok(None) => {
            let full = wants_full(table, latest, status)?;
            let job = CompactJob::new(full);
            if dry {
                match job.survey(table).await {
                    Ok(buckets) => {
                        let picked: Vec<_> = buckets.iter().filter(|b| b.pick.is_some()).collect();
                        let (files, bytes) =
                            picked.iter().filter_map(|b| b.pick).fold((0, 0), |(f, by), (pf, pb, _)| (f + pf, by + pb));
                        log(
                            status,
                            name,
                            "compact",
                            format!(
                                "dry_run=true full={full} buckets={} files_in={files} bytes_in={bytes}",
                                picked.len()
                            ),
                        );
                    }
                    Err(e) => log_error(status, name, "compact", &e),
                }
            } else {
                let t0 = Instant::now();
                match job.run(table).await {
                    Ok(r) => {
                        if full && r.dropped.is_empty() {
                            status.last_full_compaction_snapshot = r.outcome.snapshot_id().or(latest);
                            status.last_full_compaction_millis = Some(now_millis());
                        }
                        if r.buckets_compacted > 0 || !r.dropped.is_empty() {
                            log(
                                status,
                                name,
                                "compact",
                                format!(
                                    "full={full} buckets={} files_in={} files_out={} bytes_in={} bytes_out={} \
                                     rows_in={} dropped={} seconds={:.2} snapshot={}",
                                    r.buckets_compacted,
                                    r.files_before,
                                    r.files_after,
                                    r.bytes_read,
                                    r.bytes_written,
                                    r.rows_read,
                                    r.dropped.len(),
                                    t0.elapsed().as_secs_f64(),
                                    r.outcome.snapshot_id().map(|s| s.to_string()).unwrap_or("-".into())
                                ),
                            );
                        }
                    }
                    // Lost a race twice (a writer or another compactor moved on): next turn.
                    Err(e @ Error::CommitConflict(_)) => log(status, name, "compact", format!("retry_later=\"{e}\"")),
                    Err(e) => log_error(status, name, "compact", &e),
                }
            }
        }
        Err(e) => log_error(status, name, "compact", &e),
    }
    lease.renew().await?;

    // 3. Snapshot expiry, then long-lived changelogs.
    match ExpireConfig::from_options(&opts) {
        Ok(c) if dry => match expiry_preview(io, &c).await {
            Ok(Some((earliest, end))) if end > earliest => {
                log(status, name, "expire-snapshots", format!("dry_run=true snapshots={earliest}..{}", end - 1))
            }
            Ok(_) => {}
            Err(e) => log_error(status, name, "expire-snapshots", &e),
        },
        Ok(c) => {
            let t0 = Instant::now();
            match expire_snapshots(io, schema.clone(), &c).await {
                Ok(r) if r.snapshots_expired > 0 => log(
                    status,
                    name,
                    "expire-snapshots",
                    format!(
                        "expired={} data_files_deleted={} manifests_deleted={} earliest={} seconds={:.2}",
                        r.snapshots_expired,
                        r.data_files_deleted,
                        r.manifests_deleted,
                        r.earliest.map(|e| e.to_string()).unwrap_or("-".into()),
                        t0.elapsed().as_secs_f64()
                    ),
                ),
                Ok(_) => {}
                Err(e) => log_error(status, name, "expire-snapshots", &e),
            }
        }
        Err(e) => log_error(status, name, "expire-snapshots", &e),
    }
    if !dry && opts.changelog_lifecycle_decoupled().unwrap_or(false) {
        match ExpireConfig::for_changelogs(&opts) {
            Ok(c) => match expire_changelogs(io, schema.clone(), &c).await {
                Ok(r) if r.changelogs_expired > 0 => log(
                    status,
                    name,
                    "expire-changelogs",
                    format!("expired={} data_files_deleted={}", r.changelogs_expired, r.data_files_deleted),
                ),
                Ok(_) => {}
                Err(e) => log_error(status, name, "expire-changelogs", &e),
            },
            Err(e) => log_error(status, name, "expire-changelogs", &e),
        }
    }
    lease.renew().await?;

    // 4. Tags: automatic creation and retention.
    if !dry {
        match run_tag_maintenance(io, schema.clone()).await {
            Ok(r) => {
                let created: Vec<String> = r.auto.created.iter().map(|(n, s)| format!("{n}@{s}")).collect();
                let mut deleted = r.auto.deleted.tags_deleted.clone();
                deleted.extend(r.expired.tags_deleted.iter().cloned());
                if !created.is_empty() || !deleted.is_empty() {
                    log(status, name, "tags", format!("created={} deleted={}", created.join(","), deleted.join(",")));
                }
            }
            Err(e) => log_error(status, name, "tags", &e),
        }
    }
    // 5. Partitions (`partition.expiration-time`), every `partition.expiration-check-interval`.
    match PartitionExpireConfig::from_options(&opts) {
        Ok(Some(c)) => {
            let due = status
                .last_partition_check_millis
                .is_none_or(|t| now_millis() - t >= c.check_interval.as_millis() as i64);
            if due || config.once {
                match expire_partitions(table, &c, local_now(), dry).await {
                    Ok(r) => {
                        if !dry {
                            status.last_partition_check_millis = Some(now_millis());
                        }
                        if !r.partitions.is_empty() || !r.unparsed.is_empty() {
                            log(
                                status,
                                name,
                                "expire-partitions",
                                format!(
                                    "{}={} files={} unparsed={} snapshot={}",
                                    if dry { "would_drop" } else { "dropped" },
                                    r.partitions.join(","),
                                    r.files,
                                    r.unparsed.join(","),
                                    r.snapshot.map(|s| s.to_string()).unwrap_or("-".into())
                                ),
                            );
                        }
                    }
                    Err(e @ Error::CommitConflict(_)) => {
                        log(status, name, "expire-partitions", format!("retry_later=\"{e}\""))
                    }
                    Err(e) => log_error(status, name, "expire-partitions", &e),
                }
            }
        }
        Ok(None) => {}
        Err(e) => log_error(status, name, "expire-partitions", &e),
    }
    lease.renew().await?;

    // 6. Orphan files, at most once per --orphan-interval (and every turn of a --once run).
    let due =
        status.last_orphan_scan_millis.is_none_or(|t| now_millis() - t >= config.orphan_interval.as_millis() as i64);
    if due || config.once {
        let cutoff = now_millis() - config.orphan_older_than.as_millis() as i64;
        let t0 = Instant::now();
        match remove_orphan_files(io, schema.clone(), cutoff, dry).await {
            Ok(r) => {
                status.last_orphan_scan_millis = Some(now_millis());
                if !r.orphans.is_empty() {
                    log(
                        status,
                        name,
                        "remove-orphan-files",
                        format!(
                            "{}={} bytes={} too_young={} seconds={:.2}",
                            if dry { "would_delete" } else { "deleted" },
                            r.orphans.len(),
                            r.bytes,
                            r.too_young,
                            t0.elapsed().as_secs_f64()
                        ),
                    );
                }
            }
            Err(e) => log_error(status, name, "remove-orphan-files", &e),
        }
    }

    // The picture after the turn: the backlog an operator watches.
    let latest = table.latest_snapshot().await?;
    status.latest_snapshot = latest.as_ref().map(|s| s.id);
    status.snapshots_retained = match (latest, table.snapshots().earliest_id().await?) {
        (Some(l), Some(e)) => Some(l.id - e + 1),
        _ => None,
    };
    if !table.schema().primary_keys.is_empty() {
        if let Ok(buckets) = CompactJob::new(false).survey(table).await {
            status.max_sorted_runs = buckets.iter().map(|b| b.sorted_runs).max().unwrap_or(0);
            status.buckets_to_compact = buckets.iter().filter(|b| b.pick.is_some()).count();
        }
    }
    status.last_pass_seconds = started.elapsed().as_secs_f64();
    Ok(())
}
