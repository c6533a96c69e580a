//! One PEM reader (RFC 7468) for every certificate or key a store or signer reads.
//!
//! Tolerant of what real servers and files hold — and SNS's certificate files are odd but valid:
//! CRLF or LF line ends, trailing whitespace, no final newline, text before the first `BEGIN`
//! and between blocks, several blocks of several labels. Strict about what matters: the `END`
//! label equals the `BEGIN` label, and the content is strict standard base64 once the line
//! breaks are removed (no headers such as `Proc-Type:`, no stray characters, padding only at
//! the end, canonical trailing bits).

use std::fmt;

use super::encoding::b64_decode;

/// Why no usable block was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PemError {
    /// The input is not UTF-8.
    NotText,
    /// No block with the wanted label.
    NoBlock,
    /// A `BEGIN` line without its `END` line.
    Unterminated,
    /// The block's content is not base64.
    NotBase64,
}

impl fmt::Display for PemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PemError::NotText => "the PEM is not text",
            PemError::NoBlock => "no such block in the PEM",
            PemError::Unterminated => "unterminated PEM block",
            PemError::NotBase64 => "the PEM block is not base64",
        })
    }
}

/// One block: its label and its content, not yet decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Block<'a> {
    /// `CERTIFICATE`, `PRIVATE KEY`, …
    pub(crate) label: &'a str,
    content: &'a str,
}

impl Block<'_> {
    /// The DER bytes: the content without its line breaks and surrounding white space, as
    /// strict base64.
    pub(crate) fn decode(&self) -> Result<Vec<u8>, PemError> {
        let b64: String = self
            .content
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        b64_decode(b64).ok_or(PemError::NotBase64)
    }
}

/// Every block of `pem`, in order. A `BEGIN` without its `END` ends the iteration with
/// [`PemError::Unterminated`].
pub(crate) fn blocks(pem: &[u8]) -> impl Iterator<Item = Result<Block<'_>, PemError>> {
    let mut rest = Some(std::str::from_utf8(pem).map_err(|_| PemError::NotText));
    std::iter::from_fn(move || {
        let text = match rest.take()? {
            Ok(text) => text,
            Err(e) => return Some(Err(e)),
        };
        match next_block(text)? {
            Ok((block, after)) => {
                rest = Some(Ok(after));
                Some(Ok(block))
            }
            Err(e) => Some(Err(e)),
        }
    })
}

/// The first block of `text` and what follows it; `None` when there is no further `BEGIN`.
fn next_block(text: &str) -> Option<Result<(Block<'_>, &str), PemError>> {
    const BEGIN: &str = "-----BEGIN ";
    const DASHES: &str = "-----";
    let start = text.find(BEGIN)? + BEGIN.len();
    let after_begin = text.get(start..).unwrap_or_default();
    let Some(label_len) = after_begin.find(DASHES) else {
        return Some(Err(PemError::Unterminated));
    };
    let label = after_begin.get(..label_len).unwrap_or_default();
    if label.contains(['\r', '\n']) {
        return Some(Err(PemError::Unterminated));
    }
    let body = after_begin
        .get(label_len + DASHES.len()..)
        .unwrap_or_default();
    let end_line = format!("-----END {label}-----");
    let Some(end) = body.find(&end_line) else {
        return Some(Err(PemError::Unterminated));
    };
    let content = body.get(..end).unwrap_or_default();
    let after = body.get(end + end_line.len()..).unwrap_or_default();
    Some(Ok((Block { label, content }, after)))
}

/// The DER of the first block labelled `label` (blocks of other labels are skipped without
/// being decoded).
pub(crate) fn first(pem: &[u8], label: &str) -> Result<Vec<u8>, PemError> {
    for block in blocks(pem) {
        let block = block?;
        if block.label == label {
            return block.decode();
        }
    }
    Err(PemError::NoBlock)
}

