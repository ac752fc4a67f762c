//! The hub's file API, as `huggingface_hub` and `hf-hub` use it:
//! `HEAD {endpoint}/{repo}/resolve/{revision}/{file}` answers with `X-Repo-Commit`, the content hash in
//! `X-Linked-Etag` (LFS files, their sha256) or `ETag` (git files, their blob sha1), and the size in
//! `X-Linked-Size` or `Content-Length`, often as a redirect to a CDN. `GET` with `Range: bytes=N-`
//! resumes a transfer (206 + `Content-Range`).
//!
//! The transfer is ours rather than `hf_hub::api::sync`'s: hf-hub 0.5 resumes, but it cannot be
//! cancelled, does not check that a ranged request was answered with 206 (a 200 would be appended to
//! the partial file), and hides the status and `X-Error-Code` behind `ureq::Error`, which the gated
//! licence message needs. The cache layout it writes is the same (see `cache.rs`).

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use super::error::StoreError;
use super::events::{CancelToken, EventSink, Throttle};
use super::manifest::RepoSpec;

/// The public hub.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// What the hub says about one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    /// The commit the revision resolved to.
    pub commit: String,
    /// The content hash (no quotes, no `W/`): sha256 for LFS files, git blob sha1 otherwise.
    pub etag: String,
    /// Bytes.
    pub size: u64,
}

/// A client for one endpoint and token.
pub(crate) struct Hub {
    endpoint: String,
    token: Option<String>,
    /// Does not follow redirects: the first answer carries the commit and hash headers.
    head_agent: ureq::Agent,
    /// Follows redirects to the CDN; the token goes only to the hub's own host.
    get_agent: ureq::Agent,
}

const USER_AGENT: &str = concat!("promptbook/", env!("CARGO_PKG_VERSION"));
const MAX_RELATIVE_REDIRECTS: usize = 5;
const BUFFER_BYTES: usize = 1 << 20;

impl Hub {
    pub(crate) fn new(endpoint: &str, token: Option<String>) -> Self {
        let base = || {
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .user_agent(USER_AGENT)
                .timeout_connect(Some(Duration::from_secs(20)))
                .timeout_recv_response(Some(Duration::from_secs(60)))
                // Per read, not per body: a 5 GB file takes as long as it takes, a stalled one fails.
                .timeout_per_read(Some(Duration::from_secs(60)))
        };
        let head_agent = base().max_redirects(0).build().into();
        let get_agent = base()
            .max_redirects(10)
            .redirect_auth_headers(ureq::config::RedirectAuthHeaders::SameHost)
            .build()
            .into();
        Hub { endpoint: endpoint.trim_end_matches('/').to_string(), token, head_agent, get_agent }
    }

    /// `{endpoint}/{repo}/resolve/{revision}/{file}`.
    pub(crate) fn resolve_url(&self, repo: &str, revision: &str, file: &str) -> String {
        format!("{}/{repo}/resolve/{}/{file}", self.endpoint, revision.replace('/', "%2F"))
    }

