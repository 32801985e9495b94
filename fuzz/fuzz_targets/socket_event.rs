//! `server::fuzzing::socket_event` under libFuzzer.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| server::fuzzing::socket_event(data));
