//! The unions behind the `hll_sketch` and `theta_sketch` aggregate functions: Apache DataSketches
//! HLL and Theta sketches in their binary (Java-compatible) forms, merged as Paimon 0.9's
//! `HllSketchUtil.union` and `ThetaSketch.union` do with datasketches-java 4.2. Theta sketches are
//! those of Apache DataSketches' own Rust port (`datasketches`), with two preamble fields set as
//! Java sets them; the HLL union is ours ([`hll`]), as Java's union state machine decides the
//! bytes of its result. `format-spec/merge-engines.md` says what the bytes are.

use datasketches::theta::{CompactThetaSketch, ThetaUnionBuilder};

pub mod hll;
#[cfg(test)]
mod tests;

/// A value that is not a sketch of the kind the function needs.
#[derive(Debug, thiserror::Error)]
#[error("not a serialised {kind} sketch: {message}")]
pub struct FormatError {
    kind: &'static str,
    message: String,
}

fn theta(bytes: &[u8]) -> Result<CompactThetaSketch, FormatError> {
    CompactThetaSketch::deserialize(bytes).map_err(|e| FormatError { kind: "Theta", message: e.to_string() })
}

/// Paimon's `HllSketchUtil.union(acc, input)` ([`hll::union`]).
pub fn hll_union(acc: &[u8], input: &[u8]) -> Result<Vec<u8>, (bool, FormatError)> {
    hll::union(acc, input)
}

/// Paimon's `ThetaSketch.union(acc, input)`: a default union (4096 nominal entries, seed 9001) of
/// both, its result an ordered compact sketch.
pub fn theta_union(acc: &[u8], input: &[u8]) -> Result<Vec<u8>, (bool, FormatError)> {
    let a = theta(acc).map_err(|e| (true, e))?;
    let b = theta(input).map_err(|e| (false, e))?;
    let mut union = ThetaUnionBuilder::default()
        .build()
        .map_err(|e| (false, FormatError { kind: "Theta", message: e.to_string() }))?;
    for (is_acc, s) in [(true, &a), (false, &b)] {
        union.update(s).map_err(|e| (is_acc, FormatError { kind: "Theta", message: e.to_string() }))?;
    }
    let mut out = union.to_sketch(true).serialize();
    java_compact_preamble(&mut out);
    Ok(out)
}

/// Two preamble fields datasketches-java sets in every compact sketch it writes and the Rust port
/// leaves at zero: the single-item flag of a one-hash sketch in exact mode (preamble of one long),
/// and the sampling probability p = 1.0 (a float at byte 12) when the preamble has a second long.
fn java_compact_preamble(bytes: &mut [u8]) {
    const SINGLE_ITEM_FLAG: u8 = 0x20;
    const EMPTY_FLAG: u8 = 0x04;
    match bytes.first() {
        Some(1) if bytes.len() == 16 && bytes[5] & EMPTY_FLAG == 0 => bytes[5] |= SINGLE_ITEM_FLAG,
        Some(2..) if bytes.len() >= 16 => bytes[12..16].copy_from_slice(&1.0f32.to_le_bytes()),
        _ => {}
    }
}
