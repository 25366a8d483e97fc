//! The export bundle: one organization as JSON lines, so that it streams both ways.
//!
//! ```text
//! {"type":"header","format":"orgsvc.bundle","version":1,"organization":{..},"parts":[..],..}
//! {"type":"document","id":"..","body":{..}}            one line per document, in id order
//! {"type":"member","user_id":"..","email":"..","role":"owner","joined_at":".."}
//! {"type":"invitation",..}  {"type":"api_key",..}  {"type":"webhook",..}  {"type":"audit_event",..}
//! {"type":"trailer","parts":[{"name":"documents","lines":2,"sha256":".."},..]}
//! ```
//!
//! Each part's lines come together, in [`Part::ALL`]'s order, every part listed in the
//! trailer even when empty. A part's SHA-256 is over its lines' bytes, newlines included, so
//! an importer can check each part while it reads it. Every line is built from a type of this
//! module that names its fields one by one: a secret added to a stored record does not reach
//! a bundle unless someone writes it here.

use std::future::Future;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::errors::StoreError;

mod lines;
mod verify;

pub use verify::{verify, BundleError, Verified, MAX_LINE_BYTES};

pub use lines::{
    ApiKeyLine, AuditLine, Header, InvitationLine, Line, MemberLine, OrganizationLine, PartSummary,
    Trailer, WebhookLine,
};

pub const FORMAT: &str = "orgsvc.bundle";
pub const VERSION: u32 = 1;

/// Bytes gathered before they are handed to the sink.
const FLUSH_AT: usize = 64 * 1024;

/// Where a bundle's bytes go (a file, a download, a store of bundles).
pub trait BundleSink: Send {
    /// # Errors
    /// When the bytes cannot be kept.
    fn write(&mut self, bytes: &[u8]) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The parts of a bundle, in the order they come.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    Documents,
    Members,
    Invitations,
    ApiKeys,
    Webhooks,
    AuditEvents,
}

impl Part {
    pub const ALL: [Self; 6] = [
        Self::Documents,
        Self::Members,
        Self::Invitations,
        Self::ApiKeys,
        Self::Webhooks,
        Self::AuditEvents,
    ];

    /// Its name in bundles.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Documents => "documents",
            Self::Members => "members",
            Self::Invitations => "invitations",
            Self::ApiKeys => "api_keys",
            Self::Webhooks => "webhooks",
            Self::AuditEvents => "audit_events",
        }
    }
}

/// What a written bundle holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    pub bytes: u64,
    /// Of the whole bundle, as a receipt names it.
    pub sha256: String,
    pub parts: Vec<PartSummary>,
}

/// Writes a bundle line by line: the header first, then each part's lines in order, then
/// [`Self::finish`] writes the trailer. Memory: one buffer of [`FLUSH_AT`] bytes.
pub struct BundleWriter<S> {
    sink: S,
    buffer: Vec<u8>,
    bytes: u64,
    whole: Sha256,
    /// The part being written and how far.
    current: Option<(Part, Sha256, u64)>,
    done: Vec<PartSummary>,
}

