//! Merge engines: what a primary key's value is when several versions of it meet. The same
//! function runs in the write buffer (one version per key per file), in merge-on-read, and in
//! compaction, so they can never disagree.
//!
//! Versions of a key are ordered by `sequence.field` (when set, nulls first) and then by
//! sequence number, oldest first. As in Paimon, a key with a single version is that version
//! (whatever the engine). Otherwise:
//! - `deduplicate` keeps the newest version;
//! - `first-row` keeps the oldest;
//! - `partial-update` overwrites column by column with non-null values ([`partial_update`]);
//! - `aggregation` folds each column with its aggregate function ([`aggregate`]).
//!
//! Deduplicate and first-row pick a version ([`Merged::Pick`]); the other two compute a row of
//! [`cell::Cell`]s, mostly references into the versions, built into Arrow by
//! [`cell::ComputedRows`].

mod aggregate;
pub(crate) mod cell;
pub(crate) mod keys;
mod partial_update;
pub mod rbm64;
pub mod sketches;

use std::cmp::Ordering;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::spec::merge_engine::MergeEngineConfig;
use crate::spec::options::MergeEngine;
use crate::spec::{RowKind, TableSchema};
use aggregate::{Aggregator, Ctx};
use cell::{compare_scalars, scalar_at, Cell, Version};
use partial_update::{Outcome, PartialUpdate};

/// The result of merging one key's versions.
#[derive(Debug)]
pub(crate) enum Merged {
    /// The key is this version (by index into the ordered versions).
    Pick(usize),
    /// The key is a new row (kind +I) with this sequence number.
    Row { seq: i64, cells: Vec<Cell> },
    /// No version survives.
    Nothing,
}

#[derive(Debug)]
enum Engine {
    Deduplicate,
    FirstRow,
    PartialUpdate(PartialUpdate),
    Aggregation(Vec<Aggregator>),
}

#[derive(Debug)]
struct Inner {
    engine: Engine,
    ignore_delete: bool,
    sequence_fields: Vec<usize>,
    retract_refusal: Option<String>,
}

/// A table's merge function. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct MergeFunction {
    inner: Arc<Inner>,
}

impl MergeFunction {
    pub(crate) fn from_schema(schema: &TableSchema) -> Result<MergeFunction> {
        let config = MergeEngineConfig::from_schema(schema)?;
        let retract_refusal = config.retract_refusal(schema);
        let aggregators: Vec<Option<Aggregator>> = config
            .aggregators
            .iter()
            .enumerate()
            .map(|(i, a)| {
                a.as_ref().map(|a| Aggregator::new(a, &schema.fields[i].name, schema.fields[i].data_type.to_arrow()))
            })
            .collect();
        let engine = match config.engine {
            MergeEngine::Deduplicate => Engine::Deduplicate,
            MergeEngine::FirstRow => Engine::FirstRow,
            MergeEngine::PartialUpdate => Engine::PartialUpdate(PartialUpdate::new(
                config.ignore_delete,
                config.remove_record_on_delete,
                config.sequence_groups.clone(),
                aggregators,
                schema.fields.iter().map(|f| !f.data_type.nullable).collect(),
            )),
            MergeEngine::Aggregation => Engine::Aggregation(
                aggregators
                    .into_iter()
                    .enumerate()
                    .map(|(i, a)| {
                        a.ok_or_else(|| Error::Unsupported(format!("internal: column {i} has no aggregator")))
                    })
                    .collect::<Result<_>>()?,
            ),
        };
        Ok(MergeFunction {
            inner: Arc::new(Inner {
                engine,
                ignore_delete: config.ignore_delete,
                sequence_fields: config.sequence_fields,
                retract_refusal,
            }),
        })
    }

    /// Whether an input row of this kind is dropped before it reaches the buffer
    /// (`ignore-delete`).
    pub(crate) fn ignores(&self, kind: RowKind) -> bool {
        self.inner.ignore_delete && kind.is_retract()
    }

    /// Why the table cannot take -U/-D input rows, if it cannot.
    pub(crate) fn retract_refusal(&self) -> Option<&str> {
        self.inner.retract_refusal.as_deref()
    }

    /// first-row: readers see only files above level 0, and every compaction is a full one, so
    /// that each key lives in one file above level 0. Paimon's batch reads of first-row tables
    /// read levels above 0 without merging; a key twice up there would be read twice by Paimon.
    pub(crate) fn is_first_row(&self) -> bool {
        matches!(self.inner.engine, Engine::FirstRow)
    }

