//! The read path: scan planning ([`scan`]) and merge-on-read ([`merge_read`]), exposed as an
//! async stream of Arrow batches. Splits are read on blocking threads, several at once.

mod avro_data;
pub(crate) mod merge_read;
pub mod scan;
pub(crate) mod stream_read;
pub(crate) mod stream_scan;

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use futures::stream::{BoxStream, StreamExt};

use crate::error::{Error, Result};
pub use merge_read::SplitReader;
pub use scan::{DataSplit, Plan, TableScan};
pub use stream_read::{ChangeBatch, ChangeReader, StreamOptions, ROW_KIND_COLUMN};
pub use stream_scan::{StartingPosition, StreamScan};

/// Reads splits as one stream of batches. Up to `parallelism` splits are read at once and their
/// batches interleave as they are decoded; batches of one split come in key order (with
/// `parallelism` 1, splits in plan order).
pub fn read_splits(
    reader: SplitReader,
    splits: Vec<DataSplit>,
    parallelism: usize,
) -> BoxStream<'static, Result<RecordBatch>> {
    read_splits_numbered(reader, splits, parallelism).map(|r| r.map(|(_, b)| b)).boxed()
}

/// [`read_splits`], each batch with the position of its split in `splits` (to put the batches
/// back in plan order: see [`collect_in_split_order`]).
pub fn read_splits_numbered(
    reader: SplitReader,
    splits: Vec<DataSplit>,
    parallelism: usize,
) -> BoxStream<'static, Result<(usize, RecordBatch)>> {
    let reader = Arc::new(reader);
    futures::stream::iter(splits.into_iter().enumerate())
        .map(move |(n, split)| {
            let reader = reader.clone();
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<RecordBatch>>(4);
            tokio::task::spawn_blocking(move || {
                let mut emit = |b: RecordBatch| tx.blocking_send(Ok(b)).is_ok();
                if let Err(e) = reader.read_split(&split, &mut emit) {
                    let _ = tx.blocking_send(Err(e));
                }
            });
            tokio_stream_from(rx).map(move |r| r.map(|b| (n, b)))
        })
        // Batches as they come from up to `parallelism` splits at once. In split order, a split
        // read ahead stalled once its channel was full until every split before it was drained
        // (the full read of the orders DV table took 0.29 s instead of 0.20 s that way).
        .flatten_unordered(parallelism.max(1))
        .boxed()
}

/// Collects numbered batches into plan order (splits in order, each split's batches in order).
pub async fn collect_in_split_order(
    mut stream: BoxStream<'static, Result<(usize, RecordBatch)>>,
) -> Result<Vec<RecordBatch>> {
    let mut out = vec![];
    while let Some(r) = stream.next().await {
        out.push(r?);
    }
    // Stable: a split's batches keep the order they came in.
    out.sort_by_key(|(n, _)| *n);
    Ok(out.into_iter().map(|(_, b)| b).collect())
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<RecordBatch>>,
) -> BoxStream<'static, Result<RecordBatch>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}

/// Concatenates batches of one schema.
pub(crate) fn concat(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<RecordBatch> {
    arrow_select::concat::concat_batches(schema, batches).map_err(Error::arrow("concatenating batches"))
}
