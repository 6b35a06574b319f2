//! `shoal ui`: a local, read-only web page over a warehouse. [`server`] is the HTTP side (GET
//! only, a Host-header check, the embedded page), [`api`] the JSON it serves, and `assets/` the
//! page itself: plain HTML, CSS and JavaScript drawing its charts as inline SVG, embedded with
//! `include_str!` (no build step, nothing fetched from elsewhere).

pub mod api;
pub mod server;
