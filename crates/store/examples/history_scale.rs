//! How the history store answers at scale: fills a store with N messages (default 10 million)
//! spread over 1,000 rooms, then times `before` (a page of 50 before a random message of a
//! random room) and `search` (two words, in 10 rooms) and prints percentiles.
//!
//!     cargo run --release -p obrol-store --example history_scale -- [N] [DIR] [keep]
//!
//! With `keep`, the store stays in DIR afterwards (to serve it: `obrol serve --data-dir DIR`;
//! its rooms are `#room0` .. `#room999`, its messages' ids `m0` .. `m{N-1}`).

use std::time::Instant;

use obrol_store::history::{Anchor, Event, Events, History, Kind};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().map_or(Ok(10_000_000), |a| a.parse())?;
    let dir = args.next().map_or_else(
        || std::env::temp_dir().join("obrol-history-scale"),
        std::path::PathBuf::from,
    );
    let _ = std::fs::remove_dir_all(&dir);
    let h = History::open(&dir)?;
    let words = [
        "halo",
        "apa",
        "kabar",
        "baik",
        "makan",
        "siang",
        "rapat",
        "besok",
        "kode",
        "rilis",
        "server",
        "multicast",
        "tolong",
        "cek",
        "log",
        "error",
        "jalan",
        "pulang",
        "kopi",
        "teh",
    ];
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    // Each message's room, from its number, so queries can pick a message and its room.
    let room_of = |i: u64| {
        let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % 1000
    };
    // A vocabulary of 5,000 words, drawn with a Zipf-like skew (as chat is).
    let vocabulary: Vec<String> = (0..5000).map(|i| format!("{}{i}", words[i % 20])).collect();
    let started = Instant::now();
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..n {
        let room = room_of(i);
        let text: Vec<&str> = (0..8)
            .map(|_| {
                let r = (next() % 1_000_000) as f64 / 1_000_000.0;
                vocabulary[((r * r * r) * 5000.0) as usize % 5000].as_str()
            })
            .collect();
        batch.push(Event {
            msgid: format!("m{i}"),
            time_ms: 1_700_000_000_000 + i as i64,
            target: format!("#room{room}"),
            target_name: format!("#room{room}"),
            kind: Kind::Privmsg,
            nick: format!("user{}", next() % 5000),
            source: "user!user@127.0.0.1".into(),
            account: None,
            text: text.join(" "),
        });
        if batch.len() == 10_000 {
            h.append(&batch)?;
            batch.clear();
        }
    }
    h.append(&batch)?;
    let written = started.elapsed();
    let started = Instant::now();
    h.index()?;
    let indexed = started.elapsed();
    println!(
        "{n} messages written in {:.1} s ({:.0}/s), indexed in {:.1} s; {} MB on disk",
        written.as_secs_f64(),
        n as f64 / written.as_secs_f64(),
        indexed.as_secs_f64(),
        h.size_bytes() / 1_000_000
    );
    let mut times = Vec::new();
    for _ in 0..1000 {
        let i = next() % n;
        let room = format!("#room{}", room_of(i));
        let anchor = Anchor::MsgId(format!("m{i}"));
        let t = Instant::now();
        let page = h.before(&room, &anchor, 50, Events::Messages)?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        std::hint::black_box(page);
    }
    report("before (msgid, 50)", &mut times);
    let mut times = Vec::new();
    for _ in 0..1000 {
        let room = format!("#room{}", next() % 1000);
        let anchor = Anchor::TimeMs(1_700_000_000_000 + (next() % n) as i64);
        let t = Instant::now();
        let page = h.before(&room, &anchor, 50, Events::Messages)?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        std::hint::black_box(page);
    }
    report("before (timestamp, 50)", &mut times);
    let mut times = Vec::new();
    for _ in 0..200 {
        let rooms: Vec<String> = (0..10).map(|_| format!("#room{}", next() % 1000)).collect();
        let pick = |r: u64| vocabulary[(r % 5000) as usize].as_str();
        let q = format!("{} {}", pick(next() % 200), pick(next()));
        let t = Instant::now();
        let found = h.search(&q, &rooms, 50)?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        std::hint::black_box(found);
    }
    report("search (2 words, 10 rooms, 50)", &mut times);
    if args.next().as_deref() != Some("keep") {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

fn report(what: &str, times: &mut [f64]) {
    times.sort_by(|a, b| a.total_cmp(b));
    let p = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    println!(
        "{what}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        p(0.5),
        p(0.99),
        p(1.0)
    );
}
