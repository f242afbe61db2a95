//! Parity repairs (forward error correction after NAKs, as NORM does, RFC 5740 and RFC 5510).
//!
//! Retransmitting what receivers lost costs one datagram per message lost by *anyone*: with
//! 10% loss at each of three receivers that is 27% of the messages (each resent copy lost 10%
//! of the time too), ~1.30 datagrams a message. A parity datagram instead repairs *any* one
//! missing message of its block at *every* receiver: a block needs as many parity datagrams as
//! the receiver missing the most lacks, not as many as all of them together.
//!
//! A sender's messages fall into blocks of [`K`] by sequence number (block `b` holds
//! `b * K + 1 ..= b * K + K`). A message's *shard* is the datagram that repairs it (the stored
//! repair: the sealed datagram itself, or a clear frame with its `r` flag), prefixed by its
//! length in two bytes and zero-padded to the block's longest. When NAKs ask for messages of a
//! block that is complete and in the sender's history, the sender answers with Reed-Solomon
//! parity shards over GF(2^8) (up to [`P`] a block, new ones each time) instead of the messages:
//! as many as the NAK misses, at most once per repair window. A receiver keeps the shards of
//! the blocks it has gaps in; with as many shards (data and parity) as the block has messages it
//! rebuilds the missing datagrams and takes them as if they had arrived (sealed ones are opened
//! and checked like any other). Blocks that are not complete yet (a quiet sender's last
//! messages), or whose datagrams are too long for a parity datagram, are repaired by
//! retransmission as before.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Instant;

use bytes::Bytes;
use reed_solomon_erasure::galois_8::ReedSolomon;

use crate::repair::REPAIR_WINDOW;

/// Messages per block.
pub const K: usize = 16;
/// Parity shards one block can have.
pub const P: usize = 16;

/// Blocks whose parity a sender keeps computed.
const ENCODED_BLOCKS: usize = 256;
/// Blocks with gaps a receiver keeps shards of, per sender (as many messages as a sender's
/// history holds at most: repair can take as long as that lasts), and the bytes it keeps in all
/// (past them, the sender holding the most blocks gives up its oldest).
const RX_BLOCKS: usize = crate::repair::HISTORY_MAX / K;
const RX_BYTES_TOTAL: usize = 32 << 20;

/// The block of message `seq` (from 1).
pub fn block_of(seq: u64) -> u64 {
    seq.saturating_sub(1) / K as u64
}

/// The first message of `block`.
pub fn first_of(block: u64) -> u64 {
    block * K as u64 + 1
}

/// The form of a received numbered datagram that shards are made of: what its sender stores
/// for repair. Sealed datagrams and repairs are that already; a clear original gets the `r`
/// flag after its kind letter. `None` for anything else.
pub fn canonical(datagram: &[u8]) -> Option<Bytes> {
    let rest = datagram.strip_prefix(b"OBRL2 ")?;
    match rest {
        [_, b' ', ..] => {
            let mut c = Vec::with_capacity(datagram.len() + 1);
            c.extend_from_slice(&datagram[..7]);
            c.push(b'r');
            c.extend_from_slice(&datagram[7..]);
            Some(c.into())
        }
        [_, b'r' | b'e', b' ', ..] => Some(Bytes::copy_from_slice(datagram)),
        _ => None,
    }
}

/// A message's shard, `len` bytes: its length, then its bytes, then zeros.
fn shard(datagram: &[u8], len: usize) -> Vec<u8> {
    let mut s = Vec::with_capacity(len);
    s.extend_from_slice(&(datagram.len() as u16).to_be_bytes());
    s.extend_from_slice(datagram);
    s.resize(len, 0);
    s
}

/// The datagram in a rebuilt shard, if its length is plausible.
fn unshard(shard: &[u8]) -> Option<Bytes> {
    let (len, rest) = shard.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_be_bytes(*len));
    (len > 0 && len <= rest.len()).then(|| Bytes::copy_from_slice(&rest[..len]))
}

fn codec() -> Option<ReedSolomon> {
    ReedSolomon::new(K, P).ok()
}

#[derive(Debug)]
struct Encoded {
    parity: Vec<Vec<u8>>,
    /// The next parity shard not sent yet.
    next: usize,
    /// This repair window's start and the shards sent in it.
    window: Instant,
    sent_in_window: usize,
}

