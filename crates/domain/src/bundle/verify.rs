//! Checking a bundle before trusting it: one pass over its lines, each part hashed as it is
//! read and compared with the trailer. Memory: one line at a time, each at most
//! [`MAX_LINE_BYTES`].

use std::io::BufRead;

use sha2::{Digest as _, Sha256};
use thiserror::Error;

use super::{hex, Header, Line, Part, PartSummary, FORMAT, VERSION};

/// The longest line accepted: far above any document the API stores (bodies are limited to a
/// few MiB), so only a corrupt or hostile file reaches it.
pub const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// What a checked bundle holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Verified {
    pub header: Header,
    pub parts: Vec<PartSummary>,
    /// Of the whole file, as receipts name it.
    pub sha256: String,
}

/// Why a bundle is refused: where, and what is wrong there.
#[derive(Debug, Error)]
pub enum BundleError {
    #[error("cannot read the bundle: {0}")]
    Io(#[from] std::io::Error),
    #[error("line {line}: {reason}")]
    Malformed { line: u64, reason: String },
    #[error("part {}: {what} is {found}, the trailer says {expected}", part.as_str())]
    Mismatch {
        part: Part,
        what: &'static str,
        expected: String,
        found: String,
    },
}

fn malformed(line: u64, reason: impl Into<String>) -> BundleError {
    BundleError::Malformed {
        line,
        reason: reason.into(),
    }
}

/// Reads the whole bundle from `reader` and checks it: a header of this format and version
/// first, part lines in order, a trailer last whose counts and digests match, nothing after.
///
/// # Errors
/// The first thing wrong, with its line number.
pub fn verify(mut reader: impl BufRead) -> Result<Verified, BundleError> {
    let mut whole = Sha256::new();
    let mut buffer = Vec::new();
    let mut number = 0;
    let mut header: Option<Header> = None;
    // The part being read, its digest and line count; the parts read before it.
    let mut current: Option<(Part, Sha256, u64)> = None;
    let mut read: Vec<PartSummary> = Vec::new();
    loop {
        buffer.clear();
        let size = std::io::Read::take(&mut reader, MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut buffer)?;
        if size == 0 {
            return Err(malformed(number, "the bundle ends without its trailer"));
        }
        number += 1;
        if buffer.len() > MAX_LINE_BYTES {
            return Err(malformed(number, "line too long"));
        }
        if buffer.last() != Some(&b'\n') {
            return Err(malformed(number, "the last line is cut off"));
        }
        whole.update(&buffer);
        let line: Line = serde_json::from_slice(&buffer)
            .map_err(|e| malformed(number, format!("not a bundle line: {e}")))?;
        match (&header, line) {
            (None, Line::Header(h)) => {
                if h.format != FORMAT || h.version != VERSION {
                    return Err(malformed(
                        number,
                        format!(
                            "format {} version {} is not {FORMAT} {VERSION}",
                            h.format, h.version
                        ),
                    ));
                }
                header = Some(h);
            }
            (None, _) => return Err(malformed(number, "a bundle begins with its header")),
            (Some(_), Line::Header(_)) => return Err(malformed(number, "a second header")),
            (Some(h), Line::Trailer(trailer)) => {
                if let Some((part, digest, lines)) = current.take() {
                    read.push(summary(part, digest, lines));
                }
                check_trailer(&read, &trailer.parts)?;
                let mut rest = Vec::new();
                reader.read_to_end(&mut rest)?;
                if !rest.is_empty() {
                    return Err(malformed(number + 1, "lines after the trailer"));
                }
                return Ok(Verified {
                    header: h.clone(),
                    parts: trailer.parts,
                    sha256: hex(&whole.finalize()),
                });
            }
            (Some(_), line) => {
                let part = line
                    .part()
                    .ok_or_else(|| malformed(number, "not a part line"))?;
                match &mut current {
                    Some((now, digest, lines)) if *now == part => {
                        digest.update(&buffer);
                        *lines += 1;
                    }
                    _ => {
                        if let Some((now, digest, lines)) = current.take() {
                            read.push(summary(now, digest, lines));
                        }
                        if read.iter().any(|r| r.name >= part) {
                            return Err(malformed(
                                number,
                                format!("part {} out of order", part.as_str()),
                            ));
                        }
                        let mut digest = Sha256::new();
                        digest.update(&buffer);
                        current = Some((part, digest, 1));
                    }
                }
            }
        }
    }
}

fn summary(part: Part, digest: Sha256, lines: u64) -> PartSummary {
    PartSummary {
        name: part,
        lines,
        sha256: hex(&digest.finalize()),
    }
}

/// Every part the trailer lists matches what was read (a part not read had no lines), and
/// every part read is listed.
fn check_trailer(read: &[PartSummary], listed: &[PartSummary]) -> Result<(), BundleError> {
    let empty = hex(&Sha256::digest(b""));
    for part in Part::ALL {
        let found = read.iter().find(|r| r.name == part);
        let Some(expected) = listed.iter().find(|l| l.name == part) else {
            return Err(BundleError::Mismatch {
                part,
                what: "its entry",
                expected: "listed".to_owned(),
                found: "missing".to_owned(),
            });
        };
        let (lines, sha256) = found.map_or((0, empty.as_str()), |f| (f.lines, f.sha256.as_str()));
        if lines != expected.lines {
            return Err(BundleError::Mismatch {
                part,
                what: "the number of lines",
                expected: expected.lines.to_string(),
                found: lines.to_string(),
            });
        }
        if sha256 != expected.sha256 {
            return Err(BundleError::Mismatch {
                part,
                what: "the SHA-256",
                expected: expected.sha256.clone(),
                found: sha256.to_owned(),
            });
        }
    }
    Ok(())
}
