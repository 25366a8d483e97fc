//! orgsvc: parse the command line, load settings, then serve or run an operator command.
//! Failures print one line (the error and its causes) and a hint, and exit non-zero.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use orgsvc_app::{operations, telemetry, Application, Settings, TenancyModel};

/// Multi-tenant organization service: a REST API (Swagger UI at /docs).
///
/// Settings come from config/default.toml (built in), the file named by ORGSVC_CONFIG, and
/// ORGSVC__SECTION__KEY environment variables.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (what `orgsvc` alone does).
    Serve,
    /// Load and check the settings, print them with secrets redacted.
    CheckConfig,
    /// Print the OpenAPI document (for client generators).
    Openapi,
    /// Print a new signing key: a random HMAC secret, or an Ed25519 private key (PEM).
    GenKey {
        /// An Ed25519 private key for `auth.algorithm = "EdDSA"`.
        #[arg(long)]
        ed25519: bool,
    },
    /// Check a deletion receipt's signature and print what it states (exit status 1 when it
    /// does not verify).
    VerifyReceipt {
        /// The receipt: its compact JWS, or the JSON answer that holds it.
        file: std::path::PathBuf,
        /// A JWK Set (`/.well-known/jwks.json`, saved) to verify with, offline; without it, the
        /// signing keys of this configuration.
        #[arg(long, value_name = "FILE")]
        jwks: Option<std::path::PathBuf>,
    },
    /// Export an organization into a bundle file (JSON lines: its documents as of the start,
    /// members, invitations, API keys and webhooks without secrets, audit events). With the
    /// embedded store, stop the service first; with MongoDB, services keep running.
    Export {
        /// The organization's name (any spelling of it).
        #[arg(long = "org", value_name = "NAME")]
        organization: String,
        /// Where to write the bundle.
        #[arg(long, value_name = "FILE")]
        out: std::path::PathBuf,
    },
    /// Check an export bundle against its trailer (every part's line count and SHA-256) and
    /// describe it (exit status 1 when it is not intact).
    VerifyBundle {
        /// The bundle, as `orgsvc export` wrote it.
        file: std::path::PathBuf,
    },
    /// Move an organization's documents to another cluster and/or tenancy model while serving
    /// (MongoDB).
    MoveOrg {
        /// The organization's name (any spelling of it).
        #[arg(long = "org", value_name = "NAME")]
        organization: String,
        /// The cluster to move it to (a name under storage.mongodb.clusters).
        #[arg(
            long = "to-cluster",
            value_name = "CLUSTER",
            required_unless_present = "model"
        )]
        cluster: Option<String>,
        /// The tenancy model to move it to: collection, database or shared.
        #[arg(long = "to-model", value_name = "MODEL")]
        model: Option<TenancyModel>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => return fail(&e.into()),
    };
    match runtime.block_on(run(cli.command.unwrap_or(Command::Serve))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    // Commands that need no settings work even where the settings are broken.
    match &command {
        Command::Openapi => {
            return print(orgsvc_http::openapi::document());
        }
        Command::GenKey { ed25519 } => {
            return print(&operations::generate_key(*ed25519));
        }
        Command::VerifyBundle { file } => {
            print(&operations::verify_bundle(file)?)?;
            eprintln!("the bundle is intact");
            return Ok(());
        }
        Command::VerifyReceipt { file, jwks } => {
            let read = |path: &std::path::Path| {
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))
            };
            let jwks = jwks.as_deref().map(read).transpose()?;
            let claims =
                operations::verify_receipt(
                    &read(file)?,
                    jwks.as_deref(),
                    || Ok(Settings::load()?),
                )?;
            print(&claims)?;
            eprintln!("the receipt is valid");
            return Ok(());
        }
        _ => {}
    }
    let settings = Settings::load()?;
    telemetry::init(&settings.log);
    match command {
        Command::CheckConfig => print(&operations::check_config(&settings)?)?,
        Command::MoveOrg {
            organization,
            cluster,
            model,
        } => {
            let done =
                operations::move_organization(&settings, &organization, cluster.as_deref(), model)
                    .await?;
            print(&done)?;
        }
        Command::Export { organization, out } => {
            let done = operations::export_organization(&settings, &organization, &out).await?;
            print(&done)?;
        }
        Command::Serve
        | Command::Openapi
        | Command::GenKey { .. }
        | Command::VerifyReceipt { .. }
        | Command::VerifyBundle { .. } => serve(settings).await?,
    }
    Ok(())
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

/// Writes `text` and a newline to stdout; a reader that went away (`orgsvc openapi | head`)
/// is not an error.
fn print(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// One line with the whole cause chain, then a hint where one is known. Never a backtrace.
fn fail(error: &anyhow::Error) -> ExitCode {
    eprintln!("orgsvc: {error:#}");
    if let Some(hint) = operations::hint(error) {
        eprintln!("hint: {hint}");
    }
    ExitCode::FAILURE
}
