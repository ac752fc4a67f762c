//! Errors of the model store, each worded so that a person knows what to do next.

use std::path::PathBuf;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The repository needs an accepted licence and a token that carries it.
    #[error(
        "{repo} is gated ({reason}): accept the licence at {page}, then set HF_TOKEN or run `huggingface-cli login`"
    )]
    Gated { repo: String, page: String, reason: String },

    /// The hub refused the request and no token was sent.
    #[error(
        "the hub refused {url} without a token (HTTP {status}); the repository is private or does not exist. Set HF_TOKEN or run `huggingface-cli login` if you have access"
    )]
    NoToken { url: String, status: u16 },

    /// The hub refused the token that was sent.
    #[error(
        "the hub refused the token for {url} (HTTP {status}); check HF_TOKEN or the token saved by `huggingface-cli login` (create one at https://huggingface.co/settings/tokens)"
    )]
    TokenRejected { url: String, status: u16 },

    /// The file does not exist at that revision.
    #[error(
        "{repo}/{file} was not found on the hub at revision {revision} ({url}); the manifest may be out of date, or HF_ENDPOINT points at a server without it"
    )]
    NotFound { repo: String, file: String, revision: String, url: String },

    /// The hub answered with an unexpected status.
    #[error("the hub answered HTTP {status} for {url}; try again later")]
    Http { url: String, status: u16 },

    /// The hub answered without the headers a download needs.
    #[error("the hub's answer for {url} is unusable: {message}; check HF_ENDPOINT")]
    Protocol { url: String, message: String },

    /// The hub gave no content hash for a file, so what arrives could not be checked.
    #[error(
        "the hub gave no sha256 or git-sha1 hash for {file} (ETag {etag:?}), so its download cannot be verified; nothing was fetched. Run `promptbook models download --no-verify` to accept it unchecked"
    )]
    Unverifiable { file: String, etag: String },

    /// A path inside a model folder or index points outside it.
    #[error("{source_file} names {path:?}, which is outside {folder}; the file is damaged or hostile")]
    OutsideFolder { source_file: String, path: String, folder: String },

    /// The hub cannot be reached.
    #[error(
        "cannot reach {endpoint}: {message}. Check the network connection or proxy; to use only the files already downloaded, set HF_HUB_OFFLINE=1"
    )]
    Network { endpoint: String, message: String },

    /// Offline mode was asked for and files are missing from the cache.
    #[error(
        "HF_HUB_OFFLINE is set and {} file(s) are not in the cache: {}; unset HF_HUB_OFFLINE and run `promptbook models download`",
        missing.len(),
        missing.join(", ")
    )]
    Offline { missing: Vec<String> },

    /// Not enough free space for what is left to download (checked before starting).
    #[error(
        "not enough disk space in {}: {} more are needed, {} are free. Free some space, or move the Hugging Face cache to a bigger disk with HF_HOME",
        dir.display(),
        human_bytes(*needed),
        human_bytes(*available)
    )]
    DiskFull { dir: PathBuf, needed: u64, available: u64 },

    /// The disk filled up during a download.
    #[error(
        "the disk holding {} is full; free some space (or move the cache with HF_HOME), then run the download again to resume",
        path.display()
    )]
    DiskFilled { path: PathBuf },

    /// A file's content is not what the hub published.
    #[error("{file} is corrupt or truncated ({reason}): {fix} [{}]", path.display())]
    Corrupt { file: String, path: PathBuf, reason: String, fix: String },

    /// Some files of the configuration are not present.
    #[error("{} model file(s) missing: {}; run `promptbook models download`", missing.len(), missing.join(", "))]
    Missing { missing: Vec<String> },

    /// Another process is downloading the same file.
    #[error(
        "another download of {file} is running (lock held on {}); wait for it to finish",
        path.display()
    )]
    Busy { file: String, path: PathBuf },

    /// `--models-dir` is a read-only source.
    #[error(
        "{} is a local copy (--models-dir); promptbook never downloads into it. Drop --models-dir to download into the Hugging Face cache, or copy the missing files there",
        dir.display()
    )]
    ModelsDirIsReadOnly { dir: PathBuf },

    /// The name is not in the manifest.
    #[error("{name:?} is not a model file Promptbook knows; `promptbook models status` lists them")]
    UnknownFile { name: String },

    /// The bare file name is in several repositories.
    #[error("{name:?} is in several repositories; name one of: {}", keys.join(", "))]
    AmbiguousFile { name: String, keys: Vec<String> },

    /// The download was cancelled; what was received is kept and the next download resumes from it.
    #[error("download cancelled; run it again to resume")]
    Cancelled,

    /// A safetensors header could not be read.
    #[error("{0}")]
    Header(String),

    /// A file-system operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::StorageFull {
            return StoreError::DiskFilled { path };
        }
        StoreError::Io { action, path, source }
    }
}

/// `1.5 GB`-style sizes (powers of 1000, as the hub shows them).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_rounds_to_one_decimal() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(4_900_000_000), "4.9 GB");
        assert_eq!(human_bytes(42_700_000), "42.7 MB");
    }

    #[test]
    fn a_full_disk_during_a_write_says_so_and_that_the_download_resumes() {
        let e = StoreError::io(
            "cannot write",
            "/cache/blobs/x.incomplete",
            std::io::ErrorKind::StorageFull.into(),
        );
        assert!(matches!(e, StoreError::DiskFilled { .. }), "{e:?}");
        assert!(e.to_string().contains("is full") && e.to_string().contains("resume"), "{e}");
        let other = StoreError::io("cannot write", "/x", std::io::ErrorKind::PermissionDenied.into());
        assert!(matches!(other, StoreError::Io { .. }));
    }

    #[test]
    fn gated_message_names_the_licence_page_and_both_fixes() {
        let e = StoreError::Gated {
            repo: "google/gemma-3-12b-it".into(),
            page: "https://huggingface.co/google/gemma-3-12b-it".into(),
            reason: "no token was sent".into(),
        };
        let text = e.to_string();
        assert!(
            text.contains("accept the licence at https://huggingface.co/google/gemma-3-12b-it"),
            "{text}"
        );
        assert!(text.contains("HF_TOKEN") && text.contains("huggingface-cli login"), "{text}");
    }
}
