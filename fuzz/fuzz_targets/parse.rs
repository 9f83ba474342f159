//! Framing, parsing, rebuilding, casemapping and masks on arbitrary bytes
//! (checks in `ferry_proto::fuzz`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferry_proto::fuzz::parse_and_check(data);
});
