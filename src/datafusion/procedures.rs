//! Paimon's procedures, called as in Spark and Flink: `CALL sys.compact(table => 'db.t')`.
//! Arguments are named (`name => value`) or positional in the procedure's parameter order.
//! Procedures whose capability shoal lacks fail with an error naming them.

use std::collections::BTreeMap;
use std::sync::Arc;

use ::datafusion::arrow::array::{ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray};
use ::datafusion::arrow::datatypes::{DataType, Field, Schema};
use ::datafusion::common::{not_impl_err, plan_err, Result, TableReference};
use ::datafusion::prelude::SessionContext;
use ::datafusion::sql::sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, ObjectNamePart, Value,
};

use super::df_err;
use super::provider::ShoalTableProvider;
use crate::maintenance::branches::{list_branches, BranchStart};
use crate::maintenance::compact::{partition_filter_from_pairs, CompactJob};
use crate::maintenance::operations::{
    CreateBranch, CreateTag, DeleteBranch, DeleteTag, ExpireSnapshots, ExpireTags, FastForward, RemoveOrphanFiles,
    Rollback, TagMaintenance,
};
use crate::maintenance::rollback::RollbackTarget;
use crate::read::scan::{PartitionFilter, TimeTravel};
use crate::spec::options::parse_duration;
use crate::store::consumers::Consumer;
use crate::table::Table;

/// Paimon procedures shoal knows by name but cannot run yet.
const NOT_YET: &[&str] = &[
    "create_tag_from_timestamp",
    "rename_tag",
    "replace_tag",
    "rollback_to_watermark",
    "expire_partitions",
    "expire_changelogs",
    "merge_into",
    "remove_unexisting_files",
    "clear_consumers",
    "migrate_table",
    "migrate_database",
    "migrate_file",
    "mark_partition_done",
    "repair",
    "rewrite_file_index",
    "compact_database",
    "compact_manifest",
    "purge_files",
    "refresh_object_table",
    "alter_view_dialect",
    "create_function",
    "alter_function",
    "drop_function",
    "copy_files",
    "rescale",
];

/// The text of a string, number or boolean literal (None for anything else).
pub(crate) fn literal_text(e: &Expr) -> Option<String> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Some(s.clone()),
            Value::Number(n, _) => Some(n.to_string()),
            Value::Boolean(b) => Some(b.to_string()),
            _ => None,
        },
        _ => None,
    }
}

/// The arguments of a call, by parameter name.
struct Args {
    procedure: String,
    values: BTreeMap<String, String>,
}

impl Args {
    /// Binds named and positional arguments to `params`; unknown names are errors.
    fn bind(procedure: &str, function: &Function, params: &[&str]) -> Result<Args> {
        let list = match &function.args {
            FunctionArguments::List(l) => l.args.clone(),
            FunctionArguments::None => vec![],
            FunctionArguments::Subquery(_) => return plan_err!("CALL sys.{procedure}: arguments must be literals"),
        };
        let mut values = BTreeMap::new();
        for (i, arg) in list.iter().enumerate() {
            let (name, value) = match arg {
                FunctionArg::Named { name, arg, .. } => (name.value.to_lowercase(), arg),
                FunctionArg::ExprNamed { name: Expr::Identifier(id), arg, .. } => (id.value.to_lowercase(), arg),
                FunctionArg::Unnamed(arg) => match params.get(i) {
                    Some(p) => (p.to_string(), arg),
                    None => return plan_err!("CALL sys.{procedure} takes at most {} arguments", params.len()),
                },
                other => return plan_err!("CALL sys.{procedure}: cannot read argument {other}"),
            };
            if !params.contains(&name.as_str()) {
                return plan_err!(
                    "CALL sys.{procedure} has no argument {name:?}; its arguments are: {}",
                    params.join(", ")
                );
            }
            let FunctionArgExpr::Expr(e) = value else {
                return plan_err!("CALL sys.{procedure}: argument {name} must be a literal");
            };
            let Some(text) = literal_text(e) else {
                return plan_err!(
                    "CALL sys.{procedure}: argument {name} = {e} must be a string, number or boolean literal"
                );
            };
            if values.insert(name.clone(), text).is_some() {
                return plan_err!("CALL sys.{procedure}: argument {name} given twice");
            }
        }
        Ok(Args { procedure: procedure.to_string(), values })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str).filter(|v| !v.trim().is_empty())
    }

    fn required(&self, name: &str) -> Result<&str> {
        match self.get(name) {
            Some(v) => Ok(v),
            None => plan_err!("CALL sys.{} needs the argument {name} => '...'", self.procedure),
        }
    }
}

