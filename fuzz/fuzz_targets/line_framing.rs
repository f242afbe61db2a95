#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| obrol_fuzz::line_framing(data));
