//! `$snapshots`, `$schemas`, `$options`, `$tags`, `$branches` and `$consumers`: one row per
//! metadata file, with Paimon 0.9's columns.

use std::sync::Arc;

use arrow_array::builder::{Int64Builder, StringBuilder, TimestampMillisecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{Schema, SchemaRef};
use serde_json::Value;

use super::{batch, bigint, java_duration, local_millis, string, timestamp, SystemFilter};
use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::spec::paths::schema_path;
use crate::spec::snapshot::CommitKind;
use crate::spec::SpecError;
use crate::store::{ConsumerManager, SchemaManager, SnapshotManager, TagManager};
use crate::table::Table;

pub fn snapshots_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        bigint("snapshot_id", false),
        bigint("schema_id", false),
        string("commit_user", false),
        bigint("commit_identifier", false),
        string("commit_kind", false),
        timestamp("commit_time", false),
        string("base_manifest_list", false),
        string("delta_manifest_list", false),
        string("changelog_manifest_list", true),
        bigint("total_record_count", true),
        bigint("delta_record_count", true),
        bigint("changelog_record_count", true),
        bigint("watermark", true),
    ]))
}

/// Every retained snapshot (within the filter's id range), oldest first.
pub async fn snapshots(table: &Table, filter: &SystemFilter) -> Result<RecordBatch> {
    let sm = SnapshotManager::new(table.io().clone());
    let mut ids = sm.snapshot_ids().await?;
    ids.retain(|id| filter.snapshot_id_min.is_none_or(|m| *id >= m) && filter.snapshot_id_max.is_none_or(|m| *id <= m));
    let (mut id, mut schema_id, mut user, mut ident, mut kind, mut time) = (
        Int64Builder::new(),
        Int64Builder::new(),
        StringBuilder::new(),
        Int64Builder::new(),
        StringBuilder::new(),
        TimestampMillisecondBuilder::new(),
    );
    let (mut base, mut delta, mut changelog) = (StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
    let (mut total, mut delta_count, mut changelog_count, mut watermark) =
        (Int64Builder::new(), Int64Builder::new(), Int64Builder::new(), Int64Builder::new());
    for sid in ids {
        let s = match sm.snapshot(sid).await {
            Ok(s) => s,
            // Expired between listing and reading.
            Err(Error::SnapshotNotFound(_)) => continue,
            Err(e) => return Err(e),
        };
        id.append_value(s.id);
        schema_id.append_value(s.schema_id);
        user.append_value(&s.commit_user);
        ident.append_value(s.commit_identifier);
        kind.append_value(commit_kind(s.commit_kind));
        time.append_value(local_millis(s.time_millis));
        base.append_value(&s.base_manifest_list);
        delta.append_value(&s.delta_manifest_list);
        changelog.append_option(s.changelog_manifest_list.as_deref());
        total.append_option(s.total_record_count);
        delta_count.append_option(s.delta_record_count);
        changelog_count.append_option(s.changelog_record_count);
        watermark.append_option(s.watermark);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(schema_id.finish()),
        Arc::new(user.finish()),
        Arc::new(ident.finish()),
        Arc::new(kind.finish()),
        Arc::new(time.finish()),
        Arc::new(base.finish()),
        Arc::new(delta.finish()),
        Arc::new(changelog.finish()),
        Arc::new(total.finish()),
        Arc::new(delta_count.finish()),
        Arc::new(changelog_count.finish()),
        Arc::new(watermark.finish()),
    ];
    batch(snapshots_schema(), columns, "building $snapshots")
}

/// A commit kind as Paimon names it (`APPEND`, `COMPACT`, `OVERWRITE`, `ANALYZE`).
fn commit_kind(k: CommitKind) -> &'static str {
    match k {
        CommitKind::Append => "APPEND",
        CommitKind::Compact => "COMPACT",
        CommitKind::Overwrite => "OVERWRITE",
        CommitKind::Analyze => "ANALYZE",
    }
}

pub fn schemas_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        bigint("schema_id", false),
        string("fields", false),
        string("partition_keys", false),
        string("primary_keys", false),
        string("options", false),
        string("comment", true),
        timestamp("update_time", false),
    ]))
}

/// A schema file as JSON, in the order its keys were written (Paimon renders the fields,
/// keys and options in that order, compact).
async fn schema_json(io: &FileIO, id: i64) -> Result<Value> {
    let path = schema_path(id);
    let text = io.read_string(&path).await?;
    serde_json::from_str(&text)
        .map_err(|e| SpecError::corrupt("schema", format!("{}/{path}", io.uri()), format!("not JSON: {e}")).into())
}

fn compact(v: Option<&Value>, empty: Value) -> String {
    match v {
        None | Some(Value::Null) => empty.to_string(),
        Some(v) => v.to_string(),
    }
}

