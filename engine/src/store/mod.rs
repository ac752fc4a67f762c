//! The model store: which weight files a configuration needs ([`Manifest`]), where they are (the
//! Hugging Face cache, or a local folder given with `--models-dir`), downloading them with resume,
//! progress events, a free-disk check and hash verification, and reading a checkpoint's header.
//!
//! Environment, as `huggingface_hub` reads it: `HF_HOME` (default `~/.cache/huggingface`),
//! `HF_HUB_CACHE` (default `$HF_HOME/hub`), `HF_ENDPOINT`, `HF_TOKEN` (else the token file written by
//! `huggingface-cli login`, `$HF_TOKEN_PATH` or `$HF_HOME/token`) and `HF_HUB_OFFLINE` (cache only).
//! `PROMPTBOOK_MODELS_DIR` is the setting behind `--models-dir`.

mod cache;
mod error;
mod events;
mod hub;
mod manifest;
mod verify;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::{StoreError, human_bytes};
pub use events::{CancelToken, EventSink, StoreEvent};
pub use hub::{DEFAULT_ENDPOINT, RemoteFile};
pub use manifest::{
    BIGVGAN_REPO, CAMPPLUS_REPO, FileSize, GEMMA_REPO, Manifest, ManifestFile, Need, RepoSpec, SCENEMA_REPO,
    SEEDVC_REPO, SEPARATOR_REPO, Variant, WHISPER_LICENSE, WHISPER_REPO,
};
pub use verify::Digest;

use cache::{BlobLock, RepoCache};
use hub::Hub;

/// The environment variable behind `--models-dir`.
pub const MODELS_DIR_ENV: &str = "PROMPTBOOK_MODELS_DIR";

/// Space left free on the cache's disk after a download, for everything else on the machine.
const DISK_RESERVE_BYTES: u64 = 200_000_000;

/// Where model files are read from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "path", rename_all = "snake_case")]
pub enum Source {
    /// A Hugging Face hub cache directory (`$HF_HUB_CACHE`); downloads go here.
    Cache(PathBuf),
    /// A local copy, read only: `DIR/{repo name}/{file}`, `DIR/{file}`, or a hub cache layout inside `DIR`.
    ModelsDir(PathBuf),
}

impl Source {
    /// The folder.
    pub fn path(&self) -> &Path {
        match self {
            Source::Cache(p) | Source::ModelsDir(p) => p,
        }
    }
}

/// How to reach the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubSettings {
    /// Without a trailing slash, e.g. `https://huggingface.co`.
    pub endpoint: String,
    /// Sent as `Authorization: Bearer` to the endpoint (never to a redirect's other host).
    pub token: Option<String>,
    /// Never touch the network; only what is in the cache counts.
    pub offline: bool,
}

impl HubSettings {
    /// `HF_ENDPOINT`, `HF_TOKEN` (or the saved login token) and `HF_HUB_OFFLINE`.
    pub fn from_env() -> Self {
        let endpoint = env_nonempty("HF_ENDPOINT").unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        let token =
            env_nonempty("HF_TOKEN").or_else(|| env_nonempty("HUGGING_FACE_HUB_TOKEN")).or_else(|| {
                let path = env_nonempty("HF_TOKEN_PATH")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| hf_home().join("token"));
                std::fs::read_to_string(path).ok().map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
            });
        let offline = env_nonempty("HF_HUB_OFFLINE").is_some_and(|v| is_true(&v));
        HubSettings { endpoint: endpoint.trim_end_matches('/').to_string(), token, offline }
    }
}

/// `HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`.
pub fn hf_home() -> PathBuf {
    if let Some(home) = env_nonempty("HF_HOME") {
        return PathBuf::from(home);
    }
    let cache = env_nonempty("XDG_CACHE_HOME").map(PathBuf::from).unwrap_or_else(|| {
        let home = env_nonempty("HOME").or_else(|| env_nonempty("USERPROFILE")).unwrap_or_else(|| ".".into());
        PathBuf::from(home).join(".cache")
    });
    cache.join("huggingface")
}