/// The DER of every block labelled `label`, in order.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn all(pem: &[u8], label: &str) -> Result<Vec<Vec<u8>>, PemError> {
    let mut ders = Vec::new();
    for block in blocks(pem) {
        let block = block?;
        if block.label == label {
            ders.push(block.decode()?);
        }
    }
    Ok(ders)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "hello world" and "pem" in base64.
    const HELLO: &str = "aGVsbG8g\nd29ybGQ=";
    const PEM_B64: &str = "cGVt";

    fn cert(content: &str) -> String {
        format!("-----BEGIN CERTIFICATE-----\n{content}\n-----END CERTIFICATE-----\n")
    }

    #[test]
    fn a_plain_block_is_read() {
        assert_eq!(
            first(cert(HELLO).as_bytes(), "CERTIFICATE").as_deref(),
            Ok(&b"hello world"[..])
        );
    }

    #[test]
    fn crlf_line_ends_are_accepted() {
        let pem = cert(HELLO).replace('\n', "\r\n");
        assert_eq!(
            first(pem.as_bytes(), "CERTIFICATE").as_deref(),
            Ok(&b"hello world"[..])
        );
    }

    #[test]
    fn trailing_whitespace_on_lines_is_accepted() {
        let pem = "-----BEGIN CERTIFICATE-----  \naGVsbG8g \t\nd29ybGQ=   \n-----END CERTIFICATE-----   \n\n";
        assert_eq!(
            first(pem.as_bytes(), "CERTIFICATE").as_deref(),
            Ok(&b"hello world"[..])
        );
    }

    #[test]
    fn a_missing_final_newline_is_accepted() {
        let pem = cert(HELLO);
        let pem = pem.trim_end();
        assert_eq!(
            first(pem.as_bytes(), "CERTIFICATE").as_deref(),
            Ok(&b"hello world"[..])
        );
    }

    #[test]
    fn text_before_begin_and_between_blocks_is_ignored() {
        let pem = format!(
            "Subject: CN=sns.amazonaws.com\nIssuer: someone\n{}explanatory text\n{}",
            cert(HELLO),
            cert(PEM_B64)
        );
        assert_eq!(
            all(pem.as_bytes(), "CERTIFICATE"),
            Ok(vec![b"hello world".to_vec(), b"pem".to_vec()])
        );
    }

    #[test]
    fn several_blocks_of_several_labels_are_told_apart() {
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{PEM_B64}\n-----END PRIVATE KEY-----\n{}",
            cert(HELLO)
        );
        assert_eq!(
            first(pem.as_bytes(), "CERTIFICATE").as_deref(),
            Ok(&b"hello world"[..])
        );
        assert_eq!(
            first(pem.as_bytes(), "PRIVATE KEY").as_deref(),
            Ok(&b"pem"[..])
        );
        let labels: Vec<&str> = blocks(pem.as_bytes())
            .map(|b| b.expect("block").label)
            .collect();
        assert_eq!(labels, ["PRIVATE KEY", "CERTIFICATE"]);
        // A block of another label is skipped undecoded, even when it is not base64.
        let pem = format!("-----BEGIN X-----\n!!\n-----END X-----\n{}", cert(HELLO));
        assert!(first(pem.as_bytes(), "CERTIFICATE").is_ok());
    }

    #[test]
    fn the_content_is_strict_base64() {
        for bad in [
            "!!",
            "aGVsbG8gd29ybGQ",   // missing padding
            "aGVsbG8gd29ybGQ==", // extra padding
            "aGVs=bG8gd29ybGQ=", // padding inside
            "aGVsbG8gd29ybGR=",  // non-canonical trailing bits
            "aGVsbG8g-_9ybGQ=",  // base64url alphabet
            "Proc-Type: 4,ENCRYPTED\n\naGVsbG8gd29ybGQ=",
        ] {
            assert_eq!(
                first(cert(bad).as_bytes(), "CERTIFICATE"),
                Err(PemError::NotBase64),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn missing_or_mismatched_boundaries_are_refused() {
        assert_eq!(first(b"", "CERTIFICATE"), Err(PemError::NoBlock));
        assert_eq!(first(b"not a pem", "CERTIFICATE"), Err(PemError::NoBlock));
        assert_eq!(
            first(b"-----BEGIN CERTIFICATE-----\naGVsbG8=\n", "CERTIFICATE"),
            Err(PemError::Unterminated)
        );
        assert_eq!(
            first(
                b"-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END PRIVATE KEY-----\n",
                "CERTIFICATE"
            ),
            Err(PemError::Unterminated)
        );
        assert_eq!(
            first(b"-----BEGIN CERTIFICATE\naGVsbG8=\n", "CERTIFICATE"),
            Err(PemError::Unterminated)
        );
        assert_eq!(
            first(cert(HELLO).as_bytes(), "PRIVATE KEY"),
            Err(PemError::NoBlock)
        );
        assert_eq!(first(b"\xff\xfe", "CERTIFICATE"), Err(PemError::NotText));
    }
}
