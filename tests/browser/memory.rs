//! The module's allocator (`src/web/alloc.rs`: power-of-two size classes over `memory.grow`):
//! every block keeps its bytes while others come and go, alignment holds, freed blocks are reused
//! (memory stops growing), a reused block comes back zeroed when asked, an alignment past a page
//! is refused, and an impossible request fails instead of corrupting memory.
#![cfg(target_arch = "wasm32")]

// Links the crate (and with it its #[global_allocator]): nothing below names it otherwise.
extern crate chunkup;

use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// The wasm memory's size in bytes.
fn memory_bytes() -> f64 {
    let mem: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    mem.buffer().unchecked_into::<js_sys::ArrayBuffer>().byte_length() as f64
}

/// A small deterministic generator (xorshift), so a failure can be replayed.
struct Rng(u32);
impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }
}

fn fill(v: &mut [u8], tag: u32) {
    for (i, b) in v.iter_mut().enumerate() {
        *b = (i as u32).wrapping_mul(31).wrapping_add(tag) as u8;
    }
}

fn intact(v: &[u8], tag: u32) -> bool {
    v.iter().enumerate().all(|(i, b)| *b == (i as u32).wrapping_mul(31).wrapping_add(tag) as u8)
}

#[wasm_bindgen_test]
fn blocks_keep_their_bytes_while_others_come_and_go() {
    let mut rng = Rng(0x9e37_79b9);
    let mut live: Vec<(u32, Vec<u8>)> = Vec::new();
    for round in 0..3000u32 {
        match rng.next() % 4 {
            // A new block of 0 B .. 96 KiB (sizes across many classes, some past a page).
            0 | 1 => {
                let mut v = vec![0u8; (rng.next() % 98_304) as usize];
                fill(&mut v, round);
                live.push((round, v));
            }
            // Drop one.
            2 if !live.is_empty() => {
                let i = rng.next() as usize % live.len();
                let (tag, v) = live.swap_remove(i);
                assert!(intact(&v, tag), "block {tag} changed before it was freed");
            }
            // Grow one (realloc within its class or into a larger one).
            _ if !live.is_empty() => {
                let i = rng.next() as usize % live.len();
                let (tag, v) = &mut live[i];
                let old = v.len();
                v.resize(old + (rng.next() % 20_000) as usize, 0);
                assert!(intact(&v[..old], *tag), "block {tag} lost its bytes when it grew");
                fill(v, *tag);
            }
            _ => {}
        }
    }
    for (tag, v) in &live {
        assert!(intact(v, *tag), "block {tag} changed");
    }
}

