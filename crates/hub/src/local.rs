//! Clients that live in the hub's own process: a multicast bridge's members.
//!
//! A local client is admitted and served like a connection (a [`Request::Connect`], then
//! [`Command`]s, through the router's one delivery path), without a socket: the bridge reads
//! what the router sends it from its [`Outbox`] as IRC lines, or gives it a sink outbox when it
//! only speaks. Its nick must be a bridge nick (see [`crate::domain::names::BRIDGE_SUFFIX`]),
//! which no connection may have, so nobody can pose as one and a bridge never mistakes a hub
//! user for its own member.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::oneshot;

use crate::api::{ClientId, Newcomer, Request};
use crate::event::Command;
use crate::outbox::{Batch, Outbox};
use crate::proto::Protocol;
use crate::HubHandle;

/// Who a local client is.
#[derive(Debug, Clone)]
pub struct LocalSpec {
    /// The nick to ask for: must end with the bridge suffix.
    pub nick: String,
    /// IRC user name and real name.
    pub user: String,
    pub realname: String,
    /// Shown as the client's host (a bridge gives its multicast group).
    pub addr: SocketAddr,
    /// Whether the client reads what it is sent (IRC lines); if not, it is dropped unread.
    pub listens: bool,
}

/// Why a local client could not be admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachError {
    /// The nick is taken or not a bridge nick: try another.
    NickRefused,
    /// The hub is shutting down.
    HubGone,
}

/// A client admitted from this process (see the module documentation).
pub struct LocalClient {
    id: ClientId,
    outbox: Arc<Outbox>,
    requests: tokio::sync::mpsc::Sender<Request>,
    batch: Batch,
    left: bool,
}

impl HubHandle {
    /// Admits a local client.
    pub async fn attach(&self, spec: LocalSpec) -> Result<LocalClient, AttachError> {
        let outbox = Arc::new(match spec.listens {
            true => Outbox::new(self.settings.max_queue_bytes, self.gate.clone()),
            false => Outbox::sink(self.gate.clone()),
        });
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (reply, accepted) = oneshot::channel();
        let request = Request::Connect {
            id,
            newcomer: Newcomer {
                proto: Protocol::Irc,
                addr: spec.addr,
                outbox: outbox.clone(),
                nick: Some(spec.nick),
                user: Some(spec.user),
                realname: Some(spec.realname),
                caps: 0,
                account: None,
                bridged: true,
            },
            reply: Some(reply),
        };
        if self.requests.send(request).await.is_err() {
            return Err(AttachError::HubGone);
        }
        match accepted.await {
            Ok(true) if !outbox.is_closed() => Ok(LocalClient {
                id,
                outbox,
                requests: self.requests.clone(),
                batch: Batch::default(),
                left: false,
            }),
            Ok(true) | Err(_) => Err(AttachError::HubGone),
            Ok(false) if outbox.is_closed() => Err(AttachError::HubGone),
            Ok(false) => Err(AttachError::NickRefused),
        }
    }
}

impl LocalClient {
    pub fn id(&self) -> ClientId {
        self.id
    }

    /// The nick the router last confirmed.
    pub fn nick(&self) -> String {
        self.outbox.nick()
    }

    /// Whether the hub has closed this client (the operator kicked it, the hub is shutting
    /// down, or it did not read).
    pub fn is_closed(&self) -> bool {
        self.outbox.is_closed()
    }

    /// Does what a connection's command line would (text cleaned as at the edge). False if
    /// the hub is gone.
    pub async fn command(&self, mut cmd: Command) -> bool {
        cmd.clean();
        let req = Request::Command { id: self.id, cmd };
        self.requests.send(req).await.is_ok()
    }

    /// Waits for what the hub sent this client and appends its lines (IRC, without line
    /// ends) to `lines`. False once the client is closed (after the last lines). A sink
    /// client waits until it is closed.
    pub async fn receive(&mut self, lines: &mut Vec<String>) -> bool {
        loop {
            self.outbox.ready().await;
            self.outbox.take(&mut self.batch);
            for message in self.batch.messages.drain(..) {
                let text = String::from_utf8_lossy(&message);
                lines.extend(
                    text.split("\r\n")
                        .filter(|l| !l.is_empty())
                        .map(str::to_owned),
                );
            }
            if self.batch.close.is_some() {
                self.outbox.retire();
                return false;
            }
            if !lines.is_empty() {
                return true;
            }
        }
    }

    /// Leaves the hub with a quit message.
    pub async fn leave(mut self, reason: &str) {
        self.left = true;
        let _ = self.command(Command::Quit(Some(reason.to_owned()))).await;
        self.outbox.retire();
    }
}

impl Drop for LocalClient {
    fn drop(&mut self) {
        // A client dropped without leaving (its bridge stopped) still leaves: nobody may stay
        // in rooms in its name. `try_send`: a drop cannot wait; a full inbox means a hub so
        // busy that the client stays until shutdown, which is what the hub does at worst.
        self.outbox.retire();
        if !self.left {
            let _ = self.requests.try_send(Request::Disconnect {
                id: self.id,
                reason: "bridge closed".into(),
            });
        }
    }
}
