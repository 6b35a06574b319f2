use super::*;

#[test]
fn globs() {
    assert!(glob(b"orders*", b"orders_2024"));
    assert!(glob(b"*", b""));
    assert!(glob(b"a?c", b"abc"));
    assert!(!glob(b"a?c", b"ac"));
    assert!(glob(b"*_cdc_*", b"x_cdc_y"));
    assert!(!glob(b"orders", b"orders2"));
    assert!(glob(b"a*b*c", b"aXbYbZc"));
}

#[test]
fn patterns_match_names_or_qualified_names() {
    let p = Patterns::parse(Some("sales.orders*, events"));
    assert!(p.matches("orders_eu", "sales.orders_eu"));
    assert!(!p.matches("orders_eu", "ops.orders_eu"));
    assert!(p.matches("events", "ops.events"));
    assert!(Patterns::parse(None).matches("x", "y.x"));
    assert!(Patterns::parse(Some(" , ")).matches_all());
}
