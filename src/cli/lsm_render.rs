//! How `shoal inspect` draws the LSM shape of each bucket: as text, and as an SVG picture (one
//! panel per bucket, one row per sorted run from the newest level-0 file down to the last level,
//! each file a rectangle spanning its key range; overlapping files are drawn in a warmer colour).

use std::fmt::Write as _;

use shoal::lsm::shape::{compare_keys, BucketShape, FileShape};
use shoal::spec::Datum;

fn key_text(k: &[Datum]) -> String {
    k.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(",")
}

fn size_text(bytes: i64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{bytes} B")
    }
}

/// The text report.
pub fn render_text(shapes: &[BucketShape]) -> String {
    let mut out = String::new();
    if shapes.is_empty() {
        out.push_str("the table has no data files\n");
    }
    for b in shapes {
        let files = b.files().count();
        let _ = writeln!(
            out,
            "{}: {} sorted runs, {} files, {}, {} overlapping file pairs (levels 0..={})",
            b.bucket_path,
            b.runs.len(),
            files,
            size_text(b.size()),
            b.overlapping_pairs,
            b.max_level
        );
        for run in &b.runs {
            let _ = writeln!(
                out,
                "  level {}: {} files, {} rows, {}",
                run.level,
                run.files.len(),
                run.rows(),
                size_text(run.size())
            );
            for f in &run.files {
                let _ = writeln!(
                    out,
                    "    {}  {} rows  {}  keys [{} .. {}]{}{}",
                    f.file.file_name,
                    f.file.row_count,
                    size_text(f.file.file_size),
                    key_text(&f.min_key),
                    key_text(&f.max_key),
                    match f.file.delete_row_count {
                        Some(d) if d > 0 => format!("  {d} retractions"),
                        _ => String::new(),
                    },
                    if f.overlaps > 0 { format!("  overlaps {} files", f.overlaps) } else { String::new() },
                );
            }
        }
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Key positions on the x axis: every distinct file bound, in key order, evenly spaced (keys of
/// any type have an order but not always a distance).
fn key_axis(b: &BucketShape) -> Vec<Vec<Datum>> {
    let mut keys: Vec<Vec<Datum>> = b.files().flat_map(|f| [f.min_key.clone(), f.max_key.clone()]).collect();
    keys.sort_by(|a, b| compare_keys(a, b));
    keys.dedup_by(|a, b| compare_keys(a, b).is_eq());
    keys
}

fn position(axis: &[Vec<Datum>], key: &[Datum]) -> usize {
    axis.partition_point(|k| compare_keys(k, key).is_lt())
}

/// The SVG picture.
pub fn render_svg(table: &str, shapes: &[BucketShape]) -> String {
    const WIDTH: f64 = 960.0;
    const LEFT: f64 = 110.0;
    const ROW: f64 = 26.0;
    const GAP: f64 = 46.0;
    let plot = WIDTH - LEFT - 20.0;
    let height: f64 = 50.0 + shapes.iter().map(|b| b.runs.len().max(1) as f64 * ROW + GAP).sum::<f64>();
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="#fcfcfa"/>"##);
    let _ =
        writeln!(s, r#"<text x="10" y="22" font-size="16" font-weight="bold">LSM shape of {}</text>"#, escape(table));
    let _ = writeln!(
        s,
        r##"<text x="10" y="40" fill="#555">one row per sorted run (newest at the top); x = key range; width also shows relative size in the tooltip; orange = overlaps another run</text>"##
    );
    let mut y = 50.0;
    let max_size = shapes.iter().flat_map(|b| b.files()).map(|f| f.file.file_size).max().unwrap_or(1).max(1) as f64;
    for b in shapes {
        let _ = writeln!(
            s,
            r#"<text x="10" y="{}" font-weight="bold">{} — {} runs, {} files, {}, {} overlapping pairs</text>"#,
            y + 14.0,
            escape(&b.bucket_path),
            b.runs.len(),
            b.files().count(),
            size_text(b.size()),
            b.overlapping_pairs
        );
        y += 20.0;
        let axis = key_axis(b);
        let slots = axis.len().max(1) as f64;
        for run in &b.runs {
            let _ = writeln!(s, r##"<text x="10" y="{}" fill="#333">level {}</text>"##, y + ROW * 0.65, run.level);
            let _ = writeln!(
                s,
                r##"<line x1="{LEFT}" x2="{}" y1="{}" y2="{}" stroke="#ddd"/>"##,
                WIDTH - 20.0,
                y + ROW / 2.0,
                y + ROW / 2.0
            );
            for f in &run.files {
                let x0 = LEFT + plot * position(&axis, &f.min_key) as f64 / slots;
                let x1 = LEFT + plot * (position(&axis, &f.max_key) + 1) as f64 / slots;
                // Bar height grows with the file's size (relative to the largest file).
                let h = (ROW - 6.0) * (0.35 + 0.65 * (f.file.file_size as f64 / max_size).sqrt());
                let fill = fill_of(f);
                let _ = writeln!(
                    s,
                    r##"<rect x="{x0:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{fill}" stroke="#333" stroke-width="0.6"><title>{} (level {}): {} rows, {}, keys [{} .. {}], overlaps {} files</title></rect>"##,
                    y + (ROW - h) / 2.0,
                    (x1 - x0 - 1.0).max(1.5),
                    escape(&f.file.file_name),
                    run.level,
                    f.file.row_count,
                    size_text(f.file.file_size),
                    escape(&key_text(&f.min_key)),
                    escape(&key_text(&f.max_key)),
                    f.overlaps
                );
            }
            y += ROW;
        }
        if let (Some(first), Some(last)) = (axis.first(), axis.last()) {
            let _ =
                writeln!(s, r##"<text x="{LEFT}" y="{}" fill="#777">{}</text>"##, y + 12.0, escape(&key_text(first)));
            let _ = writeln!(
                s,
                r##"<text x="{}" y="{}" fill="#777" text-anchor="end">{}</text>"##,
                WIDTH - 20.0,
                y + 12.0,
                escape(&key_text(last))
            );
        }
        y += GAP - 20.0;
    }
    s.push_str("</svg>\n");
    s
}

fn fill_of(f: &FileShape) -> &'static str {
    match (f.overlaps > 0, f.file.level) {
        (true, _) => "#f4a259",
        (false, 0) => "#8cb8e0",
        (false, _) => "#5b8e7d",
    }
}
