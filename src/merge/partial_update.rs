//! The partial-update merge engine: each version's non-null columns overwrite the row; sequence
//! groups (`fields.<seq>.sequence-group`) guard groups of columns by their own sequence fields,
//! so a late update of a group is ignored (or folded in reverse by the group's aggregators), and
//! retractions take back a group's columns. Paimon 0.9's rules, with one deliberate exception:
//! with `partial-update.remove-record-on-delete`, a -D resets the row and the result stays a
//! delete until a later insert (Paimon 0.9 dropped the key from the merge result, which lets an
//! older version resurface after a partial compaction, and failed on an insert after the delete;
//! later Paimon releases behave as shoal does).

use std::cmp::Ordering;

use super::aggregate::{Aggregator, Ctx};
use super::cell::{compare_scalars, resolve, Cell, Version};
use crate::error::{Error, Result};
use crate::spec::merge_engine::SequenceGroup;
use crate::spec::RowKind;

#[derive(Clone, Debug)]
pub(super) struct PartialUpdate {
    pub ignore_delete: bool,
    pub remove_record_on_delete: bool,
    pub groups: Vec<SequenceGroup>,
    /// Per column: the group it belongs to (as a member or as one of its sequence fields).
    pub group_of: Vec<Option<usize>>,
    pub aggregators: Vec<Option<Aggregator>>,
    /// Per column: declared NOT NULL (kept from a -D when the row is reset).
    pub not_null: Vec<bool>,
}

/// What a partial-update merge produced.
pub(super) enum Outcome {
    Row {
        seq: i64,
        cells: Vec<Cell>,
    },
    /// The result is this version as it stands (a -D when the key is deleted).
    Version(usize),
}

impl PartialUpdate {
    pub(super) fn new(
        ignore_delete: bool,
        remove_record_on_delete: bool,
        groups: Vec<SequenceGroup>,
        aggregators: Vec<Option<Aggregator>>,
        not_null: Vec<bool>,
    ) -> Self {
        let mut group_of = vec![None; aggregators.len()];
        for (g, group) in groups.iter().enumerate() {
            for &c in group.members.iter().chain(&group.sequence_fields) {
                group_of[c] = Some(g);
            }
        }
        PartialUpdate { ignore_delete, remove_record_on_delete, groups, group_of, aggregators, not_null }
    }

    /// Merges versions given in sequence order.
    pub(super) fn merge(&self, versions: &[Version]) -> Result<Outcome> {
        let n = self.aggregators.len();
        // Without sequence groups, a newest +I with every column set overwrites everything
        // before it: the result is that version (kind +I, its sequence number) as it stands.
        if let Some(last) = versions.last() {
            let retractions_ok =
                self.ignore_delete || self.remove_record_on_delete || versions.iter().all(|v| !v.kind.is_retract());
            if self.groups.is_empty()
                && last.kind == RowKind::Insert
                && retractions_ok
                && (0..n).all(|c| !last.columns[c].is_null(last.row))
            {
                return Ok(Outcome::Version(versions.len() - 1));
            }
        }
        let mut row: Vec<Cell> = vec![Cell::Null; n];
        let mut initialized = vec![false; n];
        let mut latest_seq: Option<i64> = None;
        let mut deleted: Option<usize> = None;
        for (vi, v) in versions.iter().enumerate() {
            deleted = None;
            if v.kind.is_retract() {
                if self.ignore_delete {
                    continue;
                }
                if !self.groups.is_empty() {
                    self.retract_with_groups(versions, vi, &mut row)?;
                    continue;
                }
                if self.remove_record_on_delete {
                    if v.kind == RowKind::Delete {
                        deleted = Some(vi);
                        for (c, cell) in row.iter_mut().enumerate() {
                            *cell = if self.not_null[c] { v.cell(vi, c) } else { Cell::Null };
                        }
                    }
                    continue;
                }
                return Err(Error::RowKindRefused(
                    "the partial-update merge engine can not accept -U/-D rows by default; set 'ignore-delete' = true, \
                     'partial-update.remove-record-on-delete' = true, or define sequence groups"
                        .into(),
                ));
            }
            latest_seq = Some(v.seq);
            if self.groups.is_empty() {
                for (c, cell) in row.iter_mut().enumerate() {
                    if !v.columns[c].is_null(v.row) {
                        *cell = Cell::Ref(vi);
                    }
                }
            } else {
                self.update_with_groups(versions, vi, &mut row, &mut initialized)?;
            }
        }
        if let Some(d) = deleted {
            return Ok(Outcome::Version(d));
        }
        match latest_seq {
            Some(seq) => Ok(Outcome::Row { seq, cells: row }),
            // Only retractions: nothing was inserted, so the key stays deleted.
            None => Ok(Outcome::Version(versions.len() - 1)),
        }
    }

