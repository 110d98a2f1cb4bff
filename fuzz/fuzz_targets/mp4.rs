#![no_main]
//! Fuzz target: see the invariant asserted by the function it calls.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    srs_protocol::mp4read::fuzz_moov(data);
});