/// `HF_HUB_CACHE` (or the older `HUGGINGFACE_HUB_CACHE`), else `$HF_HOME/hub`.
pub fn default_cache_dir() -> PathBuf {
    env_nonempty("HF_HUB_CACHE")
        .or_else(|| env_nonempty("HUGGINGFACE_HUB_CACHE"))
        .map(PathBuf::from)
        .unwrap_or_else(|| hf_home().join("hub"))
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `huggingface_hub`'s reading of boolean variables.
fn is_true(value: &str) -> bool {
    matches!(value.trim().to_ascii_uppercase().as_str(), "1" | "ON" | "YES" | "TRUE")
}

/// What `status` found for one file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", content = "reason", rename_all = "lowercase")]
pub enum FileState {
    /// There and passes the quick checks.
    Present,
    /// Not there.
    Missing,
    /// Present but fails a quick check (size, header); `verify --delete-corrupt` then `download` fixes it.
    Damaged(String),
}

/// One row of `status`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileStatus {
    /// The manifest entry.
    #[serde(flatten)]
    pub file: ManifestFile,
    /// `org/name/file`.
    pub key: String,
    /// What was found.
    #[serde(flatten)]
    pub state: FileState,
    /// Where it is, when present.
    pub path: Option<PathBuf>,
    /// Size on disk.
    pub bytes: Option<u64>,
    /// The content hash the cache recorded (the blob's name), as `sha256:…` or `git-sha1:…`.
    pub hash: Option<String>,
}

/// Download settings.
#[derive(Debug, Clone)]
pub struct DownloadOptions {
    /// Also fetch files no configuration needs ([`Need::Optional`]).
    pub include_optional: bool,
    /// Further attempts after a transfer breaks off; each resumes where the last stopped.
    pub retries: u32,
    /// Wait before the first retry; doubled each time, at most 30 s.
    pub retry_wait: Duration,
    /// Set it to stop between two reads; the partial file is kept for the next run.
    pub cancel: CancelToken,
    /// Accept files the hub gives no content hash for (`--no-verify`); they are then checked by
    /// structure only.
    pub allow_unverified: bool,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions {
            include_optional: false,
            retries: 5,
            retry_wait: Duration::from_secs(2),
            cancel: CancelToken::new(),
            allow_unverified: false,
        }
    }
}

/// What happened to one file during `download`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Already in place; the hub was not asked.
    Present,
    /// The content was in the cache already and got a new snapshot entry.
    Linked,
    /// Transferred; `resumed_from` is where the completing transfer started (> 0 after a break, in
    /// this run or an earlier one).
    Downloaded {
        /// The file's size.
        bytes: u64,
        /// Bytes that were already on disk when the completing transfer began.
        resumed_from: u64,
    },
}

/// The result of `download`, in manifest order.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DownloadReport {
    /// `org/name/file` and what happened to it.
    pub files: Vec<(String, Outcome)>,
}

/// What `verify` found for one file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "result", content = "detail", rename_all = "snake_case")]
pub enum VerifyOutcome {
    /// Checked; the string says how (`sha256`, `git-sha1`, or a weaker check when no hash is known).
    Verified(String),
    /// Not there.
    Missing,
    /// Wrong size, hash or structure: the message names the problem and the fix.
    Corrupt(String),
    /// Could not be checked (unreadable).
    Failed(String),
}

/// One row of `verify`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VerifyResult {
    /// `org/name/file`.
    pub key: String,
    /// Where it is, when present.
    pub path: Option<PathBuf>,
    /// What the check found.
    #[serde(flatten)]
    pub outcome: VerifyOutcome,
}

/// A planned step of a download.
struct Step<'a> {
    file: &'a ManifestFile,
    repo: &'a RepoSpec,
    remote: RemoteFile,
    /// The blob is already complete: only the snapshot entry is missing.
    link_only: bool,
}

/// The model store.
#[derive(Debug, Clone)]
pub struct Store {
    source: Source,
    hub: HubSettings,
    manifest: Manifest,
}

impl Store {
    /// A store over `source`, reaching the hub with `hub`, managing the files of `manifest`.
    pub fn new(source: Source, hub: HubSettings, manifest: Manifest) -> Self {
        Store { source, hub, manifest }
    }

