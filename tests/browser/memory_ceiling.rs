//! The module's allocator (`src/web/alloc.rs`) at the 4 GiB ceiling of wasm32 memory: the pages
//! its last `memory.grow` gets, up to exactly 4 GiB, are still handed out. Its own test binary:
//! it leaves the memory full, which would starve any test run after it.
#![cfg(target_arch = "wasm32")]

// Links the crate (and with it its #[global_allocator]): nothing below names it otherwise.
extern crate chunkup;

use std::alloc::{alloc, Layout};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const PAGE: usize = 65536;
const MAX_PAGES: usize = 65536; // 4 GiB

#[wasm_bindgen_test]
fn the_last_pages_up_to_4_gib_are_used() {
    // Someone else (as the allocator sees it) grows the memory to two pages short of 4 GiB;
    // the allocator's next grow (a 64 KiB block takes two pages) then ends exactly at 4 GiB,
    // whose address (2^32) does not fit in a wasm32 usize.
    // Free blocks of the small classes, for the report of a failure (the memory is full then).
    drop((4..16).flat_map(|c| (0..16).map(move |_| Vec::<u8>::with_capacity(1 << c))).collect::<Vec<_>>());
    let pages = core::arch::wasm32::memory_size(0);
    assert!(pages <= MAX_PAGES - 2, "the memory already holds {pages} pages");
    if core::arch::wasm32::memory_grow(0, MAX_PAGES - 2 - pages) == usize::MAX {
        // An engine that cannot reserve 4 GiB cannot reach the ceiling either.
        web_sys::console::log_1(&"memory_ceiling: the engine refused to grow the memory to 4 GiB - 128 KiB; nothing to check".into());
        return;
    }
    let top = (MAX_PAGES - 2) * PAGE;
    let block = Layout::from_size_align(PAGE, PAGE).unwrap();
    // Use up the 64 KiB blocks already free and the room below the pages grown above.
    for _ in 0..1_000_000 {
        let p = unsafe { alloc(block) };
        assert!(!p.is_null(), "no 64 KiB block although the last two pages below 4 GiB were there to take");
        if p as usize >= top {
            // Writable, and the allocator's bookkeeping still works.
            unsafe { p.write_bytes(0x5a, PAGE) };
            assert!(unsafe { *p.add(PAGE - 1) } == 0x5a);
            return;
        }
    }
    panic!("a million 64 KiB blocks without reaching the top pages");
}