/// Runs `CALL <name>(args)`.
pub(super) async fn call(ctx: &SessionContext, function: &Function) -> Result<Vec<RecordBatch>> {
    let parts: Vec<String> = function
        .name
        .0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => i.value.to_lowercase(),
            other => other.to_string(),
        })
        .collect();
    let name = match parts.as_slice() {
        [sys, name] if sys == "sys" => name.clone(),
        [name] => name.clone(),
        _ => return plan_err!("unknown procedure {}; Paimon's procedures are called as sys.<name>", function.name),
    };
    match name.as_str() {
        "compact" => compact(ctx, function).await,
        "create_tag" => create_tag(ctx, function).await,
        "delete_tag" => delete_tag(ctx, function).await,
        "expire_tags" => expire_tags(ctx, function).await,
        "trigger_tag_automatic_creation" => trigger_tag_automatic_creation(ctx, function).await,
        "rollback" | "rollback_to" => rollback(ctx, &name, function).await,
        "rollback_to_timestamp" => rollback_to_timestamp(ctx, function).await,
        "expire_snapshots" => expire_snapshots(ctx, function).await,
        "remove_orphan_files" => remove_orphan_files(ctx, function).await,
        "reset_consumer" => reset_consumer(ctx, function).await,
        "create_branch" => create_branch(ctx, function).await,
        "delete_branch" => delete_branch(ctx, function).await,
        "fast_forward" => fast_forward(ctx, function).await,
        n if NOT_YET.contains(&n) => not_impl_err!("procedure sys.{n} is not supported by shoal yet"),
        n => plan_err!("unknown procedure sys.{n}"),
    }
}

/// The shoal table a `table => 'db.t'` argument names, through the session's catalogs.
async fn resolve_table(ctx: &SessionContext, procedure: &str, name: &str) -> Result<Table> {
    let provider = ctx
        .table_provider(TableReference::parse_str(name))
        .await
        .map_err(|e| e.context(format!("CALL sys.{procedure}: table {name:?}")))?;
    match provider.downcast_ref::<ShoalTableProvider>() {
        Some(p) if p.time_travel().is_none() => Ok(p.table().clone()),
        Some(_) => plan_err!("CALL sys.{procedure}: {name} names a fixed snapshot"),
        None => plan_err!("CALL sys.{procedure}: {name} is not a shoal table"),
    }
}

/// Paimon's `partitions` argument: `k=v,k2=v2;k=v3` (`;` between partitions).
fn partition_filter(table: &Table, spec: &str) -> crate::Result<Option<PartitionFilter>> {
    let mut filters = vec![];
    for part in spec.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let pairs: Vec<String> = part.split(',').map(|s| s.trim().to_string()).collect();
        if let Some(f) = partition_filter_from_pairs(table, &pairs)? {
            filters.push(f);
        }
    }
    if filters.is_empty() {
        return Ok(None);
    }
    Ok(Some(Arc::new(move |values: &[crate::spec::Datum]| filters.iter().any(|f| f(values)))))
}

