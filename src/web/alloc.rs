//! The module's memory allocator: power-of-two size classes, a free list for each, blocks carved
//! from `memory.grow`. About 0.6 KB of wasm where Rust's default (dlmalloc) is about 8 KB
//! (3 KiB of every entry, gzip: `scripts/size.sh`).
//!
//! Why this is enough here: the module allocates little and briefly (options, requests, answers,
//! resume records, hashing buffers); a file's bytes stay in the browser's Blob store. The price
//! of the simplicity, bounded and said plainly:
//! - a block is rounded up to a power of two (at most twice what was asked);
//! - freed blocks are kept for their own size class and never merged, so the memory held is at
//!   most the sum of each class's peak (wasm memory never shrinks, with dlmalloc neither);
//! - one thread (wasm32-unknown-unknown without atomics; each worker has its own module).
//!
//! A block of class `c` is `1 << c` bytes, aligned to its size up to a page (64 KiB), so a block
//! reused from a free list satisfies any request of its class (`class` folds the alignment in).
//! A request for more than a page's alignment gets null (allowed by `GlobalAlloc`; nothing here
//! asks for it).

use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;
use std::ptr::{copy_nonoverlapping, null_mut};

const PAGE: usize = 65536;
/// Classes 4 (16 bytes: room for the free-list link, and the largest alignment of a Rust type)
/// to 31 (2 GiB); larger requests fail (wasm32 memory is at most 4 GiB).
const CLASSES: usize = 32;
const MIN_CLASS: u32 = 4;

struct Heap {
    /// The first free block of each class; each free block holds the address of the next.
    free: [*mut u8; CLASSES],
    /// Unused memory at the end of what was grown: `next..end`.
    next: usize,
    end: usize,
}

pub struct SizeClasses(UnsafeCell<Heap>);

// SAFETY: wasm32-unknown-unknown without the atomics feature has one thread.
unsafe impl Sync for SizeClasses {}

#[global_allocator]
static ALLOCATOR: SizeClasses = SizeClasses(UnsafeCell::new(Heap { free: [null_mut(); CLASSES], next: 0, end: 0 }));

/// The class of a request: log2 of its size rounded up to a power of two, at least 16 bytes and
/// at least its alignment.
fn class(size: usize, align: usize) -> usize {
    let size = size.max(align).max(1 << MIN_CLASS);
    (usize::BITS - (size - 1).leading_zeros()) as usize
}

impl Heap {
    /// A fresh block of class `c` from the end of the heap, growing the memory when needed.
    fn carve(&mut self, c: usize) -> *mut u8 {
        self.try_carve(c).map_or(null_mut(), |at| at as *mut u8)
    }

    /// Checked arithmetic throughout: near the 4 GiB limit a request fails instead of wrapping.
    fn try_carve(&mut self, c: usize) -> Option<usize> {
        let size = 1usize << c;
        let align = size.min(PAGE);
        let aligned = |at: usize| Some(at.checked_add(align - 1)? & !(align - 1));
        let mut start = aligned(self.next)?;
        if start.checked_add(size).is_none_or(|e| e > self.end) {
            // Enough pages for the block wherever it starts, plus room for the next ones.
            let pages = size.div_ceil(PAGE) + 1;
            let old = core::arch::wasm32::memory_grow(0, pages);
            if old == usize::MAX {
                return None;
            }
            let base = old.checked_mul(PAGE)?;
            if base != self.end {
                self.next = base; // not contiguous with the last region: start afresh
            }
            // Saturating: memory grown to exactly 4 GiB ends at 2^32, past usize; the last
            // byte's address stands for it (a block ending at 2^32 is refused by `checked_add`).
            // Failing here instead would leave the pages just grown unused for good.
            self.end = base.saturating_add(pages.checked_mul(PAGE)?);
            start = aligned(self.next)?;
        }
        self.next = start.checked_add(size)?;
        Some(start)
    }
}

unsafe impl GlobalAlloc for SizeClasses {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let c = class(layout.size(), layout.align());
        // Blocks are aligned to at most a page: refuse rather than hand out a less aligned one.
        if c >= CLASSES || layout.align() > PAGE {
            return null_mut();
        }
        // SAFETY: one thread, and no allocation happens while this borrow lives.
        let heap = unsafe { &mut *self.0.get() };
        let head = heap.free[c];
        if head.is_null() {
            return heap.carve(c);
        }
        // SAFETY: a free block of this class holds the next free block's address.
        heap.free[c] = unsafe { *(head as *mut *mut u8) };
        head
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let c = class(layout.size(), layout.align());
        // SAFETY: as in `alloc`; `ptr` is a block of class `c` (16+ bytes, 16-aligned) no longer used.
        let heap = unsafe { &mut *self.0.get() };
        unsafe { *(ptr as *mut *mut u8) = heap.free[c] };
        heap.free[c] = ptr;
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let align = layout.align();
        if class(new_size, align) == class(layout.size(), align) {
            return ptr; // the block already has room
        }
        // SAFETY: the caller guarantees a valid layout of `new_size` with the same alignment.
        let new = unsafe { self.alloc(Layout::from_size_align_unchecked(new_size, align)) };
        if !new.is_null() {
            // SAFETY: both blocks are live and distinct; the smaller size is copied.
            unsafe {
                copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}