    /// The built-in manifest, the hub settings from the environment, and `models_dir` (else
    /// `$PROMPTBOOK_MODELS_DIR`, else the hub cache).
    pub fn from_env(models_dir: Option<PathBuf>) -> Self {
        let source = match models_dir.or_else(|| env_nonempty(MODELS_DIR_ENV).map(PathBuf::from)) {
            Some(dir) => Source::ModelsDir(dir),
            None => Source::Cache(default_cache_dir()),
        };
        Store::new(source, HubSettings::from_env(), Manifest::builtin())
    }

    /// Where files are read from.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// How the hub is reached.
    pub fn hub(&self) -> &HubSettings {
        &self.hub
    }

    /// The files it manages.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn repo_of(&self, file: &ManifestFile) -> &RepoSpec {
        self.manifest
            .repo(&file.repo)
            .unwrap_or_else(|| panic!("manifest file {} names no repo entry", file.key()))
    }

    /// The cache view of a repository, when the source is (or contains) a hub cache.
    fn repo_cache(&self, repo: &RepoSpec) -> Option<RepoCache> {
        match &self.source {
            Source::Cache(dir) => Some(RepoCache::new(dir, repo)),
            Source::ModelsDir(dir) => {
                let rc = RepoCache::new(dir, repo);
                rc.repo_dir().is_dir().then_some(rc)
            }
        }
    }

    /// Where `file` is on disk, if present.
    pub fn locate(&self, file: &ManifestFile) -> Option<PathBuf> {
        let repo = self.repo_of(file);
        if let Some(rc) = self.repo_cache(repo) {
            return rc.get(&file.file);
        }
        let Source::ModelsDir(dir) = &self.source else { return None };
        [dir.join(repo.short_name()).join(&file.file), dir.join(&file.file)].into_iter().find(|p| p.is_file())
    }

    /// The transformer variant `render` would load: INT8 when its file is present, else bf16 when
    /// that one is, else the default (INT8, what `download` fetches).
    pub fn variant_in_use(&self) -> Variant {
        let present = |variant: Variant| {
            self.manifest
                .files
                .iter()
                .filter(|f| f.need == Need::Variant(variant))
                .all(|f| self.locate(f).is_some())
        };
        [Variant::Int8, Variant::Bf16].into_iter().find(|v| present(*v)).unwrap_or_default()
    }

    /// The content hash recorded for a cached file (its blob name).
    fn recorded_digest(&self, file: &ManifestFile, path: &Path) -> Option<Digest> {
        let rc = self.repo_cache(self.repo_of(file))?;
        Digest::from_etag(&rc.etag_of(path)?)
    }

    /// A quick look at every file of a configuration; never touches the network.
    pub fn status(&self, variant: Variant, include_optional: bool) -> Vec<FileStatus> {
        self.manifest
            .files_for(variant, include_optional)
            .into_iter()
            .map(|file| {
                let path = self.locate(file);
                let bytes = path.as_ref().and_then(|p| std::fs::metadata(p).ok()).map(|m| m.len());
                let hash = path
                    .as_ref()
                    .and_then(|p| self.recorded_digest(file, p))
                    .map(|d| format!("{}:{}", d.kind(), d.hex()));
                let state = match (&path, bytes) {
                    (Some(p), Some(len)) => quick_check(file, p, len),
                    _ => FileState::Missing,
                };
                FileStatus { file: file.clone(), key: file.key(), state, path, bytes, hash }
            })
            .collect()
    }

    /// The paths of every file a configuration needs, or which ones are missing.
    pub fn resolve(&self, variant: Variant) -> Result<Vec<(ManifestFile, PathBuf)>, StoreError> {
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for file in self.manifest.files_for(variant, false) {
            match self.locate(file) {
                Some(path) => found.push((file.clone(), path)),
                None => missing.push(file.key()),
            }
        }
        if missing.is_empty() { Ok(found) } else { Err(StoreError::Missing { missing }) }
    }

    /// The path of one manifest file, named as `org/name/file` or by its file name.
    pub fn path_of(&self, name: &str) -> Result<PathBuf, StoreError> {
        let file = self.manifest.find(name).ok_or_else(|| {
            let keys: Vec<String> =
                self.manifest.files.iter().filter(|f| f.file == name).map(ManifestFile::key).collect();
            if keys.len() > 1 {
                StoreError::AmbiguousFile { name: name.into(), keys }
            } else {
                StoreError::UnknownFile { name: name.into() }
            }
        })?;
        self.locate(file).ok_or_else(|| StoreError::Missing { missing: vec![file.key()] })
    }

    /// Make every file of a configuration present in the cache. Files already there are not looked
    /// up on the hub; the rest are planned first (sizes, hashes, free disk), then fetched one by one,
    /// resumed after breaks, checked against the hub's hash, and linked into the cache.
    pub fn download(
        &self,
        variant: Variant,
        options: &DownloadOptions,
        sink: &mut dyn EventSink,
    ) -> Result<DownloadReport, StoreError> {
        let files = self.manifest.files_for(variant, options.include_optional);
        let present: Vec<bool> = files
            .iter()
            .map(|f| {
                self.locate(f).is_some_and(|p| {
                    let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
                    quick_check(f, &p, len) == FileState::Present
                })
            })
            .collect();
        let missing: Vec<String> =
            files.iter().zip(&present).filter(|(_, here)| !**here).map(|(f, _)| f.key()).collect();
        let mut report = DownloadReport::default();
        if missing.is_empty() {
            report.files = files.iter().map(|f| (f.key(), Outcome::Present)).collect();
            return Ok(report);
        }
        let cache_dir = match &self.source {
            Source::Cache(dir) => dir.clone(),
            Source::ModelsDir(dir) => return Err(StoreError::ModelsDirIsReadOnly { dir: dir.clone() }),
        };
        if self.hub.offline {
            return Err(StoreError::Offline { missing });
        }
        let hub = Hub::new(&self.hub.endpoint, self.hub.token.clone());
        let steps = self.plan(&hub, &cache_dir, &files, &present, options.allow_unverified)?;
        check_disk(&cache_dir, &steps)?;
        let mut outcomes: BTreeMap<String, Outcome> = BTreeMap::new();
        for step in &steps {
            let key = step.file.key();
            let outcome = self.run_step(&hub, &cache_dir, step, options, sink).inspect_err(|e| {
                sink.send(StoreEvent::Failed { file: key.clone(), message: e.to_string() });
            })?;
            outcomes.insert(key, outcome);
        }
        report.files =
            files.iter().map(|f| (f.key(), outcomes.remove(&f.key()).unwrap_or(Outcome::Present))).collect();
        Ok(report)
    }

    /// Ask the hub about every file that must be fetched or relinked. All questions come before any
    /// transfer, so a missing licence or a full disk shows up at once rather than after 12 GB.
    fn plan<'a>(
        &'a self,
        hub: &Hub,
        cache_dir: &Path,
        files: &[&'a ManifestFile],
        present: &[bool],
        allow_unverified: bool,
    ) -> Result<Vec<Step<'a>>, StoreError> {
        let mut steps = Vec::new();
        for repo in &self.manifest.repos {
            let in_repo: Vec<(usize, &ManifestFile)> =
                files.iter().enumerate().filter(|(_, f)| f.repo == repo.id).map(|(i, f)| (i, *f)).collect();
            if in_repo.iter().all(|(i, _)| present[*i]) {
                continue;
            }
            let rc = RepoCache::new(cache_dir, repo);
            let current = std::fs::read_to_string(rc.repo_dir().join("refs").join(&repo.revision))
                .ok()
                .map(|c| c.trim().to_string());
            // Missing files first: the first answer fixes the commit every other file is fetched at.
            let mut order: Vec<(usize, &ManifestFile)> =
                in_repo.iter().filter(|(i, _)| !present[*i]).copied().collect();
            let mut commit: Option<String> = None;
            let mut idx = 0;
            while idx < order.len() {
                let file = order[idx].1;
                let remote = hub.metadata(repo, commit.as_deref().unwrap_or(&repo.revision), &file.file)?;
                if commit.is_none() {
                    commit = Some(remote.commit.clone());
                    // The revision moved: present files need entries in the new snapshot too.
                    if current.as_deref() != Some(remote.commit.as_str()) {
                        order.extend(in_repo.iter().filter(|(i, _)| present[*i]).copied());
                    }
                }
                if let Some(pinned) = &file.sha256
                    && Digest::from_etag(&remote.etag).is_some_and(|d| d.hex() != pinned.as_str())
                {
                    return Err(StoreError::Protocol {
                        url: hub.resolve_url(&repo.id, &remote.commit, &file.file),
                        message: format!(
                            "the hub now serves {} with hash {}, the manifest pins {pinned}; update Promptbook",
                            file.key(),
                            remote.etag
                        ),
                    });
                }
                if Digest::from_etag(&remote.etag).is_none() && file.sha256.is_none() && !allow_unverified {
                    return Err(StoreError::Unverifiable { file: file.key(), etag: remote.etag });
                }
                let link_only = blob_is_complete(&rc, &remote)?;
                steps.push(Step { file, repo, remote, link_only });
                idx += 1;
            }
        }
        Ok(steps)
    }

    fn run_step(
        &self,
        hub: &Hub,
        cache_dir: &Path,
        step: &Step<'_>,
        options: &DownloadOptions,
        sink: &mut dyn EventSink,
    ) -> Result<Outcome, StoreError> {
        let key = step.file.key();
        let rc = RepoCache::new(cache_dir, step.repo);
        let remote = &step.remote;
        sink.send(StoreEvent::Started { file: key.clone(), total: remote.size });
        let blob = rc.blob_path(&remote.etag);
        let _lock = BlobLock::acquire(&rc.lock_path(&remote.etag), &key)?;
        // Another process may have finished this blob while we planned.
        if step.link_only || blob_is_complete(&rc, remote)? {
            rc.link(&remote.commit, &step.file.file, &remote.etag)?;
            sink.send(StoreEvent::Finished { file: key });
            return Ok(Outcome::Linked);
        }
        let partial = rc.incomplete_path(&remote.etag);
        if let Some(dir) = partial.parent() {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::io("cannot create", dir, e))?;
        }
        let mut attempt = 0;
        let resumed_from = loop {
            match hub.fetch(step.repo, &step.file.file, remote, &partial, sink, &options.cancel) {
                Ok(start) => break start,
                Err(StoreError::Network { .. }) if attempt < options.retries => {
                    let wait =
                        options.retry_wait.saturating_mul(1 << attempt.min(5)).min(Duration::from_secs(30));
                    attempt += 1;
                    tracing::warn!(
                        "transfer of {key} broke off; retry {attempt} of {} in {wait:?}",
                        options.retries
                    );
                    sleep_unless_cancelled(wait, &options.cancel)?;
                }
                Err(e) => return Err(e),
            }
        };
        // Check what is on disk, not what went by: the hash is the blob's name.
        let corrupt = |reason: String| {
            StoreError::Corrupt {
            file: key.clone(),
            path: partial.clone(),
            reason,
            fix: "the download was deleted; run `promptbook models download` again (if this repeats, a proxy or the server is altering the file)".into(),
        }
        };
        // The manifest's pin wins; else the hub's hash; else (`--no-verify`) the structure alone.
        let digest = step
            .file
            .sha256
            .as_deref()
            .and_then(Digest::from_etag)
            .or_else(|| Digest::from_etag(&remote.etag));
        match digest {
            Some(digest) => {
                let got = verify::hash_file(&partial, &digest, &key, None, &options.cancel)?;
                if got != digest.hex() {
                    std::fs::remove_file(&partial).ok();
                    return Err(corrupt(format!(
                        "{} is {got}, the hub says {}",
                        digest.kind(),
                        digest.hex()
                    )));
                }
            }
            None => {
                if let Err(reason) = verify::check_structure(&partial) {
                    std::fs::remove_file(&partial).ok();
                    return Err(corrupt(reason));
                }
            }
        }
        std::fs::rename(&partial, &blob).map_err(|e| StoreError::io("cannot move into place", &blob, e))?;
        rc.link(&remote.commit, &step.file.file, &remote.etag)?;
        sink.send(StoreEvent::Finished { file: key });
        Ok(Outcome::Downloaded { bytes: remote.size, resumed_from })
    }

    /// Check every present file of a configuration: against its hash where one is known (the
    /// manifest's pin, the cache's blob name, or, for a `--models-dir` copy and unless offline, what
    /// the hub reports), else by size and structure. Hashing reports progress through `sink`.
    pub fn verify(
        &self,
        variant: Variant,
        include_optional: bool,
        sink: &mut dyn EventSink,
        cancel: &CancelToken,
    ) -> Result<Vec<VerifyResult>, StoreError> {
        let mut results = Vec::new();
        let hub = Hub::new(&self.hub.endpoint, self.hub.token.clone());
        for file in self.manifest.files_for(variant, include_optional) {
            let key = file.key();
            let Some(path) = self.locate(file) else {
                results.push(VerifyResult { key, path: None, outcome: VerifyOutcome::Missing });
                continue;
            };
            let mut digest = file.sha256.as_deref().and_then(Digest::from_etag);
            let mut size = file.size.exact();
            if digest.is_none() {
                digest = self.recorded_digest(file, &path);
            }
            let loose_copy =
                matches!(self.source, Source::ModelsDir(_)) && self.repo_cache(self.repo_of(file)).is_none();
            if digest.is_none() && loose_copy && !self.hub.offline {
                let repo = self.repo_of(file);
                match hub.metadata(repo, &repo.revision, &file.file) {
                    Ok(remote) => {
                        digest = Digest::from_etag(&remote.etag);
                        size = size.or(Some(remote.size));
                    }
                    Err(e) => tracing::warn!("no hash from the hub for {key}, checking structure only: {e}"),
                }
            }
            let fix = match &self.source {
                Source::Cache(_) => {
                    "run `promptbook models verify --delete-corrupt`, then `promptbook models download`"
                }
                Source::ModelsDir(_) => {
                    "replace it with a good copy, or drop --models-dir and download into the cache"
                }
            };
            let outcome = match verify::verify_file(&path, &key, digest.as_ref(), size, sink, cancel) {
                Ok(method) => VerifyOutcome::Verified(method),
                Err(StoreError::Cancelled) => return Err(StoreError::Cancelled),
                Err(StoreError::Corrupt { file, path, reason, .. }) => {
                    let e = StoreError::Corrupt { file, path, reason, fix: fix.into() };
                    sink.send(StoreEvent::Failed { file: key.clone(), message: e.to_string() });
                    VerifyOutcome::Corrupt(e.to_string())
                }
                Err(e) => {
                    sink.send(StoreEvent::Failed { file: key.clone(), message: e.to_string() });
                    VerifyOutcome::Failed(e.to_string())
                }
            };
            results.push(VerifyResult { key, path: Some(path), outcome });
        }
        Ok(results)
    }

    /// Delete a cached file (its blob and snapshot entry) so that the next download fetches it again.
    pub fn remove(&self, file: &ManifestFile) -> Result<(), StoreError> {
        let dir = match &self.source {
            Source::Cache(dir) => dir,
            Source::ModelsDir(dir) => return Err(StoreError::ModelsDirIsReadOnly { dir: dir.clone() }),
        };
        let rc = RepoCache::new(dir, self.repo_of(file));
        let Some(pointer) = rc.get(&file.file) else { return Ok(()) };
        if let Some(etag) = rc.etag_of(&pointer) {
            let blob = rc.blob_path(&etag);
            std::fs::remove_file(&blob).map_err(|e| StoreError::io("cannot delete", &blob, e))?;
        }
        std::fs::remove_file(&pointer).map_err(|e| StoreError::io("cannot delete", &pointer, e))
    }
}