/// `CALL sys.compact(table => 'db.t' [, partitions => 'dt=a;dt=b'])`: a full compaction of the
/// table's buckets (what Paimon's batch compact does for primary-key tables).
async fn compact(ctx: &SessionContext, function: &Function) -> Result<Vec<RecordBatch>> {
    let args = Args::bind(
        "compact",
        function,
        &[
            "table",
            "partitions",
            "order_strategy",
            "order_by",
            "options",
            "where",
            "partition_idle_time",
            "compact_strategy",
        ],
    )?;
    for unsupported in ["order_strategy", "order_by", "where", "partition_idle_time"] {
        if let Some(v) = args.get(unsupported) {
            if !(unsupported == "order_strategy" && v.eq_ignore_ascii_case("none")) {
                return not_impl_err!("CALL sys.compact: argument {unsupported} is not supported by shoal yet");
            }
        }
    }
    if let Some(v) = args.get("options") {
        return not_impl_err!("CALL sys.compact: options => {v:?} is not supported by shoal yet");
    }
    let full = match args.get("compact_strategy") {
        None | Some("full") => true,
        Some("minor") => false,
        Some(other) => return plan_err!("CALL sys.compact: compact_strategy must be 'full' or 'minor', got {other:?}"),
    };
    let table = resolve_table(ctx, "compact", args.required("table")?).await?;
    let mut job = CompactJob::new(full);
    if let Some(spec) = args.get("partitions") {
        job.partition_filter = partition_filter(&table, spec).map_err(df_err)?;
    }
    let report = job.run(&table).await.map_err(df_err)?;
    let schema = Arc::new(Schema::new(vec![
        Field::new("result", DataType::Boolean, false),
        Field::new("snapshot_id", DataType::Int64, true),
    ]));
    Ok(vec![RecordBatch::try_new(
        schema,
        vec![Arc::new(BooleanArray::from(vec![true])), Arc::new(Int64Array::from(vec![report.outcome.snapshot_id()]))],
    )?])
}

/// `CALL sys.create_branch(table => 'db.t', branch => 'b' [, tag => 't' | snapshot => N])`:
/// from a tag, a snapshot, or empty (the latest schema only, as Paimon does without a tag).
async fn create_branch(ctx: &SessionContext, function: &Function) -> Result<Vec<RecordBatch>> {
    let args = Args::bind("create_branch", function, &["table", "branch", "tag", "snapshot"])?;
    let table = resolve_table(ctx, "create_branch", args.required("table")?).await?;
    let start = match (args.get("tag"), args.number("snapshot")?) {
        (Some(_), Some(_)) => return plan_err!("CALL sys.create_branch: give tag or snapshot, not both"),
        (Some(t), None) => BranchStart::Tag(t.to_string()),
        (None, Some(s)) => BranchStart::Snapshot(s),
        (None, None) => BranchStart::Empty,
    };
    CreateBranch::new(&table, args.required("branch")?).start(&start).execute().await.map_err(df_err)?;
    ok_row()
}

/// `CALL sys.delete_branch(table => 'db.t', branch => 'b1,b2')`: one branch or several,
/// comma-separated (all are checked to exist before any is deleted).
async fn delete_branch(ctx: &SessionContext, function: &Function) -> Result<Vec<RecordBatch>> {
    let args = Args::bind("delete_branch", function, &["table", "branch"])?;
    let table = resolve_table(ctx, "delete_branch", args.required("table")?).await?;
    let names: Vec<&str> = args.required("branch")?.split(',').map(str::trim).filter(|b| !b.is_empty()).collect();
    let existing: Vec<String> = list_branches(table.io()).await.map_err(df_err)?.into_iter().map(|b| b.name).collect();
    if let Some(missing) = names.iter().find(|n| !existing.iter().any(|e| e == *n)) {
        return plan_err!("CALL sys.delete_branch: branch {missing:?} does not exist");
    }
    for name in names {
        DeleteBranch::new(&table, name).execute().await.map_err(df_err)?;
    }
    ok_row()
}

/// `CALL sys.fast_forward(table => 'db.t', branch => 'b')`.
async fn fast_forward(ctx: &SessionContext, function: &Function) -> Result<Vec<RecordBatch>> {
    let args = Args::bind("fast_forward", function, &["table", "branch"])?;
    let table = resolve_table(ctx, "fast_forward", args.required("table")?).await?;
    FastForward::new(&table, args.required("branch")?).execute().await.map_err(df_err)?;
    ok_row()
}

