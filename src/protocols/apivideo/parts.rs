//! The parts of an upload, in order: which are sent, which are stored, and the bytes stored.

use crate::core::Slice;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PartState {
    Pending,
    InFlight,
    Stored,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) struct PartSpec {
    slice: Slice,
    last: bool,
    state: PartState,
    /// This part may have been stored although no answer said so (lost answer, 5xx).
    pub(super) maybe_stored: bool,
}

/// Every part so far, in order (part number k is `list[k - 1]`), and the bytes of those stored:
/// [`Parts::store`] is the one place a part becomes stored, so `confirmed` only grows with it.
#[derive(Debug, Default)]
pub(super) struct Parts {
    list: Vec<PartSpec>,
    confirmed: u64,
}

impl Parts {
    /// A file of `size` bytes cut into parts of `chunk` bytes, none sent.
    pub(super) fn plan(size: u64, chunk: u64) -> Self {
        let mut parts = Parts::default();
        let mut start = 0;
        while start < size {
            let end = start.saturating_add(chunk).min(size);
            parts.push(Slice { file: 0, start, end }, end == size);
            start = end;
        }
        parts
    }

    /// Continues after an earlier page stored the first `done` parts. Sent in parallel before
    /// the reload, a later part may be stored already.
    pub(super) fn resume(&mut self, done: u64) {
        for (idx, part) in self.list.iter_mut().enumerate() {
            if (idx as u64) < done {
                part.state = PartState::Stored;
                self.confirmed += part.slice.len();
            } else {
                part.maybe_stored = true;
            }
        }
    }

    /// A part of a stream (pushed as its input arrives).
    pub(super) fn push(&mut self, slice: Slice, last: bool) {
        self.list.push(PartSpec { slice, last, state: PartState::Pending, maybe_stored: false });
    }

    pub(super) fn len(&self) -> u64 {
        self.list.len() as u64
    }

    pub(super) fn confirmed(&self) -> u64 {
        self.confirmed
    }

    /// The first part not sent, now in flight: its index, bytes and whether it is the last.
    pub(super) fn send_next(&mut self) -> Option<(usize, Slice, bool)> {
        let (idx, part) = self.list.iter_mut().enumerate().find(|(_, p)| p.state == PartState::Pending)?;
        part.state = PartState::InFlight;
        Some((idx, part.slice, part.last))
    }

    /// An answer for part `idx`: back to pending until it is known to be stored. None when the
    /// part is not in flight (a stale answer, or no such part).
    pub(super) fn answered(&mut self, idx: usize) -> Option<&mut PartSpec> {
        let part = self.list.get_mut(idx).filter(|p| p.state == PartState::InFlight)?;
        part.state = PartState::Pending;
        Some(part)
    }

    /// Part `idx` is stored (again, after a "collides" answer: counted once). False for a part
    /// that does not exist.
    pub(super) fn store(&mut self, idx: usize) -> bool {
        let Some(part) = self.list.get_mut(idx) else {
            return false;
        };
        if part.state != PartState::Stored {
            part.state = PartState::Stored;
            part.maybe_stored = false;
            self.confirmed += part.slice.len();
        }
        true
    }

    /// Leading parts stored, in order (what a resumed upload can skip for sure).
    pub(super) fn done(&self) -> u64 {
        self.list.iter().take_while(|p| p.state == PartState::Stored).count() as u64
    }

    /// The last part is known and every part is stored.
    pub(super) fn complete(&self) -> bool {
        self.list.last().is_some_and(|p| p.last) && self.list.iter().all(|p| p.state == PartState::Stored)
    }

    pub(super) fn in_flight(&self) -> usize {
        self.list.iter().filter(|p| p.state == PartState::InFlight).count()
    }

    /// No part sent yet.
    pub(super) fn untouched(&self) -> bool {
        self.list.iter().all(|p| p.state == PartState::Pending)
    }
}
