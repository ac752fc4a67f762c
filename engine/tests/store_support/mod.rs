//! A fake Hugging Face hub on 127.0.0.1 for the store tests: std only, one thread per connection,
//! `Connection: close` on every answer. It speaks the part of the hub's file API the store uses:
//!
//! - `HEAD|GET /{org}/{name}/resolve/{revision}/{file}`: `X-Repo-Commit`; LFS files answer 302 to
//!   `/cdn/{sha256}` with `X-Linked-Etag` (the sha256) and `X-Linked-Size`; git files answer 200 with
//!   `ETag` (the git blob sha1) and the content. Gated repos: 401 without a token, 403 with a wrong one
//!   (`X-Error-Code: GatedRepo`). Unknown repos 401 (`RepoNotFound`), unknown files 404 (`EntryNotFound`).
//! - `GET /cdn/{sha256}`: the content, honouring `Range: bytes=N-` with 206 and `Content-Range`.
//!
//! Faults for tests: close the connection after N body bytes (a number of times), serve altered bytes,
//! ignore `Range`. The server stops when dropped, and by itself after two minutes in any case.
//! Shared with `tests/e2e/models.rs` through `#[path]`.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sha1::Digest as _;

/// A file in a fake repository.
#[derive(Clone, Debug)]
pub struct FakeFile {
    pub content: Vec<u8>,
    /// Stored in LFS (hash = sha256, served through a redirect) or in git (hash = git blob sha1).
    pub lfs: bool,
    /// Serve these bytes instead of `content` (same advertised hash and size): a corrupting server.
    pub served: Option<Vec<u8>>,
    /// Close the connection after this many body bytes, for the next `drops` transfers of the file.
    pub drop_after: Option<usize>,
    pub drops: usize,
    /// Answer 200 with the whole file even when a range is asked for.
    pub ignore_range: bool,
    /// Advertise this ETag instead of the content hash (a hub or proxy that sends no hash).
    pub etag_override: Option<String>,
}

impl FakeFile {
    pub fn lfs(content: Vec<u8>) -> Self {
        FakeFile {
            content,
            lfs: true,
            served: None,
            drop_after: None,
            drops: 0,
            ignore_range: false,
            etag_override: None,
        }
    }

    pub fn git(content: Vec<u8>) -> Self {
        FakeFile { lfs: false, ..FakeFile::lfs(content) }
    }

    pub fn etag(&self) -> String {
        if let Some(etag) = &self.etag_override {
            return etag.clone();
        }
        if self.lfs { sha256_hex(&self.content) } else { git_sha1_hex(&self.content) }
    }
}

/// A fake repository.
#[derive(Clone, Debug)]
pub struct FakeRepo {
    pub commit: String,
    /// The token that unlocks a gated repo (`None`: not gated).
    pub gate_token: Option<String>,
    pub files: BTreeMap<String, FakeFile>,
}

/// One request as the server saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub range: Option<String>,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct State {
    repos: BTreeMap<String, FakeRepo>,
    log: Vec<Seen>,
}

/// The running server.
pub struct FakeHub {
    pub endpoint: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

const LIFETIME: Duration = Duration::from_secs(120);

impl FakeHub {
    pub fn start(repos: BTreeMap<String, FakeRepo>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        listener.set_nonblocking(true).expect("nonblocking listener");
        let endpoint = format!("http://{}", listener.local_addr().expect("local addr"));
        let state = Arc::new(Mutex::new(State { repos, log: Vec::new() }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop, endpoint) = (state.clone(), stop.clone(), endpoint.clone());
            std::thread::spawn(move || {
                let deadline = Instant::now() + LIFETIME;
                let mut workers = Vec::new();
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let (state, endpoint) = (state.clone(), endpoint.clone());
                            workers.push(std::thread::spawn(move || serve(stream, &state, &endpoint)));
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(2))
                        }
                        Err(_) => break,
                    }
                }
                for w in workers {
                    w.join().ok();
                }
            })
        };
        FakeHub { endpoint, state, stop, thread: Some(thread) }
    }

    /// Every request so far.
    pub fn log(&self) -> Vec<Seen> {
        self.state.lock().expect("state").log.clone()
    }

    pub fn clear_log(&self) {
        self.state.lock().expect("state").log.clear();
    }

    /// Change a file while the server runs.
    pub fn edit(&self, repo: &str, file: &str, f: impl FnOnce(&mut FakeFile)) {
        let mut state = self.state.lock().expect("state");
        f(state.repos.get_mut(repo).and_then(|r| r.files.get_mut(file)).expect("known file"));
    }
}

impl Drop for FakeHub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().ok();
        }
    }
}

struct Request {
    method: String,
    path: String,
    headers: BTreeMap<String, String>,
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = BTreeMap::new();
    // Bounded: a request with more than 100 header lines is not one of ours.
    for _ in 0..100 {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            return Some(Request { method, path, headers });
        }
        let (k, v) = h.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    None
}

fn serve(mut stream: TcpStream, state: &Mutex<State>, endpoint: &str) {
    stream.set_nonblocking(false).ok();
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    stream.set_write_timeout(Some(Duration::from_secs(10))).ok();
    let Some(req) = read_request(&stream) else { return };
    let answer = {
        let mut state = state.lock().expect("state");
        state.log.push(Seen {
            method: req.method.clone(),
            path: req.path.clone(),
            range: req.headers.get("range").cloned(),
            authorization: req.headers.get("authorization").cloned(),
        });
        route(&mut state, &req, endpoint)
    };
    let Answer { status, headers, body, cut_after } = answer;
    let reason = match status {
        200 => "OK",
        206 => "Partial Content",
        302 => "Found",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        _ => "Other",
    };
    let mut head =
        format!("HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in &headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    if stream.write_all(head.as_bytes()).is_err() || req.method == "HEAD" {
        return;
    }
    let body = match cut_after {
        Some(n) => &body[..n.min(body.len())],
        None => &body[..],
    };
    for chunk in body.chunks(64 * 1024) {
        if stream.write_all(chunk).is_err() {
            return;
        }
    }
    stream.flush().ok();
    if cut_after.is_some() {
        stream.shutdown(std::net::Shutdown::Both).ok();
    }
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Close after this many body bytes although `Content-Length` promised more.
    cut_after: Option<usize>,
}

