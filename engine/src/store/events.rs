//! Progress events for the terminal and the studio, and a cancel flag.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

/// What the store reports while it downloads or verifies files. `file` is `org/name/path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreEvent {
    /// Work on a file begins; `total` is its size in bytes (0 when the hub did not say).
    Started { file: String, total: u64 },
    /// `done` of `total` bytes are on disk (or hashed). A resumed download starts above 0.
    Progress { file: String, done: u64, total: u64 },
    /// The file is complete and checked.
    Finished { file: String },
    /// The file could not be completed; `message` says why and what to do.
    Failed { file: String, message: String },
}

impl StoreEvent {
    /// The `org/name/file` the event is about.
    pub fn file(&self) -> &str {
        match self {
            StoreEvent::Started { file, .. }
            | StoreEvent::Progress { file, .. }
            | StoreEvent::Finished { file }
            | StoreEvent::Failed { file, .. } => file,
        }
    }
}

/// Where events go: a closure, or a channel to the studio.
pub trait EventSink {
    /// Deliver one event; never fails (a UI that went away must not stop a download).
    fn send(&mut self, event: StoreEvent);
}

impl<F: FnMut(StoreEvent)> EventSink for F {
    fn send(&mut self, event: StoreEvent) {
        self(event)
    }
}

/// A bounded channel to the UI. Drop policy: `Progress` events are dropped while the channel is full
/// (the next one carries the newer count anyway); the others wait for room, so none is lost. A closed
/// receiver is ignored: the download goes on.
impl EventSink for mpsc::SyncSender<StoreEvent> {
    fn send(&mut self, event: StoreEvent) {
        if matches!(event, StoreEvent::Progress { .. }) {
            self.try_send(event).ok();
        } else {
            mpsc::SyncSender::send(self, event).ok();
        }
    }
}

/// A shared flag that stops a running download between two reads. The partial file is kept.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A flag that is not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Ask the running operation to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Emits `Progress` at most every `interval` (and always for the last byte), so a 5 GB file does not
/// produce a million events.
pub(crate) struct Throttle {
    last: Option<std::time::Instant>,
    interval: std::time::Duration,
}

impl Throttle {
    pub(crate) fn new() -> Self {
        Self { last: None, interval: std::time::Duration::from_millis(100) }
    }

    pub(crate) fn progress(&mut self, sink: &mut dyn EventSink, file: &str, done: u64, total: u64) {
        let now = std::time::Instant::now();
        let due = self.last.is_none_or(|t| now.duration_since(t) >= self.interval);
        if due || done == total {
            self.last = Some(now);
            sink.send(StoreEvent::Progress { file: file.to_string(), done, total });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_channel_drops_progress_but_keeps_the_rest() {
        let (mut tx, rx) = mpsc::sync_channel(1);
        let progress = StoreEvent::Progress { file: "a".into(), done: 1, total: 2 };
        EventSink::send(&mut tx, progress.clone());
        EventSink::send(&mut tx, progress); // dropped: the channel holds one
        assert!(matches!(rx.recv().unwrap(), StoreEvent::Progress { done: 1, .. }));
        EventSink::send(&mut tx, StoreEvent::Finished { file: "a".into() });
        assert_eq!(rx.recv().unwrap(), StoreEvent::Finished { file: "a".into() });
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn throttle_always_reports_the_last_byte() {
        let mut seen = Vec::new();
        let mut sink = |e: StoreEvent| seen.push(e);
        let mut t = Throttle::new();
        for done in 0..=1000u64 {
            t.progress(&mut sink, "f", done, 1000);
        }
        assert!(seen.len() < 50, "{} events", seen.len());
        assert_eq!(seen.last(), Some(&StoreEvent::Progress { file: "f".into(), done: 1000, total: 1000 }));
    }
}