fn hex(digest: &[u8]) -> String {
    use std::fmt::Write as _;
    digest.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

impl<S: BundleSink> BundleWriter<S> {
    /// Starts a bundle with its header.
    ///
    /// # Errors
    /// When the sink fails.
    pub async fn start(sink: S, header: &Header) -> Result<Self, StoreError> {
        let mut writer = Self {
            sink,
            buffer: Vec::with_capacity(FLUSH_AT),
            bytes: 0,
            whole: Sha256::new(),
            current: None,
            done: Vec::new(),
        };
        writer.put(&Line::Header(header.clone())).await?;
        Ok(writer)
    }

    /// Adds a line of a part. Parts come in [`Part::ALL`]'s order; a line of a part already
    /// finished is refused.
    ///
    /// # Errors
    /// When the sink fails, or for a line out of order.
    pub async fn line(&mut self, line: &Line) -> Result<(), StoreError> {
        let part = line.part().ok_or_else(|| {
            StoreError::Unknown(anyhow::anyhow!("the header and trailer are not part lines"))
        })?;
        self.enter(part)?;
        self.put(line).await
    }

    /// Ends the last part, adds the trailer and hands everything to the sink.
    ///
    /// # Errors
    /// When the sink fails.
    pub async fn finish(mut self) -> Result<(S, Written), StoreError> {
        self.close_parts_up_to(None);
        let trailer = Line::Trailer(Trailer {
            parts: self.done.clone(),
        });
        self.put(&trailer).await?;
        self.flush().await?;
        let written = Written {
            bytes: self.bytes,
            sha256: hex(&self.whole.finalize()),
            parts: self.done,
        };
        Ok((self.sink, written))
    }

    /// Moves to `part`, summing up every part before it.
    fn enter(&mut self, part: Part) -> Result<(), StoreError> {
        match &self.current {
            Some((current, _, _)) if *current == part => return Ok(()),
            Some((current, _, _)) if *current > part => {
                return Err(StoreError::Unknown(anyhow::anyhow!(
                    "bundle part {part:?} after {current:?}"
                )))
            }
            _ => {}
        }
        if self.done.iter().any(|d| d.name >= part) {
            return Err(StoreError::Unknown(anyhow::anyhow!(
                "bundle part {part:?} after its turn"
            )));
        }
        self.close_parts_up_to(Some(part));
        self.current = Some((part, Sha256::new(), 0));
        Ok(())
    }

    /// Sums up the current part and every empty one before `next` (all, without it).
    fn close_parts_up_to(&mut self, next: Option<Part>) {
        if let Some((part, digest, lines)) = self.current.take() {
            self.done.push(PartSummary {
                name: part,
                lines,
                sha256: hex(&digest.finalize()),
            });
        }
        for part in Part::ALL {
            if next.is_some_and(|n| part >= n) {
                break;
            }
            if !self.done.iter().any(|d| d.name == part) {
                self.done.push(PartSummary {
                    name: part,
                    lines: 0,
                    sha256: hex(&Sha256::digest(b"")),
                });
            }
        }
        self.done.sort_by_key(|d| d.name);
    }

    async fn put(&mut self, line: &Line) -> Result<(), StoreError> {
        let start = self.buffer.len();
        serde_json::to_writer(&mut self.buffer, line)
            .map_err(|e| StoreError::Unknown(anyhow::anyhow!("cannot write a bundle line: {e}")))?;
        self.buffer.push(b'\n');
        let bytes = &self.buffer[start..];
        self.whole.update(bytes);
        if let Some((_, digest, lines)) = &mut self.current {
            if line.part().is_some() {
                digest.update(bytes);
                *lines += 1;
            }
        }
        if self.buffer.len() >= FLUSH_AT {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), StoreError> {
        if !self.buffer.is_empty() {
            self.sink.write(&self.buffer).await?;
            self.bytes += self.buffer.len() as u64;
            self.buffer.clear();
        }
        Ok(())
    }
}

/// A bundle kept in memory (tests, small exports).
impl BundleSink for Vec<u8> {
    async fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.extend_from_slice(bytes);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::ids::{ExportId, OrganizationId, UserId};
    use crate::organization::TenancyModel;

    fn header() -> Header {
        Header {
            format: FORMAT.to_owned(),
            version: VERSION,
            export_id: ExportId::generate(),
            exported_at: Utc::now(),
            organization: OrganizationLine {
                id: OrganizationId::generate(),
                name: "Acme".to_owned(),
                created_at: Utc::now(),
                updated_at: Utc::now(),
                cluster: "default".to_owned(),
                database: "orgsvc".to_owned(),
                collection: "org_acme".to_owned(),
                model: TenancyModel::Collection,
            },
            parts: Part::ALL.to_vec(),
        }
    }

    fn webhook() -> Line {
        Line::Webhook(WebhookLine {
            id: "w".to_owned(),
            url: "https://example.com".to_owned(),
            events: Vec::new(),
            enabled: true,
            created_by: UserId::generate(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
            disabled_reason: None,
        })
    }

    #[tokio::test]
    async fn every_part_is_summed_up_even_when_empty() {
        let mut writer = BundleWriter::start(Vec::new(), &header()).await.unwrap();
        writer.line(&webhook()).await.unwrap();
        writer.line(&webhook()).await.unwrap();
        let (bytes, written) = writer.finish().await.unwrap();
        let empty = hex(&Sha256::digest(b""));
        let names: Vec<Part> = written.parts.iter().map(|p| p.name).collect();
        assert_eq!(names, Part::ALL);
        for part in &written.parts {
            match part.name {
                Part::Webhooks => assert_eq!(part.lines, 2),
                _ => assert_eq!((part.lines, part.sha256.as_str()), (0, empty.as_str())),
            }
        }
        assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), 4);
    }

    /// A bundle of two webhooks and a document, as written.
    async fn written() -> (Vec<u8>, Written) {
        let mut writer = BundleWriter::start(Vec::new(), &header()).await.unwrap();
        let document = Line::Document {
            id: crate::ids::DocumentId::generate(),
            body: serde_json::json!({"n": 1}).as_object().unwrap().clone(),
        };
        writer.line(&document).await.unwrap();
        writer.line(&webhook()).await.unwrap();
        writer.line(&webhook()).await.unwrap();
        writer.finish().await.unwrap()
    }

    #[tokio::test]
    async fn a_written_bundle_verifies_and_any_change_to_it_is_found() {
        let (bytes, written) = written().await;
        let verified = verify(bytes.as_slice()).unwrap();
        assert_eq!(
            (verified.parts, verified.sha256),
            (written.parts, written.sha256)
        );

        let text = String::from_utf8(bytes.clone()).unwrap();
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let changed = text.replacen("\"n\":1", "\"n\":2", 1);
        let without_a_webhook = [lines[0], lines[1], lines[2], lines[4]].concat();
        let cut = &bytes[..bytes.len() - 10];
        let extra = format!("{text}{}", lines[2]);
        let headless = lines[1..].concat();
        for (label, bad) in [
            ("a changed document", changed.as_bytes()),
            ("a line less", without_a_webhook.as_bytes()),
            ("cut off", cut),
            ("a line after the trailer", extra.as_bytes()),
            ("no header", headless.as_bytes()),
        ] {
            assert!(verify(bad).is_err(), "{label}");
        }
        match verify(changed.as_bytes()) {
            Err(BundleError::Mismatch { part, what, .. }) => {
                assert_eq!((part, what), (Part::Documents, "the SHA-256"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_part_after_its_turn_is_refused() {
        let mut writer = BundleWriter::start(Vec::new(), &header()).await.unwrap();
        writer.line(&webhook()).await.unwrap();
        let member = Line::Member(MemberLine {
            user_id: UserId::generate(),
            email: "a@b.io".to_owned(),
            role: "owner".to_owned(),
            joined_at: Utc::now(),
        });
        assert!(writer.line(&member).await.is_err());
        let trailer = Line::Trailer(Trailer { parts: Vec::new() });
        assert!(writer.line(&trailer).await.is_err());
    }
}
