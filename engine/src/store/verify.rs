//! Checking a file against what the hub published: its hash where one is known, otherwise its size
//! and whether it parses (a safetensors header that covers the file, valid JSON).

use std::io::Read;
use std::path::Path;

use sha1::Digest as _;

use super::error::StoreError;
use super::events::{CancelToken, EventSink, StoreEvent, Throttle};

/// A content hash the file must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Digest {
    /// sha256 of the content (LFS files; the hub's `X-Linked-Etag`).
    Sha256(String),
    /// git blob sha1, `sha1("blob {len}\0" + content)` (small files kept in git; the hub's `ETag`).
    GitSha1(String),
}

impl Digest {
    /// Read a hub etag (and so a cache blob name): 64 hex digits are a sha256, 40 a git blob sha1.
    pub fn from_etag(etag: &str) -> Option<Digest> {
        let etag = etag.trim_matches('"').to_ascii_lowercase();
        if !etag.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        match etag.len() {
            64 => Some(Digest::Sha256(etag)),
            40 => Some(Digest::GitSha1(etag)),
            _ => None,
        }
    }

    /// `sha256` or `git-sha1`.
    pub fn kind(&self) -> &'static str {
        match self {
            Digest::Sha256(_) => "sha256",
            Digest::GitSha1(_) => "git-sha1",
        }
    }

    /// The expected hash, lower-case hex.
    pub fn hex(&self) -> &str {
        match self {
            Digest::Sha256(h) | Digest::GitSha1(h) => h,
        }
    }
}

/// Hash `path` the way `expected` was made; report hashing progress when `sink` is given.
pub(crate) fn hash_file(
    path: &Path,
    expected: &Digest,
    key: &str,
    mut sink: Option<&mut dyn EventSink>,
    cancel: &CancelToken,
) -> Result<String, StoreError> {
    let mut file = std::fs::File::open(path).map_err(|e| StoreError::io("cannot open", path, e))?;
    let total = file.metadata().map_err(|e| StoreError::io("cannot read", path, e))?.len();
    let mut sha256 = sha2::Sha256::new();
    let mut sha1 = sha1::Sha1::new();
    if let Digest::GitSha1(_) = expected {
        sha1.update(format!("blob {total}\0").as_bytes());
    }
    let mut buffer = vec![0u8; 1 << 20];
    let mut done = 0u64;
    let mut throttle = Throttle::new();
    loop {
        if cancel.is_cancelled() {
            return Err(StoreError::Cancelled);
        }
        let n = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(StoreError::io("cannot read", path, e)),
        };
        match expected {
            Digest::Sha256(_) => sha256.update(&buffer[..n]),
            Digest::GitSha1(_) => sha1.update(&buffer[..n]),
        }
        done += n as u64;
        if let Some(sink) = sink.as_deref_mut() {
            throttle.progress(sink, key, done, total);
        }
    }
    let digest: Vec<u8> = match expected {
        Digest::Sha256(_) => sha256.finalize().to_vec(),
        Digest::GitSha1(_) => sha1.finalize().to_vec(),
    };
    Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
}

/// Cheap checks that catch a truncated or foreign file without a hash: a safetensors header whose
/// tensors lie inside the file, JSON that parses.
pub(crate) fn check_structure(path: &Path) -> Result<(), String> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if name.ends_with(".safetensors") {
        promptbook_models::weights::read_header(path).map(|_| ()).map_err(|e| e.to_string())
    } else if name.ends_with(".json") {
        let text = std::fs::read(path).map_err(|e| e.to_string())?;
        serde_json::from_slice::<serde_json::Value>(&text)
            .map(|_| ())
            .map_err(|e| format!("not valid JSON: {e}"))
    } else {
        Ok(())
    }
}

/// Verify one file; `Ok(method)` names what was checked.
pub(crate) fn verify_file(
    path: &Path,
    key: &str,
    digest: Option<&Digest>,
    size: Option<u64>,
    sink: &mut dyn EventSink,
    cancel: &CancelToken,
) -> Result<String, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        file: key.to_string(),
        path: path.to_path_buf(),
        reason,
        fix: "run `promptbook models verify --delete-corrupt`, then `promptbook models download`".into(),
    };
    let len = std::fs::metadata(path).map_err(|e| StoreError::io("cannot read", path, e))?.len();
    sink.send(StoreEvent::Started { file: key.to_string(), total: len });
    if let Some(size) = size
        && size != len
    {
        return Err(corrupt(format!("{len} bytes, expected {size}")));
    }
    check_structure(path).map_err(corrupt)?;
    let method = match digest {
        Some(digest) => {
            let got = hash_file(path, digest, key, Some(sink), cancel)?;
            if got != digest.hex() {
                return Err(corrupt(format!("{} is {got}, expected {}", digest.kind(), digest.hex())));
            }
            digest.kind().to_string()
        }
        None if size.is_some() => "size and structure (no hash known)".to_string(),
        None => "structure only (no size or hash known)".to_string(),
    };
    sink.send(StoreEvent::Finished { file: key.to_string() });
    Ok(method)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_map_to_hash_kinds() {
        let sha = "a".repeat(64);
        assert_eq!(Digest::from_etag(&format!("\"{sha}\"")), Some(Digest::Sha256(sha)));
        assert_eq!(Digest::from_etag(&"B".repeat(40)), Some(Digest::GitSha1("b".repeat(40))));
        assert_eq!(Digest::from_etag("abc"), None);
        assert_eq!(Digest::from_etag(&"z".repeat(64)), None);
    }

    #[test]
    fn hashes_match_known_values() {
        let dir = std::env::temp_dir().join(format!("pb-verify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("hello.txt");
        std::fs::write(&path, b"hello\n").unwrap();
        let cancel = CancelToken::new();
        // `printf 'hello\n' | sha256sum` and `printf 'hello\n' | git hash-object --stdin`.
        let sha = hash_file(&path, &Digest::Sha256(String::new()), "k", None, &cancel).unwrap();
        assert_eq!(sha, "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03");
        let git = hash_file(&path, &Digest::GitSha1(String::new()), "k", None, &cancel).unwrap();
        assert_eq!(git, "ce013625030ba8dba906f756967f9e9ca394464a");
        std::fs::remove_dir_all(&dir).ok();
    }
}
