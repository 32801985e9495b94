//! Which real services this run has. `make test` starts them and sets their variables (and
//! `CONFAB_REQUIRE_SERVICES=1`, so a missing one fails loudly); a plain `cargo test` without
//! them skips the real-service runs and says so.

/// The value of `var`, or `None` (after saying so) when this run has no such service.
pub fn url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => Some(value),
        _ if std::env::var("CONFAB_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!(
                "{var} is not set, but CONFAB_REQUIRE_SERVICES=1 (run scripts/services.sh start)"
            )
        }
        _ => {
            eprintln!("skipped: {var} not set");
            None
        }
    }
}
