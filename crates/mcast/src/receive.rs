//! What a peer does with each datagram it receives: open it (with a key: authenticate, check
//! replay and signature), then act on it: frames to repair and presence, NAKs answered,
//! parity to the decoder.

use std::net::SocketAddr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use obrol_wire::mcast::{self as wire, Datagram, Frame, Kind, Nak, Parity, SealedKind};

use crate::{fec, keys, repair, socket, Event, McastError, Peer};

impl Peer {
    /// Sends what a NAK for our messages in `ranges` calls for: parity shards where a block
    /// can have them, the messages again for the rest.
    async fn answer_nak(&mut self, ranges: &[(u64, u64)], now: Instant) -> Result<(), McastError> {
        let Some(send) = &self.send else {
            return Ok(());
        };
        let max_shard = wire::max_shard(self.sealer.is_some());
        let repairs = self.outbound.answer(ranges, now, Some(max_shard));
        let mut datagrams = Vec::with_capacity(repairs.len());
        for r in repairs {
            match r {
                repair::Repair::Resend(d) => datagrams.push(d),
                repair::Repair::Parity {
                    block,
                    index,
                    shard,
                } => {
                    let p = Parity {
                        sender: self.id,
                        block,
                        index,
                        k: fec::K as u8,
                        shard,
                    };
                    let mut out = BytesMut::with_capacity(wire::MAX_DATAGRAM);
                    match &mut self.sealer {
                        Some(sealer) => sealer.parity(&p, &mut out)?,
                        None => p.encode(&mut out)?,
                    }
                    datagrams.push(out.freeze());
                    self.stats.parity_sent += 1;
                }
            }
        }
        self.stats.repairs_sent += datagrams.len() as u64;
        socket::send_all(send, &datagrams).await?;
        Ok(())
    }

    /// Whether a datagram from `from` is one of our own raw lines looped back.
    fn is_own(&mut self, from: SocketAddr) -> bool {
        if self.send_port != Some(from.port()) {
            return false;
        }
        *self
            .local_cache
            .entry(from.ip())
            .or_insert_with(|| socket::is_local(from.ip()))
    }

