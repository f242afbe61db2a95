//! Every fuzz target on stable: the committed corpus first (inputs that once found bugs or
//! that cover each decoder's branches), then random inputs for a bounded time, built from the
//! corpus by mutation and from scratch. A failing input is printed so it can be added to the
//! corpus.

use std::path::Path;
use std::time::{Duration, Instant};

/// Time each target gets for random inputs (`OBROL_FUZZ_SECS` to change it).
fn budget() -> Duration {
    let secs = std::env::var("OBROL_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(2.0);
    Duration::from_secs_f64(secs)
}

/// xorshift64*: random enough to fuzz, with no dependency, and reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes that decoders care about, so random inputs reach past the first check.
const INTERESTING: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\r",
    b" ",
    b":",
    b"@",
    b";",
    b"=",
    b"\\",
    b"\\s",
    b",",
    b"#",
    b"+",
    b"!",
    b"PRIVMSG",
    b"NICK",
    b"CAP",
    b"USER",
    b"JOIN",
    b"/nick ",
    b"/join ",
    b"/msg ",
    b"/me ",
    b"OBRL",
    b"\x16\x03\x01",
    b"GET ",
    b"\x00",
    b"\x01",
    b"\x1b[",
    b"\xe2\x80\xae",
    b"\xff",
    b"\xe2\x80",
    b"[[oper]]\n",
    b"\"",
    b"'",
    b"listen = [\"irc://127.0.0.1:6667\"]\n",
    b"max_line = ",
    b"line_rate = ",
    b"exempt = [\"",
    b"1e400",
    b"-1",
    b"inf",
    b"nan",
];

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..=rng.below(8) {
        match rng.below(5) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] = rng.next() as u8;
            }
            1 => {
                let i = rng.below(data.len() + 1);
                let piece = INTERESTING[rng.below(INTERESTING.len())];
                data.splice(i..i, piece.iter().copied());
            }
            2 if !data.is_empty() => {
                let i = rng.below(data.len());
                let j = (i + rng.below(16)).min(data.len());
                data.drain(i..j);
            }
            3 => {
                let i = rng.below(data.len() + 1);
                let n = rng.below(32);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                data.splice(i..i, bytes);
            }
            _ if !data.is_empty() => {
                // Repeat a slice: long lines, many parameters, many tags.
                let i = rng.below(data.len());
                let j = (i + 1 + rng.below(8)).min(data.len());
                let piece = data[i..j].to_vec();
                for _ in 0..rng.below(64) {
                    data.extend_from_slice(&piece);
                }
            }
            _ => {}
        }
    }
    data.truncate(8192);
    data
}

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("no corpus for {target} in {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let data = std::fs::read(&p).expect("read a corpus file");
            (p.display().to_string(), data)
        })
        .collect()
}

fn run(target: &str, f: fn(&[u8])) {
    let seeds = corpus(target);
    assert!(!seeds.is_empty(), "the corpus of {target} is empty");
    for (name, data) in &seeds {
        let result = std::panic::catch_unwind(|| f(data));
        assert!(result.is_ok(), "{target}: corpus file {name} fails");
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ target.len() as u64);
    let deadline = Instant::now() + budget();
    let mut runs = 0u64;
    while Instant::now() < deadline {
        let data = if rng.below(4) == 0 {
            let n = rng.below(256);
            (0..n).map(|_| rng.next() as u8).collect()
        } else {
            let pick = rng.below(seeds.len());
            mutate(&mut rng, &seeds[pick].1)
        };
        if std::panic::catch_unwind(|| f(&data)).is_err() {
            panic!(
                "{target}: fails on {data:?} (as text: {:?})",
                String::from_utf8_lossy(&data)
            );
        }
        runs += 1;
    }
    println!(
        "{target}: {} corpus files, {runs} random inputs",
        seeds.len()
    );
}

#[test]
fn every_target_survives_its_corpus_and_random_inputs() {
    for (name, f) in obrol_fuzz::TARGETS {
        run(name, *f);
    }
}
