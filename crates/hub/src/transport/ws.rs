//! WebSocket (RFC 6455) as a framing layer over a connection's transport (TCP or TLS), as the
//! IRCv3 WebSocket specification uses it: one IRC line per message, without its CR LF, in text
//! frames (`text.ircv3.net`, and when no subprotocol was asked for) or binary frames
//! (`binary.ircv3.net`).
//!
//! Driven like the other transports (see the parent module): `try_read` decodes the frames
//! that arrived into lines ending in `\n`, so the connection reads a WebSocket client exactly
//! as it reads a TCP one; `try_write_vectored` cuts the hub's lines into one frame each and
//! writes them until the socket would block, keeping the rest as pending output. Frame headers
//! and the handshake's accept key are tungstenite's; the buffers are the connection's own and
//! empty (no allocation) while it is idle, as a TCP client's are.
//!
//! Limits: a message (all its fragments) may hold [`MAX_MESSAGE`] bytes, a control frame 125
//! (RFC 6455); client frames must be masked and use no extension bits. A client that breaks
//! one is sent a Close frame with the reason and its connection ends.

use std::io::{self, Cursor, IoSlice};
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll};

use tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

use super::Transport;

/// Longest message a client may send: an IRC line with all the tags a client may send and the
/// server's own (512 + 8191), rounded up.
pub const MAX_MESSAGE: usize = 9 * 1024;

/// Most of the hub's output one `try_write_vectored` takes (it is framed into a buffer of the
/// connection's own until the socket takes it).
const WS_WRITE: usize = 64 * 1024;

/// Reads from the socket at a time.
const READ_CHUNK: usize = 4096;

/// Pongs are queued only while less than this waits to be sent.
const MAX_PENDING_PONGS: usize = 4096;

/// See the module documentation.
#[derive(Debug)]
pub struct WsStream {
    inner: Transport,
    /// Binary frames (`binary.ircv3.net`); text frames otherwise.
    binary: bool,
    state: Mutex<WsState>,
}

#[derive(Debug, Default)]
struct WsState {
    /// Bytes read and not yet decoded (part of a frame).
    raw: Vec<u8>,
    /// The fragments of a message so far.
    message: Vec<u8>,
    /// Whether a fragmented message is being received.
    in_message: bool,
    /// Decoded lines, each ending in `\n`, not yet read.
    lines: Vec<u8>,
    /// Frames made and not yet taken by the socket.
    out: Vec<u8>,
    /// The start of a line the hub has not finished writing.
    partial: Vec<u8>,
    /// A Close frame was received or sent: no more lines either way.
    closed: bool,
}

/// Gives back a buffer's memory once it is empty: an idle connection holds none (what a
/// write costs in allocation is small beside its system call).
fn tidy(buf: &mut Vec<u8>) {
    if buf.is_empty() && buf.capacity() > 0 {
        *buf = Vec::new();
    }
}

fn protocol_error(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("WebSocket: {why}"))
}