    pub(crate) async fn accept(&mut self, len: usize, from: SocketAddr) -> Result<(), McastError> {
        let datagram = match wire::decode(&self.buf[..len]) {
            Ok(d) => d,
            Err(err) => {
                self.stats.received += 1;
                self.stats.malformed += 1;
                tracing::debug!(%from, %err, "dropped malformed frame");
                return Ok(());
            }
        };
        let now = Instant::now();
        let datagram = match (datagram, &mut self.opener) {
            (Datagram::Sealed(sealed), _) if sealed.sender == self.id => return Ok(()),
            (Datagram::Sealed(_), None) => {
                self.stats.received += 1;
                self.stats.undecryptable += 1;
                return Ok(());
            }
            (Datagram::Sealed(mut sealed), Some(opener)) => {
                self.stats.received += 1;
                let aad = &self.buf[..sealed.aad_len];
                let time = match sealed.what {
                    SealedKind::Frame { timestamp_ms, .. } => Some(timestamp_ms),
                    SealedKind::Nak { .. } | SealedKind::Parity { .. } => None,
                };
                let now_ms = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                match opener.open(
                    sealed.sender,
                    sealed.pn,
                    aad,
                    &mut sealed.body,
                    time,
                    now_ms,
                ) {
                    Ok(()) => {}
                    Err(keys::Refusal::Forged | keys::Refusal::Impostor) => {
                        self.stats.undecryptable += 1;
                        return Ok(());
                    }
                    // Too old for the replay window: a repair of a message we wait for is
                    // welcome (authentic, and repair shows each message once); anything else
                    // may be a capture sent again.
                    Err(keys::Refusal::BeyondWindow)
                        if matches!(sealed.what, SealedKind::Frame { kind, seq, .. }
                            if kind.is_numbered() && self.inbound.wants(sealed.sender, seq)) => {}
                    // A repair that someone else asked for, of a message we have.
                    Err(keys::Refusal::Replayed | keys::Refusal::BeyondWindow)
                        if matches!(sealed.what, SealedKind::Frame { kind, seq, .. }
                            if kind.is_numbered() && self.inbound.has(sealed.sender, seq)) =>
                    {
                        return Ok(());
                    }
                    Err(keys::Refusal::Replayed | keys::Refusal::BeyondWindow) => {
                        self.stats.replayed += 1;
                        return Ok(());
                    }
                    Err(keys::Refusal::Stale) => {
                        self.stats.stale += 1;
                        return Ok(());
                    }
                }
                self.stats.received -= 1; // counted again below, as the datagram it holds
                match sealed.what {
                    SealedKind::Nak { target, ranges } => Datagram::Nak(Nak {
                        sender: sealed.sender,
                        target,
                        ranges,
                    }),
                    SealedKind::Parity { block, index, k } => Datagram::Parity(Parity {
                        sender: sealed.sender,
                        block,
                        index,
                        k,
                        shard: sealed.body,
                    }),
                    SealedKind::Frame {
                        kind,
                        seq,
                        timestamp_ms,
                    } => match keys::check_signed(
                        sealed.sender,
                        aad_of(&self.buf, sealed.aad_len),
                        &sealed.body,
                    )
                    .map_err(|_| ())
                    .and_then(|(fp, at)| {
                        wire::split_opened(kind, &sealed.body[at..])
                            .map(|opened| (fp, opened))
                            .map_err(|_| ())
                    }) {
                        Ok((fp, (nick, text))) => {
                            if self.fingerprints.len() >= keys::MAX_REPLAY_STATES
                                && !self.fingerprints.contains_key(&sealed.sender)
                            {
                                self.fingerprints.clear(); // rebuilt from the next frames
                            }
                            self.fingerprints.insert(sealed.sender, fp);
                            Datagram::Frame(Frame {
                                kind,
                                repair: false,
                                sender: sealed.sender,
                                seq,
                                timestamp_ms,
                                nick,
                                text,
                            })
                        }
                        Err(()) => {
                            self.stats.received += 1;
                            self.stats.impostors += 1;
                            return Ok(());
                        }
                    },
                }
            }
            (clear, Some(_)) => {
                // With a key, anything not sealed with it is a stranger's.
                let own = match &clear {
                    Datagram::Frame(f) => f.sender == self.id,
                    Datagram::Nak(n) => n.sender == self.id,
                    Datagram::Parity(p) => p.sender == self.id,
                    _ => self.is_own(from),
                };
                if !own {
                    self.stats.received += 1;
                    self.stats.unauthenticated += 1;
                }
                return Ok(());
            }
            (clear, None) => clear,
        };
        let frame = match datagram {
            Datagram::Sealed(_) => return Ok(()),
            Datagram::Legacy(text) => {
                if self.is_own(from) {
                    return Ok(());
                }
                self.stats.received += 1;
                self.stats.legacy += 1;
                self.events.push_back(Event::Legacy { from, text });
                return Ok(());
            }
            Datagram::Parity(p) if p.sender == self.id => return Ok(()),
            Datagram::Parity(p) => {
                self.stats.received += 1;
                let rebuilt = self
                    .decoder
                    .parity(p.sender, p.block, p.index, p.k, p.shard);
                self.rebuilt.extend(rebuilt.into_iter().map(|d| (d, from)));
                return Ok(());
            }
            Datagram::Nak(nak) if nak.sender == self.id => return Ok(()),
            Datagram::Nak(nak) => {
                self.stats.received += 1;
                if nak.target == self.id {
                    self.last_nak = Some(now);
                    self.answer_nak(&nak.ranges, now).await?;
                } else {
                    self.inbound.heard_nak(nak.target, &nak.ranges, now);
                }
                return Ok(());
            }
            Datagram::Frame(f) if f.sender == self.id => return Ok(()),
            Datagram::Frame(f) => f,
        };
        self.stats.received += 1;
        if frame.kind.is_numbered() {
            // Kept while its block may need it to rebuild others from parity.
            if let Some(c) = fec::canonical(&self.buf[..len]) {
                self.decoder.data(frame.sender, frame.seq, c);
            }
        }
        match frame.kind {
            // A goodbye from someone we never saw is not news.
            Kind::Bye => {
                self.inbound
                    .left(frame.sender, frame.seq, &mut self.actions);
                self.act().await?;
                if let Some(p) = self.roster.left(frame.sender) {
                    self.events.push_back(Event::Presence(p));
                }
            }
            Kind::Hello => {
                if let Some(Some(p)) = self.roster.heard(frame.sender, &frame.nick, now) {
                    self.events.push_back(Event::Presence(p));
                }
                self.inbound
                    .last_sent(frame.sender, &frame.nick, frame.seq, now);
            }
            Kind::Chat | Kind::Action | Kind::Relay | Kind::RelayAction => {
                // A newcomer's join notice comes before its first message; a rename likewise.
                // A relayed message names its author, not its sender: the sender's presence
                // is what its Hellos say.
                if !frame.kind.is_relayed() {
                    if let Some(Some(p)) = self.roster.heard(frame.sender, &frame.nick, now) {
                        self.events.push_back(Event::Presence(p));
                    }
                }
                self.inbound.frame(frame, now, &mut self.actions);
                self.act().await?;
            }
        }
        self.inbound_at = self.inbound.tick(now, &mut self.actions);
        self.act().await
    }
}

/// The associated data of a sealed datagram in `buf`: its header line.
fn aad_of(buf: &[u8], aad_len: usize) -> &[u8] {
    &buf[..aad_len.min(buf.len())]
}
