//! `server::fuzzing::api_request` under libFuzzer.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| server::fuzzing::api_request(data));
