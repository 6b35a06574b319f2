//! Value parsers for clap (`#[arg(value_parser = ...)]`): each turns one argument's text into its
//! type, or returns the message clap prints as
//! `error: invalid value 'TEXT' for '--flag <FLAG>': MESSAGE` (exit code 2).

use std::fmt;
use std::time::Duration;

use shoal::error::Error;
use shoal::ingest::debezium::OnError;
use shoal::maintenance::rollback::RollbackTarget;
use shoal::read::scan::TimeTravel;
use shoal::read::StartingPosition;
use shoal::spec::options::split_list;
use shoal::spec::DataType;
use shoal::table::TableDefinition;

const TIME_FORMATS: &str = "epoch millis, 2024-01-02T03:04:05Z, 2024-01-02 03:04:05 (UTC) or 2024-01-02";

/// A library error as clap's message (without the "invalid input: " of its display).
fn message(e: Error) -> String {
    e.detail()
}

/// A duration as the table options spell them: `90s`, `500ms`, `30min`, `1h`, `7 d`.
pub fn duration(s: &str) -> Result<Duration, String> {
    shoal::spec::options::parse_duration(s).ok_or_else(|| "not a duration (e.g. 90s, 500ms, 30min, 1h, 7d)".to_string())
}

/// A duration that is also printed back as the user spelled it.
#[derive(Clone, Debug)]
pub struct SpelledDuration {
    pub value: Duration,
    text: String,
}

impl fmt::Display for SpelledDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

pub fn spelled_duration(s: &str) -> Result<SpelledDuration, String> {
    Ok(SpelledDuration { value: duration(s)?, text: s.to_string() })
}

/// A point in time as epoch millis: epoch millis, RFC 3339, `YYYY-MM-DD[ T]HH:MM:SS[.fff]` (UTC)
/// or `YYYY-MM-DD`.
pub fn timestamp_millis(s: &str) -> Result<i64, String> {
    TimeTravel::parse_time(s).ok_or_else(|| format!("not a time; expected {TIME_FORMATS}"))
}

/// `shoal tail --from`: full, latest, earliest, a snapshot id, or a time.
pub fn starting_position(s: &str) -> Result<StartingPosition, String> {
    Ok(match s.trim() {
        "full" | "latest-full" => StartingPosition::LatestFull,
        "latest" => StartingPosition::Latest,
        "earliest" => StartingPosition::FromSnapshot(1),
        t if !t.is_empty() && t.len() < 13 && t.chars().all(|c| c.is_ascii_digit()) => {
            StartingPosition::FromSnapshot(t.parse().map_err(|_| "not a snapshot id".to_string())?)
        }
        t => StartingPosition::FromTimestamp(
            TimeTravel::parse_time(t)
                .ok_or_else(|| format!("expected full, latest, earliest, a snapshot id or a time ({TIME_FORMATS})"))?,
        ),
    })
}

/// `fail` or `dead-letter=PATH` (what an ingest does with a bad event).
pub fn on_error(s: &str) -> Result<OnError, String> {
    match s {
        "fail" => Ok(OnError::Fail),
        _ => match s.strip_prefix("dead-letter=") {
            Some(p) if !p.is_empty() => Ok(OnError::DeadLetter(p.into())),
            _ => Err("expected fail or dead-letter=PATH".to_string()),
        },
    }
}

/// `key=value`, both trimmed.
pub fn key_value(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or_else(|| "not key=value".to_string())?;
    Ok((k.trim().to_string(), v.trim().to_string()))
}

/// Column names, comma-separated.
#[derive(Clone, Debug, Default)]
pub struct Columns(pub Vec<String>);

pub fn columns(s: &str) -> Result<Columns, String> {
    Ok(Columns(split_list(s)))
}

/// Columns with their types: `"id BIGINT NOT NULL, name STRING"`.
#[derive(Clone, Debug)]
pub struct ColumnDefs(pub Vec<(String, DataType)>);

pub fn column_defs(s: &str) -> Result<ColumnDefs, String> {
    TableDefinition::parse_columns(s).map(ColumnDefs).map_err(message)
}

/// One column with its type: `"note STRING"`.
pub fn column_def(s: &str) -> Result<(String, DataType), String> {
    let mut cols = TableDefinition::parse_columns(s).map_err(message)?;
    if cols.len() != 1 {
        return Err("expected one column, as \"name TYPE\"".into());
    }
    Ok(cols.remove(0))
}

/// A type in Paimon's SQL spelling: `BIGINT`, `DECIMAL(20, 2)`, `ARRAY<INT>`.
pub fn data_type(s: &str) -> Result<DataType, String> {
    shoal::spec::parse_type(s).map_err(|e| e.to_string())
}

/// A snapshot id, or else a tag name.
pub fn rollback_target(s: &str) -> Result<RollbackTarget, String> {
    Ok(RollbackTarget::parse(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_or_say_why_not() {
        assert_eq!(duration("30min"), Ok(Duration::from_secs(1800)));
        assert_eq!(duration("1 d"), Ok(Duration::from_secs(86_400)));
        assert!(duration("soon").unwrap_err().contains("not a duration"));
        assert_eq!(spelled_duration("1d").unwrap().to_string(), "1d");
        assert_eq!(timestamp_millis("1000"), Ok(1000));
        assert_eq!(timestamp_millis("1970-01-01 00:00:01"), Ok(1000));
        assert!(timestamp_millis("yesterday").is_err());
        assert_eq!(starting_position("latest"), Ok(StartingPosition::Latest));
        assert_eq!(starting_position("earliest"), Ok(StartingPosition::FromSnapshot(1)));
        assert_eq!(starting_position("42"), Ok(StartingPosition::FromSnapshot(42)));
        assert_eq!(starting_position("1970-01-01"), Ok(StartingPosition::FromTimestamp(0)));
        assert!(starting_position("later").unwrap_err().contains("snapshot id"));
        assert_eq!(key_value(" bucket = 4 "), Ok(("bucket".to_string(), "4".to_string())));
        assert!(key_value("bucket").is_err());
        assert_eq!(columns("a, b,,c").unwrap().0, vec!["a", "b", "c"]);
        assert_eq!(column_defs("id BIGINT NOT NULL, p DECIMAL(10, 2)").unwrap().0.len(), 2);
        assert!(column_defs("id").unwrap_err().contains("needs a name and a type"));
        assert!(column_def("a INT, b INT").is_err());
        assert!(data_type("BIGINTT").is_err());
        assert_eq!(rollback_target("12"), Ok(RollbackTarget::Snapshot(12)));
        assert_eq!(rollback_target("q3"), Ok(RollbackTarget::Tag("q3".into())));
    }
}
