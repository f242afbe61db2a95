//! What a protocol session at the edge talks through: the router's inbox and its own outbox.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::api::{ClientId, Request};
use crate::event::Command;
use crate::outbox::Outbox;

/// Where a session sends commands and the replies it produces itself.
pub struct Link<'a> {
    pub id: ClientId,
    pub addr: SocketAddr,
    pub hub: &'a mpsc::Sender<Request>,
    pub outbox: &'a Arc<Outbox>,
    pub server: &'a str,
    pub motd: &'a str,
    /// This server's description.
    pub info: &'a str,
    /// The IRCv3 `sts` policy to advertise, if the hub serves TLS: (TLS port, duration in s).
    pub sts: Option<(u16, u64)>,
    /// Accounts, when the hub has a store (registration, login, SASL at the edge).
    pub accounts: Option<&'a crate::accounts::Accounts>,
    /// History, when the hub keeps it (`CHATHISTORY` and searches are read at the edge).
    pub history: Option<&'a Arc<obrol_store::history::History>>,
    /// Only clients logged in to an account may register (IRC) or chat.
    pub accounts_required: bool,
    /// The operators, and the lockouts for OPER (`None`: no limits, in unit tests).
    pub opers: &'a [(String, crate::OperSecret)],
    pub limits: Option<&'a crate::limits::Limits>,
    /// Replies produced at the edge, not yet sent.
    pub(crate) pending: Mutex<String>,
    /// Once the client is admitted, edge replies travel through the router like everything
    /// else, so a client sees answers in the order it asked.
    pub(crate) via_hub: AtomicBool,
}

impl<'a> Link<'a> {
    pub fn new(
        id: ClientId,
        addr: SocketAddr,
        hub: &'a mpsc::Sender<Request>,
        outbox: &'a Arc<Outbox>,
        settings: &'a crate::Settings,
        admitted: bool,
    ) -> Self {
        Link {
            id,
            addr,
            hub,
            outbox,
            server: &settings.name,
            motd: &settings.motd,
            info: &settings.description,
            sts: settings.sts,
            accounts: None,
            history: None,
            opers: &settings.opers,
            accounts_required: settings.accounts_required,
            limits: None,
            pending: Mutex::default(),
            via_hub: AtomicBool::new(admitted),
        }
    }

    /// With the hub's limits (OPER lockouts).
    pub fn with_limits(mut self, limits: &'a crate::limits::Limits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// With accounts.
    pub fn with_accounts(mut self, accounts: Option<&'a crate::accounts::Accounts>) -> Self {
        self.accounts = accounts;
        self
    }

    /// With history.
    pub fn with_history(mut self, history: Option<&'a Arc<obrol_store::history::History>>) -> Self {
        self.history = history;
        self
    }

    /// Queues a reply (already in the protocol's syntax) after those before it.
    pub fn reply(&self, line: impl AsRef<str>) {
        if let Ok(mut p) = self.pending.lock() {
            p.push_str(line.as_ref());
        }
    }

    pub(crate) fn set_admitted(&self, admitted: bool) {
        self.via_hub.store(admitted, Ordering::Relaxed);
    }

    /// Sends the replies gathered so far. False once the hub is gone.
    pub async fn flush(&self) -> bool {
        let text = match self.pending.lock() {
            Ok(mut p) => std::mem::take(&mut *p),
            Err(_) => return false,
        };
        if text.is_empty() {
            return true;
        }
        let bytes = Bytes::from(text);
        if self.via_hub.load(Ordering::Relaxed) {
            self.hub
                .send(Request::Deliver { id: self.id, bytes })
                .await
                .is_ok()
        } else {
            let _ = self.outbox.push(bytes);
            true
        }
    }

    /// Sends a command to the router, after the replies gathered before it. Every command of
    /// every protocol passes here: its text is made fit to pass to others here, once.
    pub async fn command(&self, mut cmd: Command) -> bool {
        if !self.flush().await {
            return false;
        }
        cmd.clean();
        let req = Request::Command { id: self.id, cmd };
        self.hub.send(req).await.is_ok()
    }

    /// Asks the router for something other than a command, after the replies gathered.
    pub async fn request(&self, req: Request) -> bool {
        self.flush().await && self.hub.send(req).await.is_ok()
    }
}

/// What the connection should do after a line.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Stop reading and close the connection once the outbox is written.
    Close(String),
}
