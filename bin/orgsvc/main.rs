//! orgsvc: load settings, start the service.

use orgsvc_app::{telemetry, Application, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    telemetry::init(&settings.log);
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
