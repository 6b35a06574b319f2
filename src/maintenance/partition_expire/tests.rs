use super::*;

fn config(pattern: Option<&str>, formatter: Option<&str>) -> PartitionExpireConfig {
    PartitionExpireConfig {
        expiration: Duration::from_secs(86400),
        check_interval: Duration::from_secs(3600),
        pattern: pattern.map(String::from),
        formatter: formatter.map(String::from),
    }
}

fn at(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn the_first_value_in_the_default_spellings() {
    let c = config(None, None);
    assert_eq!(c.partition_time(&pairs(&[("dt", "2024-03-05")])), Some(at("2024-03-05 00:00:00")));
    assert_eq!(c.partition_time(&pairs(&[("dt", "2024-03-05 10:11:12"), ("x", "a")])), Some(at("2024-03-05 10:11:12")));
    assert_eq!(c.partition_time(&pairs(&[("dt", "20240305")])), None);
}

#[test]
fn patterns_and_java_formatters() {
    let c = config(Some("$dt $hour:00:00"), Some("yyyyMMdd HH:mm:ss"));
    assert_eq!(c.partition_time(&pairs(&[("dt", "20240305"), ("hour", "07")])), Some(at("2024-03-05 07:00:00")));
    let c = config(None, Some("yyyyMMdd"));
    assert_eq!(c.partition_time(&pairs(&[("dt", "20240305")])), Some(at("2024-03-05 00:00:00")));
    let c = config(Some("$year-$month-$day"), None);
    assert_eq!(
        c.partition_time(&pairs(&[("year", "2024"), ("month", "03"), ("day", "05")])),
        Some(at("2024-03-05 00:00:00"))
    );
}
