//! The config commands' arguments (`/agent_add`, `/threshold`,
//! `/check_add`); their values are validated by the agents.txt editor.

use super::Command;

pub(super) fn agent_add(args: &[&str]) -> Result<Command, String> {
    match args {
        [name, address, labels @ ..] => Ok(Command::AgentAdd {
            name: (*name).to_string(),
            address: (*address).to_string(),
            labels: labels.iter().map(|l| (*l).to_string()).collect(),
        }),
        _ => Err("give a name and HOST:PORT".into()),
    }
}

/// `METRIC` is a threshold of the alert catalog's allow-list
/// ([`crate::alerts::Threshold::from_word`]); anything else is refused here.
pub(super) fn threshold(args: &[&str]) -> Result<Command, String> {
    use crate::alerts::Threshold;
    let [agent, metric, value] = args else {
        return Err("give an agent, a metric and a value (or default)".into());
    };
    let threshold = Threshold::from_word(metric).ok_or_else(|| {
        let known: Vec<&str> = Threshold::ALL.iter().map(|t| t.short()).collect();
        format!("unknown metric {metric:?} (known: {})", known.join(", "))
    })?;
    Ok(Command::Threshold {
        agent: (*agent).to_string(),
        threshold,
        value: (!value.eq_ignore_ascii_case("default")).then(|| (*value).to_string()),
    })
}

pub(super) fn check_add(args: &[&str]) -> Result<Command, String> {
    let (args, failures) = match args {
        [head @ .., last] if last.starts_with("failures=") => {
            (head, last.strip_prefix("failures=").map(str::to_string))
        }
        _ => (args, None),
    };
    match args {
        [name, target, from, agent] if from.eq_ignore_ascii_case("from") => Ok(Command::CheckAdd {
            name: (*name).to_string(),
            target: (*target).to_string(),
            from: (*agent).to_string(),
            failures,
        }),
        _ => Err("give a name, HOST:PORT, `from` and an agent, then optionally failures=N".into()),
    }
}
