//! `orgsvc export --org NAME --out FILE`: one organization into a bundle file, from the
//! storage the settings name (see `orgsvc_domain::bundle` for the format).

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use orgsvc_domain::bundle::BundleSink;
use orgsvc_domain::errors::{SnapshotError, StoreError};
use orgsvc_domain::ports::{Clock as _, Store, SystemClock};
use orgsvc_domain::{ExportId, OrganizationName};
use orgsvc_storage::{EmbeddedStore, MongoStore};

use crate::settings::{Backend, Settings};

/// Exports the organization named `organization` into `out`: written beside it as
/// `<out>.partial` and renamed once complete, so `out` is never half a bundle.
///
/// With the embedded store, the service must be stopped (it holds the file); with MongoDB,
/// running services keep serving and writing while the export reads its snapshot.
///
/// # Errors
/// No such organization, another export of it under way, storage or file failures.
pub async fn export_organization(
    settings: &Settings,
    organization: &str,
    out: &Path,
) -> anyhow::Result<String> {
    let name = OrganizationName::new(organization).context("invalid organization name")?;
    match settings.storage.backend {
        Backend::Embedded => {
            let path = &settings.storage.embedded.path;
            let cache = settings
                .storage
                .embedded
                .cache_mib
                .saturating_mul(1024 * 1024);
            let store = EmbeddedStore::open_with_cache(path, cache).context(
                "export reads the embedded database directly: stop the service that holds it first",
            )?;
            export_from(&store, &name, out).await
        }
        Backend::Mongodb => {
            let mut mongodb = settings.storage.mongodb.clone();
            mongodb.audit_retention_days = settings.audit.retention_days;
            let store = MongoStore::connect(mongodb).await?;
            export_from(&store, &name, out).await
        }
    }
}

async fn export_from(
    store: &impl Store,
    name: &OrganizationName,
    out: &Path,
) -> anyhow::Result<String> {
    let organization = store
        .find_organization_by_slug(name.slug())
        .await?
        .with_context(|| format!("there is no organization named {name}"))?;
    let partial = PathBuf::from(format!("{}.partial", out.display()));
    let file = std::fs::File::create(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let bar = progress_bar();
    let written = orgsvc_domain::export::write_bundle(
        store,
        &organization,
        ExportId::generate(),
        SystemClock.now(),
        FileSink(std::io::BufWriter::new(file)),
        |documents, total| {
            bar.set_length(total.max(documents));
            bar.set_position(documents);
        },
    )
    .await;
    bar.finish_and_clear();
    let (sink, written) = match written {
        Ok(done) => done,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(match e {
                SnapshotError::Busy => anyhow::anyhow!("another export of {name} is under way"),
                other => anyhow::Error::new(other).context(format!("exporting {name} failed")),
            });
        }
    };
    let file = sink.0.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    std::fs::rename(&partial, out)
        .with_context(|| format!("cannot rename {} to {}", partial.display(), out.display()))?;
    // What a receipt of the organization's deletion will name as its last export.
    store
        .record_export(&organization.id, &written.sha256)
        .await
        .context("the bundle is written, but its digest could not be kept for receipts")?;
    let documents = written.parts.first().map_or(0, |p| p.lines);
    Ok(format!(
        "{name}: {documents} documents, {} bytes in {}, sha256 {}",
        written.bytes,
        out.display(),
        written.sha256
    ))
}

/// `orgsvc verify-bundle FILE`: reads the bundle once, checks every part against its trailer,
/// and describes it (organization, moment, lines per part, SHA-256 of the file).
///
/// # Errors
/// The file cannot be read, or the first thing wrong in it, with its line.
pub fn verify_bundle(path: &Path) -> anyhow::Result<String> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let verified = orgsvc_domain::bundle::verify(std::io::BufReader::new(file))
        .with_context(|| format!("{} is not an intact bundle", path.display()))?;
    let organization = &verified.header.organization;
    let parts: serde_json::Map<String, serde_json::Value> = verified
        .parts
        .iter()
        .map(|p| (p.name.as_str().to_owned(), p.lines.into()))
        .collect();
    let described = serde_json::json!({
        "organization": {"id": organization.id, "name": organization.name},
        "export_id": verified.header.export_id,
        "exported_at": verified.header.exported_at,
        "lines": parts,
        "sha256": verified.sha256,
    });
    Ok(serde_json::to_string_pretty(&described)?)
}

/// Documents so far of the snapshot's on stderr, with a rate and the time left, on a
/// terminal; nothing otherwise (the summary line says what was written).
fn progress_bar() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template(
            "{spinner} exporting {wide_bar} {pos}/{len} documents ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

/// A bundle into a file. Blocking writes of the writer's 64 KiB chunks: this runs in the CLI,
/// where nothing else waits on the runtime.
struct FileSink(std::io::BufWriter<std::fs::File>);

impl BundleSink for FileSink {
    async fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.0
            .write_all(bytes)
            .map_err(|e| StoreError::Unknown(anyhow::Error::new(e).context("writing the bundle")))
    }
}
