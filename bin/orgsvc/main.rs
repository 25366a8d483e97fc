//! orgsvc: load settings, then serve, or run an operator command.
//!
//! ```text
//! orgsvc                                            serve the API
//! orgsvc move-org --org NAME --to-cluster CLUSTER   move an organization's data (MongoDB)
//! ```

use anyhow::Context as _;
use orgsvc_app::{operations, telemetry, Application, Settings};

const USAGE: &str = "usage: orgsvc [move-org --org NAME --to-cluster CLUSTER]";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    telemetry::init(&settings.log);
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None => serve(settings).await,
        Some("move-org") => {
            let org = flag(&args, "--org").context(USAGE)?;
            let cluster = flag(&args, "--to-cluster").context(USAGE)?;
            let done = operations::move_organization(&settings, org, cluster).await?;
            println!("{done}");
            Ok(())
        }
        Some(_) => anyhow::bail!(USAGE),
    }
}

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.windows(2)
        .find(|pair| pair[0] == name)
        .map(|pair| pair[1].as_str())
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let listen = settings.http.listen.clone();
    let application = Application::build(settings).await?;
    let host = listen
        .rsplit_once(':')
        .map_or(listen.as_str(), |(host, _)| host);
    tracing::info!(
        "orgsvc listening on http://{host}:{port} (Swagger UI: http://{host}:{port}/docs)",
        port = application.port()
    );
    application.run_until_stopped().await?;
    Ok(())
}
