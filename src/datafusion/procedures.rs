//! Paimon's procedures, called as in Spark and Flink: `CALL sys.compact(table => 'db.t')`.
//! Arguments are named (`name => value`) or positional in the procedure's parameter order.
//! Procedures whose capability shoal lacks fail with an error naming them.

use std::collections::BTreeMap;
use std::sync::Arc;

use ::datafusion::arrow::array::{BooleanArray, Int64Array, RecordBatch};
use ::datafusion::arrow::datatypes::{DataType, Field, Schema};
use ::datafusion::common::{not_impl_err, plan_err, Result, TableReference};
use ::datafusion::prelude::SessionContext;
use ::datafusion::sql::sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, ObjectNamePart, Value,
};

use super::df_err;
use super::provider::ShoalTableProvider;
use crate::maintenance::compact::{partition_filter_from_pairs, CompactJob};
use crate::read::scan::PartitionFilter;
use crate::table::Table;

/// Paimon procedures shoal knows by name but cannot run yet.
const NOT_YET: &[&str] = &[
    "create_tag",
    "create_tag_from_timestamp",
    "delete_tag",
    "rename_tag",
    "replace_tag",
    "expire_tags",
    "rollback_to",
    "rollback_to_timestamp",
    "rollback_to_watermark",
    "expire_snapshots",
    "expire_partitions",
    "expire_changelogs",
    "create_branch",
    "delete_branch",
    "fast_forward",
    "merge_into",
    "remove_orphan_files",
    "remove_unexisting_files",
    "reset_consumer",
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
    "trigger_tag_automatic_creation",
    "copy_files",
    "rescale",
];

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
            let text = match e {
                Expr::Value(v) => match &v.value {
                    Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
                    Value::Number(n, _) => n.to_string(),
                    Value::Boolean(b) => b.to_string(),
                    other => return plan_err!("CALL sys.{procedure}: argument {name} = {other} is not a string or number"),
                },
                other => return plan_err!("CALL sys.{procedure}: argument {name} = {other} must be a literal"),
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
pub async fn call(ctx: &SessionContext, function: &Function) -> Result<Vec<RecordBatch>> {
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
        n if NOT_YET.contains(&n) => not_impl_err!("procedure sys.{n} is not supported by shoal yet"),
        n => plan_err!("unknown procedure sys.{n}"),
    }
}

/// The shoal table a `table => 'db.t'` argument names, through the session's catalogs.
async fn resolve_table(ctx: &SessionContext, procedure: &str, name: &str) -> Result<Table> {
    let provider = ctx.table_provider(TableReference::parse_str(name)).await.map_err(|e| {
        e.context(format!("CALL sys.{procedure}: table {name:?}"))
    })?;
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
        &["table", "partitions", "order_strategy", "order_by", "options", "where", "partition_idle_time", "compact_strategy"],
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
        vec![
            Arc::new(BooleanArray::from(vec![true])),
            Arc::new(Int64Array::from(vec![report.outcome.snapshot_id()])),
        ],
    )?])
}