/// A one-row result.
fn one_row(columns: Vec<(&str, ArrayRef)>) -> Result<Vec<RecordBatch>> {
    let schema = Arc::new(Schema::new(
        columns.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect::<Vec<_>>(),
    ));
    Ok(vec![RecordBatch::try_new(schema, columns.into_iter().map(|(_, a)| a).collect())?])
}

fn ok_row() -> Result<Vec<RecordBatch>> {
    one_row(vec![("result", Arc::new(BooleanArray::from(vec![true])))])
}

fn int(v: usize) -> ArrayRef {
    Arc::new(Int64Array::from(vec![v as i64]))
}

impl Args {
    fn number(&self, name: &str) -> Result<Option<i64>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => match v.trim().parse::<i64>() {
                Ok(n) => Ok(Some(n)),
                Err(_) => plan_err!("CALL sys.{}: {name} must be a whole number, got {v:?}", self.procedure),
            },
        }
    }

    /// A point in time: epoch millis or a timestamp like '2024-01-02 03:04:05' (UTC).
    fn time_millis(&self, name: &str) -> Result<Option<i64>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => match TimeTravel::parse_time(v) {
                Some(ms) => Ok(Some(ms)),
                None => plan_err!(
                    "CALL sys.{}: {name} => {v:?} is not a time; write epoch millis or '2024-01-02 03:04:05' (UTC)",
                    self.procedure
                ),
            },
        }
    }

    /// A duration as Paimon's options spell it ('1 d', '12 h', '30 min').
    fn duration(&self, name: &str) -> Result<Option<std::time::Duration>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => match parse_duration(v) {
                Some(d) => Ok(Some(d)),
                None => plan_err!(
                    "CALL sys.{}: {name} => {v:?} is not a duration like '1 d', '12 h' or '30 min'",
                    self.procedure
                ),
            },
        }
    }
}

/// How long ago `millis` was (zero if it is in the future).
fn age_of(millis: i64) -> std::time::Duration {
    let now = chrono::Utc::now().timestamp_millis();
    std::time::Duration::from_millis(now.saturating_sub(millis).max(0) as u64)
}

/// `CALL sys.create_tag(table => 'db.t', tag => 'x' [, snapshot => 3] [, time_retained => '7 d'])`.
async fn create_tag(ctx: &SessionContext, function: &Function) -> Result<Vec<RecordBatch>> {
    let args = Args::bind("create_tag", function, &["table", "tag", "snapshot", "time_retained"])?;
    let table = resolve_table(ctx, "create_tag", args.required("table")?).await?;
    let name = args.required("tag")?;
    let snapshot = args.number("snapshot")?;
    let tag = CreateTag::new(&table, name)
        .snapshot(snapshot)
        .time_retained(args.duration("time_retained")?)
        .execute()
        .await
        .map_err(df_err)?;
    one_row(vec![
        ("result", Arc::new(BooleanArray::from(vec![true]))),
        ("snapshot_id", Arc::new(Int64Array::from(vec![tag.snapshot.id]))),
    ])
}

/// `CALL sys.delete_tag(table => 'db.t', tag => 'a,b')`: the tags and the files only they kept.
async fn delete_tag(ctx: &SessionContext, function: &Function) -> Result<Vec<RecordBatch>> {
    let args = Args::bind("delete_tag", function, &["table", "tag"])?;
    let table = resolve_table(ctx, "delete_tag", args.required("table")?).await?;
    let (mut data, mut manifests) = (0, 0);
    for name in args.required("tag")?.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let r = DeleteTag::new(&table, name).execute().await.map_err(df_err)?;
        data += r.data_files_deleted;
        manifests += r.manifests_deleted;
    }
    one_row(vec![
        ("result", Arc::new(BooleanArray::from(vec![true]))),
        ("data_files_deleted", int(data)),
        ("manifests_deleted", int(manifests)),
    ])
}

