//! The merge-engine options of a primary-key table, parsed and validated against its columns:
//! `merge-engine`, `sequence.field`, `ignore-delete`, partial-update's
//! `fields.<f>.sequence-group` and `partial-update.remove-record-on-delete`, and the aggregation
//! options `fields.<f>.aggregate-function`, `fields.default-aggregate-function`,
//! `fields.<f>.ignore-retract`, `fields.<f>.distinct`, `fields.<f>.list-agg-delimiter`,
//! `fields.<f>.nested-key`. Names and rules are Paimon 0.9's; what Paimon rejects when a table
//! is created is rejected here with the option named. The merge itself lives in `crate::merge`.

use super::options::{split_list, MergeEngine, IGNORE_DELETE, MERGE_ENGINE, SEQUENCE_FIELD};
use super::{SpecError, TableSchema, TypeKind};

pub(crate) const REMOVE_RECORD_ON_DELETE: &str = "partial-update.remove-record-on-delete";
pub(crate) const DEFAULT_AGGREGATE_FUNCTION: &str = "fields.default-aggregate-function";

/// One aggregate function, as named by `fields.<f>.aggregate-function`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AggFunction {
    /// Primary-key columns of an aggregation table keep their value.
    PrimaryKey,
    Sum,
    Product,
    Max,
    Min,
    LastValue,
    LastNonNullValue,
    FirstValue,
    FirstNonNullValue,
    ListAgg {
        delimiter: String,
    },
    BoolAnd,
    BoolOr,
    Collect {
        distinct: bool,
    },
    MergeMap,
    /// `nested_update` on `ARRAY<ROW>`: rows of the nested table keyed by `nested_key` (indices of
    /// the ROW's fields); without a key, rows are appended.
    NestedUpdate {
        nested_key: Vec<usize>,
    },
    RoaringBitmap32,
    RoaringBitmap64,
    HllSketch,
    ThetaSketch,
}

impl AggFunction {
    /// Paimon's name of the function.
    pub fn name(&self) -> &'static str {
        match self {
            AggFunction::PrimaryKey => "primary-key",
            AggFunction::Sum => "sum",
            AggFunction::Product => "product",
            AggFunction::Max => "max",
            AggFunction::Min => "min",
            AggFunction::LastValue => "last_value",
            AggFunction::LastNonNullValue => "last_non_null_value",
            AggFunction::FirstValue => "first_value",
            AggFunction::FirstNonNullValue => "first_non_null_value",
            AggFunction::ListAgg { .. } => "listagg",
            AggFunction::BoolAnd => "bool_and",
            AggFunction::BoolOr => "bool_or",
            AggFunction::Collect { .. } => "collect",
            AggFunction::MergeMap => "merge_map",
            AggFunction::NestedUpdate { .. } => "nested_update",
            AggFunction::RoaringBitmap32 => "rbm32",
            AggFunction::RoaringBitmap64 => "rbm64",
            AggFunction::HllSketch => "hll_sketch",
            AggFunction::ThetaSketch => "theta_sketch",
        }
    }

    /// Whether the function can take back a value (-U/-D input) without `ignore-retract`.
    pub fn supports_retract(&self) -> bool {
        matches!(
            self,
            AggFunction::PrimaryKey
                | AggFunction::Sum
                | AggFunction::Product
                | AggFunction::LastValue
                | AggFunction::LastNonNullValue
                | AggFunction::Collect { .. }
                | AggFunction::MergeMap
                | AggFunction::NestedUpdate { .. }
        )
    }
}

/// The aggregator of one column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldAggregator {
    pub function: AggFunction,
    pub ignore_retract: bool,
}

/// A partial-update sequence group: `fields.<seq fields>.sequence-group = <members>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SequenceGroup {
    /// The columns whose values order the group's updates (compared in this order, nulls first).
    pub sequence_fields: Vec<usize>,
    pub members: Vec<usize>,
}

