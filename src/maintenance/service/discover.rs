//! Which tables of a warehouse a maintainer looks after: every `<db>.db/<table>` directory
//! holding a schema (Paimon's filesystem catalog layout), selected by name patterns.

use crate::error::Result;
use crate::io::FileIO;

/// A table of the warehouse.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct TableName {
    pub database: String,
    pub table: String,
}

impl TableName {
    /// Its directory relative to the warehouse root.
    pub(crate) fn dir(&self) -> String {
        format!("{}.db/{}", self.database, self.table)
    }
}

impl std::fmt::Display for TableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.database, self.table)
    }
}

/// Comma-separated glob patterns (`*` any run of characters, `?` one character). A pattern
/// with a `.` is matched against `db.table`, one without against the bare name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Patterns(Vec<String>);

impl Patterns {
    /// `None` or an empty text matches everything.
    pub fn parse(text: Option<&str>) -> Patterns {
        Patterns(text.unwrap_or("").split(',').map(str::trim).filter(|p| !p.is_empty()).map(String::from).collect())
    }

    pub fn matches_all(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `name` (or `qualified`, for patterns with a dot) matches one of the patterns.
    pub fn matches(&self, name: &str, qualified: &str) -> bool {
        self.0.is_empty()
            || self.0.iter().any(|p| glob(p.as_bytes(), if p.contains('.') { qualified } else { name }.as_bytes()))
    }
}

/// `*` and `?` glob matching, iterative with one backtrack point.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == b'*')
}

/// The tables under `warehouse` whose database matches `databases` and whose name matches
/// `tables`, sorted. A directory without `schema/` is not a table.
pub(crate) async fn discover(warehouse: &FileIO, databases: &Patterns, tables: &Patterns) -> Result<Vec<TableName>> {
    let mut found = vec![];
    for dir in warehouse.list_dirs("").await? {
        let Some(database) = dir.strip_suffix(".db") else { continue };
        if !databases.matches(database, database) {
            continue;
        }
        for table in warehouse.list_dirs(&dir).await? {
            let name = TableName { database: database.to_string(), table };
            if !tables.matches(&name.table, &name.to_string()) {
                continue;
            }
            if warehouse.list(&format!("{}/schema", name.dir())).await?.is_empty() {
                continue;
            }
            found.push(name);
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests;