/// `CALL sys.expire_tags(table => 'db.t')`: deletes the tags whose `tag.default-time-retained`
/// or own retention has passed.
async fn expire_tags(ctx: &SessionContext, function: &Function) -> Result<Vec<RecordBatch>> {
    let args = Args::bind("expire_tags", function, &["table", "older_than"])?;
    if args.get("older_than").is_some() {
        return not_impl_err!(
            "CALL sys.expire_tags: older_than is not supported by shoal yet; tags expire by their retention"
        );
    }
    let table = resolve_table(ctx, "expire_tags", args.required("table")?).await?;
    let r = ExpireTags::new(&table).execute().await.map_err(df_err)?;
    let names: ArrayRef = Arc::new(StringArray::from(vec![r.tags_deleted.join(",")]));
    one_row(vec![("expired_tags", names), ("data_files_deleted", int(r.data_files_deleted))])
}

/// `CALL sys.trigger_tag_automatic_creation(table => 'db.t')`: automatic tags and tag retention
/// now (what every commit does).
async fn trigger_tag_automatic_creation(ctx: &SessionContext, function: &Function) -> Result<Vec<RecordBatch>> {
    let args = Args::bind("trigger_tag_automatic_creation", function, &["table"])?;
    let table = resolve_table(ctx, "trigger_tag_automatic_creation", args.required("table")?).await?;
    let r = TagMaintenance::new(&table).execute().await.map_err(df_err)?;
    let created: Vec<String> = r.auto.created.iter().map(|(n, _)| n.clone()).collect();
    one_row(vec![
        ("created_tags", Arc::new(StringArray::from(vec![created.join(",")]))),
        ("expired_tags", Arc::new(StringArray::from(vec![r.expired.tags_deleted.join(",")]))),
    ])
}

/// Spark's `CALL sys.rollback(table => 'db.t', version => '3' | 'tag')` and Flink's
/// `CALL sys.rollback_to(table => 'db.t', tag => 'x' | snapshot_id => 3)`.
async fn rollback(ctx: &SessionContext, procedure: &str, function: &Function) -> Result<Vec<RecordBatch>> {
    let args = Args::bind(procedure, function, &["table", "version", "tag", "snapshot_id"])?;
    let target = match (args.get("version"), args.get("tag"), args.number("snapshot_id")?) {
        (Some(v), None, None) => RollbackTarget::parse(v),
        (None, Some(t), None) => RollbackTarget::Tag(t.to_string()),
        (None, None, Some(id)) => RollbackTarget::Snapshot(id),
        _ => return plan_err!("CALL sys.{procedure} takes exactly one of version, tag and snapshot_id"),
    };
    let table = resolve_table(ctx, procedure, args.required("table")?).await?;
    rollback_report(Rollback::new(&table, &target).execute().await.map_err(df_err)?)
}

fn rollback_report(r: crate::maintenance::rollback::RollbackReport) -> Result<Vec<RecordBatch>> {
    one_row(vec![
        ("current_snapshot_id", Arc::new(Int64Array::from(vec![r.snapshot_id]))),
        ("snapshots_deleted", int(r.snapshots_deleted)),
        ("tags_deleted", Arc::new(StringArray::from(vec![r.tags_deleted.join(",")]))),
    ])
}

/// `CALL sys.rollback_to_timestamp(table => 'db.t', timestamp => <millis> | '2024-01-02 03:04:05')`:
/// to the latest snapshot committed at or before then.
async fn rollback_to_timestamp(ctx: &SessionContext, function: &Function) -> Result<Vec<RecordBatch>> {
    let args = Args::bind("rollback_to_timestamp", function, &["table", "timestamp"])?;
    let table = resolve_table(ctx, "rollback_to_timestamp", args.required("table")?).await?;
    let Some(ms) = args.time_millis("timestamp")? else {
        return plan_err!("CALL sys.rollback_to_timestamp needs the argument timestamp => ...");
    };
    let snapshot = TimeTravel::Timestamp(ms).resolve(table.io()).await.map_err(df_err)?;
    rollback_report(Rollback::new(&table, &RollbackTarget::Snapshot(snapshot.id)).execute().await.map_err(df_err)?)
}

