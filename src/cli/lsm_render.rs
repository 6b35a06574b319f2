//! How `shoal inspect` draws the LSM shape of each bucket: as text, and as an SVG picture (one
//! panel per bucket, one row per sorted run from the newest level-0 file down to the last level,
//! each file a rectangle spanning its key range; overlapping files are drawn in a warmer colour).

use std::fmt::Write as _;

use shoal::lsm::shape::{BucketShape, FileShape, KeyAxis};
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
        r##"<text x="10" y="40" fill="#555">one row per sorted run (newest at the top); x = key range; bar height = file size; orange = overlaps another run; hover a file for its details</text>"##
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
        let axis = KeyAxis::of(b.files().map(|f| (&f.min_key[..], &f.max_key[..])), 6);
        let mut spans = axis.spans.iter();
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
                let (start, end) = spans.next().copied().unwrap_or((0.0, 1.0));
                let (x0, x1) = (LEFT + plot * start, LEFT + plot * end);
                // Bar height grows with the file's size (relative to the largest file).
                let h = (ROW - 6.0) * (0.35 + 0.65 * (f.file.file_size as f64 / max_size).sqrt());
                let fill = fill_of(f);
                let _ = writeln!(
                    s,
                    r##"<rect x="{x0:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{fill}" fill-opacity="0.8" stroke="#333" stroke-width="0.6"><title>{} (level {}): {} rows, {}, keys [{} .. {}], overlaps {} files</title></rect>"##,
                    y + (ROW - h) / 2.0,
                    (x1 - x0).max(1.5),
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
        // The key axis: a baseline with labelled ticks.
        let _ = writeln!(s, r##"<line x1="{LEFT}" x2="{}" y1="{y}" y2="{y}" stroke="#999"/>"##, LEFT + plot);
        let last = axis.ticks.len().saturating_sub(1);
        for (i, (at, label)) in axis.ticks.iter().enumerate() {
            let x = LEFT + plot * at;
            let anchor = match i {
                0 if last > 0 => "start",
                i if i == last && last > 0 => "end",
                _ => "middle",
            };
            let _ = writeln!(s, r##"<line x1="{x:.1}" x2="{x:.1}" y1="{y}" y2="{}" stroke="#999"/>"##, y + 4.0);
            let _ = writeln!(
                s,
                r##"<text x="{x:.1}" y="{}" fill="#777" font-size="10" text-anchor="{anchor}">{}</text>"##,
                y + 14.0,
                escape(label)
            );
        }
        let _ = writeln!(
            s,
            r##"<text x="10" y="{}" fill="#777" font-size="10">{}</text>"##,
            y + 14.0,
            if axis.linear { "key" } else { "key (by rank)" }
        );
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
