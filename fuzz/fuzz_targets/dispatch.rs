//! The whole command dispatcher with three clients (one on a GBK wire) fed
//! arbitrary bytes through the connection's own line processor — framing,
//! flood control on a virtual clock, charset decoding, chains of deferred
//! commands — (checks in `ferry_server::fuzz`): every line written to
//! anyone is well-formed in its charset, and nothing of a client remains
//! once it is gone.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

static HARNESS: OnceLock<ferry_server::fuzz::Harness> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    HARNESS
        .get_or_init(ferry_server::fuzz::Harness::new)
        .run(data);
});