    /// Whether merging only ever picks a version by the row kinds and sequence numbers (no
    /// values needed): deduplicate and first-row without `sequence.field`.
    pub(crate) fn picks_by_kind(&self) -> bool {
        self.inner.sequence_fields.is_empty() && matches!(self.inner.engine, Engine::Deduplicate | Engine::FirstRow)
    }

    /// deduplicate without `sequence.field`: the newest version of a key is its value, whatever
    /// older versions hold (merging a newer file with older ones never changes its rows).
    pub(crate) fn keeps_newest(&self) -> bool {
        self.inner.sequence_fields.is_empty() && matches!(self.inner.engine, Engine::Deduplicate)
    }

    /// Given the kinds of one key's versions in sequence order, the version that represents the
    /// key (for [`Self::picks_by_kind`] engines). The result may be a retraction: whether it is
    /// dropped depends on the caller (kept in level-0 files, dropped by readers).
    pub(crate) fn pick(&self, kinds: &[RowKind]) -> Result<Option<usize>> {
        if kinds.len() <= 1 {
            return Ok(kinds.len().checked_sub(1));
        }
        let ignore = self.inner.ignore_delete;
        match self.inner.engine {
            Engine::FirstRow => {
                if !ignore && kinds.iter().any(|k| k.is_retract()) {
                    return Err(Error::RowKindRefused(
                        "the first-row merge engine can not accept -U/-D rows; set 'first-row.ignore-delete' = true"
                            .into(),
                    ));
                }
                Ok(kinds.iter().position(|k| !k.is_retract()))
            }
            _ if ignore => Ok(kinds.iter().rposition(|k| !k.is_retract())),
            _ => Ok(Some(kinds.len() - 1)),
        }
    }

    /// Orders a key's versions: by `sequence.field` (nulls first) when set, then by sequence number.
    pub(crate) fn order(&self, versions: &mut [Version]) {
        let fields = &self.inner.sequence_fields;
        if fields.is_empty() {
            versions.sort_by_key(|v| v.seq);
            return;
        }
        let key = |v: &Version| -> Vec<Cell> {
            fields.iter().map(|&f| scalar_at(v.columns[f].as_ref(), v.row).unwrap_or(Cell::Null)).collect()
        };
        let mut keyed: Vec<(Vec<Cell>, Version)> = versions.iter().map(|v| (key(v), *v)).collect();
        keyed.sort_by(|a, b| {
            a.0.iter()
                .zip(&b.0)
                .map(|(x, y)| compare_scalars(x, y))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
                .then(a.1.seq.cmp(&b.1.seq))
        });
        for (slot, (_, v)) in versions.iter_mut().zip(keyed) {
            *slot = v;
        }
    }

    /// Merges one key's versions (any order; they are ordered first).
    pub(crate) fn merge(&self, versions: &mut [Version]) -> Result<Merged> {
        self.order(versions);
        if versions.len() <= 1 {
            return Ok(if versions.is_empty() { Merged::Nothing } else { Merged::Pick(0) });
        }
        match &self.inner.engine {
            Engine::Deduplicate | Engine::FirstRow => {
                let kinds: Vec<RowKind> = versions.iter().map(|v| v.kind).collect();
                Ok(self.pick(&kinds)?.map(Merged::Pick).unwrap_or(Merged::Nothing))
            }
            Engine::PartialUpdate(p) => Ok(match p.merge(versions)? {
                Outcome::Row { seq, cells } => Merged::Row { seq, cells },
                Outcome::Version(i) => Merged::Pick(i),
            }),
            Engine::Aggregation(aggs) => {
                let mut row = vec![Cell::Null; aggs.len()];
                let mut initialized = vec![false; aggs.len()];
                for (vi, v) in versions.iter().enumerate() {
                    let retract = v.kind.is_retract();
                    for (c, a) in aggs.iter().enumerate() {
                        let ctx = Ctx { versions, column: c };
                        let input = v.cell(vi, c);
                        let acc = std::mem::replace(&mut row[c], Cell::Null);
                        row[c] = if retract {
                            a.retract(acc, input, ctx)?
                        } else {
                            a.agg(acc, input, &mut initialized[c], ctx)?
                        };
                    }
                }
                let seq = versions.last().map(|v| v.seq).unwrap_or(0);
                Ok(Merged::Row { seq, cells: row })
            }
        }
    }
}
