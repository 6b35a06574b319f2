//! shoal's SQL entry point: DataFusion's SQL, plus what Paimon users write that DataFusion does
//! not plan itself:
//! - `CALL sys.<procedure>(name => value, ...)`: Paimon's procedures ([`super::procedures`]);
//! - `ALTER TABLE`: schema changes ([`super::ddl`]);
//! - time travel in FROM: `t VERSION AS OF <snapshot id | 'tag'>`, `t TIMESTAMP AS OF '...'`
//!   (Spark's spellings) and `t FOR SYSTEM_TIME AS OF TIMESTAMP '...'` (Flink's), rewritten to
//!   the catalog's `t$snapshot=<id>` / `t$tag=<name>` / `t$timestamp=<millis>` names before
//!   parsing.
//!
//! A text may hold several statements separated by `;`; they run in order.

use std::sync::Arc;

use ::datafusion::arrow::datatypes::{Schema, SchemaRef};
use ::datafusion::arrow::record_batch::RecordBatch;
use ::datafusion::common::{plan_err, DataFusionError, Result};
use ::datafusion::prelude::SessionContext;
use ::datafusion::sql::parser::{DFParser, Statement as DFStatement};
use ::datafusion::sql::sqlparser::ast::Statement;
use ::datafusion::sql::sqlparser::dialect::GenericDialect;
use ::datafusion::sql::sqlparser::keywords::Keyword;
use ::datafusion::sql::sqlparser::parser::ParserError;
use ::datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, Word};

use super::catalog::{SNAPSHOT_SUFFIX, TAG_SUFFIX, TIMESTAMP_SUFFIX};
use super::procedures;
use crate::read::scan::TimeTravel;

/// Runs every statement of `text` and returns the rows of the last one.
pub async fn sql(ctx: &SessionContext, text: &str) -> Result<Vec<RecordBatch>> {
    Ok(sql_statements(ctx, text).await?.pop().unwrap_or_default())
}

/// Runs every statement of `text`, returning each statement's rows.
pub async fn sql_statements(ctx: &SessionContext, text: &str) -> Result<Vec<Vec<RecordBatch>>> {
    Ok(sql_results(ctx, text).await?.into_iter().map(|(_, rows)| rows).collect())
}

/// Runs every statement of `text`, returning each statement's result schema (known also when
/// there are no rows) and rows.
pub async fn sql_results(ctx: &SessionContext, text: &str) -> Result<Vec<(SchemaRef, Vec<RecordBatch>)>> {
    let text = rewrite_time_travel(text)?;
    let statements = DFParser::parse_sql_with_dialect(&text, &GenericDialect {})?;
    let mut results = Vec::with_capacity(statements.len());
    for statement in statements {
        results.push(run_statement(ctx, statement).await?);
    }
    Ok(results)
}

/// How many times an UPDATE, DELETE or MERGE INTO runs again, from a fresh read, when another
/// commit changed a bucket it writes before it committed (after a random pause that grows with
/// each attempt, so that statements contending for one bucket stop colliding in lockstep).
pub(super) const ROW_LEVEL_RETRIES: usize = 5;

async fn run_statement(ctx: &SessionContext, statement: DFStatement) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let with_schema = |rows: Vec<RecordBatch>| {
        let schema = rows.first().map(|b| b.schema()).unwrap_or_else(|| Arc::new(Schema::empty()));
        (schema, rows)
    };
    let mut row_level = false;
    if let DFStatement::Statement(s) = &statement {
        match s.as_ref() {
            Statement::Call(function) => return procedures::call(ctx, function).await.map(with_schema),
            Statement::AlterTable(alter) => return super::ddl::alter_table(ctx, alter).await.map(with_schema),
            Statement::Insert(insert) if insert.partitioned.is_some() => {
                return super::overwrite::insert_partition(ctx, insert).await.map(with_schema)
            }
            Statement::Update { .. } | Statement::Delete(_) | Statement::Merge { .. } => row_level = true,
            _ => {}
        }
    }
    let mut attempt = 0;
    loop {
        let run = async {
            let plan = ctx.state().statement_to_plan(statement.clone()).await?;
            let df = ctx.execute_logical_plan(plan).await?;
            let schema = df.schema().inner().clone();
            Ok((schema, df.collect().await?))
        };
        match run.await {
            Err(e) if row_level && attempt < ROW_LEVEL_RETRIES && is_commit_conflict(&e) => {
                attempt += 1;
                let cap_ms = 20u64 << attempt;
                tokio::time::sleep(std::time::Duration::from_millis(rand::random_range(cap_ms / 4..=cap_ms))).await;
            }
            other => return other,
        }
    }
}

