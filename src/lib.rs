//! Outpost: host metrics under node_exporter's names, TCP probes,
//! Prometheus/Alertmanager/Grafana config generation and a Telegram alert
//! bridge, in one binary.
//!
//! # Layout
//! - [`cli`]: clap structs, every subcommand's flags; `cli/exporter.rs`
//!   validates the exporter's flags into [`exporter::Config`] (the
//!   exporter never sees clap).
//! - [`units`]: durations and sizes as written in flags and files.
//! - [`logging`]: the tracing subscriber.
//! - [`alerts`]: the alert catalog (names, severities, charts,
//!   inhibitions, per-agent thresholds) that generate, bridge and chat read.
//! - [`exporter`]: `outpost exporter`.
//!   - `collector.rs`: the [`exporter::collector::Collector`] trait, the one
//!     list of collectors ([`exporter::collector::Name`]) and the registry
//!     that wraps each with `node_scrape_collector_*`.
//!   - `collectors/`: one file per collector, named as in
//!     [`exporter::collector::Name`], in folders by what they watch:
//!     `hardware/` (hwmon, thermal_zone, powersupplyclass, rapl, edac,
//!     dmi, cpufreq, drm, watchdog, `gpu/`), `storage/` (diskstats,
//!     filesystem (tests in `filesystem/tests.rs`), mdadm, bcache,
//!     bcachefs, btrfs, xfs, zfs, nfs, nfsd, mountstats, nvme,
//!     dmmultipath, fibrechannel, tapestats), `network/`
//!     (netdev, netclass, netstat, arp, bonding, conntrack, ethtool,
//!     infiniband, ipvs, sockstat, softnet, tcpstat, udp_queues), `kernel/`
//!     (cpu, stat, meminfo, meminfo_numa, vmstat, loadavg, pressure,
//!     schedstat, interrupts, softirqs, entropy, filefd, kernel_hung, time,
//!     timex, uname, selinux, processes, cpu_vulnerabilities) and `system/`
//!     (os, `textfile/` (`parse.rs` the text format, `encode.rs` into the
//!     scrape, `mod.rs` the files and directories), systemd, logind,
//!     `logins/`). The folders are for
//!     reading the tree: `exporter` re-exports every collector under its
//!     short path (`exporter::cpu`).
//!     `kernel/timex.rs` holds one of the crate's four `unsafe` blocks
//!     (adjtimex(2)); `storage/nfs.rs` also owns the RPC statistics line
//!     reader `nfsd.rs` uses. `processes.rs` is the (off by default)
//!     processes collector, not `process.rs` below. `system/systemd.rs` and
//!     `system/logind.rs` (node_exporter's collectors) and `system/logins/`
//!     share `dbus.rs`; `logind.rs` reads through `logins/logind.rs`'s
//!     client. `network/ethtool.rs` reads through its `Source` trait;
//!     `network/ethtool_ioctl.rs` is the source on a host (the
//!     `SIOCETHTOOL` ioctl, another `unsafe` block); `network/rtnl.rs` is
//!     the netlink edge (link, neighbour and address dumps behind its
//!     `Source` trait, and the ethtool genetlink family's link modes) that
//!     `netdev.rs`, `arp.rs` and netclass read in their netlink modes,
//!     and netclass's sysfs mode on the live `/sys` (one link dump per
//!     scrape, kept by `rtnl.rs` for `collector.rs`'s current scrape;
//!     `network/netclass_dump.rs` reads an interface from it);
//!     `network/netclass_netlink.rs` is netclass's
//!     `--collector.netclass.netlink` mode (`netclass.rs` owns the series'
//!     names for both; its `--collector.netclass_rtnl.with-stats` series
//!     take `netdev.rs`'s names for the link statistics).
//!   - `collector.rs` also owns the shared sysfs readers (required
//!     attributes, numbered entries such as `thermal_zoneN`) and the "no
//!     data" outcome of a collector whose files the host lacks. `dbus.rs`
//!     owns the system bus (address, connection, property reads, errors).
//!   - Outpost's own collectors (off by default): `hardware/gpu/` (`mod.rs`: the
//!     [`exporter::gpu::GpuLibrary`] trait and the collector; `nvml.rs`:
//!     NVML through nvml-wrapper, loaded at run time; `tests.rs`: a
//!     recorded NVML stand-in), `system/logins/` (`mod.rs`: sessions and logins;
//!     `logind.rs`: systemd-logind over D-Bus, its sessions and scheduled
//!     shutdown;
//!     `utmp.rs`: the record format; `alert.rs`: rate-limited Alertmanager
//!     alerts), `cpu_benchmark.rs` (beside `collector.rs`: a fixed workload
//!     on its own thread, kept out of scrapes by the registry's
//!     [`exporter::collector::ScrapeGate`]).
//!   - `scrape.rs`: the one thread that gathers, encodes and gzips scrapes;
//!     `gzip.rs` (pooled deflate state); `matcher.rs` (memoised regex filters
//!     and node_exporter's include/exclude device filter);
//!     `openfiles/` (files kept open between scrapes, directory listings
//!     kept while unchanged, one scratch buffer), `dirwatch.rs` (inotify
//!     watches that tell it when an ordinary directory changed);
//!     `intern.rs` (metric names built from kernel keys, made once;
//!     `intern/table.rs`: a table's per-key answers kept in its key order);
//!     `fasthash.rs` (the unkeyed hash for those internal maps).
//!   - `metrics.rs` (the metric model), `encode.rs` (text 0.0.4 and
//!     OpenMetrics), `process.rs` (`process_*` self metrics), `web.rs`
//!     (exporter-toolkit web config: TLS, basic auth with bounded bcrypt,
//!     response headers; served by [`server`]),
//!     `residency.rs` (drops startup-only code pages once listening, after
//!     the first scrape and when idle; `build.rs` and `link/` keep the hot
//!     code together so what stays is small; one malloc arena for all
//!     threads).
//!   - `probe/`: TCP probes. `mod.rs` (the one probe: resolve, connect,
//!     optional TLS, [`exporter::probe::ProbeOutcome`]), `target.rs`
//!     (strict `HOST:PORT` parsing), `cert.rs` (certificate expiry from DER),
//!     `handler.rs` (blackbox-compatible `GET /probe`), `targets.rs`
//!     (`--probe.target` flags and the re-read targets file), `scheduler.rs`
//!     (the background prober and its results on `/metrics`).
//!   - `dbus.rs`: the D-Bus system bus under `--path.rootfs` (address,
//!     connection, errors), shared by `logins/` and `actions/`.
//!   - `actions/`: signed, allow-listed actions on their own listener
//!     (`--actions.config`). `mod.rs` (the one list of built-ins, request
//!     checks in order, nonce cache, `outpost_actions_requests_total`,
//!     router, typed argument reader), `config.rs` (the YAML allow-list),
//!     `ports.rs` (listening sockets and owners from `/proc`), `top.rs`
//!     (top processes by CPU and memory), `kill_port.rs`, `docker.rs`
//!     (`docker.*` through the Engine API with bollard), `service.rs`
//!     (`service.*` through systemd's D-Bus manager, `reboot`/`shutdown`
//!     through logind), `custom.rs` (typed argv templates run without a
//!     shell, deadline, process-group kill, capped output).
//! - [`generate`]: `outpost generate` (agents.txt → Prometheus, Alertmanager,
//!   Grafana config).
//!   - `mod.rs`: the only I/O (read agents.txt, atomic writes, `--check`).
//!   - `inventory.rs` (agents.txt parser,
//!     agents' actions endpoints), `settings.rs` (thresholds,
//!     durations, URLs), `prometheus.rs` (prometheus.yml: alerting to
//!     every Alertmanager of a cluster, remote_write; file_sd targets;
//!     shards), `rules.rs` (alert specs, the seed alerts, the rule file),
//!     `seed_rules.rs` (the original alerts), `node_rules.rs`, `fs_rules.rs`
//!     (node-mixin's alerts), `extra_rules.rs` (steal, OOM, reboot, hwmon,
//!     EDAC), `own_rules.rs` (alerts on the gpu and cpu_benchmark metrics),
//!     `recording.rs` (recording rules, per-agent threshold series),
//!     `rule_tests.rs` (promtool unit tests), `alertmanager.rs`, `grafana.rs`.
//!   - `edit.rs`: the pure agents.txt editor (add/remove agents and checks,
//!     set/reset thresholds, comments and order kept, typed refusals);
//!     `apply.rs`: applying an edit to a running setup (write, generate,
//!     promtool, reload and confirm through [`generate::apply::Live`],
//!     roll back on failure).
//! - [`bridge`]: `outpost bridge`, Alertmanager webhooks to Telegram.
//!   - `mod.rs` (Config, `run`), `webhook.rs` (HTTP: /alert, /metrics,
//!     health), `payload.rs` (webhook v4 types, dedup key), `state/`
//!     (all state behind one `State` trait, one trait per concern:
//!     `mod.rs` the interface; `sqlite/` the file backend, one thread with
//!     group commit: `mod.rs` the thread, `outbox.rs`, `chats.rs`,
//!     `watchdog.rs`, `audit.rs`, `lease.rs`, `oncall.rs`, `audience.rs`
//!     (subscriptions, mutes, quiet hours) the queries;
//!     `postgres/` the shared backend for a pair of bridges: `mod.rs` the
//!     pool, `schema.rs` versioned migrations, `intake.rs` the group
//!     commit of webhooks, the same query files),
//!     `desk.rs` (the chat engine's view of the bridge's state:
//!     `/stats`, acknowledgements edited onto alert messages),
//!     `escalate.rs` (unacknowledged critical alerts sent again, on the
//!     leader), `fanout.rs` (copies of a notification for the chats
//!     subscribed to its agents, taken with it), `mention.rs` (whom firing
//!     messages and escalations mention: on call, less mutes and quiet
//!     hours),
//!     `outbox.rs` (rows and batches),
//!     `message.rs` (HTML rendering, splitting, coalescing, numbering),
//!     `keyboard.rs` (inline buttons under alert messages), `enrich.rs`
//!     (top processes / largest containers under AgentHighCPU /
//!     AgentHighDisk, from the agent's actions, under a deadline),
//!     `heal.rs` (`--self-healing`: rules, cooldowns, caps, notices),
//!     `attach.rs`
//!     (`--attach-charts`: which alerts, the chart under a deadline, the
//!     caption cut), `telegram.rs` (Bot API transport: sendMessage,
//!     sendPhoto; outcome classification, typed failure reasons),
//!     `deliver.rs` (one message until delivered: the retry policy,
//!     pacing and counters for alerts and replies alike), `pacer.rs`
//!     (Telegram's limits), `doorbell.rs` (which chats have new rows),
//!     `sender/` (drains the outbox: batches, charts, bookkeeping; `tests.rs`),
//!     `leader.rs` (the lease: who delivers and polls Telegram),
//!     `bot.rs` (chat commands over long polling, replies), `watchdog.rs`
//!     (dead man's switch), `metrics.rs`, `health.rs` (what `/-/ready`
//!     reports: a refused Telegram configuration, an unwritable store),
//!     `secret.rs` (redacting token type).
//! - [`chat`]: the chat command engine (transport-independent) and
//!   `outpost ask`.
//!   - `commands/`: the one command list, `/help` and the pure parser
//!     (`mod.rs`); the action commands' arguments (`acts.rs`), the config
//!     commands' (`config.rs`), parser tests (`tests.rs`).
//!   - `actions.rs`: the client of agents' signed actions (signs with
//!     [`signing`], TLS to the pinned certificate only, time limits,
//!     typed errors).
//!   - `engine/`: [`chat::Engine`]. `mod.rs`: access by role, dispatch,
//!     the audit record, the typed [`chat::Verdict`]; `acts.rs` (action
//!     commands: targets, confirmation, broadcast, replies), `act_text.rs`
//!     (replies to docker and service actions); `answers.rs`
//!     (Prometheus reads, `/audit`), `silences.rs` (Alertmanager),
//!     `charts.rs` (pictures, `/plot`, `/mem_picture`, an alert's
//!     expression), `history.rs` (`/history`, `/uptime`, `/stats`),
//!     `oncall.rs` (`/ack`, the "I'm on it" button, `/oncall`),
//!     `audience.rs` (`/subscribe`, `/mute`, `/quiet`), `tests.rs`, `window.rs`
//!     (chart window time maths), `config.rs` (the config commands: diff,
//!     confirm, apply, reload the agents list). `roles.rs`:
//!     viewer/operator/admin per user id; `confirm.rs`: Confirm/Cancel
//!     buttons that work once, for the asker, within a minute (what they
//!     run: `engine::Confirmable`). `reply/`: reply type and pure HTML
//!     texts (`history.rs`, `oncall.rs`, `audience.rs` by topic); `buttons.rs`: inline
//!     buttons, their callback data and the role each needs. `plot.rs`:
//!     what `/plot` draws (the recording-rule allow-list); `history.rs`:
//!     up/down stretches; `oncall.rs`: the `--oncall` file and rotation;
//!     `audience.rs`: subscriptions, mutes, quiet hours and whom a message
//!     mentions (pure);
//!     `desk.rs`: the bridge's state as the engine sees it.
//!   - `promql.rs` (Prometheus client, escaping), `queries.rs` (PromQL
//!     expressions), `alertmanager.rs` (API v2 client, matchers).
//!   - `chart.rs`: PNG line and bar charts with the bundled font; `audit.rs`: audit
//!     log (bounded) and refusal memory in SQLite; `agents.rs`: minimal agents.txt reader;
//!     `zone.rs`: `--timezone` from the system tz database (jiff).
//! - [`html`]: Telegram's HTML parse mode and length limits — escaping,
//!   the visible plain text and its length, cutting between lines (or
//!   inside a line too long to keep whole); shared by alert messages and
//!   chat replies.
//! - [`server`]: the HTTP server loop the exporter and the bridge share
//!   (connection cap with eviction, header deadline, open-file limit, shed
//!   connections counted and logged).
//! - [`signing`]: the one definition of a signed action request (canonical
//!   string, Ed25519 keys with ring, hex codec) and `outpost keygen`; the
//!   exporter verifies with it, the bridge and `outpost ask` sign with it.
//! - [`pin`]: the pinned certificate of an agent's actions listener
//!   (SHA-256 of its DER, `actions_sha256=` in agents.txt) and `outpost
//!   actions fingerprint`.
//! - [`tls`]: client TLS with Outpost's own leaf check (the probe's
//!   "whatever is presented", the actions client's pin) and rustls'
//!   handshake signature checks, shared.
//! - [`healthcheck`]: `outpost healthcheck URL`, a plain-HTTP GET for
//!   container `HEALTHCHECK`s and `scripts/up` (no curl needed).
//!
//! `main.rs` only parses flags, runs a subcommand and maps errors to exit
//! codes: 2 for usage errors ([`UsageError`]), 1 for everything else.

// `deny` rather than `forbid`: exactly four reviewed `unsafe` blocks are
// allowed: the adjtimex(2) call in `exporter/collectors/kernel/timex.rs`,
// which neither nix nor rustix wraps, `madvise` on code mappings and
// `mallopt(M_ARENA_MAX, 1)` (glibc only) in `exporter/residency.rs`, and the
// `SIOCETHTOOL` ioctl in `exporter/collectors/network/ethtool_ioctl.rs`
// (into a buffer that ends at a guard page) (see each for why). Everything
// else stays free of `unsafe`.
#![deny(unsafe_code)]

pub mod alerts;
pub mod bridge;
pub mod chat;
pub mod cli;
pub mod exporter;
pub mod generate;
pub mod healthcheck;
pub mod html;
pub mod logging;
pub mod pin;
pub mod server;
pub mod signing;
pub mod tls;
pub mod units;

/// An error in how the program was invoked (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The exit code for an error returned by a subcommand.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if err.downcast_ref::<UsageError>().is_some() {
        2
    } else {
        1
    }
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
