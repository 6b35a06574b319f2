//! The layers of `src/`: a module imports (`use crate::x`, `crate::x::...` paths) only modules
//! of its own layer or of lower ones, as the data flows. The check reads the sources (comments
//! and string literals left out) and fails on an import of a higher layer that is not among the
//! known exceptions below, on a known exception that no longer happens (take it off the list),
//! and on a top-level module of `src/` that has no layer yet (give it one).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The top-level modules of `src/lib.rs`, lowest first. `spec`: the Paimon format; `io`: object
/// stores; `error`: the crate's error, wrapping the errors of spec and io; `memory`: the memory
/// pool; `merge`: merge engines and key comparison; `store`: a table's metadata (snapshots,
/// schemas, manifests); `data_file`: data files as they are written (the Parquet writer rolling
/// files, their statistics and names) and the rows of recently written ones kept decoded, below
/// both writers of data files, the compaction rewrite (`lsm`) and the table writer (`write`); it
/// sits below `read` too, since the decoded-files cache is the writer's (it fills it as it encodes)
/// and the merge read only looks there before reading a file back, so the cache lives here rather
/// than the writer importing `read`; `read`: scan planning and the merge read (the writer's spills,
/// its cross-partition index and compaction read through it); `lsm`: levels, compaction picking,
/// the compaction rewrite; `write`: the table writer, giving commit messages; `commit`: commit
/// messages into snapshots; `table`: the handle users open, with the write+commit loops built on it
/// (streaming sink, overwrite); `maintenance`: compaction jobs, expiry, tags, branches;
/// `system_tables`; `ingest`; `datafusion`; `demo`; `cli` (the binary's, `src/cli`, not scanned: it
/// is the top and its `crate::` is the binary).
const LAYERS: &[&str] = &[
    "spec",
    "io",
    "error",
    "memory",
    "merge",
    "store",
    "data_file",
    "read",
    "lsm",
    "write",
    "commit",
    "table",
    "maintenance",
    "system_tables",
    "ingest",
    "datafusion",
    "demo",
    "cli",
];

/// Imports of a higher layer that are there today, each with what removes it: (file under
/// `src/`, the module it imports).
const KNOWN: &[(&str, &str, &str)] = &[(
    "table.rs",
    "maintenance",
    "Table::new_commit installs maintenance::post_commit's hook (consumer, snapshot, changelog \
     and tag expiry and automatic tags after every commit), which the table's own commit loops \
     (table/sink.rs, table/overwrite.rs) and every caller of new_commit rely on; the operations \
     themselves are builders made from a Table (maintenance::operations). Goes when the jobs the \
     hook runs (post_commit, expire, expire_changelog, tags, auto_tag, and file_refs and \
     branches under them: io, spec and store only, plus commit's AfterCommit) become a layer \
     below table (issue 26)",
)];