    fn authorize<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        let request = request.header("Accept-Encoding", "identity");
        match &self.token {
            Some(token) => request.header("Authorization", format!("Bearer {token}")),
            None => request,
        }
    }

    fn network_error(&self, error: impl std::fmt::Display) -> StoreError {
        StoreError::Network { endpoint: self.endpoint.clone(), message: error.to_string() }
    }

    /// Ask the hub for a file's commit, hash and size.
    pub(crate) fn metadata(
        &self,
        repo: &RepoSpec,
        revision: &str,
        file: &str,
    ) -> Result<RemoteFile, StoreError> {
        let mut url = self.resolve_url(&repo.id, revision, file);
        let mut response =
            self.authorize(self.head_agent.head(&url)).call().map_err(|e| self.network_error(e))?;
        // Renamed repositories answer with a relative redirect that must be followed with the token;
        // an absolute one goes to the CDN and already carries what we need.
        for _ in 0..MAX_RELATIVE_REDIRECTS {
            let status = response.status().as_u16();
            let location = header(&response, "location");
            match location {
                Some(loc) if (300..400).contains(&status) && loc.starts_with('/') => {
                    url = format!("{}{loc}", origin(&self.endpoint));
                    response = self
                        .authorize(self.head_agent.head(&url))
                        .call()
                        .map_err(|e| self.network_error(e))?;
                }
                _ => break,
            }
        }
        let status = response.status().as_u16();
        if !(200..400).contains(&status) {
            return Err(self.status_error(
                repo,
                revision,
                file,
                &url,
                status,
                header(&response, "x-error-code"),
            ));
        }
        let missing =
            |what: &str| StoreError::Protocol { url: url.clone(), message: format!("no {what} header") };
        let commit = header(&response, "x-repo-commit").ok_or_else(|| missing("X-Repo-Commit"))?;
        let etag = header(&response, "x-linked-etag")
            .or_else(|| header(&response, "etag"))
            .ok_or_else(|| missing("ETag"))?;
        let etag = etag.trim_start_matches("W/").trim_matches('"').to_string();
        let size = header(&response, "x-linked-size")
            .or_else(|| header(&response, "content-length"))
            .ok_or_else(|| missing("Content-Length"))?;
        let size = size.trim().parse::<u64>().map_err(|_| StoreError::Protocol {
            url: url.clone(),
            message: format!("bad size header {size:?}"),
        })?;
        // Both become names in the cache (`snapshots/{commit}`, `blobs/{etag}`) and the commit part of
        // later URLs: a commit is a git sha1, an etag a plain token.
        if !is_git_sha1(&commit) || !is_plain_token(&etag) {
            return Err(StoreError::Protocol {
                url,
                message: format!("bad commit {commit:?} or etag {etag:?} (expected a 40-digit commit hash)"),
            });
        }
        Ok(RemoteFile { commit, etag, size })
    }

    /// Turn a refusal into an error that says what to do.
    fn status_error(
        &self,
        repo: &RepoSpec,
        revision: &str,
        file: &str,
        url: &str,
        status: u16,
        error_code: Option<String>,
    ) -> StoreError {
        let gated = repo.gated || error_code.as_deref() == Some("GatedRepo");
        match status {
            401 | 403 if gated => {
                let reason = match (&self.token, status) {
                    (None, _) => "no token was sent",
                    (Some(_), 401) => "the token was refused",
                    (Some(_), _) => "this account has not accepted the licence, or the token cannot read it",
                };
                StoreError::Gated { repo: repo.id.clone(), page: repo.page_url(), reason: reason.into() }
            }
            401 | 403 if self.token.is_none() => StoreError::NoToken { url: url.into(), status },
            401 | 403 => StoreError::TokenRejected { url: url.into(), status },
            404 => StoreError::NotFound {
                repo: repo.id.clone(),
                file: file.into(),
                revision: revision.into(),
                url: url.into(),
            },
            _ => StoreError::Http { url: url.into(), status },
        }
    }

    /// Bring `partial` up to `remote.size` bytes, resuming from what it holds; returns the offset the
    /// transfer really started at. Network failures leave the bytes received so far for the next attempt.
    pub(crate) fn fetch(
        &self,
        repo: &RepoSpec,
        file: &str,
        remote: &RemoteFile,
        partial: &Path,
        sink: &mut dyn EventSink,
        cancel: &CancelToken,
    ) -> Result<u64, StoreError> {
        let key = &format!("{}/{file}", repo.id);
        let total = remote.size;
        let mut out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(partial)
            .map_err(|e| StoreError::io("cannot open", partial, e))?;
        let mut start = out.metadata().map_err(|e| StoreError::io("cannot read", partial, e))?.len();
        if start > total {
            truncate(&out, partial)?;
            start = 0;
        }
        let mut throttle = Throttle::new();
        throttle.progress(sink, key, start, total);
        if start == total {
            return Ok(start);
        }
        let url = self.resolve_url(&repo.id, &remote.commit, file);
        let mut request = self.authorize(self.get_agent.get(&url));
        if start > 0 {
            request = request.header("Range", format!("bytes={start}-"));
        }
        let response = request.call().map_err(|e| self.network_error(e))?;
        let status = response.status().as_u16();
        match status {
            206 => {
                let range = header(&response, "content-range").unwrap_or_default();
                if !range.starts_with(&format!("bytes {start}-")) {
                    return Err(StoreError::Protocol {
                        url,
                        message: format!("asked for bytes {start}- and got Content-Range {range:?}"),
                    });
                }
            }
            200 => {
                // The server ignored the range: start over rather than append a second copy.
                if start > 0 {
                    truncate(&out, partial)?;
                    start = 0;
                    throttle.progress(sink, key, 0, total);
                }
            }
            _ => {
                return Err(self.status_error(
                    repo,
                    &remote.commit,
                    file,
                    &url,
                    status,
                    header(&response, "x-error-code"),
                ));
            }
        }
        let resumed_from = start;
        let mut body = response.into_body().into_reader();
        let mut buffer = vec![0u8; BUFFER_BYTES];
        let mut done = start;
        loop {
            if cancel.is_cancelled() {
                return Err(StoreError::Cancelled);
            }
            let n = match body.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    out.flush().ok();
                    return Err(self.network_error(format!(
                        "the transfer of {key} stopped after {done} of {total} bytes ({e}); run the download again to resume"
                    )));
                }
            };
            let take = n.min((total - done) as usize);
            out.write_all(&buffer[..take]).map_err(|e| StoreError::io("cannot write", partial, e))?;
            done += take as u64;
            throttle.progress(sink, key, done, total);
            if take < n {
                break;
            }
        }
        out.sync_all().map_err(|e| StoreError::io("cannot write", partial, e))?;
        if done < total {
            return Err(self.network_error(format!(
                "the connection closed after {done} of {total} bytes of {key}; run the download again to resume"
            )));
        }
        Ok(resumed_from)
    }
}