/// Every schema, oldest first.
pub async fn schemas(table: &Table) -> Result<RecordBatch> {
    let ids = SchemaManager::new(table.io().clone()).schema_ids().await?;
    let (mut id, mut fields, mut partition_keys, mut primary_keys, mut options, mut comment, mut time) = (
        Int64Builder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        TimestampMillisecondBuilder::new(),
    );
    for sid in ids {
        let v = schema_json(table.io(), sid).await?;
        id.append_value(sid);
        fields.append_value(compact(v.get("fields"), Value::Array(vec![])));
        partition_keys.append_value(compact(v.get("partitionKeys"), Value::Array(vec![])));
        primary_keys.append_value(compact(v.get("primaryKeys"), Value::Array(vec![])));
        options.append_value(compact(v.get("options"), Value::Object(Default::default())));
        comment.append_option(v.get("comment").and_then(Value::as_str));
        time.append_value(local_millis(v.get("timeMillis").and_then(Value::as_i64).unwrap_or(0)));
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(fields.finish()),
        Arc::new(partition_keys.finish()),
        Arc::new(primary_keys.finish()),
        Arc::new(options.finish()),
        Arc::new(comment.finish()),
        Arc::new(time.finish()),
    ];
    batch(schemas_schema(), columns, "building $schemas")
}

pub fn options_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![string("key", false), string("value", false)]))
}

/// The options of the latest schema, in the order the schema file lists them.
pub async fn options(table: &Table) -> Result<RecordBatch> {
    let sm = SchemaManager::new(table.io().clone());
    let (mut key, mut value) = (StringBuilder::new(), StringBuilder::new());
    if let Some(latest) = sm.schema_ids().await?.last() {
        let v = schema_json(table.io(), *latest).await?;
        if let Some(Value::Object(m)) = v.get("options") {
            for (k, val) in m {
                key.append_value(k);
                match val {
                    Value::String(s) => value.append_value(s),
                    other => value.append_value(other.to_string()),
                }
            }
        }
    }
    batch(options_schema(), vec![Arc::new(key.finish()), Arc::new(value.finish())], "building $options")
}

pub fn tags_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        string("tag_name", false),
        bigint("snapshot_id", false),
        bigint("schema_id", false),
        timestamp("commit_time", false),
        bigint("record_count", true),
        timestamp("create_time", true),
        string("time_retained", true),
    ]))
}

/// Every tag, by snapshot id then name.
pub async fn tags(table: &Table) -> Result<RecordBatch> {
    let mut tags = TagManager::new(table.io().clone()).tags().await?;
    tags.sort_by(|a, b| (a.snapshot.id, &a.name).cmp(&(b.snapshot.id, &b.name)));
    let (mut name, mut sid, mut schema_id, mut commit_time, mut records, mut created, mut retained) = (
        StringBuilder::new(),
        Int64Builder::new(),
        Int64Builder::new(),
        TimestampMillisecondBuilder::new(),
        Int64Builder::new(),
        TimestampMillisecondBuilder::new(),
        StringBuilder::new(),
    );
    for t in &tags {
        name.append_value(&t.name);
        sid.append_value(t.snapshot.id);
        schema_id.append_value(t.snapshot.schema_id);
        commit_time.append_value(local_millis(t.snapshot.time_millis));
        records.append_option(t.snapshot.total_record_count);
        // Stored as a wall-clock time already.
        created.append_option(t.create_time.map(|c| c.and_utc().timestamp_millis()));
        retained.append_option(t.time_retained.map(java_duration));
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(name.finish()),
        Arc::new(sid.finish()),
        Arc::new(schema_id.finish()),
        Arc::new(commit_time.finish()),
        Arc::new(records.finish()),
        Arc::new(created.finish()),
        Arc::new(retained.finish()),
    ];
    batch(tags_schema(), columns, "building $tags")
}

pub fn branches_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        string("branch_name", false),
        string("created_from_tag", true),
        bigint("created_from_snapshot", true),
        timestamp("create_time", false),
    ]))
}

/// Every branch (`branch/branch-<name>/`), by name, as [`crate::maintenance::branches::list_branches`]
/// describes it (Paimon 0.9's rule for the tag or snapshot it was created from).
pub async fn branches(table: &Table) -> Result<RecordBatch> {
    let mut all = crate::maintenance::branches::list_branches(table.io()).await?;
    all.sort_by(|a, b| a.name.cmp(&b.name));
    let (mut name, mut from_tag, mut from_snapshot, mut created) =
        (StringBuilder::new(), StringBuilder::new(), Int64Builder::new(), TimestampMillisecondBuilder::new());
    for b in all {
        name.append_value(&b.name);
        from_tag.append_option(b.created_from_tag);
        from_snapshot.append_option(b.created_from_snapshot);
        created.append_value(local_millis(b.create_time_millis));
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(name.finish()),
        Arc::new(from_tag.finish()),
        Arc::new(from_snapshot.finish()),
        Arc::new(created.finish()),
    ];
    batch(branches_schema(), columns, "building $branches")
}

pub fn consumers_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![string("consumer_id", false), bigint("next_snapshot_id", false)]))
}

/// Every consumer, by id.
pub async fn consumers(table: &Table) -> Result<RecordBatch> {
    let mut all = ConsumerManager::new(table.io().clone()).consumers().await?;
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let (mut id, mut next) = (StringBuilder::new(), Int64Builder::new());
    for (cid, c) in all {
        id.append_value(cid);
        next.append_value(c.next_snapshot);
    }
    batch(consumers_schema(), vec![Arc::new(id.finish()), Arc::new(next.finish())], "building $consumers")
}
