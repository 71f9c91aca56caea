//! Replies to the docker and service actions (HTML), built by pure
//! functions from the agent's typed answers ([`crate::exporter::actions`]
//! owns their shapes). [`bytes`] is the one size format of action replies.

use crate::exporter::actions::docker::{Container, DiskUse, Logs, Pruned};
use crate::exporter::actions::service::UnitStatus;
use crate::html::escape;

/// A size in KiB, from 1 MiB in MiB, from 1 GiB in GiB.
pub fn bytes(b: u64) -> String {
    const KIB: f64 = 1024.0;
    let b = b as f64;
    if b >= KIB * KIB * KIB {
        format!("{:.1} GiB", b / (KIB * KIB * KIB))
    } else if b >= KIB * KIB {
        format!("{:.1} MiB", b / (KIB * KIB))
    } else {
        format!("{:.1} KiB", b / KIB)
    }
}

/// `/ps`: one line per container, `*` before those the agent's globs let
/// `/logs` and `/restart` name.
pub fn containers(list: &[Container]) -> String {
    if list.is_empty() {
        return "No containers.".into();
    }
    let width = list
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0)
        .max(10)
        + 2;
    let lines: Vec<String> = list
        .iter()
        .map(|c| {
            let mark = if c.allowed { '*' } else { ' ' };
            format!("{mark} {:<width$}{:<10}{}", c.name, c.state, c.status)
        })
        .collect();
    format!(
        "<pre>{}</pre>\n* = /logs and /restart may name it",
        escape(&lines.join("\n"))
    )
}

/// `/logs`: the lines as the engine sent them.
pub fn logs(l: &Logs) -> String {
    let cut = if l.truncated {
        " (older output cut)"
    } else {
        ""
    };
    let output = l.output.trim_end();
    format!(
        "The last {} lines of {}{cut}:\n{}",
        l.lines,
        escape(&l.container),
        if output.is_empty() {
            "(no output)".to_string()
        } else {
            format!("<pre>{}</pre>", escape(output))
        }
    )
}

/// `docker.df`: the `shown` largest containers (their own layer) and
/// volumes, with the totals.
pub fn disk(d: &DiskUse, shown: usize) -> String {
    let list = |rows: Vec<(u64, &str)>| {
        let lines: Vec<String> = rows
            .iter()
            .take(shown)
            .map(|(size, name)| format!("{:>10}  {name}", bytes(*size)))
            .collect();
        if lines.is_empty() {
            "(none)".to_string()
        } else {
            format!("<pre>{}</pre>", escape(&lines.join("\n")))
        }
    };
    format!(
        "Largest containers ({} in all, writable layers):\n{}\nLargest volumes ({} in all):\n{}",
        bytes(d.containers_total_bytes),
        list(
            d.containers
                .iter()
                .map(|c| (c.size_rw_bytes, c.name.as_str()))
                .collect()
        ),
        bytes(d.volumes_total_bytes),
        list(
            d.volumes
                .iter()
                .map(|v| (v.size_bytes, v.name.as_str()))
                .collect()
        ),
    )
}

/// `docker.prune`: what went and the space it gave back.
pub fn pruned(p: &Pruned) -> String {
    format!(
        "Removed {} stopped containers, {} images, {} networks; {} reclaimed.",
        p.containers_deleted,
        p.images_deleted,
        p.networks_deleted,
        bytes(p.space_reclaimed_bytes)
    )
}

/// `/service AGENT UNIT`: its state in systemd's words.
pub fn unit(u: &UnitStatus) -> String {
    format!(
        "{}: {} ({}), {} — {}",
        escape(&u.unit),
        escape(&u.active_state),
        escape(&u.sub_state),
        escape(&u.load_state),
        escape(&u.description)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exporter::actions::docker::{ContainerSize, VolumeSize};

    #[test]
    fn containers_line_up_and_mark_the_allowed_ones() {
        let c = |name: &str, state: &str, allowed| Container {
            name: name.into(),
            id: "0123456789ab".into(),
            image: "nginx".into(),
            state: state.into(),
            status: "Up <1> hour".into(),
            allowed,
        };
        assert_eq!(
            containers(&[c("db", "running", false), c("web-1", "exited", true)]),
            "<pre>  db          running   Up &lt;1&gt; hour\n* web-1       exited    Up &lt;1&gt; hour</pre>\n\
             * = /logs and /restart may name it"
        );
        assert_eq!(containers(&[]), "No containers.");
    }

    #[test]
    fn disk_use_lists_the_largest_first_up_to_shown() {
        let d = DiskUse {
            containers: vec![
                ContainerSize {
                    name: "db".into(),
                    size_rw_bytes: 3 << 30,
                    size_root_fs_bytes: 0,
                },
                ContainerSize {
                    name: "web".into(),
                    size_rw_bytes: 5 << 20,
                    size_root_fs_bytes: 0,
                },
            ],
            volumes: Vec::<VolumeSize>::new(),
            containers_total_bytes: (3 << 30) + (5 << 20),
            volumes_total_bytes: 0,
        };
        assert_eq!(
            disk(&d, 1),
            "Largest containers (3.0 GiB in all, writable layers):\n<pre>   3.0 GiB  db</pre>\n\
             Largest volumes (0.0 KiB in all):\n(none)"
        );
    }

    #[test]
    fn logs_prune_and_unit_in_words() {
        let l = Logs {
            container: "web".into(),
            lines: 2,
            output: "a<b\nc\n".into(),
            truncated: true,
        };
        assert_eq!(
            logs(&l),
            "The last 2 lines of web (older output cut):\n<pre>a&lt;b\nc</pre>"
        );
        let p = Pruned {
            containers_deleted: 1,
            images_deleted: 2,
            networks_deleted: 0,
            space_reclaimed_bytes: 71_000,
        };
        assert_eq!(
            pruned(&p),
            "Removed 1 stopped containers, 2 images, 0 networks; 69.3 KiB reclaimed."
        );
        assert_eq!(
            [bytes(512), bytes(1 << 20), bytes(3 << 30)],
            ["0.5 KiB", "1.0 MiB", "3.0 GiB"]
        );
        let u = UnitStatus {
            unit: "nginx.service".into(),
            description: "Web".into(),
            load_state: "loaded".into(),
            active_state: "active".into(),
            sub_state: "running".into(),
            state_change_us: 0,
        };
        assert_eq!(unit(&u), "nginx.service: active (running), loaded — Web");
    }
}