/// Whether `e` is a shoal commit conflict (the statement committed nothing and may run again).
fn is_commit_conflict(e: &DataFusionError) -> bool {
    match e.find_root() {
        DataFusionError::External(inner) => {
            matches!(inner.downcast_ref::<crate::Error>(), Some(crate::Error::CommitConflict(_)))
        }
        _ => false,
    }
}

fn is_keyword(t: &Token, k: Keyword) -> bool {
    matches!(t, Token::Word(w) if w.keyword == k && w.quote_style.is_none())
}

/// What follows a table name's `... AS OF`, as a catalog name suffix.
fn travel_suffix(kind: &str, value: &Token) -> Result<String> {
    let text = match value {
        Token::Number(n, _) => Some((n.clone(), true)),
        Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => Some((s.clone(), false)),
        _ => None,
    };
    match (kind, text) {
        // Spark's spelling: a number is a snapshot id, a string a tag (or a snapshot id).
        ("version", Some((v, _))) => Ok(match v.trim().parse::<i64>() {
            Ok(id) => format!("{SNAPSHOT_SUFFIX}{id}"),
            Err(_) => format!("{TAG_SUFFIX}{v}"),
        }),
        ("version", None) => plan_err!("VERSION AS OF takes a snapshot id or a tag name, e.g. VERSION AS OF 3 or VERSION AS OF 'q3-report'"),
        // A bare number is epoch seconds (as in Spark); a string is a timestamp in UTC.
        (_, Some((v, true))) => match v.parse::<i64>() {
            Ok(secs) => Ok(format!("{TIMESTAMP_SUFFIX}{}", secs.saturating_mul(1000))),
            Err(_) => plan_err!("TIMESTAMP AS OF {v}: a number must be whole epoch seconds"),
        },
        (_, Some((v, false))) => match TimeTravel::parse_time(&v) {
            Some(ms) => Ok(format!("{TIMESTAMP_SUFFIX}{ms}")),
            None => plan_err!(
                "TIMESTAMP AS OF {v:?}: not a timestamp; write e.g. '2024-01-02 03:04:05' (UTC), '2024-01-02T03:04:05+02:00' or '2024-01-02'"
            ),
        },
        (_, None) => plan_err!("TIMESTAMP AS OF takes a timestamp string or epoch seconds, e.g. TIMESTAMP AS OF '2024-01-02 03:04:05'"),
    }
}

