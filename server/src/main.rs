//! The Confab server binary: configuration, logging, bind, run.

use anyhow::Context;
use server::config::Config;
use tokio::net::TcpListener;

fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    // Before the runtime: the span exporter's HTTP client runs one of its own, and is
    // flushed once the runtime has stopped.
    let _tracing = server::telemetry::init(config.log_json)?;
    tokio::runtime::Runtime::new()
        .context("cannot start the async runtime")?
        .block_on(async {
            let listener = TcpListener::bind(config.addr)
                .await
                .with_context(|| format!("cannot listen on {}", config.addr))?;
            server::run(listener, config, server::telemetry::shutdown_signal()).await
        })
}