/// Size (when pinned) and structure of a present file, without hashing.
fn quick_check(file: &ManifestFile, path: &Path, len: u64) -> FileState {
    if let Some(size) = file.size.exact()
        && size != len
    {
        return FileState::Damaged(format!("{len} bytes, expected {size}"));
    }
    match verify::check_structure(path) {
        Ok(()) => FileState::Present,
        Err(reason) => FileState::Damaged(reason),
    }
}

/// Whether the blob for `remote` is in the cache with the right size and a sound structure; a wrong
/// one is deleted so that it is fetched again.
fn blob_is_complete(rc: &RepoCache, remote: &RemoteFile) -> Result<bool, StoreError> {
    let blob = rc.blob_path(&remote.etag);
    let Ok(meta) = std::fs::metadata(&blob) else { return Ok(false) };
    if meta.len() == remote.size && verify::check_structure(&blob).is_ok() {
        return Ok(true);
    }
    std::fs::remove_file(&blob).map_err(|e| StoreError::io("cannot delete", &blob, e))?;
    Ok(false)
}

/// Refuse to start when what is left to fetch does not fit on the cache's disk.
fn check_disk(cache_dir: &Path, steps: &[Step<'_>]) -> Result<(), StoreError> {
    let needed: u64 = steps
        .iter()
        .filter(|s| !s.link_only)
        .map(|s| {
            let partial = RepoCache::new(cache_dir, s.repo).incomplete_path(&s.remote.etag);
            let have = std::fs::metadata(partial).map(|m| m.len()).unwrap_or(0);
            s.remote.size.saturating_sub(have)
        })
        .sum();
    let dir = cache::existing_ancestor(cache_dir);
    let available =
        fs4::available_space(&dir).map_err(|e| StoreError::io("cannot read free space of", &dir, e))?;
    disk_verdict(&dir, needed, available)
}

fn disk_verdict(dir: &Path, needed: u64, available: u64) -> Result<(), StoreError> {
    if needed == 0 || needed.saturating_add(DISK_RESERVE_BYTES) <= available {
        Ok(())
    } else {
        Err(StoreError::DiskFull { dir: dir.to_path_buf(), needed: needed + DISK_RESERVE_BYTES, available })
    }
}

fn sleep_unless_cancelled(total: Duration, cancel: &CancelToken) -> Result<(), StoreError> {
    let deadline = std::time::Instant::now() + total;
    while std::time::Instant::now() < deadline {
        if cancel.is_cancelled() {
            return Err(StoreError::Cancelled);
        }
        std::thread::sleep(Duration::from_millis(20).min(total));
    }
    Ok(())
}

/// A checkpoint's header and layout check, for `promptbook models inspect`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Inspection {
    /// The file read.
    pub path: PathBuf,
    /// Its size on disk.
    pub file_bytes: u64,
    /// Name, dtype, shape; sorted by name.
    pub tensors: Vec<(String, String, Vec<usize>)>,
    /// `__metadata__` strings other than `config`.
    pub metadata: BTreeMap<String, String>,
    /// The `config` metadata, parsed.
    pub config: Option<serde_json::Value>,
    /// Which audio modules the file's keys and shapes satisfy, one line each (empty when it holds
    /// none of them); see `promptbook_models::ltx::inspect::Inspection::layout`.
    pub layout: Vec<String>,
}

