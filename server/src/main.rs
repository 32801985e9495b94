//! The Confab server binary: configuration, logging, bind, run.

use anyhow::Context;
use server::config::Config;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    server::telemetry::init(config.log_json);
    let listener = TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.addr))?;
    server::run(listener, config, server::telemetry::shutdown_signal()).await
}