/// The sending side: parity of the blocks receivers ask about.
#[derive(Debug, Default)]
pub struct Encoder {
    blocks: HashMap<u64, Encoded>,
    order: VecDeque<u64>,
}

impl Encoder {
    /// New parity shards (index, shard) for `block`, whose [`K`] repair datagrams are `data`,
    /// for a NAK missing `missing` of its messages at `now`: enough that with those sent in
    /// this repair window there are `missing`. `None` when the block cannot have parity (its
    /// datagrams are too long for `max_shard`, or its parity is used up): retransmit instead.
    pub fn answer(
        &mut self,
        block: u64,
        data: &[&Bytes],
        missing: usize,
        now: Instant,
        max_shard: usize,
    ) -> Option<Vec<(u8, Vec<u8>)>> {
        if data.len() != K {
            return None;
        }
        if !self.blocks.contains_key(&block) {
            let len = 2 + data.iter().map(|d| d.len()).max().unwrap_or(0);
            if len > max_shard {
                return None;
            }
            let mut shards: Vec<Vec<u8>> = data.iter().map(|d| shard(d, len)).collect();
            shards.extend((0..P).map(|_| vec![0; len]));
            codec()?.encode(&mut shards).ok()?;
            if self.order.len() >= ENCODED_BLOCKS {
                if let Some(old) = self.order.pop_front() {
                    self.blocks.remove(&old);
                }
            }
            self.order.push_back(block);
            self.blocks.insert(
                block,
                Encoded {
                    parity: shards.split_off(K),
                    next: 0,
                    window: now,
                    sent_in_window: 0,
                },
            );
        }
        let e = self.blocks.get_mut(&block)?;
        if now >= e.window + REPAIR_WINDOW {
            e.window = now;
            e.sent_in_window = 0;
        }
        let want = missing.saturating_sub(e.sent_in_window);
        if want > 0 && e.next >= P {
            return None; // used up
        }
        let n = want.min(P - e.next);
        let out: Vec<(u8, Vec<u8>)> = (e.next..e.next + n)
            .map(|i| (i as u8, e.parity[i].clone()))
            .collect();
        e.next += n;
        e.sent_in_window += n;
        Some(out)
    }
}

#[derive(Debug)]
struct RxBlock {
    data: Vec<Option<Bytes>>,
    parity: Vec<Option<Vec<u8>>>,
    /// Length of this block's shards (from its parity).
    len: Option<usize>,
}

impl RxBlock {
    fn new() -> Self {
        RxBlock {
            data: vec![None; K],
            parity: vec![None; P],
            len: None,
        }
    }

    fn complete(&self) -> bool {
        self.data.iter().all(Option::is_some)
    }

    fn bytes(&self) -> usize {
        self.data.iter().flatten().map(Bytes::len).sum::<usize>()
            + self.parity.iter().flatten().map(Vec::len).sum::<usize>()
    }
}

/// The receiving side: shards of the blocks with gaps, and rebuilding.
#[derive(Debug, Default)]
pub struct Decoder {
    senders: HashMap<u64, BTreeMap<u64, RxBlock>>,
    blocks: usize,
    /// Bytes of the datagrams and parity shards kept.
    bytes: usize,
    /// Messages rebuilt from parity.
    pub recovered: u64,
}

impl Decoder {
    /// Keeps message `seq` of `sender` (its [`canonical`] datagram) while its block may need it.
    pub fn data(&mut self, sender: u64, seq: u64, datagram: Bytes) {
        if seq == 0 {
            return;
        }
        let block = block_of(seq);
        let at = (seq - first_of(block)) as usize;
        let len = datagram.len();
        let Some(b) = self.block(sender, block) else {
            return;
        };
        if b.data[at].is_some() {
            return;
        }
        b.data[at] = Some(datagram);
        let complete = b.complete();
        self.bytes += len;
        if complete {
            self.drop_block(sender, block);
        }
        while self.bytes > RX_BYTES_TOTAL && self.evict_busiest() {}
    }