impl Inspection {
    /// Element counts per dtype.
    pub fn params_by_dtype(&self) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for (_, dtype, shape) in &self.tensors {
            *counts.entry(dtype.clone()).or_insert(0) += shape.iter().map(|&d| d as u64).product::<u64>();
        }
        counts
    }
}

/// Read a safetensors header (keys, dtypes, shapes, `config`) with the models' layout check; truncated
/// files are named as such.
pub fn inspect(path: &Path) -> Result<Inspection, StoreError> {
    let read = promptbook_models::ltx::inspect::read(path).map_err(|e| StoreError::Header(e.to_string()))?;
    let file_bytes = std::fs::metadata(path).map_err(|e| StoreError::io("cannot read", path, e))?.len();
    let tensors = read.tensors.into_iter().map(|(name, info)| (name, info.dtype, info.shape)).collect();
    Ok(Inspection {
        path: path.to_path_buf(),
        file_bytes,
        tensors,
        metadata: read.metadata,
        config: read.config,
        layout: read.layout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_flag_reads_like_huggingface_hub() {
        for v in ["1", "true", "ON", "yes"] {
            assert!(is_true(v), "{v}");
        }
        for v in ["0", "false", "off", ""] {
            assert!(!is_true(v), "{v}");
        }
    }

    #[test]
    fn disk_verdict_keeps_a_reserve() {
        let dir = Path::new("/cache");
        assert!(disk_verdict(dir, 0, 0).is_ok());
        assert!(disk_verdict(dir, 1_000, 1_000 + DISK_RESERVE_BYTES).is_ok());
        match disk_verdict(dir, 5_000_000_000, 3_000_000_000) {
            Err(e @ StoreError::DiskFull { .. }) => {
                let text = e.to_string();
                assert!(text.contains("5.2 GB more are needed, 3.0 GB are free"), "{text}");
                assert!(text.contains("HF_HOME"), "{text}");
            }
            other => panic!("expected DiskFull, got {other:?}"),
        }
    }
}