/// A table's merge engine with every option resolved to column indices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergeEngineConfig {
    pub engine: MergeEngine,
    pub ignore_delete: bool,
    /// `sequence.field`: columns that order versions of a key before the sequence number.
    pub sequence_fields: Vec<usize>,
    /// partial-update: `partial-update.remove-record-on-delete`.
    pub remove_record_on_delete: bool,
    /// partial-update: the sequence groups.
    pub sequence_groups: Vec<SequenceGroup>,
    /// Per column: its aggregator (aggregation: every column; partial-update: configured ones).
    pub aggregators: Vec<Option<FieldAggregator>>,
}

const FUNCTION_NAMES: &str = "sum, product, max, min, last_value, last_non_null_value, first_value, \
     first_non_null_value, listagg, bool_and, bool_or, collect, merge_map, nested_update, rbm32, rbm64, hll_sketch, theta_sketch";

impl MergeEngineConfig {
    pub fn from_schema(schema: &TableSchema) -> Result<MergeEngineConfig, SpecError> {
        let opts = schema.core_options();
        let engine = opts.merge_engine()?;
        let ignore_delete = opts.ignore_delete()?;
        let names: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
        let index_of = |name: &str, key: &str| -> Result<usize, SpecError> {
            names.iter().position(|n| *n == name).ok_or_else(|| SpecError::InvalidOption {
                key: key.to_string(),
                value: opts.get(key).unwrap_or_default().to_string(),
                message: format!("column {name:?} is not a column of the table (columns: {})", names.join(", ")),
            })
        };
        let invalid = |key: &str, message: String| SpecError::InvalidOption {
            key: key.to_string(),
            value: opts.get(key).unwrap_or_default().to_string(),
            message,
        };

        // sequence.field
        let mut sequence_fields = vec![];
        for name in opts.sequence_fields() {
            let i = index_of(&name, SEQUENCE_FIELD)?;
            if sequence_fields.contains(&i) {
                return Err(invalid(SEQUENCE_FIELD, format!("sequence field {name:?} is defined repeatedly")));
            }
            if opts.get(&format!("fields.{name}.aggregate-function")).is_some() {
                return Err(invalid(
                    SEQUENCE_FIELD,
                    format!("should not define an aggregate function on sequence field {name:?}"),
                ));
            }
            if !schema.fields[i].data_type.has_min_max_stats() {
                return Err(invalid(
                    SEQUENCE_FIELD,
                    format!("sequence field {name:?} has type {} which has no order", schema.fields[i].data_type),
                ));
            }
            sequence_fields.push(i);
        }
        if !sequence_fields.is_empty() && engine == MergeEngine::FirstRow {
            return Err(invalid(SEQUENCE_FIELD, "the first-row merge engine does not support a sequence field".into()));
        }

        // Per-field option families must name real columns.
        for key in opts.map().keys() {
            let Some(rest) = key.strip_prefix("fields.") else {
                continue;
            };
            if key == DEFAULT_AGGREGATE_FUNCTION || rest.ends_with(".sequence-group") {
                continue;
            }
            for suffix in [".aggregate-function", ".ignore-retract", ".distinct", ".list-agg-delimiter", ".nested-key"]
            {
                if let Some(field) = rest.strip_suffix(suffix) {
                    index_of(field, key)?;
                }
            }
        }

        // partial-update sequence groups.
        let mut sequence_groups: Vec<SequenceGroup> = vec![];
        let mut grouped: Vec<Option<String>> = vec![None; names.len()];
        for (key, value) in opts.map() {
            let Some(seq) = key.strip_prefix("fields.").and_then(|r| r.strip_suffix(".sequence-group")) else {
                continue;
            };
            if engine != MergeEngine::PartialUpdate {
                return Err(invalid(key, "sequence groups belong to the partial-update merge engine".into()));
            }
            let seq_fields = seq.split(',').map(|f| index_of(f.trim(), key)).collect::<Result<Vec<_>, _>>()?;
            let mut members = vec![];
            for m in split_list(value) {
                let i = index_of(&m, key)?;
                if let Some(other) = &grouped[i] {
                    return Err(invalid(
                        key,
                        format!("field {m:?} is defined repeatedly by multiple groups: {other} and {key}"),
                    ));
                }
                grouped[i] = Some(key.clone());
                members.push(i);
            }
            for &s in &seq_fields {
                if opts.get(&format!("fields.{}.aggregate-function", names[s])).is_some() {
                    return Err(invalid(
                        key,
                        format!("should not define an aggregate function on sequence group field {:?}", names[s]),
                    ));
                }
            }
            sequence_groups.push(SequenceGroup { sequence_fields: seq_fields, members });
        }

        let remove_record_on_delete = opts.bool_option(REMOVE_RECORD_ON_DELETE, false)?;
        if engine == MergeEngine::PartialUpdate {
            if remove_record_on_delete && ignore_delete {
                return Err(invalid(
                    REMOVE_RECORD_ON_DELETE,
                    format!("{IGNORE_DELETE} and {REMOVE_RECORD_ON_DELETE} have conflicting behavior so should not be enabled at the same time"),
                ));
            }
            if remove_record_on_delete && !sequence_groups.is_empty() {
                return Err(invalid(
                    REMOVE_RECORD_ON_DELETE,
                    format!("sequence groups and {REMOVE_RECORD_ON_DELETE} have conflicting behavior so should not be enabled at the same time"),
                ));
            }
        }

        // Aggregators: every column of an aggregation table; configured columns of partial-update.
        let default_fn = opts.get(DEFAULT_AGGREGATE_FUNCTION).map(str::to_string);
        let mut aggregators = vec![None; names.len()];
        if matches!(engine, MergeEngine::Aggregation | MergeEngine::PartialUpdate) {
            for (i, field) in schema.fields.iter().enumerate() {
                let key = format!("fields.{}.aggregate-function", field.name);
                let explicit = opts.get(&key).map(str::to_string);
                let is_pk = schema.primary_keys.contains(&field.name);
                let (name, key) = match (explicit, &default_fn) {
                    (Some(n), _) => (Some(n), key),
                    (None, Some(d)) => (Some(d.clone()), DEFAULT_AGGREGATE_FUNCTION.to_string()),
                    (None, None) => (None, key),
                };
                if engine == MergeEngine::PartialUpdate && name.is_none() {
                    continue;
                }
                let function = if is_pk {
                    AggFunction::PrimaryKey
                } else {
                    match name {
                        None => AggFunction::LastNonNullValue,
                        Some(n) => parse_function(&n, schema, i).map_err(|m| invalid(&key, m))?,
                    }
                };
                let ignore_retract = opts.bool_option(&format!("fields.{}.ignore-retract", field.name), false)?;
                aggregators[i] = Some(FieldAggregator { function, ignore_retract });
            }
            if engine == MergeEngine::PartialUpdate
                && aggregators.iter().any(Option::is_some)
                && sequence_groups.is_empty()
            {
                return Err(invalid(
                    default_fn.as_ref().map(|_| DEFAULT_AGGREGATE_FUNCTION).unwrap_or(MERGE_ENGINE),
                    "partial-update must use sequence groups for aggregation functions (fields.<seq>.sequence-group)"
                        .into(),
                ));
            }
        } else if default_fn.is_some()
            || opts.map().keys().any(|k| k.starts_with("fields.") && k.ends_with(".aggregate-function"))
        {
            let key = opts
                .map()
                .keys()
                .find(|k| k.starts_with("fields.") && k.ends_with("aggregate-function"))
                .cloned()
                .unwrap_or_default();
            return Err(invalid(
                &key,
                format!("aggregate functions need merge-engine = aggregation or partial-update, not {engine:?}"),
            ));
        }

        if engine == MergeEngine::FirstRow
            && !matches!(
                opts.changelog_producer()?,
                crate::spec::options::ChangelogProducer::None | crate::spec::options::ChangelogProducer::Lookup
            )
        {
            return Err(invalid(
                "changelog-producer",
                "only 'none' and 'lookup' go with the first-row merge engine".into(),
            ));
        }
        if engine == MergeEngine::FirstRow && opts.deletion_vectors_enabled()? {
            return Err(invalid(
                "deletion-vectors.enabled",
                "the first-row merge engine does not need deletion vectors: it never deletes old data".into(),
            ));
        }
        Ok(MergeEngineConfig {
            engine,
            ignore_delete,
            sequence_fields,
            remove_record_on_delete,
            sequence_groups,
            aggregators,
        })
    }

