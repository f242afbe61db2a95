//! Long replies that go out as the requester reads them: the room list (`/rooms`, IRC `LIST`).
//!
//! A hub with tens of thousands of rooms has a room list larger than a client's output queue
//! (`--max-queue`): sent whole, it would disconnect the very client that asked. Instead the
//! list is sent a page at a time; the next page goes out once the requester's queue has drained
//! below [`LOW_WATER`], checked after every turn and on a short tick while any list is open.
//! The names are taken when the list is asked for (sorted); each page shows the rooms as they
//! are when it is sent, leaving out those gone since.

use super::Router;
use crate::api::ClientId;
use crate::domain::names::Name;
use crate::event::{Event, RoomInfo};

/// Rooms per page.
pub(super) const PAGE: usize = 100;

/// The next page goes out once the requester has less than this queued (or a quarter of its
/// queue limit, if that is less).
pub(super) const LOW_WATER: usize = 16 * 1024;

/// Most lists being sent at once; a request beyond it is answered with as many pages as fit
/// at once (see [`Router::start_listing`]). Each open list holds its room names.
pub(super) const MAX_OPEN: usize = 64;

/// One requester's list in progress.
#[derive(Debug)]
pub(super) struct Listing {
    /// Room keys, sorted, as they were when the list was asked for.
    keys: Vec<Name>,
    /// Index of the next key to send.
    next: usize,
}

impl Router {
    /// Answers a room list request: its first page now, the rest as the requester reads
    /// (see the module documentation). A labeled request (IRC labeled-response) must be
    /// answered within its batch, so it gets at once what fits in half its queue, then the
    /// end of the list and a notice that the list was cut; so does a request made while
    /// [`MAX_OPEN`] lists are being sent.
    pub(super) fn start_listing(&mut self, id: ClientId) {
        let mut keys: Vec<Name> = self.rooms.keys().cloned().collect();
        keys.sort_unstable();
        let streamed = self.capturing != Some(id) && self.listings.len() < MAX_OPEN;
        let mut listing = Listing { keys, next: 0 };
        if streamed {
            let done = self.send_page(id, &mut listing);
            if !done {
                self.listings.insert(id, listing);
            }
            return;
        }
        // All at once, within a budget of half the requester's queue.
        let budget = self.settings.max_queue_bytes / 2;
        let mut spent = 0;
        loop {
            let before = listing.next;
            let done = self.send_page(id, &mut listing);
            if done {
                return;
            }
            // About 80 bytes a room (a 322 numeric with a short topic).
            spent += (listing.next - before) * 80;
            if spent >= budget {
                break;
            }
        }
        self.tell(
            id,
            &Event::Rooms {
                rooms: &[],
                first: false,
                last: true,
            },
        );
        self.tell(
            id,
            &Event::Info("The room list was cut short; ask again without a label for all of it"),
        );
    }

    /// Sends the next page of `listing` to `id`; true when the list is complete.
    fn send_page(&mut self, id: ClientId, listing: &mut Listing) -> bool {
        let first = listing.next == 0;
        let mut page = Vec::with_capacity(PAGE);
        while page.len() < PAGE && listing.next < listing.keys.len() {
            let key = &listing.keys[listing.next];
            listing.next += 1;
            let Some(r) = self.rooms.get(key) else {
                continue; // gone since the list was asked for
            };
            if r.secret && !r.members.contains(&id) {
                continue;
            }
            page.push(RoomInfo {
                name: r.name.to_string(),
                members: r.members.len(),
                topic: r
                    .extra()
                    .topic
                    .as_ref()
                    .map_or_else(String::new, |t| t.0.clone()),
            });
        }
        let last = listing.next >= listing.keys.len();
        self.tell(
            id,
            &Event::Rooms {
                rooms: &page,
                first,
                last,
            },
        );
        last
    }

    /// Sends the next page of every open list whose requester has drained its queue; drops
    /// the lists of requesters who have left. Returns whether it sent any.
    pub(super) fn continue_listings(&mut self) -> bool {
        if self.listings.is_empty() {
            return false;
        }
        let low_water = LOW_WATER.min(self.settings.max_queue_bytes / 4);
        let ready: Vec<ClientId> = self
            .listings
            .keys()
            .copied()
            .filter(|id| match self.members.get(id) {
                Some(m) => m.outbox.backlog().0 < low_water,
                None => true,
            })
            .collect();
        let sent = !ready.is_empty();
        for id in ready {
            let Some(mut listing) = self.listings.remove(&id) else {
                continue;
            };
            if !self.members.contains_key(&id) {
                continue;
            }
            if !self.send_page(id, &mut listing) {
                self.listings.insert(id, listing);
            }
        }
        sent
    }
}
