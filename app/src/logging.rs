//! The app's log: `tracing` events from the engine and the models (and the `log` records of ureq and
//! hf-hub) go to stderr and to `promptbook.log` in the studio's data folder
//! (`$XDG_DATA_HOME/promptbook`, else `~/.local/share/promptbook`).
//!
//! `RUST_LOG` picks what is logged. Without it the file gets `info` from Promptbook's own crates and
//! `warn` from the rest, and stderr only `warn` and up, so the command line prints what it printed
//! before; stdout never carries a log line. The file is capped at [`LOG_CAP_BYTES`]: past that it
//! becomes `promptbook.log.1` (one old generation is kept), so it cannot fill a disk.
//!
//! No token reaches either: every line is written through a filter that replaces the Hugging Face
//! token values (`HF_TOKEN`, `HUGGING_FACE_HUB_TOKEN`, the saved login token) with `[redacted]`.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use tracing_subscriber::Layer as _;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Registry};

/// The log file's name in the data folder.
pub const LOG_FILE: &str = "promptbook.log";
/// The file is rotated to `promptbook.log.1` once it would grow past this.
pub const LOG_CAP_BYTES: u64 = 8 << 20;
/// What the file logs without `RUST_LOG`.
const FILE_DEFAULT: &str = "warn,promptbook=info,promptbook_engine=info,promptbook_models=info";
/// What stderr shows without `RUST_LOG`.
const STDERR_DEFAULT: &str = "warn";
const REDACTED: &str = "[redacted]";
/// Shorter "tokens" are not real ones and would garble every line they occur in.
const MIN_SECRET_LEN: usize = 8;

/// Install the log (once, at startup). Returns the log file's path, when it could be opened.
pub fn init() -> Option<PathBuf> {
    let file = crate::studio::project::data_dir()
        .and_then(|dir| CappedFile::open(&dir.join(LOG_FILE), LOG_CAP_BYTES).ok());
    let path = file.as_ref().map(|f| f.path.clone());
    let rust_log = std::env::var("RUST_LOG").ok().filter(|v| !v.trim().is_empty());
    let subscriber = subscriber(Secrets::from_env(), file, rust_log.as_deref());
    // Fails only when a subscriber is already installed (a test harness); that one stays.
    let _ = subscriber.try_init();
    path
}

/// Stderr and (when given) the file, each filtered by `rust_log` or its default.
fn subscriber(
    secrets: Secrets,
    file: Option<CappedFile>,
    rust_log: Option<&str>,
) -> impl tracing::Subscriber + Send + Sync {
    let filter = |default: &str| {
        rust_log.and_then(|v| EnvFilter::try_new(v).ok()).unwrap_or_else(|| EnvFilter::new(default))
    };
    let stderr = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(Redacting { inner: io::stderr, secrets: secrets.clone() })
        .with_filter(filter(STDERR_DEFAULT));
    let file = file.map(|file| {
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(Redacting { inner: file, secrets })
            .with_filter(filter(FILE_DEFAULT))
    });
    Registry::default().with(stderr).with(file)
}

/// The token values that must never be written.
#[derive(Debug, Clone, Default)]
struct Secrets(Arc<Vec<String>>);

impl Secrets {
    /// Both token variables and the token the store would send (which may come from the login file).
    fn from_env() -> Self {
        let mut values: Vec<String> = ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"]
            .iter()
            .filter_map(|name| std::env::var(name).ok())
            .chain(promptbook_engine::store::HubSettings::from_env().token)
            .map(|v| v.trim().to_string())
            .collect();
        values.sort();
        values.dedup();
        Self::new(values)
    }

    fn new(values: Vec<String>) -> Self {
        Self(Arc::new(values.into_iter().filter(|v| v.len() >= MIN_SECRET_LEN).collect()))
    }

    fn redact(&self, text: &str) -> String {
        self.0.iter().fold(text.to_string(), |text, secret| text.replace(secret.as_str(), REDACTED))
    }
}

/// A [`MakeWriter`] whose writers collect one event and write it out redacted.
struct Redacting<M> {
    inner: M,
    secrets: Secrets,
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Redacting<M> {
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter { inner: self.inner.make_writer(), secrets: self.secrets.clone(), buf: Vec::new() }
    }
}