    /// Why this table cannot take -U/-D rows, if it cannot (checked before rows are buffered).
    pub fn retract_refusal(&self, schema: &TableSchema) -> Option<String> {
        if self.ignore_delete {
            return None;
        }
        match self.engine {
            MergeEngine::Deduplicate => None,
            MergeEngine::FirstRow => Some(
                "the first-row merge engine can not accept -U/-D rows; set 'first-row.ignore-delete' (or 'ignore-delete') = true to ignore them".into(),
            ),
            MergeEngine::PartialUpdate if self.sequence_groups.is_empty() && !self.remove_record_on_delete => Some(
                "the partial-update merge engine can not accept -U/-D rows by default; set 'ignore-delete' = true to ignore them, \
                 'partial-update.remove-record-on-delete' = true to delete the row on -D, or define sequence groups \
                 (fields.<seq>.sequence-group) to retract columns"
                    .into(),
            ),
            MergeEngine::PartialUpdate | MergeEngine::Aggregation => {
                for (i, a) in self.aggregators.iter().enumerate() {
                    let Some(a) = a else { continue };
                    if !a.ignore_retract && !a.function.supports_retract() {
                        let in_group = self.engine == MergeEngine::Aggregation
                            || self.sequence_groups.iter().any(|g| g.members.contains(&i) || g.sequence_fields.contains(&i));
                        if in_group {
                            let name = &schema.fields[i].name;
                            return Some(format!(
                                "aggregate function '{}' of column {name:?} does not support retraction (-U/-D rows); \
                                 set 'fields.{name}.ignore-retract' = true to ignore retractions for it",
                                a.function.name()
                            ));
                        }
                    }
                }
                None
            }
        }
    }
}

