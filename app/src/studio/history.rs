//! Undo and redo for the script and the plan settings together. Typing is coalesced: a new undo
//! step starts after the director pauses, so Ctrl+Z undoes a burst of typing, not one letter.

use std::time::{Duration, Instant};

/// A pause this long closes an undo step.
pub const SETTLE: Duration = Duration::from_millis(800);

pub struct History<T> {
    undo: Vec<T>,
    redo: Vec<T>,
    /// The state at the last undo point.
    committed: T,
    /// The state seen last frame and when it last changed.
    seen: T,
    changed_at: Option<Instant>,
}

/// Steps kept before the oldest are forgotten.
const DEPTH: usize = 200;

impl<T: Clone + PartialEq> History<T> {
    pub fn new(state: T) -> Self {
        Self { undo: Vec::new(), redo: Vec::new(), committed: state.clone(), seen: state, changed_at: None }
    }

    /// Look at the current state once a frame; returns how long until a pending step settles.
    pub fn observe(&mut self, current: &T) -> Option<Duration> {
        if *current != self.seen {
            self.seen = current.clone();
            self.changed_at = Some(Instant::now());
        }
        let since = self.changed_at?.elapsed();
        if since >= SETTLE {
            self.commit(current);
            None
        } else {
            Some(SETTLE - since)
        }
    }

    fn commit(&mut self, current: &T) {
        self.changed_at = None;
        if *current != self.committed {
            let previous = std::mem::replace(&mut self.committed, current.clone());
            self.undo.push(previous);
            if self.undo.len() > DEPTH {
                self.undo.remove(0);
            }
            self.redo.clear();
        }
    }

    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty() || self.changed_at.is_some_and(|_| self.seen != self.committed)
    }

    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    /// The state to go back to, if any.
    pub fn undo(&mut self, current: &T) -> Option<T> {
        self.commit(current);
        let previous = self.undo.pop()?;
        self.redo.push(current.clone());
        self.reset_to(&previous);
        Some(previous)
    }

    /// The state undone last, if any.
    pub fn redo(&mut self, current: &T) -> Option<T> {
        let next = self.redo.pop()?;
        self.undo.push(current.clone());
        self.reset_to(&next);
        Some(next)
    }

    fn reset_to(&mut self, state: &T) {
        self.committed = state.clone();
        self.seen = state.clone();
        self.changed_at = None;
    }
}
