//! The outbox model: what a queued row is, and how a chat's queue is cut
//! into delivery batches (pure). Consecutive alert notifications for the
//! same chat and topic are coalesced into one batch, so a backlog is sent
//! as a few messages showing the newest state; a pre-rendered text (a
//! watchdog notice) is a batch of its own, so ordering is kept.

use super::payload::Notification;

/// What a row carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// An Alertmanager notification (its JSON, re-serialised compactly).
    Alerts(Notification),
    /// A message rendered when it was queued (HTML).
    Text(String),
}

impl Content {
    pub fn kind(&self) -> &'static str {
        match self {
            Content::Alerts(_) => "alerts",
            Content::Text(_) => "text",
        }
    }
}

/// One queued row of the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub id: i64,
    pub chat: i64,
    pub thread: Option<i64>,
    pub received_ms: i64,
    pub content: Content,
}

impl Row {
    /// A row as a backend stored it: `kind` is [`Content::kind`], `payload`
    /// the text or the notification's JSON. A notification that no longer
    /// parses is delivered as an empty one rather than blocking the queue.
    pub fn stored(
        id: i64,
        chat: i64,
        thread: Option<i64>,
        kind: &str,
        payload: String,
        received_ms: i64,
    ) -> Row {
        let content = if kind == "text" {
            Content::Text(payload)
        } else {
            Content::Alerts(serde_json::from_str(&payload).unwrap_or_default())
        };
        Row {
            id,
            chat,
            thread,
            received_ms,
            content,
        }
    }
}

/// Rows delivered together.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub ids: Vec<i64>,
    pub chat: i64,
    pub thread: Option<i64>,
    pub content: BatchContent,
}

#[derive(Debug, Clone, PartialEq)]
pub enum BatchContent {
    Alerts(Vec<Notification>),
    Text(String),
}

/// The most alerts coalesced into one batch; later rows wait for the next
/// batch (so a batch never needs more messages than the layout allows).
/// Also the most a failover can repeat per chat: docs/deployment.md
/// states this number, and `tests/it/ha.rs` checks that it does.
pub const MAX_ALERTS_PER_BATCH: usize = 250;

/// The first batch of a chat's queue (rows in id order), or `None` when
/// the queue is empty.
pub fn first_batch(rows: &[Row]) -> Option<Batch> {
    let first = rows.first()?;
    let mut batch = Batch {
        ids: vec![first.id],
        chat: first.chat,
        thread: first.thread,
        content: match &first.content {
            Content::Text(t) => {
                return Some(Batch {
                    ids: vec![first.id],
                    chat: first.chat,
                    thread: first.thread,
                    content: BatchContent::Text(t.clone()),
                })
            }
            Content::Alerts(n) => BatchContent::Alerts(vec![n.clone()]),
        },
    };
    let BatchContent::Alerts(list) = &mut batch.content else {
        unreachable!("text returned above")
    };
    let mut alerts = list[0].alerts.len();
    for row in &rows[1..] {
        match &row.content {
            Content::Alerts(n)
                if row.thread == first.thread
                    && row.chat == first.chat
                    && alerts + n.alerts.len() <= MAX_ALERTS_PER_BATCH =>
            {
                alerts += n.alerts.len();
                list.push(n.clone());
                batch.ids.push(row.id);
            }
            _ => break,
        }
    }
    Some(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::payload::Alert;

    fn row(id: i64, thread: Option<i64>, alerts: usize) -> Row {
        let n = Notification {
            alerts: vec![Alert::default(); alerts],
            ..Default::default()
        };
        Row {
            id,
            chat: 5,
            thread,
            received_ms: 0,
            content: Content::Alerts(n),
        }
    }

    #[test]
    fn consecutive_alert_rows_coalesce() {
        let rows = vec![
            row(1, None, 1),
            row(2, None, 3),
            row(3, Some(9), 1),
            row(4, None, 1),
        ];
        let b = first_batch(&rows).unwrap();
        assert_eq!(b.ids, vec![1, 2]);
        assert!(first_batch(&[]).is_none());
    }

    #[test]
    fn text_rows_keep_their_place() {
        let text = Row {
            id: 2,
            chat: 5,
            thread: None,
            received_ms: 0,
            content: Content::Text("silent".into()),
        };
        let rows = vec![row(1, None, 1), text.clone(), row(3, None, 1)];
        assert_eq!(first_batch(&rows).unwrap().ids, vec![1]);
        let b = first_batch(&rows[1..]).unwrap();
        assert_eq!(b.content, BatchContent::Text("silent".into()));
        assert_eq!(b.ids, vec![2]);
    }

    #[test]
    fn batches_are_capped_by_alert_count() {
        let rows: Vec<Row> = (0..300).map(|i| row(i, None, 1)).collect();
        assert_eq!(first_batch(&rows).unwrap().ids.len(), MAX_ALERTS_PER_BATCH);
        // A single oversized row still makes progress.
        assert_eq!(first_batch(&[row(1, None, 1000)]).unwrap().ids, vec![1]);
    }
}