/// 40 hexadecimal digits.
fn is_git_sha1(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// 1–128 ASCII letters, digits, `-` and `_`: safe as a file name anywhere.
fn is_plain_token(text: &str) -> bool {
    (1..=128).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn truncate(file: &File, path: &Path) -> Result<(), StoreError> {
    file.set_len(0).map_err(|e| StoreError::io("cannot truncate", path, e))
}

fn header(response: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// `scheme://host[:port]` of an endpoint (which may carry a path prefix).
fn origin(endpoint: &str) -> &str {
    let after_scheme = endpoint.find("://").map_or(0, |i| i + 3);
    match endpoint[after_scheme..].find('/') {
        Some(i) => &endpoint[..after_scheme + i],
        None => endpoint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_drops_the_path() {
        assert_eq!(origin("https://huggingface.co"), "https://huggingface.co");
        assert_eq!(origin("http://127.0.0.1:8080/mirror"), "http://127.0.0.1:8080");
    }

    #[test]
    fn commits_and_etags_must_be_plain_names() {
        assert!(is_git_sha1(&"ab12".repeat(10)));
        for bad in ["..", "", "main", &"g".repeat(40), &"a".repeat(39), "../../../../etc"] {
            assert!(!is_git_sha1(bad), "{bad}");
        }
        assert!(is_plain_token(&"f".repeat(64)) && is_plain_token("abc-123_x"));
        for bad in ["..", ".", "", "a/b", "a\\b", "x.y", &"a".repeat(129)] {
            assert!(!is_plain_token(bad), "{bad}");
        }
    }

    #[test]
    fn resolve_url_escapes_slashes_in_revisions() {
        let hub = Hub::new("http://h/", None);
        assert_eq!(
            hub.resolve_url("a/b", "refs/pr/1", "x.json"),
            "http://h/a/b/resolve/refs%2Fpr%2F1/x.json"
        );
    }
}