#[wasm_bindgen_test]
fn alignment_is_kept() {
    #[repr(align(16))]
    struct A16(#[allow(dead_code)] u8);
    #[repr(align(4096))]
    struct A4096(#[allow(dead_code)] u8);
    let small: Vec<Box<A16>> = (0..100).map(|i| Box::new(A16(i))).collect();
    assert!(small.iter().all(|b| (&**b as *const A16 as usize).is_multiple_of(16)));
    let pages: Vec<Box<A4096>> = (0..5).map(|i| Box::new(A4096(i))).collect();
    assert!(pages.iter().all(|b| (&**b as *const A4096 as usize).is_multiple_of(4096)));
}

#[wasm_bindgen_test]
fn freed_blocks_are_reused() {
    // Warm up the classes used below, then measure.
    drop(vec![1u8; 1 << 20]);
    drop(vec![1u8; 3000]);
    let before = memory_bytes();
    for i in 0..500u32 {
        let mut big = vec![0u8; 1 << 20];
        big[(i as usize * 997) % (1 << 20)] = 1;
        let small = vec![i as u8; 3000];
        assert_eq!(small[2999], i as u8);
        drop(big);
    }
    // 500 MiB went through; the memory may grow by a few blocks at most.
    assert!(memory_bytes() - before <= 4.0 * 1048576.0, "memory grew by {} bytes", memory_bytes() - before);
}

#[wasm_bindgen_test]
fn blocks_are_aligned_to_their_class() {
    // A block of class c is 2^c bytes aligned to its size (up to a page): 3000 bytes take a
    // 4 KiB-aligned block. (dlmalloc puts them about 3 KiB apart: this also proves the tests run
    // chunkup's allocator, which they did not while the crate was not linked.)
    let blocks: Vec<Vec<u8>> = (0..8).map(|i| vec![i as u8; 3000]).collect();
    for b in &blocks {
        assert!((b.as_ptr() as usize).is_multiple_of(4096), "a 3000-byte block at {:?}", b.as_ptr());
    }
}

#[wasm_bindgen_test]
fn an_impossible_request_fails_cleanly() {
    // The largest request a layout allows on wasm32 (2 GiB - 1: a 2 GiB block) reaches the
    // allocator (3 GiB would not: `try_reserve` refuses anything past isize::MAX by itself). Two
    // of them cannot fit in 4 GiB: `memory.grow` fails and the allocator says so, and nothing is
    // corrupted. (The memory is reserved, not touched, but for a byte at each end.)
    let mut w = vec![7u8; 100];
    let mut got: Vec<Vec<u8>> = Vec::new();
    let mut failed = false;
    for _ in 0..3 {
        let mut v: Vec<u8> = Vec::new();
        if v.try_reserve_exact(isize::MAX as usize).is_err() {
            failed = true;
            break;
        }
        v.push(1);
        // SAFETY: within the capacity just reserved; u8 needs no initialising beyond the write.
        unsafe {
            v.as_mut_ptr().add(v.capacity() - 1).write(2);
        }
        got.push(v);
    }
    assert!(failed, "three 2 GiB blocks in a 4 GiB memory");
    assert!(got.iter().all(|v| v[0] == 1 && unsafe { *v.as_ptr().add(v.capacity() - 1) } == 2));
    w.push(8);
    assert_eq!(w.iter().map(|&b| b as u32).sum::<u32>(), 708);
}

#[wasm_bindgen_test]
fn an_alignment_past_a_page_is_kept_or_refused() {
    // Blocks carved from fresh pages are aligned to their size only up to a page (64 KiB); a
    // request for more alignment must get it or a null pointer, never a block less aligned.
    // 64 KiB blocks in between shift where the next 128 KiB block starts.
    use std::alloc::{alloc, dealloc, Layout};
    let (page, big) = (Layout::from_size_align(65536, 65536).unwrap(), Layout::from_size_align(16, 1 << 17).unwrap());
    let mut held = Vec::new();
    for _ in 0..4 {
        let p = unsafe { alloc(page) };
        assert!(!p.is_null());
        held.push((p, page));
        let q = unsafe { alloc(big) };
        assert!((q as usize).is_multiple_of(1 << 17), "a block at {q:?} for a 128 KiB alignment");
        if !q.is_null() {
            held.push((q, big));
        }
    }
    for (p, layout) in held {
        unsafe { dealloc(p, layout) };
    }
}

#[wasm_bindgen_test]
fn a_reused_block_comes_back_zeroed_when_asked_and_a_shrink_keeps_the_bytes() {
    // `vec![0; n]` asks for zeroed memory (`alloc_zeroed`): a block from a free list still holds
    // its last owner's bytes, so they must be cleared.
    let dirty = vec![0xaau8; 3000];
    let at = dirty.as_ptr();
    drop(dirty);
    let clean = vec![0u8; 3000];
    assert_eq!(clean.as_ptr(), at, "the freed block is handed out again (last in, first out)");
    assert!(clean.iter().all(|&b| b == 0), "a reused block not zeroed");
    // Shrinking into a smaller class moves the bytes that remain (realloc copies the new size).
    let mut v: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
    v.truncate(100);
    v.shrink_to_fit();
    assert!(v.iter().enumerate().all(|(i, &b)| b == (i as u32 * 7) as u8));
    // And growing across classes keeps them too (a byte past the old class's end included).
    let mut w: Vec<u8> = (0..16u8).collect();
    w.reserve_exact(100_000);
    w.extend(16..=255u8);
    assert!(w.iter().enumerate().all(|(i, &b)| b == i as u8));
}