/// Parses `fields.<f>.aggregate-function` for column `i`, checking the column's type as Paimon
/// does (and where Paimon would only fail at the first merge, here already at creation).
fn parse_function(name: &str, schema: &TableSchema, i: usize) -> Result<AggFunction, String> {
    let field = &schema.fields[i];
    let t = &field.data_type;
    let opts = schema.core_options();
    let numeric = matches!(
        t.kind,
        TypeKind::TinyInt
            | TypeKind::SmallInt
            | TypeKind::Int
            | TypeKind::BigInt
            | TypeKind::Float
            | TypeKind::Double
            | TypeKind::Decimal { .. }
    );
    let need = |ok: bool, what: &str| -> Result<(), String> {
        if ok {
            Ok(())
        } else {
            Err(format!("aggregate function '{name}' needs {what}, but column {:?} is {t}", field.name))
        }
    };
    let f = match name.trim() {
        "sum" => {
            need(numeric, "a numeric column (TINYINT, SMALLINT, INT, BIGINT, FLOAT, DOUBLE or DECIMAL)")?;
            AggFunction::Sum
        }
        "product" => {
            need(numeric, "a numeric column (TINYINT, SMALLINT, INT, BIGINT, FLOAT, DOUBLE or DECIMAL)")?;
            AggFunction::Product
        }
        "max" | "min" => {
            let ordered = numeric
                || matches!(
                    t.kind,
                    TypeKind::Char(_) | TypeKind::VarChar(_) | TypeKind::Date | TypeKind::Time(_) | TypeKind::Timestamp(_) | TypeKind::LocalZonedTimestamp(_)
                );
            need(ordered, "an ordered column (numeric, CHAR, VARCHAR, DATE, TIME, TIMESTAMP or TIMESTAMP_LTZ)")?;
            if name.trim() == "max" {
                AggFunction::Max
            } else {
                AggFunction::Min
            }
        }
        "last_value" => AggFunction::LastValue,
        "last_non_null_value" => AggFunction::LastNonNullValue,
        "first_value" => AggFunction::FirstValue,
        "first_non_null_value" | "first_not_null_value" => AggFunction::FirstNonNullValue,
        "listagg" => {
            need(matches!(t.kind, TypeKind::VarChar(_)), "a STRING/VARCHAR column")?;
            let delimiter = opts.get(&format!("fields.{}.list-agg-delimiter", field.name)).unwrap_or(",").to_string();
            AggFunction::ListAgg { delimiter }
        }
        "bool_and" | "bool_or" => {
            need(matches!(t.kind, TypeKind::Boolean), "a BOOLEAN column")?;
            if name.trim() == "bool_and" {
                AggFunction::BoolAnd
            } else {
                AggFunction::BoolOr
            }
        }
        "collect" => {
            need(matches!(t.kind, TypeKind::Array(_)), "an ARRAY column")?;
            let distinct = opts.bool_option(&format!("fields.{}.distinct", field.name), false).map_err(|e| e.to_string())?;
            AggFunction::Collect { distinct }
        }
        "merge_map" => {
            need(matches!(t.kind, TypeKind::Map(..)), "a MAP column")?;
            AggFunction::MergeMap
        }
        "nested_update" => {
            let TypeKind::Array(elem) = &t.kind else {
                return Err(format!("aggregate function 'nested_update' needs an ARRAY<ROW> column, but column {:?} is {t}", field.name));
            };
            let TypeKind::Row(nested) = &elem.kind else {
                return Err(format!("aggregate function 'nested_update' needs an ARRAY<ROW> column, but column {:?} is {t}", field.name));
            };
            let key = opts.get(&format!("fields.{}.nested-key", field.name)).map(split_list).unwrap_or_default();
            let nested_key = key
                .iter()
                .map(|k| {
                    nested
                        .iter()
                        .position(|f| &f.name == k)
                        .ok_or_else(|| format!("nested key {k:?} is not a field of the rows of column {:?}", field.name))
                })
                .collect::<Result<Vec<_>, _>>()?;
            AggFunction::NestedUpdate { nested_key }
        }
        "rbm32" => {
            need(matches!(t.kind, TypeKind::VarBinary(_) | TypeKind::Binary(_)), "a VARBINARY column")?;
            AggFunction::RoaringBitmap32
        }
        "rbm64" => {
            need(matches!(t.kind, TypeKind::VarBinary(_)), "a VARBINARY (BYTES) column")?;
            AggFunction::RoaringBitmap64
        }
        "hll_sketch" => {
            need(matches!(t.kind, TypeKind::VarBinary(_)), "a VARBINARY (BYTES) column")?;
            AggFunction::HllSketch
        }
        "theta_sketch" => {
            need(matches!(t.kind, TypeKind::VarBinary(_)), "a VARBINARY (BYTES) column")?;
            AggFunction::ThetaSketch
        }
        "count" => {
            return Err(format!(
                "Paimon has no aggregate function 'count'; write 1 into a BIGINT column and use 'sum'. Supported: {FUNCTION_NAMES}"
            ))
        }
        other => return Err(format!("unknown aggregate function {other:?}; supported: {FUNCTION_NAMES}")),
    };
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::parse_type;
    use std::collections::BTreeMap;

    fn schema(cols: &[(&str, &str)], pk: &[&str], opts: &[(&str, &str)]) -> Result<TableSchema, SpecError> {
        let fields = cols.iter().map(|(n, t)| (n.to_string(), parse_type(t).unwrap())).collect();
        let mut o: BTreeMap<String, String> = opts.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        o.insert("bucket".into(), "1".into());
        TableSchema::create(fields, vec![], pk.iter().map(|s| s.to_string()).collect(), o, None)
    }

    #[test]
    fn aggregation_defaults_and_type_checks() {
        let s = schema(
            &[("k", "INT NOT NULL"), ("a", "BIGINT"), ("b", "STRING")],
            &["k"],
            &[("merge-engine", "aggregation"), ("fields.a.aggregate-function", "sum")],
        )
        .unwrap();
        let c = MergeEngineConfig::from_schema(&s).unwrap();
        assert_eq!(c.aggregators[0].as_ref().unwrap().function, AggFunction::PrimaryKey);
        assert_eq!(c.aggregators[1].as_ref().unwrap().function, AggFunction::Sum);
        assert_eq!(c.aggregators[2].as_ref().unwrap().function, AggFunction::LastNonNullValue);

        let e = schema(
            &[("k", "INT NOT NULL"), ("b", "STRING")],
            &["k"],
            &[("merge-engine", "aggregation"), ("fields.b.aggregate-function", "sum")],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("fields.b.aggregate-function") && e.contains("numeric"), "{e}");
        let e = schema(
            &[("k", "INT NOT NULL"), ("b", "BIGINT")],
            &["k"],
            &[("merge-engine", "aggregation"), ("fields.b.aggregate-function", "count")],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("no aggregate function 'count'"), "{e}");
        let e = schema(&[("k", "INT NOT NULL"), ("b", "BIGINT")], &["k"], &[("fields.b.aggregate-function", "sum")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("merge-engine = aggregation"), "{e}");

        // The Java-library formats: on VARBINARY only, as in Paimon.
        for (f, expect) in [
            ("rbm64", AggFunction::RoaringBitmap64),
            ("hll_sketch", AggFunction::HllSketch),
            ("theta_sketch", AggFunction::ThetaSketch),
        ] {
            let opts = [("merge-engine", "aggregation"), ("fields.b.aggregate-function", f)];
            let s = schema(&[("k", "INT NOT NULL"), ("b", "BYTES")], &["k"], &opts).unwrap();
            assert_eq!(MergeEngineConfig::from_schema(&s).unwrap().aggregators[1].as_ref().unwrap().function, expect);
            for t in ["BINARY(8)", "BIGINT"] {
                let e = schema(&[("k", "INT NOT NULL"), ("b", t)], &["k"], &opts).unwrap_err().to_string();
                assert!(e.contains("VARBINARY"), "{f} on {t}: {e}");
            }
        }
    }

    #[test]
    fn partial_update_rules() {
        let e = schema(
            &[("k", "INT NOT NULL"), ("a", "INT"), ("g", "INT")],
            &["k"],
            &[("merge-engine", "partial-update"), ("fields.a.aggregate-function", "sum")],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("sequence groups"), "{e}");
        let e = schema(
            &[("k", "INT NOT NULL"), ("a", "INT"), ("g", "INT")],
            &["k"],
            &[("merge-engine", "partial-update"), ("ignore-delete", "true"), (REMOVE_RECORD_ON_DELETE, "true")],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("conflicting"), "{e}");
        let e = schema(
            &[("k", "INT NOT NULL"), ("a", "INT"), ("g", "INT"), ("h", "INT")],
            &["k"],
            &[("merge-engine", "partial-update"), ("fields.g.sequence-group", "a"), ("fields.h.sequence-group", "a")],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("defined repeatedly"), "{e}");
        let s = schema(
            &[("k", "INT NOT NULL"), ("a", "INT"), ("g", "INT")],
            &["k"],
            &[
                ("merge-engine", "partial-update"),
                ("fields.g.sequence-group", "a"),
                ("fields.a.aggregate-function", "sum"),
            ],
        )
        .unwrap();
        let c = MergeEngineConfig::from_schema(&s).unwrap();
        assert_eq!(c.sequence_groups, vec![SequenceGroup { sequence_fields: vec![2], members: vec![1] }]);
        assert!(c.aggregators[1].is_some() && c.aggregators[0].is_none());
        let e = schema(
            &[("k", "INT NOT NULL"), ("a", "INT")],
            &["k"],
            &[("merge-engine", "first-row"), ("sequence.field", "a")],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("first-row"), "{e}");
        let e = schema(&[("k", "INT NOT NULL"), ("a", "INT")], &["k"], &[("sequence.field", "nope")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"nope\" is not a column"), "{e}");
    }
}
