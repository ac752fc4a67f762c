//! Getting the model from the studio: the model store's download on a background thread, with
//! per-file and overall progress, cancel (the partial file is kept and resumed next time), and the
//! store's own error messages (gated licence, token, network, disk full) shown as they are.

use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, TryRecvError, sync_channel};

use promptbook_engine::store::{CancelToken, DownloadOptions, DownloadReport, Store, StoreEvent, Variant};

/// Where a download stands.
#[derive(Debug, Clone, PartialEq)]
pub enum DownloadState {
    Running,
    Finished,
    Cancelled,
    Failed(String),
}

pub struct ModelDownload {
    events: Receiver<StoreEvent>,
    result: Receiver<Result<DownloadReport, String>>,
    cancel: CancelToken,
    /// `org/name/file` → (bytes done, total bytes; 0 when unknown).
    files: BTreeMap<String, (u64, u64)>,
    /// The file being transferred now.
    pub current: Option<String>,
    pub state: DownloadState,
}

impl ModelDownload {
    /// Start downloading what `store` is missing for `variant`; `wake` is called on every event.
    pub fn start(store: Store, variant: Variant, wake: impl Fn() + Send + 'static) -> std::io::Result<Self> {
        // Progress events beyond this backlog are dropped (the next one carries the newer count).
        let (event_tx, events) = sync_channel(256);
        let (result_tx, result) = sync_channel(1);
        let cancel = CancelToken::new();
        let options = DownloadOptions { cancel: cancel.clone(), ..DownloadOptions::default() };
        std::thread::Builder::new().name("model-download".into()).spawn(move || {
            let mut sink = WakingSink { tx: event_tx, wake: &wake };
            let outcome = store.download(variant, &options, &mut sink).map_err(|e| e.to_string());
            let _ = result_tx.send(outcome);
            wake();
        })?;
        Ok(Self {
            events,
            result,
            cancel,
            files: BTreeMap::new(),
            current: None,
            state: DownloadState::Running,
        })
    }

    /// Take in what happened since the last frame (never blocks).
    pub fn poll(&mut self) {
        while let Ok(event) = self.events.try_recv() {
            match event {
                StoreEvent::Started { file, total } => {
                    self.files.insert(file.clone(), (0, total));
                    self.current = Some(file);
                }
                StoreEvent::Progress { file, done, total } => {
                    self.files.insert(file, (done, total));
                }
                StoreEvent::Finished { file } => {
                    if let Some((done, total)) = self.files.get_mut(&file) {
                        *done = (*total).max(*done);
                    }
                }
                StoreEvent::Failed { .. } => {}
            }
        }
        if self.state == DownloadState::Running {
            match self.result.try_recv() {
                Ok(Ok(_)) => self.state = DownloadState::Finished,
                Ok(Err(_)) if self.cancel.is_cancelled() => self.state = DownloadState::Cancelled,
                Ok(Err(message)) => self.state = DownloadState::Failed(message),
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => {
                    self.state = DownloadState::Failed("the download thread stopped unexpectedly".into());
                }
            }
        }
    }

    /// Stop between two reads; what arrived is kept and resumed next time.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Bytes done and total over the files seen so far.
    pub fn bytes(&self) -> (u64, u64) {
        self.files.values().fold((0, 0), |(d, t), (done, total)| (d + done, t + total))
    }

    /// Fraction of the current file, for its progress bar.
    pub fn current_fraction(&self) -> f32 {
        let Some((done, total)) = self.current.as_ref().and_then(|f| self.files.get(f)) else { return 0.0 };
        if *total == 0 { 0.0 } else { (*done as f64 / *total as f64) as f32 }
    }

    pub fn files_seen(&self) -> usize {
        self.files.len()
    }
}

/// Sends store events to the studio and wakes its window.
struct WakingSink<'a, F: Fn()> {
    tx: std::sync::mpsc::SyncSender<StoreEvent>,
    wake: &'a F,
}

impl<F: Fn()> promptbook_engine::store::EventSink for WakingSink<'_, F> {
    fn send(&mut self, event: StoreEvent) {
        promptbook_engine::store::EventSink::send(&mut self.tx, event);
        (self.wake)();
    }
}