fn answer(status: u16, headers: Vec<(&str, String)>) -> Answer {
    Answer {
        status,
        headers: headers.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        body: Vec::new(),
        cut_after: None,
    }
}

fn route(state: &mut State, req: &Request, endpoint: &str) -> Answer {
    if let Some(sha) = req.path.strip_prefix("/cdn/") {
        let found =
            state.repos.values_mut().flat_map(|r| r.files.values_mut()).find(|f| f.lfs && f.etag() == sha);
        return match found {
            Some(file) => content(file, req),
            None => answer(404, vec![]),
        };
    }
    // /{org}/{name}/resolve/{revision}/{file...}
    let segments: Vec<&str> = req.path.trim_start_matches('/').splitn(5, '/').collect();
    if segments.len() != 5 || segments[2] != "resolve" {
        return answer(404, vec![]);
    }
    let repo_id = format!("{}/{}", segments[0], segments[1]);
    let (revision, file_name) = (segments[3], segments[4]);
    let Some(repo) = state.repos.get_mut(&repo_id) else {
        return answer(401, vec![("X-Error-Code", "RepoNotFound".into())]);
    };
    if let Some(token) = &repo.gate_token {
        match req.headers.get("authorization") {
            None => return answer(401, vec![("X-Error-Code", "GatedRepo".into())]),
            Some(auth) if *auth != format!("Bearer {token}") => {
                return answer(403, vec![("X-Error-Code", "GatedRepo".into())]);
            }
            Some(_) => {}
        }
    }
    if revision != "main" && revision != repo.commit {
        return answer(404, vec![("X-Error-Code", "RevisionNotFound".into())]);
    }
    let commit = repo.commit.clone();
    let Some(file) = repo.files.get_mut(file_name) else {
        return answer(404, vec![("X-Error-Code", "EntryNotFound".into()), ("X-Repo-Commit", commit)]);
    };
    let etag = file.etag();
    if file.lfs {
        let headers = vec![
            ("X-Repo-Commit", commit),
            ("X-Linked-Etag", format!("\"{etag}\"")),
            ("X-Linked-Size", file.content.len().to_string()),
            ("ETag", "\"0123456789abcdef0123456789abcdef01234567-pointer\"".into()),
            ("Location", format!("{endpoint}/cdn/{etag}")),
        ];
        return answer(302, headers);
    }
    let mut a = content(file, req);
    a.headers.push(("X-Repo-Commit".into(), commit));
    a.headers.push(("ETag".into(), format!("\"{etag}\"")));
    a
}

/// The bytes of a file, honouring `Range: bytes=N-` and the file's faults.
fn content(file: &mut FakeFile, req: &Request) -> Answer {
    let bytes = file.served.clone().unwrap_or_else(|| file.content.clone());
    let start = req
        .headers
        .get("range")
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|_| !file.ignore_range);
    let (status, body, mut headers) = match start {
        Some(s) if s < bytes.len() => {
            let range = format!("bytes {s}-{}/{}", bytes.len() - 1, bytes.len());
            (206, bytes[s..].to_vec(), vec![("Content-Range".to_string(), range)])
        }
        Some(_) => (416, Vec::new(), vec![("Content-Range".to_string(), format!("bytes */{}", bytes.len()))]),
        None => (200, bytes, Vec::new()),
    };
    headers.push(("Accept-Ranges".into(), "bytes".into()));
    let mut cut_after = None;
    if req.method == "GET"
        && file.drops > 0
        && let Some(n) = file.drop_after
    {
        file.drops -= 1;
        cut_after = Some(n);
    }
    Answer { status, headers, body, cut_after }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

pub fn git_sha1_hex(bytes: &[u8]) -> String {
    let mut h = sha1::Sha1::new();
    h.update(format!("blob {}\0", bytes.len()).as_bytes());
    h.update(bytes);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A small, valid safetensors file: one F32 tensor `[rows, 4]` of deterministic values, a `config`
/// metadata entry, and `pad` extra tensors to make it bigger.
pub fn safetensors_bytes(rows: usize, config: &str) -> Vec<u8> {
    let data: Vec<u8> = (0..rows * 4).flat_map(|i| (i as f32 * 0.25).to_le_bytes()).collect();
    let header = serde_json::json!({
        "__metadata__": {"config": config, "format": "pt"},
        "block.weight": {"dtype": "F32", "shape": [rows, 4], "data_offsets": [0, data.len()]},
    });
    let mut text = serde_json::to_string(&header).expect("json");
    while !text.len().is_multiple_of(8) {
        text.push(' ');
    }
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&data);
    out
}

/// A fresh, empty directory under the system temp dir.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pb-store-{name}-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("clear temp dir");
    }
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Every file under `dir`, relative, with `-> target` for symlinks; sorted.
pub fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir").flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(dir).expect("under dir").display().to_string();
            let meta = std::fs::symlink_metadata(&path).expect("metadata");
            if meta.file_type().is_symlink() {
                out.push(format!("{rel} -> {}", std::fs::read_link(&path).expect("link").display()));
            } else if meta.is_dir() {
                stack.push(path);
            } else {
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}
