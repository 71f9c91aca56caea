//! The doorbell: how the webhook and the watchdog tell the sender which
//! chats have new rows, without the sender scanning the outbox on every
//! webhook.

use std::collections::HashSet;
use std::sync::Mutex;

use tokio::sync::Notify;

/// How the webhook and the watchdog tell the sender which chats have new
/// rows, without the sender scanning the outbox on every webhook.
#[derive(Default)]
pub struct Doorbell {
    chats: Mutex<HashSet<i64>>,
    pub(super) notify: Notify,
}

impl Doorbell {
    /// Something was queued for `chat`.
    pub fn ring(&self, chat: i64) {
        self.chats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(chat);
        self.notify.notify_one();
    }

    pub(super) fn take(&self) -> HashSet<i64> {
        std::mem::take(&mut *self.chats.lock().unwrap_or_else(|e| e.into_inner()))
    }
}
