//! The read path: scan planning ([`scan`]) and merge-on-read ([`merge_read`]), exposed as an
//! async stream of Arrow batches. Splits are read on blocking threads, several at once.

pub mod decoded_files;
pub mod merge_read;
pub mod scan;
pub mod stream_read;
pub mod stream_scan;

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use futures::stream::{BoxStream, StreamExt};

use crate::error::{Error, Result};
pub use decoded_files::DecodedFiles;
pub use merge_read::SplitReader;
pub use scan::{DataSplit, Plan, TableScan};
pub use stream_read::{ChangeBatch, ChangeReader, StreamOptions, ROW_KIND_COLUMN};
pub use stream_scan::{StartingPosition, StreamScan};

/// Reads splits as one stream of batches. Up to `parallelism` splits are read at once; batches
/// of one split come in key order, splits in plan order.
pub fn read_splits(reader: SplitReader, splits: Vec<DataSplit>, parallelism: usize) -> BoxStream<'static, Result<RecordBatch>> {
    let reader = Arc::new(reader);
    futures::stream::iter(splits)
        .map(move |split| {
            let reader = reader.clone();
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<RecordBatch>>(4);
            tokio::task::spawn_blocking(move || {
                let mut emit = |b: RecordBatch| tx.blocking_send(Ok(b)).is_ok();
                if let Err(e) = reader.read_split(&split, &mut emit) {
                    let _ = tx.blocking_send(Err(e));
                }
            });
            async move { tokio_stream_from(rx) }
        })
        .buffered(parallelism.max(1))
        .flatten()
        .boxed()
}

fn tokio_stream_from(mut rx: tokio::sync::mpsc::Receiver<Result<RecordBatch>>) -> BoxStream<'static, Result<RecordBatch>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}

/// Collects a stream into batches.
pub async fn collect(mut stream: BoxStream<'static, Result<RecordBatch>>) -> Result<Vec<RecordBatch>> {
    let mut out = vec![];
    while let Some(b) = stream.next().await {
        out.push(b?);
    }
    Ok(out)
}

/// Concatenates batches of one schema.
pub fn concat(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<RecordBatch> {
    arrow_select::concat::concat_batches(schema, batches).map_err(Error::arrow("concatenating batches"))
}
