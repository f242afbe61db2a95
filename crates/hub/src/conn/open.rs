//! Opening a connection's session: TLS if it speaks it, sniffing which protocol it speaks,
//! the TLS-only refusal, and eviction while it has not registered (see `Limits::admit`).

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use tokio::time::Instant;

use super::{write_vectored, ListenerKind, Retiring};
use crate::api::ClientId;
use crate::limits::Claim;
use crate::outbox::Outbox;
use crate::proto::{Protocol, Session, Sniffed};
use crate::transport::Transport;

/// The session for a new connection: of the listener's protocol, or of the one its first bytes
/// show on a sniffing listener. `None` if it is no chat client at all (it has been answered),
/// or a plaintext client where only TLS is allowed.
///
/// A TLS connection (a `tls://` listener, or a ClientHello on a sniffing one when the hub has a
/// certificate) is wrapped and its handshake completed first, within the registration deadline;
/// then what it says inside is sniffed like any other connection's first bytes.
///
/// A plain client may name itself in its first line; the hub waits for that line until the
/// sniff window since the accept (or the handshake) is over, which a sniffing listener has
/// already waited out for a client that says nothing. (A future of its own, boxed by the
/// caller: nothing it keeps across the sniff takes room in the connection's task.)
async fn open_session(
    stream: &mut Transport,
    addr: SocketAddr,
    kind: ListenerKind,
    shared: &crate::Shared,
) -> Option<Session> {
    let settings = &shared.settings;
    let mut first_line_by = Instant::now() + settings.sniff_wait;
    if matches!(kind, ListenerKind::Tls | ListenerKind::Https) {
        start_tls(stream, addr, shared).await?;
        first_line_by = Instant::now() + settings.sniff_wait;
    }
    let proto = match kind {
        ListenerKind::Plain => Protocol::Plain,
        ListenerKind::Irc => Protocol::Irc,
        // A page or a WebSocket; in a WebSocket, IRC.
        ListenerKind::Http | ListenerKind::Https => {
            if !crate::web::serve(stream, addr, shared).await {
                return None;
            }
            Protocol::Irc
        }
        ListenerKind::Auto | ListenerKind::Tls => {
            let mut sniffed = crate::proto::sniff(stream, settings.sniff_wait).await;
            if sniffed == Sniffed::Tls && shared.tls.is_some() && !stream.is_tls() {
                start_tls(stream, addr, shared).await?;
                first_line_by = Instant::now() + settings.sniff_wait;
                sniffed = crate::proto::sniff(stream, settings.sniff_wait).await;
            }
            match sniffed {
                Sniffed::Chat(proto) => proto,
                Sniffed::Http => {
                    if !crate::web::serve(stream, addr, shared).await {
                        return None;
                    }
                    Protocol::Irc
                }
                other => {
                    crate::metrics::bump(&shared.metrics.refused_not_chat);
                    crate::proto::answer_stranger(stream, other, addr).await;
                    return None;
                }
            }
        }
    };
    if settings.tls_only && !stream.is_tls() {
        crate::metrics::bump(&shared.metrics.refused_tls_only);
        say_now(
            stream,
            b"ERROR :Closing link: this server takes TLS connections only\r\n",
        );
        stream.linger_close(std::time::Duration::from_secs(1)).await;
        return None;
    }
    Some(Session::new(proto, first_line_by, stream.is_tls()))
}

/// The hub evicted a connection before its session opened.
pub(super) struct Evicted;

/// Writes `line` if the socket takes it now (a farewell: nothing waits for it).
fn say_now(stream: &Transport, line: &'static [u8]) {
    let _ = write_vectored(stream, &mut VecDeque::from([Bytes::from_static(line)]));
}

/// Tells an evicted connection why, if its socket takes the line now, and ends the session.
pub(super) fn say_evicted(stream: &Transport) {
    say_now(stream, crate::limits::EVICTED);
    stream.close();
}

/// [`open_session`], unless the hub evicts the connection meanwhile; with the session, the
/// connection's outbox. The outbox is made first: until the client registers, the hub may
/// evict it through its outbox to make room for a newcomer (`Limits::admit`).
pub(super) async fn open_unless_evicted(
    stream: &mut Transport,
    addr: SocketAddr,
    kind: ListenerKind,
    shared: &crate::Shared,
    claim: &mut Claim,
    id: ClientId,
) -> Result<Option<(Session, Retiring)>, Evicted> {
    // Retired however the connection ends: no round of the router waits for its writer then.
    let outbox = Retiring(Arc::new(Outbox::new(
        shared.settings.max_queue_bytes,
        shared.gate.clone(),
    )));
    claim.waiting_with(&outbox, id);
    let mut opening = std::pin::pin!(open_session(stream, addr, kind, shared));
    let opened = std::future::poll_fn(|cx| {
        if let Poll::Ready(session) = opening.as_mut().poll(cx) {
            return Poll::Ready(Ok(session));
        }
        // Nothing but an eviction closes the outbox before the session exists.
        if outbox.poll_ready(cx).is_ready() && outbox.is_closed() {
            return Poll::Ready(Err(Evicted));
        }
        Poll::Pending
    })
    .await?;
    Ok(opened.map(|session| (session, outbox)))
}

/// Wraps `stream` in TLS and completes the handshake within the registration deadline.
/// Failures (a scanner, a client that does not trust the certificate) are logged at debug
/// level only: anyone can cause them.
async fn start_tls(stream: &mut Transport, addr: SocketAddr, shared: &crate::Shared) -> Option<()> {
    let config = shared.tls.as_ref()?.config();
    if let Err(err) = stream.start_tls(config) {
        tracing::debug!(%addr, %err, "cannot start TLS");
        return None;
    }
    let deadline = shared.settings.registration_timeout;
    match tokio::time::timeout(deadline, stream.handshake()).await {
        Ok(Ok(())) => Some(()),
        Ok(Err(err)) => {
            crate::metrics::bump(&shared.metrics.tls_handshake_failures);
            tracing::debug!(%addr, %err, "TLS handshake failed");
            None
        }
        Err(_) => {
            crate::metrics::bump(&shared.metrics.tls_handshake_failures);
            tracing::debug!(%addr, "TLS handshake timed out");
            None
        }
    }
}
