//! The on-call desk: `/ack`, the "I'm on it" button and `/oncall`, through
//! the bridge's [`Desk`](crate::chat::desk::Desk).

use jiff::Timestamp;

use super::{Caller, Engine, Failure, Outcome};
use crate::chat::desk::AckTarget;
use crate::chat::reply::{self, Reply};

impl Engine {
    /// How a caller is named in acknowledgements.
    fn ack_name(caller: &Caller) -> String {
        match &caller.username {
            Some(u) if caller.user_id == super::LOCAL_OPERATOR => format!("{u} (outpost ask)"),
            Some(u) => format!("@{u}"),
            None => format!("user {}", caller.user_id),
        }
    }

    pub(super) async fn ack(&self, caller: &Caller, target: AckTarget) -> Result<Outcome, Failure> {
        let Some(desk) = &self.desk else {
            return Ok(Outcome::usage(
                "No bridge state here: acknowledgements need the bridge or outpost ask --state."
                    .into(),
            ));
        };
        let what = match &target {
            AckTarget::Alertname(n) => format!("named {n}"),
            AckTarget::Fingerprint(_) => "for this button".to_string(),
        };
        let acks = desk
            .ack(target, caller.user_id, Self::ack_name(caller))
            .await?;
        let text = reply::acked(&what, &acks, Timestamp::now(), &self.config.timezone);
        let note = acks
            .iter()
            .map(|a| a.fingerprint.clone())
            .collect::<Vec<_>>()
            .join(",");
        Ok(Outcome::ok_noting(
            Reply::text(text),
            format!("acked {note}"),
        ))
    }

    pub(super) fn on_call(&self) -> Outcome {
        let text = match &self.desk {
            Some(desk) => reply::on_call(desk.on_call(), Timestamp::now()),
            None => "No bridge state here: /oncall needs the bridge or outpost ask --state.".into(),
        };
        Outcome::ok(Reply::text(text))
    }
}