/// Time travel in a FROM clause becomes a catalog table name with a suffix
/// ([`super::catalog`] opens the table at that point):
/// - `t VERSION AS OF 3` -> `"t$snapshot=3"`, `t VERSION AS OF 'tag'` -> `"t$tag=tag"` (Spark);
/// - `t TIMESTAMP AS OF '2024-01-02 03:04:05'` (UTC) or `TIMESTAMP AS OF <epoch seconds>`
///   (Spark), and `t FOR SYSTEM_TIME AS OF [TIMESTAMP] '...'` (Flink) -> `"t$timestamp=<millis>"`.
pub(super) fn rewrite_time_travel(text: &str) -> Result<String> {
    let dialect = GenericDialect {};
    let lower = text.to_ascii_lowercase();
    if !lower.contains("as of") {
        return Ok(text.to_string());
    }
    let tokens = Tokenizer::new(&dialect, text)
        .tokenize()
        .map_err(|e| DataFusionError::SQL(Box::new(ParserError::from(e)), None))?;
    // Indices of the non-whitespace tokens.
    let solid: Vec<usize> = (0..tokens.len()).filter(|&i| !matches!(tokens[i], Token::Whitespace(_))).collect();
    let mut out: Vec<Token> = Vec::with_capacity(tokens.len());
    let mut skip_until = 0usize;
    for (n, &i) in solid.iter().enumerate() {
        let next = |k: usize| solid.get(n + k).map(|&j| &tokens[j]);
        if i < skip_until {
            continue;
        }
        // Copy whitespace between the previous solid token and this one.
        let start = if n == 0 { 0 } else { solid[n - 1] + 1 };
        out.extend(tokens[start..i].iter().cloned());
        let t = &tokens[i];
        let as_of_at = |k: usize| {
            next(k).is_some_and(|t| is_keyword(t, Keyword::AS))
                && next(k + 1).is_some_and(|t| is_keyword(t, Keyword::OF))
        };
        // (kind, index of the value token relative to n)
        let travel = if is_keyword(t, Keyword::VERSION) && as_of_at(1) {
            Some(("version", 3))
        } else if is_keyword(t, Keyword::TIMESTAMP) && as_of_at(1) {
            Some(("timestamp", 3))
        } else if is_keyword(t, Keyword::FOR)
            && next(1).is_some_and(|t| is_keyword(t, Keyword::SYSTEM_TIME))
            && as_of_at(2)
        {
            // Flink: FOR SYSTEM_TIME AS OF TIMESTAMP '...'
            if next(4).is_some_and(|t| is_keyword(t, Keyword::TIMESTAMP)) {
                Some(("timestamp", 5))
            } else {
                Some(("timestamp", 4))
            }
        } else {
            None
        };
        if let Some((kind, k)) = travel {
            let what = kind.to_uppercase();
            let Some(value) = next(k) else {
                return plan_err!("{what} AS OF needs a value");
            };
            let suffix = travel_suffix(kind, value)?;
            // Drop the whitespace just copied, then replace the table name (the last solid
            // token written) with the time-travel name.
            while matches!(out.last(), Some(Token::Whitespace(_))) {
                out.pop();
            }
            let table = match out.last() {
                Some(Token::Word(w))
                    if w.quote_style.is_some()
                        || !matches!(
                            w.keyword,
                            Keyword::SELECT
                                | Keyword::FROM
                                | Keyword::JOIN
                                | Keyword::WHERE
                                | Keyword::ON
                                | Keyword::AND
                                | Keyword::OR
                        ) =>
                {
                    w.clone()
                }
                _ => return plan_err!("{what} AS OF must follow a table name"),
            };
            let name = if table.quote_style.is_some() { table.value.clone() } else { table.value.to_lowercase() };
            let last = out.len() - 1;
            out[last] = Token::Word(Word {
                value: format!("{name}{suffix}"),
                quote_style: Some('"'),
                keyword: Keyword::NoKeyword,
            });
            skip_until = solid[n + k] + 1;
            continue;
        }
        out.push(t.clone());
    }
    match solid.last() {
        Some(&last) => out.extend(tokens[(last + 1).max(skip_until)..].iter().cloned()),
        None => out.extend(tokens.iter().cloned()),
    }
    Ok(out.iter().map(|t| t.to_string()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_travel_becomes_a_table_name() {
        assert_eq!(
            rewrite_time_travel("SELECT * FROM db.T VERSION AS OF 3 WHERE k = 1").unwrap(),
            "SELECT * FROM db.\"t$snapshot=3\" WHERE k = 1"
        );
        assert_eq!(rewrite_time_travel("select 1").unwrap(), "select 1");
        assert_eq!(
            rewrite_time_travel("SELECT a AS of_x FROM t VERSION AS OF 12;").unwrap(),
            "SELECT a AS of_x FROM \"t$snapshot=12\";"
        );
        assert_eq!(rewrite_time_travel("SELECT * FROM t VERSION AS OF 'q3'").unwrap(), "SELECT * FROM \"t$tag=q3\"");
        assert_eq!(rewrite_time_travel("SELECT * FROM t VERSION AS OF '7'").unwrap(), "SELECT * FROM \"t$snapshot=7\"");
        assert_eq!(
            rewrite_time_travel("SELECT * FROM t TIMESTAMP AS OF '2024-01-01 00:00:01'").unwrap(),
            "SELECT * FROM \"t$timestamp=1704067201000\""
        );
        assert_eq!(
            rewrite_time_travel("SELECT * FROM t TIMESTAMP AS OF 1704067201 x").unwrap(),
            "SELECT * FROM \"t$timestamp=1704067201000\" x"
        );
        assert_eq!(
            rewrite_time_travel("SELECT * FROM t FOR SYSTEM_TIME AS OF TIMESTAMP '2024-01-01' WHERE a = 1").unwrap(),
            "SELECT * FROM \"t$timestamp=1704067200000\" WHERE a = 1"
        );
        assert!(rewrite_time_travel("SELECT * FROM t TIMESTAMP AS OF 'yesterday'").is_err());
        assert!(rewrite_time_travel("SELECT * FROM t VERSION AS OF x").is_err());
        assert!(rewrite_time_travel("SELECT VERSION AS OF 3").is_err());
    }
}