    /// Takes parity shard `index` of `sender`'s `block`; returns the datagrams it let this
    /// receiver rebuild (none if it still lacks shards).
    pub fn parity(
        &mut self,
        sender: u64,
        block: u64,
        index: u8,
        k: u8,
        parity_shard: Vec<u8>,
    ) -> Vec<Bytes> {
        let index = usize::from(index);
        if usize::from(k) != K || index >= P || parity_shard.len() < 3 {
            return Vec::new();
        }
        let rebuilt = {
            // Only blocks this receiver holds messages of (and has not rebuilt already): a
            // late parity shard for a finished block must not start a new one.
            let Some(b) = self
                .senders
                .get_mut(&sender)
                .and_then(|s| s.get_mut(&block))
            else {
                return Vec::new();
            };
            if b.complete() {
                return Vec::new();
            }
            let len = parity_shard.len();
            if b.len.is_some_and(|l| l != len) {
                return Vec::new(); // not this block's
            }
            b.len = Some(len);
            if b.parity[index].is_none() {
                self.bytes += len;
            }
            b.parity[index] = Some(parity_shard);
            let have = b.data.iter().flatten().count() + b.parity.iter().flatten().count();
            // A stored datagram longer than the parity's shards: not the block the parity
            // was made of (a forgery without a key); nothing to rebuild.
            if have < K || b.data.iter().flatten().any(|d| d.len() + 2 > len) {
                return Vec::new();
            }
            let mut shards: Vec<Option<Vec<u8>>> = b
                .data
                .iter()
                .map(|d| d.as_ref().map(|d| shard(d, len)))
                .chain(b.parity.iter().cloned())
                .collect();
            let Some(rs) = codec() else {
                return Vec::new();
            };
            if rs.reconstruct_data(&mut shards).is_err() {
                return Vec::new();
            }
            b.data
                .iter()
                .zip(shards)
                .filter(|(had, _)| had.is_none())
                .filter_map(|(_, s)| s.as_deref().and_then(unshard))
                .collect::<Vec<Bytes>>()
        };
        self.recovered += rebuilt.len() as u64;
        self.drop_block(sender, block);
        rebuilt
    }

    /// Forgets a sender that left.
    pub fn forget(&mut self, sender: u64) {
        if let Some(blocks) = self.senders.remove(&sender) {
            self.blocks -= blocks.len();
            self.bytes -= blocks.values().map(RxBlock::bytes).sum::<usize>();
        }
    }

    /// The block, made if need be within the bounds (the oldest go first).
    fn block(&mut self, sender: u64, block: u64) -> Option<&mut RxBlock> {
        let known = self
            .senders
            .get(&sender)
            .is_some_and(|b| b.contains_key(&block));
        if !known {
            if !self.senders.contains_key(&sender)
                && self.senders.len() >= crate::repair::MAX_STREAMS
            {
                return None; // as many senders as repair follows
            }
            let blocks = self.senders.entry(sender).or_default();
            if blocks.len() >= RX_BLOCKS {
                match blocks.keys().next() {
                    Some(&oldest) if oldest < block => {
                        self.pop_oldest(sender);
                    }
                    _ => return None, // older than all we keep
                }
            }
            self.senders
                .entry(sender)
                .or_default()
                .insert(block, RxBlock::new());
            self.blocks += 1;
        }
        self.senders.get_mut(&sender)?.get_mut(&block)
    }

    /// A sender holding many blocks gives up its oldest; false if there is none. The busiest
    /// of a few (not of all: under a flood of senders this runs for every datagram).
    fn evict_busiest(&mut self) -> bool {
        let Some((&busiest, _)) = self.senders.iter().take(8).max_by_key(|(_, b)| b.len()) else {
            return false;
        };
        self.pop_oldest(busiest);
        true
    }

    fn pop_oldest(&mut self, sender: u64) {
        let Some(blocks) = self.senders.get_mut(&sender) else {
            return;
        };
        if let Some((_, b)) = blocks.pop_first() {
            self.blocks -= 1;
            self.bytes -= b.bytes();
        }
        if blocks.is_empty() {
            self.senders.remove(&sender);
        }
    }

    fn drop_block(&mut self, sender: u64, block: u64) {
        if let Some(blocks) = self.senders.get_mut(&sender) {
            if let Some(b) = blocks.remove(&block) {
                self.blocks -= 1;
                self.bytes -= b.bytes();
            }
            if blocks.is_empty() {
                self.senders.remove(&sender);
            }
        }
    }

    /// Bytes kept, in all.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Blocks kept, in all.
    pub fn len(&self) -> usize {
        self.blocks
    }