/// The top-level modules a file's code names through `crate::` (comments and literals aside).
fn imported_modules(code: &str) -> BTreeSet<String> {
    let code = strip_comments_and_literals(code);
    let bytes = code.as_bytes();
    let mut out = BTreeSet::new();
    let mut at = 0;
    while let Some(i) = code[at..].find("crate::") {
        let start = at + i;
        at = start + "crate::".len();
        if start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
            continue; // `foocrate::`, not a crate path
        }
        let rest = &code[at..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a::b, c}`: the first segment of each item at the top of the group.
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.extend(first_segment(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            out.extend(first_segment(&item));
        } else {
            out.extend(first_segment(rest));
        }
    }
    out
}

fn first_segment(path: &str) -> Option<String> {
    let name: String = path.trim_start().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    (!name.is_empty() && name != "self").then_some(name)
}

/// `code` with comments removed and string and char literals emptied.
fn strip_comments_and_literals(code: &str) -> String {
    let c: Vec<char> = code.chars().collect();
    let mut out = String::with_capacity(code.len());
    let mut i = 0;
    while i < c.len() {
        if c[i] == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i] == '/' && c.get(i + 1) == Some(&'*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c[i] == 'r' && matches!(c.get(i + 1), Some('"') | Some('#')) && !ident_before(&c, i) {
            // A raw string r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while c.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if c.get(j) != Some(&'"') {
                out.push(c[i]);
                i += 1;
                continue;
            }
            j += 1;
            while j < c.len() && !(c[j] == '"' && (0..hashes).all(|h| c.get(j + 1 + h) == Some(&'#'))) {
                j += 1;
            }
            out.push_str("\"\"");
            i = j + 1 + hashes;
        } else if c[i] == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            out.push_str("\"\"");
            i += 1;
        } else if c[i] == '\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if c.get(i + 1) == Some(&'\\') {
                let mut j = i + 2;
                while j < c.len() && c[j] != '\'' {
                    j += 1;
                }
                out.push_str("' '");
                i = j + 1;
            } else if c.get(i + 2) == Some(&'\'') {
                out.push_str("' '");
                i += 3;
            } else {
                out.push('\'');
                i += 1;
            }
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

fn ident_before(c: &[char], i: usize) -> bool {
    i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_')
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The names `src/lib.rs` re-exports at the root (`pub use table::Table;`), by module.
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in lib.lines() {
        let Some(rest) = line.trim().strip_prefix("pub use ") else { continue };
        let rest = rest.trim_end_matches(';');
        let Some((module, names)) = rest.split_once("::") else { continue };
        for name in names.trim_matches(|c| c == '{' || c == '}').split(',') {
            let name = name.split(" as ").last().unwrap_or(name).trim();
            out.insert(name.to_string(), module.trim().to_string());
        }
    }
    out
}

/// Every import of a higher layer: (file under `src/`, its module, the module it imports).
fn upward_imports() -> Vec<(String, String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let rank = |m: &str| LAYERS.iter().position(|l| *l == m);
    let roots = root_reexports(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    let mut files = vec![];
    rust_files(&src, &mut files);
    files.sort();
    let mut found = vec![];
    for path in files {
        let rel = path.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
        if rel == "lib.rs" || rel == "main.rs" || rel.starts_with("cli/") {
            continue;
        }
        let module = rel.split('/').next().unwrap().trim_end_matches(".rs").to_string();
        let from = rank(&module).unwrap_or_else(|| panic!("src/{rel}: module `{module}` has no layer in LAYERS"));
        for name in imported_modules(&std::fs::read_to_string(&path).unwrap()) {
            let target = roots.get(&name).cloned().unwrap_or(name);
            let to = rank(&target).unwrap_or_else(|| {
                panic!("src/{rel}: `crate::{target}` is neither a module in LAYERS nor a root re-export")
            });
            if to > from {
                found.push((rel.clone(), module.clone(), target));
            }
        }
    }
    found
}

#[test]
fn lower_layers_do_not_import_higher_ones() {
    let found = upward_imports();
    let new: Vec<String> = found
        .iter()
        .filter(|(file, _, to)| !KNOWN.iter().any(|(f, t, _)| f == file && t == to))
        .map(|(file, from, to)| format!("src/{file} ({from}) imports crate::{to}, a higher layer"))
        .collect();
    let stale: Vec<String> = KNOWN
        .iter()
        .filter(|(f, t, _)| !found.iter().any(|(file, _, to)| file == f && to == t))
        .map(|(f, t, _)| format!("src/{f} no longer imports crate::{t}: take it off KNOWN"))
        .collect();
    assert!(
        new.is_empty() && stale.is_empty(),
        "layers, lowest first: {}\n{}",
        LAYERS.join(" -> "),
        new.iter().chain(&stale).cloned().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn every_module_of_lib_has_a_layer() {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    for line in lib.lines() {
        let line = line.trim();
        let m = ["pub mod ", "pub(crate) mod ", "mod "].iter().find_map(|p| line.strip_prefix(p));
        if let Some(m) = m {
            let m = m.trim_end_matches(';').trim();
            assert!(LAYERS.contains(&m), "src/lib.rs: module `{m}` has no layer in tests/layers.rs");
        }
    }
}

#[test]
fn the_scan_sees_paths_not_comments_or_strings() {
    let code = r#"
        use crate::io::FileIO;
        use crate::{spec::{self, Snapshot}, store::SnapshotManager};
        // use crate::cli::x;
        /* crate::demo::y */
        let s = "crate::ingest::z";
        let c = '"'; let r = crate::table::Table::open;
        fn f<'a>(x: &'a str) -> crate::error::Result<()> { todo!() }
        let not = mycrate::write::x;
    "#;
    let found: Vec<String> = imported_modules(code).into_iter().collect();
    assert_eq!(found, ["error", "io", "spec", "store", "table"]);
}
