//! The whole command dispatcher with three clients fed arbitrary lines
//! (checks in `ferry_server::fuzz`): every line queued for anyone is
//! well-formed, and nothing of a client remains once it is gone.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

static HARNESS: OnceLock<ferry_server::fuzz::Harness> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    HARNESS
        .get_or_init(ferry_server::fuzz::Harness::new)
        .run(data);
});