    /// Whether every sequence field of group `g` is null in version `vi`.
    fn empty_group(&self, v: &Version, g: usize) -> bool {
        self.groups[g].sequence_fields.iter().all(|&f| v.columns[f].is_null(v.row))
    }

    /// Version `vi` against the row, by group `g`'s sequence fields (nulls first).
    fn compare_group(&self, versions: &[Version], vi: usize, row: &[Cell], g: usize) -> Result<Ordering> {
        for &f in &self.groups[g].sequence_fields {
            let a = resolve(&versions[vi].cell(vi, f), versions, f)?;
            let b = resolve(&row[f], versions, f)?;
            let o = compare_scalars(&a, &b);
            if o.is_ne() {
                return Ok(o);
            }
        }
        Ok(Ordering::Equal)
    }

    fn update_with_groups(
        &self,
        versions: &[Version],
        vi: usize,
        row: &mut [Cell],
        initialized: &mut [bool],
    ) -> Result<()> {
        let v = &versions[vi];
        for c in 0..row.len() {
            let input = v.cell(vi, c);
            let acc = row[c].clone();
            let ctx = Ctx { versions, column: c };
            let agg = self.aggregators[c].as_ref();
            match self.group_of[c] {
                None => {
                    if let Some(a) = agg {
                        row[c] = a.agg(acc, input, &mut initialized[c], ctx)?;
                    } else if !input.is_null() {
                        row[c] = input;
                    }
                }
                Some(g) => {
                    if self.empty_group(v, g) {
                        continue;
                    }
                    if self.compare_group(versions, vi, row, g)?.is_ge() {
                        if self.groups[g].sequence_fields.contains(&c) {
                            for &f in &self.groups[g].sequence_fields {
                                row[f] = v.cell(vi, f);
                            }
                        }
                        row[c] = match agg {
                            Some(a) => a.agg(acc, input, &mut initialized[c], ctx)?,
                            None => input,
                        };
                    } else if let Some(a) = agg {
                        row[c] = a.agg_reversed(acc, input, &mut initialized[c], ctx)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn retract_with_groups(&self, versions: &[Version], vi: usize, row: &mut [Cell]) -> Result<()> {
        let v = &versions[vi];
        let mut updated_seq_fields: Vec<usize> = vec![];
        for c in 0..row.len() {
            let Some(g) = self.group_of[c] else { continue };
            if self.empty_group(v, g) {
                continue;
            }
            let agg = self.aggregators[c].as_ref();
            let ctx = Ctx { versions, column: c };
            if self.compare_group(versions, vi, row, g)?.is_ge() {
                if self.groups[g].sequence_fields.contains(&c) {
                    for &f in &self.groups[g].sequence_fields {
                        if !updated_seq_fields.contains(&f) {
                            row[f] = v.cell(vi, f);
                            updated_seq_fields.push(f);
                        }
                    }
                } else {
                    row[c] = match agg {
                        None => Cell::Null,
                        Some(a) => a.retract(row[c].clone(), v.cell(vi, c), ctx)?,
                    };
                }
            } else if let Some(a) = agg {
                row[c] = a.retract(row[c].clone(), v.cell(vi, c), ctx)?;
            }
        }
        Ok(())
    }
}