/// `CALL sys.expire_snapshots(table => 'db.t' [, retain_max => 5] [, retain_min => 1]
/// [, older_than => '2024-01-02 00:00:00'] [, max_deletes => 100])`; arguments left out take the
/// table's options, as in Paimon.
async fn expire_snapshots(ctx: &SessionContext, function: &Function) -> Result<Vec<RecordBatch>> {
    let args = Args::bind(
        "expire_snapshots",
        function,
        &["table", "retain_max", "retain_min", "older_than", "max_deletes", "options"],
    )?;
    if args.get("options").is_some() {
        return not_impl_err!("CALL sys.expire_snapshots: options is not supported by shoal yet");
    }
    let table = resolve_table(ctx, "expire_snapshots", args.required("table")?).await?;
    let r = ExpireSnapshots::new(&table)
        .retain_max(args.number("retain_max")?)
        .retain_min(args.number("retain_min")?)
        .older_than(args.time_millis("older_than")?.map(age_of))
        .max_deletes(args.number("max_deletes")?)
        .execute()
        .await
        .map_err(df_err)?;
    one_row(vec![
        ("expired_snapshots", int(r.snapshots_expired)),
        ("data_files_deleted", int(r.data_files_deleted)),
        ("manifests_deleted", int(r.manifests_deleted)),
    ])
}

/// `CALL sys.remove_orphan_files(table => 'db.t' [, older_than => '2024-01-02 00:00:00']
/// [, dry_run => true])`: files older than then (default: a day ago) that nothing references.
async fn remove_orphan_files(ctx: &SessionContext, function: &Function) -> Result<Vec<RecordBatch>> {
    let args = Args::bind("remove_orphan_files", function, &["table", "older_than", "dry_run"])?;
    let table = resolve_table(ctx, "remove_orphan_files", args.required("table")?).await?;
    let older_than = args.time_millis("older_than")?;
    let dry_run = match args.get("dry_run") {
        None => false,
        Some(v) => match v.to_ascii_lowercase().as_str() {
            "true" => true,
            "false" => false,
            other => return plan_err!("CALL sys.remove_orphan_files: dry_run must be true or false, got {other:?}"),
        },
    };
    let r = RemoveOrphanFiles::new(&table).before(older_than).dry_run(dry_run).execute().await.map_err(df_err)?;
    let orphans: ArrayRef = Arc::new(StringArray::from(r.orphans.clone()));
    let schema = Arc::new(Schema::new(vec![Field::new("orphan_file", DataType::Utf8, false)]));
    Ok(vec![RecordBatch::try_new(schema, vec![orphans])?])
}

/// `CALL sys.reset_consumer(table => 'db.t', consumer_id => 'job' [, next_snapshot_id => 12])`:
/// moves a consumer, or deletes it when no snapshot is given (Paimon's spellings `consumerId`
/// / `nextSnapshotId` are accepted too).
async fn reset_consumer(ctx: &SessionContext, function: &Function) -> Result<Vec<RecordBatch>> {
    let args = Args::bind(
        "reset_consumer",
        function,
        &["table", "consumer_id", "next_snapshot_id", "consumerid", "nextsnapshotid"],
    )?;
    let table = resolve_table(ctx, "reset_consumer", args.required("table")?).await?;
    let Some(id) = args.get("consumer_id").or(args.get("consumerid")) else {
        return plan_err!("CALL sys.reset_consumer needs the argument consumer_id => '...'");
    };
    let next = match args.number("next_snapshot_id")? {
        Some(n) => Some(n),
        None => args.number("nextsnapshotid")?,
    };
    let consumers = table.consumers();
    match next {
        Some(n) => {
            table.snapshots().snapshot(n).await.map_err(df_err)?;
            consumers.reset(id, Consumer { next_snapshot: n }).await.map_err(df_err)?;
        }
        None => consumers.delete(id).await.map_err(df_err)?,
    }
    ok_row()
}
