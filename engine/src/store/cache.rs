//! The Hugging Face cache layout shared with `huggingface_hub` (Python) and `hf-hub`:
//!
//! ```text
//! {cache}/models--{org}--{name}/blobs/{etag}                    content, named by its hash
//! {cache}/models--{org}--{name}/blobs/{etag}.incomplete         a transfer in progress (Python's name)
//! {cache}/models--{org}--{name}/snapshots/{commit}/{file}       -> ../../blobs/{etag} (relative symlink)
//! {cache}/models--{org}--{name}/refs/{revision}                 the commit, no newline
//! {cache}/.locks/models--{org}--{name}/{etag}.lock              held while a blob is written
//! ```
//!
//! Lookups and refs go through `hf_hub::Cache`, so both crates agree on what is present.

use std::path::{Path, PathBuf};

use hf_hub::{Cache, CacheRepo, Repo, RepoType};

use super::error::StoreError;
use super::manifest::RepoSpec;

/// One repository inside a cache directory.
pub(crate) struct RepoCache {
    cache_dir: PathBuf,
    repo: RepoSpec,
    inner: CacheRepo,
}

impl RepoCache {
    pub(crate) fn new(cache_dir: &Path, repo: &RepoSpec) -> Self {
        let inner = Cache::new(cache_dir.to_path_buf()).repo(Repo::with_revision(
            repo.id.clone(),
            RepoType::Model,
            repo.revision.clone(),
        ));
        RepoCache { cache_dir: cache_dir.to_path_buf(), repo: repo.clone(), inner }
    }

    /// `models--org--name`.
    pub(crate) fn folder_name(&self) -> String {
        format!("models--{}", self.repo.id.replace('/', "--"))
    }

    /// `{cache}/models--org--name`.
    pub(crate) fn repo_dir(&self) -> PathBuf {
        self.cache_dir.join(self.folder_name())
    }

    /// The snapshot entry of `file` at the revision's current commit, if it resolves to a file.
    pub(crate) fn get(&self, file: &str) -> Option<PathBuf> {
        self.inner.get(file).filter(|p| p.is_file())
    }

    pub(crate) fn blob_path(&self, etag: &str) -> PathBuf {
        self.inner.blob_path(etag)
    }

    pub(crate) fn incomplete_path(&self, etag: &str) -> PathBuf {
        self.inner.blob_path(&format!("{etag}.incomplete"))
    }

    pub(crate) fn lock_path(&self, etag: &str) -> PathBuf {
        self.cache_dir.join(".locks").join(self.folder_name()).join(format!("{etag}.lock"))
    }

    /// The blob a snapshot entry points to (its name is the etag).
    pub(crate) fn etag_of(&self, pointer: &Path) -> Option<String> {
        let target = std::fs::canonicalize(pointer).ok()?;
        let blobs = std::fs::canonicalize(self.repo_dir().join("blobs")).ok()?;
        (target.parent()? == blobs).then(|| target.file_name()?.to_str().map(str::to_string))?
    }

    /// Point `snapshots/{commit}/{file}` at `blobs/{etag}` and move the revision's ref to `commit`.
    pub(crate) fn link(&self, commit: &str, file: &str, etag: &str) -> Result<PathBuf, StoreError> {
        let pointer = self.inner.pointer_path(commit).join(file);
        let parent = pointer.parent().unwrap_or(&pointer);
        std::fs::create_dir_all(parent).map_err(|e| StoreError::io("cannot create", parent, e))?;
        if pointer.symlink_metadata().is_ok() {
            std::fs::remove_file(&pointer).map_err(|e| StoreError::io("cannot replace", &pointer, e))?;
        }
        let depth = Path::new(file).components().count() + 1;
        let mut target = PathBuf::new();
        for _ in 0..depth {
            target.push("..");
        }
        target.push("blobs");
        target.push(etag);
        make_link(&target, &self.blob_path(etag), &pointer)?;
        if commit != self.repo.revision {
            let refs = self.repo_dir().join("refs").join(&self.repo.revision);
            self.inner.create_ref(commit).map_err(|e| StoreError::io("cannot write", refs, e))?;
        }
        Ok(pointer)
    }
}

#[cfg(unix)]
fn make_link(relative: &Path, _blob: &Path, pointer: &Path) -> Result<(), StoreError> {
    std::os::unix::fs::symlink(relative, pointer).map_err(|e| StoreError::io("cannot link", pointer, e))
}

/// Symlinks need a privilege on Windows; fall back to a copy as `huggingface_hub` does.
#[cfg(windows)]
fn make_link(relative: &Path, blob: &Path, pointer: &Path) -> Result<(), StoreError> {
    if std::os::windows::fs::symlink_file(relative, pointer).is_ok() {
        return Ok(());
    }
    std::fs::copy(blob, pointer).map(|_| ()).map_err(|e| StoreError::io("cannot copy", pointer, e))
}

#[cfg(not(any(unix, windows)))]
fn make_link(_relative: &Path, blob: &Path, pointer: &Path) -> Result<(), StoreError> {
    std::fs::copy(blob, pointer).map(|_| ()).map_err(|e| StoreError::io("cannot copy", pointer, e))
}

/// An exclusive lock on a blob, released on drop (also by Python's `filelock`, which uses `flock` too).
pub(crate) struct BlobLock {
    _file: std::fs::File,
}

impl BlobLock {
    pub(crate) fn acquire(path: &Path, key: &str) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::io("cannot create", dir, e))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| StoreError::io("cannot open", path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(BlobLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => {
                Err(StoreError::Busy { file: key.to_string(), path: path.to_path_buf() })
            }
            Err(std::fs::TryLockError::Error(e)) => Err(StoreError::io("cannot lock", path, e)),
        }
    }
}

/// The nearest existing ancestor of `path` (to ask for free space before the cache exists).
pub(crate) fn existing_ancestor(path: &Path) -> PathBuf {
    let mut p = path.to_path_buf();
    while !p.exists() {
        if !p.pop() {
            return PathBuf::from(".");
        }
    }
    p
}
