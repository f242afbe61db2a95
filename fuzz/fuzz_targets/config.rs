#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| obrol_fuzz::config(data));
