//! Schema evolution (Paimon's `SchemaManager.commitChanges` rules): add, drop and rename
//! columns, widen column types, set and remove options. Columns keep their field ids, so data
//! files written under older schemas are read by id: a renamed column finds its old data, a
//! dropped one is no longer read, an added one reads as null in older files, a widened one is
//! cast on read.

use std::collections::BTreeMap;

use super::options::{validate_keys, BUCKET, BUCKET_KEY, PATH, SEQUENCE_FIELD};
use super::schema::{assign_nested_ids, TableSchema};
use super::types::{DataField, DataType, TypeKind};
use super::SpecError;

/// Where an added column goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ColumnPosition {
    Last,
    First,
    After(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SchemaChange {
    AddColumn {
        name: String,
        data_type: DataType,
        position: ColumnPosition,
        comment: Option<String>,
    },
    DropColumn(String),
    RenameColumn {
        from: String,
        to: String,
    },
    /// Widen a column's type (its nullability is kept).
    UpdateColumnType {
        name: String,
        data_type: DataType,
    },
    SetOption {
        key: String,
        value: String,
    },
    RemoveOption(String),
}

/// Options Paimon marks `@Immutable`: fixed once the table has data.
pub(crate) const IMMUTABLE_OPTIONS: &[&str] = &[
    // Switching deletion vectors on over existing levels would let raw reads see keys that
    // only a merge resolves; switching off would bring deleted rows back.
    "deletion-vectors.enabled",
    BUCKET_KEY,
    "merge-engine",
    "ignore-delete",
    SEQUENCE_FIELD,
    "partial-update.remove-record-on-delete",
    "rowkind.field",
    "primary-key",
    "partition",
    "force-lookup",
];

impl TableSchema {
    /// The next schema (id + 1) after `changes`, validated. `has_snapshots`: whether the table
    /// already holds data (then immutable options and the bucket count are fixed).
    pub fn apply_changes(&self, changes: &[SchemaChange], has_snapshots: bool) -> Result<TableSchema, SpecError> {
        let mut fields = self.fields.clone();
        let mut options = self.options.clone();
        let mut highest = self.highest_field_id;
        for change in changes {
            match change {
                SchemaChange::AddColumn { name, data_type, position, comment } => {
                    if fields.iter().any(|f| &f.name == name) {
                        return Err(SpecError::schema(format!("cannot add column {name:?}: it exists already")));
                    }
                    if !data_type.nullable {
                        return Err(SpecError::schema(format!(
                            "cannot add column {name:?} as NOT NULL: rows written before have no value for it"
                        )));
                    }
                    highest += 1;
                    let id = highest;
                    let mut t = data_type.clone();
                    let mut next = highest + 1;
                    assign_nested_ids(&mut t, &mut next);
                    highest = next - 1;
                    let field = DataField { id, name: name.clone(), data_type: t, description: comment.clone() };
                    match position {
                        ColumnPosition::Last => fields.push(field),
                        ColumnPosition::First => fields.insert(0, field),
                        ColumnPosition::After(other) => {
                            let i = position_of(&fields, other, "add column after")?;
                            fields.insert(i + 1, field);
                        }
                    }
                }
                SchemaChange::DropColumn(name) => {
                    self.refuse_key_column(name, "drop", &options)?;
                    let i = position_of(&fields, name, "drop")?;
                    fields.remove(i);
                    if fields.is_empty() {
                        return Err(SpecError::schema("cannot drop the last column of a table"));
                    }
                }
                SchemaChange::RenameColumn { from, to } => {
                    self.refuse_key_column(from, "rename", &options)?;
                    if fields.iter().any(|f| &f.name == to) {
                        return Err(SpecError::schema(format!(
                            "cannot rename {from:?} to {to:?}: column {to:?} exists"
                        )));
                    }
                    let i = position_of(&fields, from, "rename")?;
                    fields[i].name = to.clone();
                }
                SchemaChange::UpdateColumnType { name, data_type } => {
                    if self.partition_keys.contains(name) {
                        return Err(SpecError::schema(format!("cannot change the type of partition column {name:?}")));
                    }
                    if self.primary_keys.contains(name) {
                        return Err(SpecError::schema(format!(
                            "cannot change the type of primary-key column {name:?} (the bucket of every key would change)"
                        )));
                    }
                    let i = position_of(&fields, name, "change the type of")?;
                    let from = &fields[i].data_type;
                    let to = data_type.with_nullable(from.nullable);
                    if !is_widening(from, &to) {
                        return Err(SpecError::schema(format!(
                            "cannot change column {name:?} from {from} to {to}: shoal only widens types without losing \
                             information (TINYINT->SMALLINT->INT->BIGINT, FLOAT->DOUBLE, small integers to DOUBLE or a \
                             wide enough DECIMAL, DECIMAL to more digits, longer VARCHAR/VARBINARY, CHAR to VARCHAR, \
                             higher TIMESTAMP/TIME precision, DATE to TIMESTAMP)"
                        )));
                    }
                    fields[i].data_type = to;
                }
                SchemaChange::SetOption { key, value } => {
                    self.check_option_change(key, has_snapshots)?;
                    if key == BUCKET && has_snapshots && options.get(BUCKET) != Some(value) {
                        return Err(SpecError::InvalidOption {
                            key: key.clone(),
                            value: value.clone(),
                            message: "changing the bucket count of a table with data needs a rescale, which shoal does not do"
                                .into(),
                        });
                    }
                    validate_keys(&BTreeMap::from([(key.clone(), value.clone())]))?;
                    options.insert(key.clone(), value.clone());
                }
                SchemaChange::RemoveOption(key) => {
                    self.check_option_change(key, has_snapshots)?;
                    if key == BUCKET {
                        return Err(SpecError::schema("the bucket option cannot be removed"));
                    }
                    options.remove(key);
                }
            }
        }
        let next = TableSchema {
            version: self.version.max(super::schema::SCHEMA_VERSION),
            id: self.id + 1,
            fields,
            highest_field_id: highest,
            partition_keys: self.partition_keys.clone(),
            primary_keys: self.primary_keys.clone(),
            options,
            comment: self.comment.clone(),
            time_millis: chrono::Utc::now().timestamp_millis(),
        };
        next.validate()?;
        next.core_options().validate_for_create()?;
        next.validate_bucket_mode()?;
        next.validate_streaming_options()?;
        Ok(next)
    }

    fn refuse_key_column(&self, name: &str, what: &str, options: &BTreeMap<String, String>) -> Result<(), SpecError> {
        let role = if self.partition_keys.iter().any(|k| k == name) {
            Some("a partition column")
        } else if self.primary_keys.iter().any(|k| k == name) {
            Some("a primary-key column")
        } else if options.get(BUCKET_KEY).is_some_and(|v| super::options::split_list(v).iter().any(|k| k == name)) {
            Some("named by the bucket-key option")
        } else if options.get(SEQUENCE_FIELD).is_some_and(|v| super::options::split_list(v).iter().any(|k| k == name)) {
            Some("named by the sequence.field option")
        } else {
            None
        };
        match role {
            Some(role) => Err(SpecError::schema(format!("cannot {what} column {name:?}: it is {role}"))),
            None => Ok(()),
        }
    }

    fn check_option_change(&self, key: &str, has_snapshots: bool) -> Result<(), SpecError> {
        if key == PATH {
            return Err(SpecError::schema("the path option cannot be changed"));
        }
        if has_snapshots && IMMUTABLE_OPTIONS.contains(&key) {
            return Err(SpecError::schema(format!("option {key:?} cannot be changed once the table has data")));
        }
        Ok(())
    }
}

fn position_of(fields: &[DataField], name: &str, what: &str) -> Result<usize, SpecError> {
    fields.iter().position(|f| f.name == name).ok_or_else(|| {
        SpecError::schema(format!(
            "cannot {what} column {name:?}: no such column (the table has {})",
            fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ")
        ))
    })
}

/// Digits an integer type needs as a DECIMAL.
fn integer_digits(k: &TypeKind) -> Option<u8> {
    match k {
        TypeKind::TinyInt => Some(3),
        TypeKind::SmallInt => Some(5),
        TypeKind::Int => Some(10),
        TypeKind::BigInt => Some(19),
        _ => None,
    }
}

/// Whether every value of `from` is exactly a value of `to` (the casts shoal applies on read).
pub(crate) fn is_widening(from: &DataType, to: &DataType) -> bool {
    use TypeKind::*;
    let rank = |k: &TypeKind| match k {
        TinyInt => Some(1),
        SmallInt => Some(2),
        Int => Some(3),
        BigInt => Some(4),
        _ => None,
    };
    match (&from.kind, &to.kind) {
        (a, b) if a == b => true,
        (a, b) if rank(a).is_some() && rank(b).is_some() => rank(a) < rank(b),
        (TinyInt | SmallInt, Float) => true,
        (TinyInt | SmallInt | Int, Double) => true,
        (Float, Double) => true,
        (a, Decimal { precision, scale }) if integer_digits(a).is_some() => {
            precision.saturating_sub(*scale) >= integer_digits(a).unwrap_or(u8::MAX)
        }
        (Decimal { precision: p, scale: s }, Decimal { precision: p2, scale: s2 }) => s2 >= s && p2 - s2 >= p - s,
        (Char(n) | VarChar(n), VarChar(m)) => m >= n,
        (Binary(n) | VarBinary(n), VarBinary(m)) => m >= n,
        (Timestamp(p), Timestamp(q)) | (LocalZonedTimestamp(p), LocalZonedTimestamp(q)) | (Time(p), Time(q)) => q >= p,
        (Date, Timestamp(_)) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::types::parse_type;

    fn schema() -> TableSchema {
        TableSchema::create(
            vec![
                ("id".into(), parse_type("BIGINT").unwrap()),
                ("dt".into(), parse_type("STRING").unwrap()),
                ("a".into(), parse_type("INT").unwrap()),
                ("b".into(), parse_type("STRING").unwrap()),
            ],
            vec!["dt".into()],
            vec!["id".into(), "dt".into()],
            BTreeMap::from([("bucket".into(), "2".into())]),
            None,
        )
        .unwrap()
    }

    fn ty(s: &str) -> DataType {
        parse_type(s).unwrap()
    }

    #[test]
    fn add_drop_rename_keep_field_ids() {
        let s = schema();
        let n = s
            .apply_changes(
                &[
                    SchemaChange::AddColumn {
                        name: "c".into(),
                        data_type: ty("ROW<x INT, y INT>"),
                        position: ColumnPosition::After("id".into()),
                        comment: None,
                    },
                    SchemaChange::RenameColumn { from: "a".into(), to: "a2".into() },
                    SchemaChange::DropColumn("b".into()),
                    SchemaChange::AddColumn {
                        name: "z".into(),
                        data_type: ty("INT"),
                        position: ColumnPosition::First,
                        comment: Some("new".into()),
                    },
                ],
                true,
            )
            .unwrap();
        assert_eq!(n.id, 1);
        let names: Vec<_> = n.fields.iter().map(|f| (f.name.as_str(), f.id)).collect();
        assert_eq!(names, vec![("z", 7), ("id", 0), ("c", 4), ("dt", 1), ("a2", 2)]);
        assert_eq!(n.highest_field_id, 7);
        let back = TableSchema::from_json_str(&n.to_json_string(), "schema-1").unwrap();
        assert_eq!(back, n);
    }

    #[test]
    fn refusals_name_the_column_and_reason() {
        let s = schema();
        let err = |c: SchemaChange| s.apply_changes(&[c], true).unwrap_err().to_string();
        assert!(err(SchemaChange::DropColumn("id".into())).contains("primary-key column"));
        assert!(err(SchemaChange::RenameColumn { from: "dt".into(), to: "d".into() }).contains("partition column"));
        assert!(err(SchemaChange::DropColumn("nope".into())).contains("no such column"));
        assert!(err(SchemaChange::AddColumn {
            name: "a".into(),
            data_type: ty("INT"),
            position: ColumnPosition::Last,
            comment: None
        })
        .contains("exists"));
        assert!(err(SchemaChange::AddColumn {
            name: "n".into(),
            data_type: ty("INT NOT NULL"),
            position: ColumnPosition::Last,
            comment: None
        })
        .contains("NOT NULL"));
        assert!(err(SchemaChange::UpdateColumnType { name: "b".into(), data_type: ty("INT") }).contains("only widens"));
        assert!(err(SchemaChange::UpdateColumnType { name: "id".into(), data_type: ty("DECIMAL(20, 0)") })
            .contains("primary-key"));
        assert!(err(SchemaChange::SetOption { key: "merge-engine".into(), value: "first-row".into() })
            .contains("cannot be changed"));
        assert!(err(SchemaChange::SetOption { key: "bucket".into(), value: "4".into() }).contains("rescale"));
        assert!(err(SchemaChange::SetOption { key: "bukcet".into(), value: "4".into() }).contains("unknown option"));
        assert!(err(SchemaChange::SetOption { key: "deletion-vectors.enabled".into(), value: "true".into() })
            .contains("cannot be changed"));
    }

    #[test]
    fn widening_rules() {
        let ok = |a: &str, b: &str| is_widening(&ty(a), &ty(b));
        assert!(ok("INT", "BIGINT") && ok("TINYINT", "INT") && ok("FLOAT", "DOUBLE") && ok("INT", "DOUBLE"));
        assert!(ok("INT", "DECIMAL(10, 0)") && !ok("INT", "DECIMAL(10, 2)") && ok("BIGINT", "DECIMAL(38, 2)"));
        assert!(ok("DECIMAL(10, 2)", "DECIMAL(12, 4)") && !ok("DECIMAL(10, 2)", "DECIMAL(10, 3)"));
        assert!(ok("VARCHAR(10)", "STRING") && ok("CHAR(3)", "VARCHAR(3)") && !ok("STRING", "VARCHAR(10)"));
        assert!(
            ok("TIMESTAMP(3)", "TIMESTAMP(6)") && !ok("TIMESTAMP(6)", "TIMESTAMP(3)") && ok("DATE", "TIMESTAMP(3)")
        );
        assert!(!ok("BIGINT", "INT") && !ok("DOUBLE", "FLOAT") && !ok("BIGINT", "DOUBLE") && !ok("STRING", "INT"));
    }
}
