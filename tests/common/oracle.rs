//! The reference implementations, installed by `tools/oracle/setup.sh`: Java Paimon 0.9 (through
//! pypaimon 0.2's bridge) and pypaimon 2.x, driven by the scripts in `tools/oracle` with a JSON
//! spec of commits; they print merged rows as JSON lines.
//!
//! Without the oracles installed the tests that need them say so and pass, unless
//! SHOAL_REQUIRE_ORACLE=1 (set by tools/test), where a missing oracle fails the run.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

pub struct Oracle {
    pub java: PathBuf,
    pub py2: PathBuf,
    pub tools: PathBuf,
}

pub fn oracle() -> Option<Oracle> {
    let home = std::env::var("SHOAL_ORACLE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/shoal/oracle"));
    let o = Oracle {
        java: home.join("java09/bin/python"),
        py2: home.join("py2/bin/python"),
        tools: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tools/oracle"),
    };
    if o.java.exists() && o.py2.exists() && home.join("env.sh").exists() {
        return Some(o);
    }
    if std::env::var("SHOAL_REQUIRE_ORACLE").as_deref() == Ok("1") {
        panic!("the Paimon oracles are not installed under {}; run tools/oracle/setup.sh", home.display());
    }
    eprintln!("SKIPPED: Paimon oracles not installed (run tools/oracle/setup.sh, or tools/test)");
    None
}

impl Oracle {
    pub fn run(&self, python: &Path, script: &str, args: &[&str]) -> String {
        let out = Command::new(python)
            .arg(self.tools.join(script))
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
        if !out.status.success() {
            panic!(
                "{script} {args:?} failed:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        String::from_utf8(out.stdout).expect("oracle output is UTF-8")
    }

    pub fn java_write(&self, table_dir: &Path, spec: &Value) {
        std::fs::create_dir_all(table_dir.parent().unwrap()).unwrap();
        let spec_path = table_dir.with_extension("spec.json");
        std::fs::write(&spec_path, spec.to_string()).unwrap();
        self.run(
            &self.java,
            "java_oracle.py",
            &["write", "--table-dir", table_dir.to_str().unwrap(), "--spec", spec_path.to_str().unwrap()],
        );
    }

    pub fn java_read(&self, table_dir: &Path, snapshot: Option<i64>) -> Vec<String> {
        let mut args = vec!["read".to_string(), "--table-dir".into(), table_dir.to_str().unwrap().into()];
        if let Some(s) = snapshot {
            args.extend(["--snapshot".into(), s.to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        super::canonical_lines(&self.run(&self.java, "java_oracle.py", &args))
    }

    /// Java's rows of every snapshot of the table, read in one JVM.
    pub fn java_read_snapshots(&self, table_dir: &Path) -> std::collections::BTreeMap<i64, Vec<String>> {
        let out = table_dir.with_extension("snapshots");
        self.run(
            &self.java,
            "java_oracle.py",
            &["read-snapshots", "--table-dir", table_dir.to_str().unwrap(), "--out-dir", out.to_str().unwrap()],
        );
        let mut all = std::collections::BTreeMap::new();
        for e in std::fs::read_dir(&out).unwrap() {
            let path = e.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().to_string();
            let id: i64 = name.trim_start_matches("snapshot-").parse().unwrap();
            all.insert(id, super::canonical_lines(&std::fs::read_to_string(&path).unwrap()));
        }
        all
    }

    pub fn py2_read(&self, table_dir: &Path) -> Vec<String> {
        super::canonical_lines(&self.run(
            &self.py2,
            "pypaimon_oracle.py",
            &["read", "--table-dir", table_dir.to_str().unwrap()],
        ))
    }
}

impl Oracle {
    pub fn java(&self, args: &[&str]) -> String {
        self.run(&self.java, "java_oracle.py", args)
    }

    pub fn java_read_tag(&self, table_dir: &Path, tag: &str) -> Vec<String> {
        super::canonical_lines(&self.java(&["read", "--table-dir", table_dir.to_str().unwrap(), "--tag", tag]))
    }

    pub fn java_tags(&self, table_dir: &Path) -> Value {
        serde_json::from_str(&self.java(&["tags", "--table-dir", table_dir.to_str().unwrap()])).unwrap()
    }
}