/// Appends one frame (unmasked: the server's) to `out`.
fn frame(out: &mut Vec<u8>, opcode: OpCode, payload: &[u8]) {
    let header = FrameHeader {
        opcode,
        ..FrameHeader::default()
    };
    // Writing into a Vec cannot fail.
    let _ = header.format(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

/// A Close frame's payload: the code, and the reason.
fn close_payload(code: CloseCode, reason: &str) -> Vec<u8> {
    let mut p = u16::from(code).to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    p
}

impl WsStream {
    pub(super) fn new(inner: Transport, binary: bool, read: Vec<u8>) -> Self {
        WsStream {
            inner,
            binary,
            state: Mutex::new(WsState {
                raw: read,
                ..WsState::default()
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, WsState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn inner(&self) -> &Transport {
        &self.inner
    }

    /// Whether a read would find something without the socket (decoded lines, or a whole
    /// frame already read).
    pub(super) fn has_input(&self) -> bool {
        let st = self.lock();
        !st.lines.is_empty() || (!st.closed && whole_frame(&st.raw))
    }

    /// Writes what `out` holds until the socket would block.
    fn send_out(&self, st: &mut WsState) -> io::Result<()> {
        if !self.inner.flush_pending()? {
            return Ok(());
        }
        let mut sent = 0;
        while sent < st.out.len() {
            match self
                .inner
                .try_write_vectored(&[IoSlice::new(&st.out[sent..])])
            {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        st.out.drain(..sent);
        tidy(&mut st.out);
        Ok(())
    }

    /// Decodes the frames `raw` holds whole. Errors are protocol violations (the client is
    /// sent a Close frame first).
    fn decode(&self, st: &mut WsState) -> io::Result<()> {
        loop {
            let mut cursor = Cursor::new(&st.raw[..]);
            let (header, len) = match FrameHeader::parse(&mut cursor) {
                Ok(Some(parsed)) => parsed,
                Ok(None) => return Ok(()),
                Err(_) => return self.refuse(st, CloseCode::Protocol, "bad frame"),
            };
            let at = cursor.position() as usize;
            let control = matches!(header.opcode, OpCode::Control(_));
            let limit = if control { 125 } else { MAX_MESSAGE };
            // (A control frame between fragments does not count toward the message.)
            let so_far = if control { 0 } else { st.message.len() };
            if len > limit as u64 || so_far + len as usize > MAX_MESSAGE {
                return self.refuse(st, CloseCode::Size, "message too long");
            }
            let len = len as usize;
            if st.raw.len() < at + len {
                return Ok(());
            }
            let Some(mask) = header.mask else {
                return self.refuse(st, CloseCode::Protocol, "client frames must be masked");
            };
            if header.rsv1 || header.rsv2 || header.rsv3 || (control && !header.is_final) {
                return self.refuse(st, CloseCode::Protocol, "no extensions");
            }
            let mut payload: Vec<u8> = st.raw[at..at + len].to_vec();
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= mask[i & 3];
            }
            st.raw.drain(..at + len);
            match header.opcode {
                OpCode::Data(Data::Text) | OpCode::Data(Data::Binary) => {
                    if st.in_message {
                        return self.refuse(st, CloseCode::Protocol, "a message inside a message");
                    }
                    st.message.extend_from_slice(&payload);
                    st.in_message = !header.is_final;
                }
                OpCode::Data(Data::Continue) => {
                    if !st.in_message {
                        return self.refuse(st, CloseCode::Protocol, "nothing to continue");
                    }
                    st.message.extend_from_slice(&payload);
                    st.in_message = !header.is_final;
                }
                OpCode::Control(Control::Ping) => {
                    // A client that pings without reading must not grow what waits for it: with
                    // output already waiting, this Ping goes unanswered (RFC 6455 5.5.3 lets
                    // an endpoint answer only the latest of several).
                    if st.out.len() < MAX_PENDING_PONGS {
                        frame(&mut st.out, OpCode::Control(Control::Pong), &payload);
                        self.send_out(st)?;
                    }
                    continue;
                }
                OpCode::Control(Control::Pong) => continue,
                OpCode::Control(Control::Close) => {
                    // Answered with the same code, then nothing more is read; a code no
                    // endpoint may send (RFC 6455 7.4), a one-byte payload or a reason that is
                    // not UTF-8 is a protocol error.
                    let valid = match payload.len() {
                        0 => true,
                        1 => false,
                        _ => {
                            let code = u16::from_be_bytes([payload[0], payload[1]]);
                            let allowed = matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999);
                            allowed && std::str::from_utf8(&payload[2..]).is_ok()
                        }
                    };
                    if !valid {
                        return self.refuse(st, CloseCode::Protocol, "bad close frame");
                    }
                    let code = payload.get(..2).map_or(&[][..], |c| c);
                    frame(&mut st.out, OpCode::Control(Control::Close), code);
                    st.closed = true;
                    self.send_out(st)?;
                    return Ok(());
                }
                _ => return self.refuse(st, CloseCode::Protocol, "unknown opcode"),
            }
            if !st.in_message {
                let message = std::mem::take(&mut st.message);
                // One IRC line per message; a client that puts several in one (or ends it with
                // CR LF, as some do) gets each line read as a line.
                for line in message.split(|&b| b == b'\n') {
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    if !line.is_empty() {
                        st.lines.extend_from_slice(line);
                        st.lines.push(b'\n');
                    }
                }
            }
            tidy(&mut st.raw);
        }
    }

    /// Sends a Close frame saying why, and fails the read.
    fn refuse(&self, st: &mut WsState, code: CloseCode, why: &str) -> io::Result<()> {
        if !st.closed {
            frame(
                &mut st.out,
                OpCode::Control(Control::Close),
                &close_payload(code, why),
            );
            st.closed = true;
            let _ = self.send_out(st);
        }
        Err(protocol_error(why))
    }

    pub(super) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut st = self.lock();
        loop {
            if !st.lines.is_empty() {
                let n = buf.len().min(st.lines.len());
                buf[..n].copy_from_slice(&st.lines[..n]);
                st.lines.drain(..n);
                tidy(&mut st.lines);
                return Ok(n);
            }
            if st.closed {
                return Ok(0);
            }
            let before = st.raw.len();
            self.decode(&mut st)?;
            if !st.lines.is_empty() || st.closed {
                continue;
            }
            if st.raw.len() != before && whole_frame(&st.raw) {
                continue;
            }
            let mut chunk = [0u8; READ_CHUNK];
            match self.inner.try_read(&mut chunk)? {
                0 => return Ok(0),
                n => st.raw.extend_from_slice(&chunk[..n]),
            }
        }
    }

    pub(super) fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut st = self.lock();
        self.send_out(&mut st)?;
        if !st.out.is_empty() || self.inner.has_pending_output() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        if st.closed {
            // After a Close frame nothing else may be sent: taken and dropped.
            return Ok(bufs.iter().map(|b| b.len()).sum());
        }
        let opcode = OpCode::Data(if self.binary {
            Data::Binary
        } else {
            Data::Text
        });
        let mut taken = 0;
        for b in bufs {
            let room = WS_WRITE - taken;
            if room == 0 {
                break;
            }
            let chunk = &b[..b.len().min(room)];
            taken += chunk.len();
            let mut rest = chunk;
            while let Some(end) = rest.iter().position(|&c| c == b'\n') {
                let (line, after) = rest.split_at(end + 1);
                rest = after;
                let whole = if st.partial.is_empty() {
                    line
                } else {
                    st.partial.extend_from_slice(line);
                    &st.partial[..]
                };
                let text = whole.strip_suffix(b"\n").unwrap_or(whole);
                let text = text.strip_suffix(b"\r").unwrap_or(text);
                let mut framed = Vec::new();
                frame(&mut framed, opcode, text);
                st.out.extend_from_slice(&framed);
                st.partial.clear();
            }
            st.partial.extend_from_slice(rest);
            if st.partial.len() > MAX_MESSAGE {
                // The hub writes whole lines; a part this long is no line: sent as it is.
                let part = std::mem::take(&mut st.partial);
                frame(&mut st.out, opcode, &part);
            }
            if chunk.len() < b.len() {
                break;
            }
        }
        tidy(&mut st.partial);
        self.send_out(&mut st)?;
        Ok(taken)
    }

    pub(super) fn flush_pending(&self) -> io::Result<bool> {
        let mut st = self.lock();
        self.send_out(&mut st)?;
        Ok(st.out.is_empty() && !self.inner.has_pending_output())
    }

    pub(super) fn has_pending_output(&self) -> bool {
        !self.lock().out.is_empty() || self.inner.has_pending_output()
    }

    /// Says goodbye with a Close frame (1001, going away) if the socket takes it now.
    pub(super) fn close(&self) {
        let mut st = self.lock();
        if !st.closed {
            frame(
                &mut st.out,
                OpCode::Control(Control::Close),
                &close_payload(CloseCode::Away, ""),
            );
            st.closed = true;
            let _ = self.send_out(&mut st);
        }
        drop(st);
        self.inner.close();
    }

    pub(super) fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.has_input() {
            return Poll::Ready(Ok(()));
        }
        self.inner.poll_read_ready(cx)
    }
}

/// Whether `raw` starts with a whole frame.
fn whole_frame(raw: &[u8]) -> bool {
    let mut cursor = Cursor::new(raw);
    match FrameHeader::parse(&mut cursor) {
        Ok(Some((_, len))) => (raw.len() as u64).saturating_sub(cursor.position()) >= len,
        // A bad header is something to read (and refuse).
        Err(_) => true,
        Ok(None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client's frame: masked, as RFC 6455 requires.
    pub(crate) fn client_frame(opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let header = FrameHeader {
            is_final: fin,
            opcode,
            mask: Some(mask),
            ..FrameHeader::default()
        };
        let mut out = Vec::new();
        header.format(payload.len() as u64, &mut out).unwrap();
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
        out
    }

    /// The server's frames in `bytes`: (opcode, payload).
    fn server_frames(mut bytes: &[u8]) -> Vec<(OpCode, Vec<u8>)> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let mut c = Cursor::new(bytes);
            let (h, len) = FrameHeader::parse(&mut c).unwrap().unwrap();
            assert!(h.mask.is_none(), "server frames are not masked");
            let at = c.position() as usize;
            out.push((h.opcode, bytes[at..at + len as usize].to_vec()));
            bytes = &bytes[at + len as usize..];
        }
        out
    }

    async fn pair(binary: bool) -> (WsStream, tokio::net::TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (
            WsStream::new(Transport::Tcp(server), binary, Vec::new()),
            client,
        )
    }

    async fn read_all(ws: &WsStream) -> io::Result<Vec<u8>> {
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            let mut buf = [0u8; 64];
            match ws.try_read(&mut buf) {
                Ok(0) => return Ok(got),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if tokio::time::Instant::now() > deadline {
                        return Ok(got);
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn received(client: &tokio::net::TcpStream) -> Vec<u8> {
        let mut got = Vec::new();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let mut buf = [0u8; 65536];
        while let Ok(n) = client.try_read(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        got
    }

    #[tokio::test]
    async fn messages_become_lines_and_pings_are_answered() {
        let (ws, client) = pair(false).await;
        let mut input = client_frame(OpCode::Data(Data::Text), true, b"NICK ani");
        input.extend(client_frame(
            OpCode::Data(Data::Text),
            true,
            b"USER a 0 * :A\r\n",
        ));
        // Fragmented, with a ping between the fragments.
        input.extend(client_frame(
            OpCode::Data(Data::Text),
            false,
            b"PRIVMSG #a :ha",
        ));
        input.extend(client_frame(OpCode::Control(Control::Ping), true, b"p1"));
        input.extend(client_frame(OpCode::Data(Data::Continue), true, b"lo"));
        // Several lines in one message are several lines; empty ones are nothing.
        input.extend(client_frame(
            OpCode::Data(Data::Binary),
            true,
            b"A\r\n\r\nB",
        ));
        client.try_write(&input).unwrap();
        let lines = read_all(&ws).await.unwrap();
        assert_eq!(
            String::from_utf8(lines).unwrap(),
            "NICK ani\nUSER a 0 * :A\nPRIVMSG #a :halo\nA\nB\n"
        );
        let frames = server_frames(&received(&client).await);
        assert_eq!(
            frames,
            vec![(OpCode::Control(Control::Pong), b"p1".to_vec())]
        );
    }

    /// A client that pings and never reads gets its Pongs only while little waits for it.
    #[tokio::test]
    async fn a_ping_flood_without_reading_does_not_grow_the_output() {
        // Small buffers, set before the connection exists (TCP never shrinks a window).
        let listener = tokio::net::TcpSocket::new_v4().unwrap();
        listener.set_send_buffer_size(4096).unwrap();
        listener.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = listener.listen(1).unwrap();
        let client = tokio::net::TcpSocket::new_v4().unwrap();
        client.set_recv_buffer_size(4096).unwrap();
        let client = client
            .connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let ws = WsStream::new(Transport::Tcp(server), false, Vec::new());
        let ping = client_frame(OpCode::Control(Control::Ping), true, &[7; 125]);
        let mut sent = 0;
        let mut most = 0;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while sent < 20_000 && tokio::time::Instant::now() < deadline {
            match client.try_write(&ping) {
                Ok(_) => sent += 1,
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(1)).await,
            }
            // Readiness must be polled for tokio to try the socket again.
            if let Transport::Tcp(t) = &ws.inner {
                let wait = std::time::Duration::from_millis(1);
                let _ = tokio::time::timeout(wait, t.readable()).await;
            }
            let mut buf = [0u8; 4096];
            let _ = ws.try_read(&mut buf);
            most = most.max(ws.lock().out.len());
        }
        assert!(sent > 1000, "the flood got through: {sent} pings");
        // The bound plus one Pong (a number here, not the constant: the test must catch a
        // bound that grew).
        assert!(
            most < 4096 + 200,
            "{most} bytes of Pongs waited for a client that does not read"
        );
    }

    #[tokio::test]
    async fn lines_go_out_one_frame_each_and_partial_lines_wait() {
        for binary in [false, true] {
            let (ws, client) = pair(binary).await;
            let a = b":srv 001 ani :Welcome\r\n:srv 002 ani :Your";
            let b = b" host\r\n";
            let n = ws
                .try_write_vectored(&[IoSlice::new(a), IoSlice::new(b)])
                .unwrap();
            assert_eq!(n, a.len() + b.len());
            assert!(ws.flush_pending().unwrap());
            let opcode = OpCode::Data(if binary { Data::Binary } else { Data::Text });
            assert_eq!(
                server_frames(&received(&client).await),
                vec![
                    (opcode, b":srv 001 ani :Welcome".to_vec()),
                    (opcode, b":srv 002 ani :Your host".to_vec()),
                ]
            );
        }
    }

    #[tokio::test]
    async fn a_ping_between_fragments_does_not_count_toward_the_message() {
        let (ws, client) = pair(false).await;
        let mut input = client_frame(OpCode::Data(Data::Text), false, &[b'x'; MAX_MESSAGE - 10]);
        input.extend(client_frame(
            OpCode::Control(Control::Ping),
            true,
            &[1; 100],
        ));
        input.extend(client_frame(OpCode::Data(Data::Continue), true, b"end"));
        client.try_write(&input).unwrap();
        let lines = read_all(&ws).await.expect("no violation");
        assert_eq!(lines.len(), MAX_MESSAGE - 10 + 3 + 1);
    }

    #[tokio::test]
    async fn broken_rules_end_the_connection_with_a_close_frame() {
        let unmasked = {
            let mut out = Vec::new();
            FrameHeader {
                opcode: OpCode::Data(Data::Text),
                ..FrameHeader::default()
            }
            .format(4, &mut out)
            .unwrap();
            out.extend_from_slice(b"NICK");
            out
        };
        let too_long = client_frame(OpCode::Data(Data::Text), true, &[b'x'; MAX_MESSAGE + 1]);
        let big_ping = client_frame(OpCode::Control(Control::Ping), true, &[0; 126]);
        let stray = client_frame(OpCode::Data(Data::Continue), true, b"x");
        let mut fragments = client_frame(OpCode::Data(Data::Text), false, &[b'x'; 5000]);
        fragments.extend(client_frame(
            OpCode::Data(Data::Continue),
            true,
            &[b'y'; 5000],
        ));
        let reserved_close = client_frame(
            OpCode::Control(Control::Close),
            true,
            &1005u16.to_be_bytes(),
        );
        let short_close = client_frame(OpCode::Control(Control::Close), true, &[3]);
        let mut bad_reason = 1000u16.to_be_bytes().to_vec();
        bad_reason.extend_from_slice(&[0xff, 0xfe]);
        let bad_reason = client_frame(OpCode::Control(Control::Close), true, &bad_reason);
        for (what, input, code) in [
            ("reserved close code", reserved_close, CloseCode::Protocol),
            ("one-byte close", short_close, CloseCode::Protocol),
            ("close reason not UTF-8", bad_reason, CloseCode::Protocol),
            ("unmasked", unmasked, CloseCode::Protocol),
            ("too long", too_long, CloseCode::Size),
            ("big ping", big_ping, CloseCode::Size),
            ("stray continuation", stray, CloseCode::Protocol),
            ("fragments too long together", fragments, CloseCode::Size),
        ] {
            let (ws, client) = pair(false).await;
            client.try_write(&input).unwrap();
            let err = read_all(&ws).await.expect_err(what);
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{what}");
            let frames = server_frames(&received(&client).await);
            assert_eq!(frames.len(), 1, "{what}: {frames:?}");
            assert_eq!(frames[0].0, OpCode::Control(Control::Close), "{what}");
            assert_eq!(
                u16::from_be_bytes([frames[0].1[0], frames[0].1[1]]),
                u16::from(code),
                "{what}"
            );
        }
    }

    #[tokio::test]
    async fn a_close_is_answered_and_ends_the_input() {
        let (ws, client) = pair(false).await;
        let mut input = client_frame(OpCode::Data(Data::Text), true, b"QUIT");
        input.extend(client_frame(
            OpCode::Control(Control::Close),
            true,
            &[0x03, 0xe8],
        ));
        input.extend(client_frame(OpCode::Data(Data::Text), true, b"after"));
        client.try_write(&input).unwrap();
        assert_eq!(read_all(&ws).await.unwrap(), b"QUIT\n");
        assert_eq!(
            server_frames(&received(&client).await),
            vec![(OpCode::Control(Control::Close), vec![0x03, 0xe8])]
        );
        // Nothing is framed after the close.
        assert_eq!(ws.try_write_vectored(&[IoSlice::new(b"x\r\n")]).unwrap(), 3);
        assert!(received(&client).await.is_empty());
    }

    proptest::proptest! {
        /// Whatever arrives, in whatever pieces, decoding never panics and never yields more
        /// than a message's worth per message.
        #[test]
        fn decoding_survives_anything(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            let mut st = WsState { raw: bytes, ..WsState::default() };
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let (ws, _client) = pair(false).await;
                let _ = ws.decode(&mut st);
            });
            proptest::prop_assert!(st.lines.len() <= 600 + 64);
        }
    }
}
