//! `/history`'s pure core: the up/down transitions of one series of 1/0
//! points (a range query of `up` or `probe_success`), each state with how
//! long it lasted.
//!
//! Decisions: a gap in the points (the series absent for more than two
//! steps: the target gone from Prometheus, or Prometheus down) is a state
//! of its own, "no data", so it is never counted as up or as down.

/// A state a watched target was in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Up,
    Down,
    NoData,
}

/// One stretch of a state: from `start` to `end` (unix seconds; `end` is
/// the end of the window while it still lasts).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stretch {
    pub state: State,
    pub start: f64,
    pub end: f64,
    /// Still in this state at the end of the window.
    pub ongoing: bool,
}

impl Stretch {
    pub fn seconds(&self) -> f64 {
        self.end - self.start
    }
}

/// The stretches of `points` (time order, value ≥ 1 up, below 1 down)
/// sampled every `step` seconds over a window ending at `end`.
pub fn stretches(points: &[(f64, f64)], step: f64, end: f64) -> Vec<Stretch> {
    let mut out: Vec<Stretch> = Vec::new();
    let push = |state: State, t: f64, out: &mut Vec<Stretch>| match out.last_mut() {
        Some(last) if last.state == state => {}
        Some(last) => {
            last.end = t;
            out.push(Stretch {
                state,
                start: t,
                end: t,
                ongoing: false,
            });
        }
        None => out.push(Stretch {
            state,
            start: t,
            end: t,
            ongoing: false,
        }),
    };
    let mut prev: Option<f64> = None;
    for &(t, v) in points {
        if let Some(p) = prev {
            if t - p > 2.0 * step {
                push(State::NoData, p + step, &mut out);
            }
        }
        let state = if v >= 1.0 { State::Up } else { State::Down };
        push(state, t, &mut out);
        prev = Some(t);
    }
    if let (Some(p), Some(last)) = (prev, out.last_mut()) {
        if end - p > 2.0 * step {
            last.end = p + step;
            out.push(Stretch {
                state: State::NoData,
                start: p + step,
                end,
                ongoing: true,
            });
        } else {
            last.end = end;
            last.ongoing = true;
        }
    }
    out
}

/// Whether anything changed: more than one stretch, or a target down
/// the whole window.
pub fn eventful(stretches: &[Stretch]) -> bool {
    stretches.len() > 1 || stretches.iter().any(|s| s.state != State::Up)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(values: &[(f64, f64)]) -> Vec<(f64, f64)> {
        values.to_vec()
    }

    #[test]
    fn transitions_with_durations() {
        let p = pts(&[
            (0.0, 1.0),
            (60.0, 1.0),
            (120.0, 0.0),
            (180.0, 0.0),
            (240.0, 1.0),
        ]);
        let s = stretches(&p, 60.0, 300.0);
        assert_eq!(
            s.iter()
                .map(|s| (s.state, s.start, s.end))
                .collect::<Vec<_>>(),
            vec![
                (State::Up, 0.0, 120.0),
                (State::Down, 120.0, 240.0),
                (State::Up, 240.0, 300.0)
            ]
        );
        assert!(s[2].ongoing && !s[1].ongoing);
        assert_eq!(s[1].seconds(), 120.0);
        assert!(eventful(&s));
    }

    #[test]
    fn gaps_are_no_data_and_steady_up_is_uneventful() {
        let p = pts(&[(0.0, 1.0), (60.0, 1.0), (600.0, 1.0)]);
        let s = stretches(&p, 60.0, 660.0);
        assert_eq!(
            s.iter().map(|s| s.state).collect::<Vec<_>>(),
            vec![State::Up, State::NoData, State::Up]
        );
        assert_eq!((s[1].start, s[1].end), (120.0, 600.0));
        let steady = stretches(&pts(&[(0.0, 1.0), (60.0, 1.0)]), 60.0, 100.0);
        assert!(!eventful(&steady));
        // Gone at the end: no data since the last point.
        let gone = stretches(&pts(&[(0.0, 0.0)]), 60.0, 600.0);
        assert_eq!(gone.last().unwrap().state, State::NoData);
        assert!(gone.last().unwrap().ongoing);
        assert!(stretches(&[], 60.0, 600.0).is_empty());
    }
}