struct RedactingWriter<W: Write> {
    inner: W,
    secrets: Secrets,
    buf: Vec<u8>,
}

impl<W: Write> RedactingWriter<W> {
    fn emit(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let text = self.secrets.redact(&String::from_utf8_lossy(&self.buf));
        self.buf.clear();
        self.inner.write_all(text.as_bytes())?;
        self.inner.flush()
    }
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.emit()
    }
}

impl<W: Write> Drop for RedactingWriter<W> {
    fn drop(&mut self) {
        // A log line that cannot be written is dropped: logging must not fail the app.
        let _ = self.emit();
    }
}

/// An append-only log file that moves to `NAME.1` (replacing the old one) before it outgrows its cap.
struct CappedFile {
    path: PathBuf,
    cap: u64,
    /// The open file and its length.
    state: Mutex<(File, u64)>,
}

impl CappedFile {
    fn open(path: &Path, cap: u64) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let len = file.metadata()?.len();
        let capped = Self { path: path.to_path_buf(), cap, state: Mutex::new((file, len)) };
        if len > cap {
            let mut state = capped.state.lock().unwrap_or_else(PoisonError::into_inner);
            capped.rotate(&mut state)?;
        }
        Ok(capped)
    }

    fn rotate(&self, state: &mut (File, u64)) -> io::Result<()> {
        let mut old = self.path.clone().into_os_string();
        old.push(".1");
        std::fs::rename(&self.path, &old)?;
        *state = (OpenOptions::new().create(true).write(true).truncate(true).open(&self.path)?, 0);
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for CappedFile {
    type Writer = &'a CappedFile;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

impl Write for &CappedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.1 > 0 && state.1 + buf.len() as u64 > self.cap {
            self.rotate(&mut state)?;
        }
        let written = state.0.write(buf)?;
        state.1 += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("promptbook-logging-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn tokens_are_redacted_in_the_file() {
        let dir = temp("redact");
        let path = dir.join(LOG_FILE);
        let token = "hf_e2eSecretTokenValue1234";
        let file = CappedFile::open(&path, LOG_CAP_BYTES).unwrap();
        let subscriber = subscriber(Secrets::new(vec![token.into()]), Some(file), None);
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!("request failed: Authorization: Bearer {token}");
            tracing::info!(target: "promptbook_engine::store", token, "sent");
        });
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(token), "{text}");
        assert_eq!(text.matches(REDACTED).count(), 2, "{text}");
        assert!(text.contains("Authorization: Bearer [redacted]"), "{text}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn default_filters_keep_our_info_and_others_warnings() {
        let dir = temp("filter");
        let path = dir.join(LOG_FILE);
        let file = CappedFile::open(&path, LOG_CAP_BYTES).unwrap();
        tracing::subscriber::with_default(subscriber(Secrets::default(), Some(file), None), || {
            tracing::info!(target: "promptbook_engine::text", "ours at info");
            tracing::info!(target: "ureq::unit", "theirs at info");
            tracing::warn!(target: "ureq::unit", "theirs at warn");
        });
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("ours at info") && text.contains("theirs at warn"), "{text}");
        assert!(!text.contains("theirs at info"), "{text}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_file_is_capped() {
        let dir = temp("cap");
        let path = dir.join(LOG_FILE);
        let file = CappedFile::open(&path, 400).unwrap();
        tracing::subscriber::with_default(subscriber(Secrets::default(), Some(file), None), || {
            for i in 0..50 {
                tracing::warn!("line {i} of a log that would outgrow its cap");
            }
        });
        let len = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        assert!(len(&path) <= 400, "{}", len(&path));
        let old = dir.join(format!("{LOG_FILE}.1"));
        assert!(len(&old) > 0 && len(&old) <= 400, "{}", len(&old));
        assert!(std::fs::read_to_string(&path).unwrap().contains("line 49"));
        // Reopening a file over its cap starts a fresh one.
        std::fs::write(&path, vec![b'x'; 500]).unwrap();
        drop(CappedFile::open(&path, 400).unwrap());
        assert_eq!(len(&path), 0);
        std::fs::remove_dir_all(&dir).ok();
    }
}
