//! shoal's SQL entry point: DataFusion's SQL, plus what Paimon users write that DataFusion does
//! not plan itself:
//! - `CALL sys.<procedure>(name => value, ...)`: Paimon's procedures ([`super::procedures`]);
//! - `SELECT ... FROM t VERSION AS OF <snapshot id>`: time travel (Spark's spelling), rewritten
//!   to the catalog's `t$snapshot=<id>` name before parsing.
//!
//! A text may hold several statements separated by `;`; they run in order.

use ::datafusion::arrow::record_batch::RecordBatch;
use ::datafusion::common::{plan_err, DataFusionError, Result};
use ::datafusion::prelude::SessionContext;
use ::datafusion::sql::parser::{DFParser, Statement as DFStatement};
use ::datafusion::sql::sqlparser::ast::Statement;
use ::datafusion::sql::sqlparser::dialect::GenericDialect;
use ::datafusion::sql::sqlparser::keywords::Keyword;
use ::datafusion::sql::sqlparser::parser::ParserError;
use ::datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, Word};

use super::catalog::SNAPSHOT_SUFFIX;
use super::procedures;

/// Runs every statement of `text` and returns the rows of the last one.
pub async fn sql(ctx: &SessionContext, text: &str) -> Result<Vec<RecordBatch>> {
    Ok(sql_statements(ctx, text).await?.pop().unwrap_or_default())
}

/// Runs every statement of `text`, returning each statement's rows.
pub async fn sql_statements(ctx: &SessionContext, text: &str) -> Result<Vec<Vec<RecordBatch>>> {
    let text = rewrite_time_travel(text)?;
    let statements = DFParser::parse_sql_with_dialect(&text, &GenericDialect {})?;
    let mut results = Vec::with_capacity(statements.len());
    for statement in statements {
        results.push(run_statement(ctx, statement).await?);
    }
    Ok(results)
}

async fn run_statement(ctx: &SessionContext, statement: DFStatement) -> Result<Vec<RecordBatch>> {
    if let DFStatement::Statement(s) = &statement {
        match s.as_ref() {
            Statement::Call(function) => return procedures::call(ctx, function).await,
            _ => {}
        }
    }
    let plan = ctx.state().statement_to_plan(statement).await?;
    ctx.execute_logical_plan(plan).await?.collect().await
}

fn is_keyword(t: &Token, k: Keyword) -> bool {
    matches!(t, Token::Word(w) if w.keyword == k && w.quote_style.is_none())
}

/// `t VERSION AS OF 3` -> `"t$snapshot=3"`; `TIMESTAMP AS OF` / `FOR SYSTEM_TIME AS OF` get a
/// clear error (shoal has no timestamp time travel yet).
pub fn rewrite_time_travel(text: &str) -> Result<String> {
    let dialect = GenericDialect {};
    let lower = text.to_ascii_lowercase();
    if !lower.contains(" as of") && !lower.contains("\nas of") {
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
        // Copy whitespace between the previous solid token and this one.
        let start = if n == 0 { 0 } else { solid[n - 1] + 1 };
        if i < skip_until {
            continue;
        }
        out.extend(tokens[start..i].iter().cloned());
        let t = &tokens[i];
        if is_keyword(t, Keyword::VERSION)
            && next(1).is_some_and(|t| is_keyword(t, Keyword::AS))
            && next(2).is_some_and(|t| is_keyword(t, Keyword::OF))
        {
            let Some(Token::Number(id, _)) = next(3) else {
                return plan_err!("VERSION AS OF takes a snapshot id (a number)");
            };
            let Some(Token::Word(table)) = out.iter().rev().find(|t| !matches!(t, Token::Whitespace(_))).cloned() else {
                return plan_err!("VERSION AS OF must follow a table name");
            };
            // Replace the table name (the last solid token written) with the snapshot name.
            let pos = out.iter().rposition(|t| !matches!(t, Token::Whitespace(_))).expect("found above");
            let name = if table.quote_style.is_some() { table.value.clone() } else { table.value.to_lowercase() };
            out[pos] = Token::Word(Word {
                value: format!("{name}{SNAPSHOT_SUFFIX}{id}"),
                quote_style: Some('"'),
                keyword: Keyword::NoKeyword,
            });
            skip_until = solid[n + 3] + 1;
            continue;
        }
        if (is_keyword(t, Keyword::TIMESTAMP) || is_keyword(t, Keyword::SYSTEM_TIME))
            && next(1).is_some_and(|t| is_keyword(t, Keyword::AS))
            && next(2).is_some_and(|t| is_keyword(t, Keyword::OF))
        {
            return plan_err!(
                "time travel by timestamp is not supported yet; use VERSION AS OF <snapshot id> (see `shoal snapshots`)"
            );
        }
        out.push(t.clone());
    }
    if let Some(&last) = solid.last() {
        if last + 1 >= skip_until {
            out.extend(tokens[last + 1..].iter().cloned());
        }
    } else {
        out.extend(tokens.iter().cloned());
    }
    Ok(out.iter().map(|t| t.to_string()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_as_of_becomes_a_snapshot_name() {
        assert_eq!(
            rewrite_time_travel("SELECT * FROM db.T VERSION AS OF 3 WHERE k = 1").unwrap(),
            "SELECT * FROM db.\"t$snapshot=3\" WHERE k = 1"
        );
        assert_eq!(rewrite_time_travel("select 1").unwrap(), "select 1");
        assert_eq!(
            rewrite_time_travel("SELECT a AS of_x FROM t VERSION AS OF 12;").unwrap(),
            "SELECT a AS of_x FROM \"t$snapshot=12\";"
        );
        assert!(rewrite_time_travel("SELECT * FROM t TIMESTAMP AS OF '2024-01-01'").is_err());
        assert!(rewrite_time_travel("SELECT * FROM t VERSION AS OF x").is_err());
    }
}