    pub fn is_empty(&self) -> bool {
        self.blocks == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datagrams(block: u64) -> Vec<Bytes> {
        (0..K as u64)
            .map(|i| {
                let seq = first_of(block) + i;
                Bytes::from(format!(
                    "OBRL2 Cr 0102030405060708 {seq:x} 1 ani\nmessage {seq} {}",
                    "x".repeat(i as usize * 7)
                ))
            })
            .collect()
    }

    #[test]
    fn any_missing_messages_come_back_from_as_many_parity_shards() {
        let now = Instant::now();
        let block = 5;
        let data = datagrams(block);
        let refs: Vec<&Bytes> = data.iter().collect();
        let mut enc = Encoder::default();
        // Two receivers miss different messages: 3 and 1 of them.
        let parity = enc.answer(block, &refs, 3, now, 1200).unwrap();
        assert_eq!(parity.len(), 3);
        assert!(
            enc.answer(block, &refs, 1, now, 1200).unwrap().is_empty(),
            "the window's three answer a NAK for one too"
        );
        for missing in [&[0usize, 7, 15][..], &[4]] {
            let mut dec = Decoder::default();
            for (i, d) in data.iter().enumerate() {
                if !missing.contains(&i) {
                    dec.data(9, first_of(block) + i as u64, d.clone());
                }
            }
            let mut rebuilt = Vec::new();
            for (index, s) in &parity {
                rebuilt.extend(dec.parity(9, block, *index, K as u8, s.clone()));
            }
            let want: Vec<Bytes> = missing.iter().map(|&i| data[i].clone()).collect();
            assert_eq!(rebuilt, want);
            assert_eq!(dec.recovered, missing.len() as u64);
            assert!(dec.is_empty(), "a rebuilt block is forgotten");
        }
        // A later window gets new shards, not the same ones again.
        let later = enc
            .answer(block, &refs, 2, now + REPAIR_WINDOW, 1200)
            .unwrap();
        assert_eq!(
            later.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            vec![3, 4]
        );
    }

    #[test]
    fn blocks_too_long_for_a_parity_datagram_are_retransmitted() {
        let data = datagrams(0);
        let refs: Vec<&Bytes> = data.iter().collect();
        let mut enc = Encoder::default();
        assert!(enc.answer(0, &refs, 1, Instant::now(), 100).is_none());
        assert!(enc.answer(0, &refs[..3], 1, Instant::now(), 1200).is_none());
    }

    #[test]
    fn a_receiver_keeps_only_blocks_with_gaps_and_only_so_many() {
        let mut dec = Decoder::default();
        let data = datagrams(0);
        for (i, d) in data.iter().enumerate() {
            dec.data(1, i as u64 + 1, d.clone());
        }
        assert!(dec.is_empty(), "a complete block is not kept");
        for block in 0..(RX_BLOCKS as u64 + 10) {
            dec.data(1, first_of(block), Bytes::from_static(b"x"));
        }
        assert_eq!(dec.len(), RX_BLOCKS);
        assert_eq!(dec.bytes(), RX_BLOCKS);
        let big = Bytes::from(vec![b'x'; 1200]);
        for sender in 0..(RX_BYTES_TOTAL / 1200 + 100) as u64 {
            dec.data(100 + sender, 1, big.clone());
        }
        assert!(dec.bytes() <= RX_BYTES_TOTAL, "{}", dec.bytes());
        // Garbage parity rebuilds nothing and does not panic; parity for a block we hold
        // nothing of starts nothing.
        let before = dec.len();
        assert!(dec.parity(1, 70, 0, K as u8, vec![1; 40]).is_empty());
        assert!(dec.parity(1, 70, 0, 3, vec![1; 40]).is_empty());
        assert!(dec.parity(1, 999, 0, K as u8, vec![1; 40]).is_empty());
        assert_eq!(dec.len(), before);
    }

    #[test]
    fn clear_originals_are_made_the_repair_form() {
        assert_eq!(
            canonical(b"OBRL2 C 01 1 1 ani\nhi").unwrap(),
            Bytes::from_static(b"OBRL2 Cr 01 1 1 ani\nhi")
        );
        assert_eq!(
            canonical(b"OBRL2 Cr 01 1 1 ani\nhi").unwrap(),
            Bytes::from_static(b"OBRL2 Cr 01 1 1 ani\nhi")
        );
        assert!(canonical(b"hello").is_none());
    }
}
