//! `roomcast`: the local gateway. Thin: parse flags, build, run until Ctrl-C/SIGTERM;
//! or `roomcast plan …`, which prints and exits.

use clap::Parser;
use roomcast_gateway::admin::recent_errors;
use roomcast_gateway::config::Command;
use roomcast_gateway::{Application, Config, plan};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::parse();
    if let Some(Command::Plan(args)) = &config.command {
        match plan::render(args) {
            Ok(text) => print!("{text}"),
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(2);
            }
        }
        return Ok(());
    }
    // The filter applies to the log only: `/admin`'s recent errors keep every WARN
    // and ERROR even when RUST_LOG hides them.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_filter(filter))
        .with(recent_errors::layer().with_filter(LevelFilter::WARN))
        .init();
    let (stage, host) = (config.stage.clone(), config.host);
    let app = Application::build(config).await?;
    tracing::info!(
        "roomcast listening: game at http://{host}:{port}/ , WebSocket API at ws://{host}:{port}/{stage}",
        port = app.port()
    );
    let shutdown = app.shutdown_token();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        shutdown.cancel();
    });
    app.run_until_stopped().await?;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
