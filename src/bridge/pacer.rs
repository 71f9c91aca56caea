//! Telegram's limits as bookkeeping: [`Pacer`] reserves each message's
//! send slot (at most one message per `per_chat` interval in a chat,
//! `group_per_minute` in a group (negative chat id), `global_per_second`
//! overall) and holds a chat for a 429's wait. Pure: the caller sleeps
//! until the slot. One pacer serves alerts and chat replies alike (see
//! [`super::deliver`]).
//!
//! Time is added with [`later`], which cannot overflow.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

/// Telegram's limits, as configured.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub per_chat: Duration,
    pub group_per_minute: usize,
    pub global_per_second: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_chat: Duration::from_secs(1),
            group_per_minute: 20,
            global_per_second: 30,
        }
    }
}

/// `t + d` without overflow: an unrepresentable time becomes a year
/// after `t` (every wait is clamped long before that).
pub fn later(t: Instant, d: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(365 * 86_400);
    t.checked_add(d).or_else(|| t.checked_add(FAR)).unwrap_or(t)
}

#[derive(Default)]
struct ChatPace {
    next: Option<Instant>,
    recent: VecDeque<Instant>,
}

/// Reserves send slots within the limits (pure bookkeeping; the caller
/// sleeps until the slot).
pub struct Pacer {
    limits: Limits,
    chats: HashMap<i64, ChatPace>,
    global: VecDeque<Instant>,
}

const MINUTE: Duration = Duration::from_secs(60);
const SECOND: Duration = Duration::from_secs(1);

/// The earliest time ≥ `t` at which a sliding window of `window` holding
/// the sorted `times` has room for one more (at most `limit`).
fn window_slot(times: &VecDeque<Instant>, limit: usize, window: Duration, t: Instant) -> Instant {
    if limit == 0 || times.len() < limit {
        return t;
    }
    t.max(later(times[times.len() - limit], window))
}

fn insert_sorted(times: &mut VecDeque<Instant>, t: Instant) {
    let i = times.partition_point(|x| *x <= t);
    times.insert(i, t);
}

impl Pacer {
    pub fn new(limits: Limits) -> Self {
        Pacer {
            limits,
            chats: HashMap::new(),
            global: VecDeque::new(),
        }
    }

    /// Reserves the earliest slot for a message to `chat` at or after `now`.
    pub fn reserve(&mut self, chat: i64, now: Instant) -> Instant {
        while self.global.front().is_some_and(|t| later(*t, SECOND) < now) {
            self.global.pop_front();
        }
        let pace = self.chats.entry(chat).or_default();
        while pace.recent.front().is_some_and(|t| later(*t, MINUTE) < now) {
            pace.recent.pop_front();
        }
        let mut t = pace.next.map_or(now, |n| n.max(now));
        // Each constraint can push the slot later; iterate until stable.
        for _ in 0..4 {
            let before = t;
            if chat < 0 {
                t = window_slot(&pace.recent, self.limits.group_per_minute, MINUTE, t);
            }
            t = window_slot(&self.global, self.limits.global_per_second, SECOND, t);
            if t == before {
                break;
            }
        }
        pace.next = Some(later(t, self.limits.per_chat));
        if chat < 0 {
            insert_sorted(&mut pace.recent, t);
        }
        insert_sorted(&mut self.global, t);
        t
    }

    /// A request to `chat` finished at `at`: the next may start no sooner
    /// than `per_chat` later. Counting from the answer rather than the
    /// slot keeps the spacing Telegram sees at least `per_chat` however
    /// the network delays vary.
    pub fn finished(&mut self, chat: i64, at: Instant) {
        self.hold(chat, later(at, self.limits.per_chat));
    }

    /// Holds `chat` until `until` (a 429's `retry_after`).
    pub fn hold(&mut self, chat: i64, until: Instant) {
        let pace = self.chats.entry(chat).or_default();
        pace.next = Some(pace.next.map_or(until, |n| n.max(until)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_message_per_second_per_chat() {
        let mut p = Pacer::new(Limits::default());
        let t0 = Instant::now();
        let slots: Vec<Duration> = (0..3).map(|_| p.reserve(1, t0) - t0).collect();
        assert_eq!(slots, vec![Duration::ZERO, SECOND, 2 * SECOND]);
        // Another chat is not held back by the first.
        assert_eq!(p.reserve(2, t0), t0);
    }

    #[tokio::test(start_paused = true)]
    async fn twenty_per_minute_in_a_group() {
        let mut p = Pacer::new(Limits {
            per_chat: Duration::ZERO,
            ..Limits::default()
        });
        let t0 = Instant::now();
        let slots: Vec<Instant> = (0..21).map(|_| p.reserve(-100, t0)).collect();
        assert!(slots[..20].iter().all(|s| *s < t0 + MINUTE));
        assert_eq!(slots[20], slots[0] + MINUTE);
    }

    #[tokio::test(start_paused = true)]
    async fn thirty_per_second_overall() {
        let mut p = Pacer::new(Limits::default());
        let t0 = Instant::now();
        let slots: Vec<Instant> = (0..31).map(|c| p.reserve(c, t0)).collect();
        assert!(slots[..30].iter().all(|s| *s == t0));
        assert_eq!(slots[30], t0 + SECOND);
    }

    #[tokio::test(start_paused = true)]
    async fn spacing_counts_from_the_answer() {
        let mut p = Pacer::new(Limits::default());
        let t0 = Instant::now();
        assert_eq!(p.reserve(1, t0), t0);
        // The answer came 300 ms later: the next send waits a full second
        // from then.
        p.finished(1, t0 + Duration::from_millis(300));
        assert_eq!(p.reserve(1, t0), t0 + Duration::from_millis(1300));
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_holds_the_chat() {
        let mut p = Pacer::new(Limits::default());
        let t0 = Instant::now();
        p.reserve(1, t0);
        p.hold(1, t0 + Duration::from_secs(7));
        assert_eq!(p.reserve(1, t0), t0 + Duration::from_secs(7));
    }
}
