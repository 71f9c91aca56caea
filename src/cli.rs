//! Command-line surface: clap structs only. Each subcommand's raw flags are
//! turned into a validated config by the module that runs it.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Arg, ArgAction, ArgMatches, Args, FromArgMatches, Parser, Subcommand};

use crate::exporter::collector::Name;
pub use crate::units::{parse_duration, Size};

pub mod exporter;

#[derive(Debug, Parser)]
#[command(
    name = "outpost",
    version,
    about = "Host metrics, TCP probes, Prometheus config and Telegram alerting in one binary."
)]
pub struct Cli {
    /// Log filter, e.g. `info`, `debug`, `outpost=debug` (also RUST_LOG).
    #[arg(
        long = "log.level",
        global = true,
        default_value = "info",
        env = "OUTPOST_LOG_LEVEL"
    )]
    pub log_level: String,

    /// Log format: `logfmt`-like text or `json`.
    #[arg(long = "log.format", global = true, default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,

    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per run: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve host metrics (node_exporter-compatible) and TCP probes over HTTP.
    Exporter(ExporterArgs),
    /// Receive Alertmanager webhooks and deliver them to Telegram, durably; answer chat commands.
    Bridge(BridgeArgs),
    /// Run one chat command (e.g. "/mon_cpu web1") through the chat engine and print the reply.
    Ask(AskArgs),
    /// Generate Prometheus, Alertmanager and Grafana config from agents.txt.
    Generate(GenerateArgs),
    /// Make the Ed25519 key pair that signs action requests to agents.
    Keygen(KeygenArgs),
    /// Helpers for agents' signed actions.
    #[command(subcommand)]
    Actions(ActionsCommand),
    /// GET an http:// URL; exit 0 on a 2xx answer, 1 otherwise (for container HEALTHCHECKs).
    Healthcheck(HealthcheckArgs),
}

/// `outpost bridge` flags. Each also reads `OUTPOST_<NAME>` (upper snake
/// case); secrets' env values are never shown in `--help`.
#[derive(Debug, Args)]
pub struct BridgeArgs {
    /// Address to listen on for webhooks, /metrics and health checks.
    #[arg(
        long,
        env = "OUTPOST_LISTEN",
        default_value = "0.0.0.0:9187",
        value_name = "ADDR"
    )]
    pub listen: String,

    /// Telegram bot token.
    #[arg(
        long,
        env = "OUTPOST_TELEGRAM_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub telegram_token: Option<String>,

    /// File holding the Telegram bot token (used when --telegram-token is not set).
    #[arg(long, env = "OUTPOST_TELEGRAM_TOKEN_FILE", value_name = "FILE")]
    pub telegram_token_file: Option<PathBuf>,

    /// Bot API base URL (a self-hosted Bot API server also works).
    #[arg(
        long,
        env = "OUTPOST_TELEGRAM_API_URL",
        default_value = "https://api.telegram.org",
        value_name = "URL"
    )]
    pub telegram_api_url: String,

    /// Chat that `POST /alert` delivers to (`POST /alert/{chat_id}` names its own).
    #[arg(
        long,
        env = "OUTPOST_CHAT_ID",
        allow_negative_numbers = true,
        value_name = "ID"
    )]
    pub chat_id: Option<i64>,

    /// Forum topic (message_thread_id) for --chat-id.
    #[arg(long, env = "OUTPOST_MESSAGE_THREAD_ID", value_name = "ID")]
    pub message_thread_id: Option<i64>,

    #[command(flatten)]
    pub roles: RoleArgs,

    /// When set, webhooks must carry `Authorization: Bearer TOKEN`.
    #[arg(
        long,
        env = "OUTPOST_WEBHOOK_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub webhook_token: Option<String>,

    /// File holding the webhook token (used when --webhook-token is not set).
    #[arg(long, env = "OUTPOST_WEBHOOK_TOKEN_FILE", value_name = "FILE")]
    pub webhook_token_file: Option<PathBuf>,

    /// Where the state lives (outbox, dedup keys, chat migrations,
    /// watchdog, audit log): a SQLite file, or a PostgreSQL URL
    /// (`postgres://user:password@host/db`) shared by a pair of bridges.
    #[arg(
        long,
        env = "OUTPOST_STATE",
        hide_env_values = true,
        default_value = "./data/outpost.db",
        value_name = "FILE|URL"
    )]
    pub state: String,

    /// `full`: every acknowledged webhook is fsynced (survives power loss).
    /// `normal`: no fsync per commit; survives a crash of the bridge but
    /// the last acknowledged webhooks can be lost on power loss.
    #[arg(long, env = "OUTPOST_STATE_SYNC", default_value = "full", value_parser = ["full", "normal"], value_name = "MODE")]
    pub state_sync: String,

    /// With a shared (PostgreSQL) state: how long the leader's lease lasts
    /// without renewal, so about how long a failover takes. The leader
    /// renews every third of it.
    #[arg(long, env = "OUTPOST_LEASE_TTL", default_value = "15s", value_parser = parse_duration, value_name = "DURATION")]
    pub lease_ttl: Duration,

    /// After a Watchdog heartbeat was seen, silence this long is reported
    /// to the chat as "alerting pipeline is silent".
    #[arg(long, env = "OUTPOST_WATCHDOG_TIMEOUT", default_value = "10m", value_parser = parse_duration, value_name = "DURATION")]
    pub watchdog_timeout: Duration,

    /// The same notification (receiver, group, status, alerts) arriving
    /// again within this window is a duplicate (Alertmanager retry or HA
    /// pair). Keep it shorter than the smallest repeat_interval routed here.
    #[arg(long, env = "OUTPOST_DEDUP_WINDOW", default_value = "2m", value_parser = parse_duration, value_name = "DURATION")]
    pub dedup_window: Duration,

    /// Largest webhook body accepted, in bytes (larger: 413).
    #[arg(long, env = "OUTPOST_WEBHOOK_MAX_BODY", default_value_t = 4 << 20, value_name = "BYTES")]
    pub webhook_max_body: usize,

    /// Most HTTP connections open at once. At the cap a new connection
    /// replaces the one that has waited longest for a request; lowered to
    /// fit the open-file limit.
    #[arg(long, env = "OUTPOST_MAX_CONNECTIONS", default_value_t = crate::server::DEFAULT_MAX_CONNECTIONS, value_name = "N")]
    pub max_connections: usize,

    /// Time a client has to send a request's headers, and then its body;
    /// an idle keep-alive connection is closed after it too.
    #[arg(long, env = "OUTPOST_READ_HEADER_TIMEOUT", default_value = crate::server::DEFAULT_READ_HEADER_TIMEOUT, value_parser = parse_duration, value_name = "DURATION")]
    pub read_header_timeout: Duration,

    /// Least time between two messages to one chat.
    #[arg(long, env = "OUTPOST_PER_CHAT_INTERVAL", default_value = "1s", value_parser = parse_duration, value_name = "DURATION")]
    pub per_chat_interval: Duration,

    /// Most messages per minute to one group chat (negative id).
    #[arg(
        long,
        env = "OUTPOST_GROUP_PER_MINUTE",
        default_value_t = 20,
        value_name = "N"
    )]
    pub group_per_minute: usize,

    /// Most messages per second overall.
    #[arg(
        long,
        env = "OUTPOST_GLOBAL_PER_SECOND",
        default_value_t = 30,
        value_name = "N"
    )]
    pub global_per_second: usize,

    /// First wait before sending again after a network error or 5xx (doubles each time).
    #[arg(long, env = "OUTPOST_RETRY_INITIAL_BACKOFF", default_value = "500ms", value_parser = parse_duration, value_name = "DURATION")]
    pub retry_initial_backoff: Duration,

    /// Longest wait between two attempts.
    #[arg(long, env = "OUTPOST_RETRY_MAX_BACKOFF", default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub retry_max_backoff: Duration,

    /// Longest wait honoured when Telegram answers 429 with `retry_after`
    /// (a longer one is cut to this; asking early costs only another 429).
    #[arg(long, env = "OUTPOST_RETRY_AFTER_MAX", default_value = "5m", value_parser = parse_duration, value_name = "DURATION")]
    pub retry_after_max: Duration,

    /// Timeout of one Telegram request.
    #[arg(long, env = "OUTPOST_SEND_TIMEOUT", default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub send_timeout: Duration,

    /// Firing alerts about a host's CPU, memory or disk arrive as one
    /// message: the chart of the alert's expression over the last hour as a
    /// photo, the alert text as its caption (past 1024 characters, the rest
    /// as a reply). A chart not drawn within --query-timeout is left out.
    #[arg(long, env = "OUTPOST_ATTACH_CHARTS")]
    pub attach_charts: bool,

    /// Self-healing rules (YAML: alert name and labels → action on the
    /// alert's agent, cooldown, cap per hour); off without it.
    #[arg(long, env = "OUTPOST_SELF_HEALING", value_name = "FILE")]
    pub self_healing: Option<PathBuf>,

    #[command(flatten)]
    pub chat: ChatArgs,
}

/// `outpost healthcheck`.
#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// `http://HOST:PORT/PATH` to GET, e.g. http://127.0.0.1:9100/metrics.
    #[arg(value_name = "URL")]
    pub url: String,

    /// Give up after this long.
    #[arg(long, default_value = "5s", value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Duration,
}

/// Flags of the chat engine, shared by `ask` and the bridge's chat front end.
#[derive(Debug, Clone, Args)]
pub struct ChatArgs {
    /// Prometheus server the commands query.
    #[arg(
        long,
        env = "OUTPOST_PROMETHEUS_URL",
        default_value = "http://localhost:9090",
        value_name = "URL"
    )]
    pub prometheus_url: String,

    /// Alertmanager the commands read alerts from and create silences in.
    #[arg(
        long,
        env = "OUTPOST_ALERTMANAGER_URL",
        default_value = "http://localhost:9093",
        value_name = "URL"
    )]
    pub alertmanager_url: String,

    /// agents.txt (`NAME HOST:PORT` per line), to resolve agent names in commands.
    #[arg(long, env = "OUTPOST_AGENTS", value_name = "FILE")]
    pub agents: Option<PathBuf>,

    /// On-call file (YAML: people, weekly rotation, escalation delay and
    /// chat) for `/oncall`, the escalation of unacknowledged critical
    /// alerts and their mentions; see docs/deployment.md.
    #[arg(long, env = "OUTPOST_ONCALL", value_name = "FILE")]
    pub oncall: Option<PathBuf>,

    /// IANA time zone for `hhmm` in chart commands, chart axes and times in replies,
    /// from the system tz database (`tzdata`; `UTC` needs none).
    #[arg(
        long,
        env = "OUTPOST_TIMEZONE",
        default_value = "UTC",
        value_name = "ZONE"
    )]
    pub timezone: String,

    /// Time limit of each Prometheus or Alertmanager request.
    #[arg(long, env = "OUTPOST_QUERY_TIMEOUT", default_value = "3s", value_parser = parse_duration, value_name = "DURATION")]
    pub query_timeout: Duration,

    /// Audit log entries older than this are deleted (checked every 10 minutes).
    #[arg(long, env = "OUTPOST_AUDIT_MAX_AGE", default_value = "90d", value_parser = parse_duration, value_name = "DURATION")]
    pub audit_max_age: Duration,

    /// Most audit log entries kept; the oldest go first. Strangers' refused
    /// messages are not stored one by one (only the one refusal per hour each
    /// is told): they are counted in outpost_bridge_chat_refused_total.
    #[arg(
        long,
        env = "OUTPOST_AUDIT_MAX_ROWS",
        default_value_t = 100_000,
        value_name = "N"
    )]
    pub audit_max_rows: u64,

    /// Private key (from `outpost keygen`, mode 0600) that signs action
    /// requests to agents (`/ports`, `/restart` …); actions are off without it.
    #[arg(long, env = "OUTPOST_ACTIONS_KEY", value_name = "FILE")]
    pub actions_key: Option<PathBuf>,

    /// The id agents know that key by (their allow-list's `keys:`).
    #[arg(
        long,
        env = "OUTPOST_ACTIONS_KEY_ID",
        default_value = "bridge",
        value_name = "ID"
    )]
    pub actions_key_id: String,

    /// Time limit of each action request to an agent.
    #[arg(long, env = "OUTPOST_ACTIONS_TIMEOUT", default_value = "15s", value_parser = parse_duration, value_name = "DURATION")]
    pub actions_timeout: Duration,

    #[command(flatten)]
    pub config: ConfigArgs,
}

/// Flags of the chat's config commands (`/agent_add`, `/threshold`, …).
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// Let admins change agents.txt from the chat: the bridge rewrites
    /// `--agents`, regenerates `--config-out` like `outpost generate` and
    /// reloads Prometheus (which needs `--web.enable-lifecycle`). Without it
    /// the config commands answer that the config is read-only here.
    #[arg(long, env = "OUTPOST_CONFIG_WRITABLE")]
    pub config_writable: bool,

    /// The directory `outpost generate --out` writes to (the one Prometheus
    /// reads its config from).
    #[arg(long, env = "OUTPOST_CONFIG_OUT", value_name = "DIR")]
    pub config_out: Option<PathBuf>,

    /// The other flags this setup runs `outpost generate` with (everything
    /// but `--agents`, `--out` and `--check`), split on whitespace, e.g.
    /// "--bridge-url http://bridge:9187 --cpu-threshold 85"; the chat
    /// generates exactly what that command would.
    #[arg(
        long,
        env = "OUTPOST_GENERATE_ARGS",
        default_value = "",
        value_name = "FLAGS"
    )]
    pub generate_args: String,

    /// promtool, to validate a change before it is written (skipped, and
    /// said so, when it is not installed).
    #[arg(
        long,
        env = "OUTPOST_PROMTOOL",
        default_value = "promtool",
        value_name = "PATH"
    )]
    pub promtool: PathBuf,

    /// How long to wait for Prometheus to show a change (a new target, a
    /// threshold) before rolling it back.
    #[arg(long, env = "OUTPOST_CONFIG_CONFIRM_TIMEOUT", default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub config_confirm_timeout: Duration,
}

#[derive(Debug, Args)]
pub struct AskArgs {
    /// The command, e.g. `/mon_cpu_picture web1 30` (quoted or as separate words).
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<String>,

    /// Treat COMMAND as a button's callback data (as printed under a reply).
    #[arg(long)]
    pub press: bool,

    /// Confirm a change (an action that asks to confirm) in the same run,
    /// after printing what will run where. Without it a terminal is asked
    /// `Confirm? [y/N]`; elsewhere the change is not made.
    #[arg(long)]
    pub yes: bool,

    /// Where to write a chart reply.
    #[arg(long, default_value = "outpost-chart.png", value_name = "FILE")]
    pub chart_out: PathBuf,

    /// The bridge's state (the audit log is kept there, `/stats` and
    /// `/ack` read it): a SQLite file, or the PostgreSQL URL a pair of
    /// bridges shares (`postgres://user:password@host/db`), as the
    /// bridge's `--state`.
    #[arg(
        long,
        env = "OUTPOST_STATE",
        hide_env_values = true,
        default_value = "./data/outpost.db",
        value_name = "FILE|URL"
    )]
    pub state: String,

    #[command(flatten)]
    pub roles: RoleArgs,

    #[command(flatten)]
    pub chat: ChatArgs,
}

/// Who may use chat commands, by Telegram user id, with which role
/// (`chat::roles`): viewers read, operators also silence, acknowledge and
/// act on agents, admins also change configuration.
#[derive(Debug, Args, Clone, Default)]
pub struct RoleArgs {
    /// Comma-separated Telegram user ids with the operator role (read,
    /// silence, acknowledge, run actions).
    #[arg(
        long,
        env = "OUTPOST_ALLOWED_USERS",
        value_delimiter = ',',
        allow_negative_numbers = true,
        value_name = "IDS"
    )]
    pub allowed_users: Vec<i64>,

    /// Comma-separated Telegram user ids with the viewer role (read only).
    #[arg(
        long,
        env = "OUTPOST_VIEWERS",
        value_delimiter = ',',
        allow_negative_numbers = true,
        value_name = "IDS"
    )]
    pub viewers: Vec<i64>,

    /// Comma-separated Telegram user ids with the admin role (also change
    /// agents, thresholds and subscriptions, read the audit log).
    #[arg(
        long,
        env = "OUTPOST_ADMINS",
        value_delimiter = ',',
        allow_negative_numbers = true,
        value_name = "IDS"
    )]
    pub admins: Vec<i64>,
}

/// `outpost generate`. Every threshold and duration is optional; unset ones
/// take the defaults of `generate::settings::Settings::default()`, given
/// with each flag.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The inventory: `NAME HOST:PORT [KEY=VALUE ...]` and
    /// `check NAME HOST:PORT from AGENT [failures=N]` lines (docs/agents-txt.md).
    #[arg(long, default_value = "agents.txt", value_name = "FILE")]
    pub agents: PathBuf,

    /// Directory that receives prometheus/, alertmanager/ and grafana/.
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub out: PathBuf,

    /// Write nothing; exit 1 listing the files that differ from what would be written.
    #[arg(long)]
    pub check: bool,

    /// Base URL of `outpost bridge`; alerts go to BRIDGE/alert (default: http://127.0.0.1:9187).
    #[arg(long, value_name = "URL")]
    pub bridge_url: Option<String>,

    /// Alertmanager(s) that Prometheus sends alerts to, comma-separated:
    /// list every member of an Alertmanager cluster (default: http://127.0.0.1:9093).
    #[arg(long, value_delimiter = ',', value_name = "URLS")]
    pub alertmanager_url: Vec<String>,

    /// Prometheus URL for the Grafana datasource (default: http://127.0.0.1:9090).
    #[arg(long, value_name = "URL")]
    pub prometheus_url: Option<String>,

    /// File with the bridge's webhook token, written as Alertmanager's
    /// `credentials_file` (relative paths are relative to alertmanager.yml) (default: webhook-token).
    #[arg(long, value_name = "PATH")]
    pub webhook_token_file: Option<String>,

    /// Scrape and probe interval (default: 15s).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub scrape_interval: Option<Duration>,

    /// Rule evaluation interval (also the step of the rule unit tests) (default: 15s).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub evaluation_interval: Option<Duration>,

    /// rate() window of the CPU recording rule (default: 1m).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub rate_window: Option<Duration>,

    /// AgentDown: how long an agent must be unreachable (default: 1m).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub agent_down_for: Option<Duration>,

    /// AgentHighCPU threshold, percent (default: 80).
    #[arg(long, value_name = "PERCENT")]
    pub cpu_threshold: Option<f64>,

    /// AgentHighCPU duration (default: 2m).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub cpu_for: Option<Duration>,

    /// AgentHighMemory (warning) threshold, percent (default: 85).
    #[arg(long, value_name = "PERCENT")]
    pub memory_threshold: Option<f64>,

    /// AgentHighMemory duration (default: 2m).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub memory_for: Option<Duration>,

    /// HighMemoryUsage (critical) threshold, percent (default: 95).
    #[arg(long, value_name = "PERCENT")]
    pub memory_critical_threshold: Option<f64>,

    /// HighMemoryUsage duration (default: 1m).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub memory_critical_for: Option<Duration>,

    /// AgentHighDisk threshold, percent used (default: 90).
    #[arg(long, value_name = "PERCENT")]
    pub disk_threshold: Option<f64>,

    /// AgentHighDisk duration (default: 1m).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub disk_for: Option<Duration>,

    /// HighLoad threshold: 1-minute load average per CPU core (default: 2).
    #[arg(long, value_name = "LOAD")]
    pub load_threshold: Option<f64>,

    /// HighLoad duration (default: 5m).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub load_for: Option<Duration>,

    /// CpuAnomaly: sliding window for mean and standard deviation (default: 1h).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub anomaly_window: Option<Duration>,

    /// CpuAnomaly duration (default: 5m).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub anomaly_for: Option<Duration>,

    /// CpuAnomaly stays quiet below this CPU usage, percent (default: 10).
    #[arg(long, value_name = "PERCENT")]
    pub anomaly_min_cpu: Option<f64>,

    /// GpuMemoryNearlyFull threshold: percent of a GPU's memory in use (default: 90).
    #[arg(long, value_name = "PERCENT")]
    pub gpu_memory_threshold: Option<f64>,

    /// GpuTooHot threshold: GPU temperature in °C (default: 85).
    #[arg(long, value_name = "CELSIUS")]
    pub gpu_temperature_threshold: Option<f64>,

    /// CpuSlowerThanUsual: fire when the CPU benchmark takes this many times
    /// its own 7-day median for 20m (default: 1.5).
    #[arg(long, value_name = "FACTOR")]
    pub cpu_slow_factor: Option<f64>,

    /// Alertmanager group_wait (default: 30s).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub group_wait: Option<Duration>,

    /// Alertmanager group_interval (default: 5m).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub group_interval: Option<Duration>,

    /// Alertmanager repeat_interval (default: 4h).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub repeat_interval: Option<Duration>,

    /// How often the Watchdog heartbeat is re-sent to the bridge (default: 1m).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub heartbeat_interval: Option<Duration>,

    /// Directory Grafana loads the provisioned dashboard from (default: /var/lib/grafana/dashboards/outpost).
    #[arg(long, value_name = "DIR")]
    pub grafana_dashboards_path: Option<String>,

    /// Also write a sharded setup: N Prometheus configs splitting the agents
    /// by hashmod (prometheus/shards/shard-K.yml) and a federating global.yml.
    #[arg(long, value_name = "N")]
    pub shards: Option<u32>,

    /// host:port of each shard for global.yml, comma-separated (default: prometheus-shard-K:9090).
    #[arg(long, value_delimiter = ',', value_name = "ADDRS")]
    pub shard_targets: Vec<String>,

    /// Add remote_write to prometheus.yml and every shard (VictoriaMetrics,
    /// Thanos Receive, Mimir …).
    #[arg(long, value_name = "URL")]
    pub remote_write_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExporterArgs {
    /// Address to listen on for the web interface and telemetry, `[host]:port`.
    #[arg(
        long = "web.listen-address",
        default_value = ":9100",
        value_name = "ADDR"
    )]
    pub listen_address: String,

    /// Path under which to expose metrics.
    #[arg(
        long = "web.telemetry-path",
        default_value = "/metrics",
        value_name = "PATH"
    )]
    pub telemetry_path: String,

    /// Exporter-toolkit web configuration file (TLS and basic auth).
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config_file: Option<PathBuf>,

    /// Maximum number of scrapes served at once (0 = unlimited).
    #[arg(long = "web.max-requests", default_value_t = 40, value_name = "N")]
    pub max_requests: usize,

    /// Most HTTP connections open at once. At the cap a new connection
    /// replaces the one that has waited longest for a request; lowered to
    /// fit the open-file limit.
    #[arg(long = "web.max-connections", default_value_t = crate::server::DEFAULT_MAX_CONNECTIONS, value_name = "N")]
    pub max_connections: usize,

    /// Time a client has to send a request's headers (TLS handshake
    /// included), and then its body; an idle keep-alive connection is
    /// closed after it too.
    #[arg(long = "web.read-header-timeout", default_value = crate::server::DEFAULT_READ_HEADER_TIMEOUT, value_parser = parse_duration, value_name = "DURATION")]
    pub read_header_timeout: Duration,

    /// procfs mountpoint.
    #[arg(long = "path.procfs", default_value = "/proc", value_name = "DIR")]
    pub procfs: PathBuf,

    /// sysfs mountpoint.
    #[arg(long = "path.sysfs", default_value = "/sys", value_name = "DIR")]
    pub sysfs: PathBuf,

    /// Root filesystem of the host (e.g. `/host` in a container).
    #[arg(long = "path.rootfs", default_value = "/", value_name = "DIR")]
    pub rootfs: PathBuf,

    /// udev's database, for `node_disk_info` and the disk's ATA and
    /// filesystem properties (default: `run/udev/data` under
    /// `--path.rootfs`, i.e. `/run/udev/data` on the host itself).
    #[arg(long = "path.udev.data", value_name = "DIR")]
    pub udev_data: Option<PathBuf>,

    /// Regexp of mount points to leave out of the filesystem collector
    /// (default: the pseudo and container filesystems, as node_exporter's;
    /// dropped when only `--collector.filesystem.mount-points-include` is given).
    #[arg(
        long = "collector.filesystem.mount-points-exclude",
        value_name = "REGEX"
    )]
    pub fs_mount_points_exclude: Option<String>,

    /// Regexp of mount points to keep in the filesystem collector
    /// (mutually exclusive to an explicit mount-points-exclude).
    #[arg(
        long = "collector.filesystem.mount-points-include",
        default_value = "",
        value_name = "REGEX"
    )]
    pub fs_mount_points_include: String,

    /// Regexp of filesystem types to leave out of the filesystem collector
    /// (default: pseudo filesystems, as node_exporter's; dropped when only
    /// `--collector.filesystem.fs-types-include` is given).
    #[arg(long = "collector.filesystem.fs-types-exclude", value_name = "REGEX")]
    pub fs_types_exclude: Option<String>,

    /// Regexp of filesystem types to keep in the filesystem collector
    /// (mutually exclusive to an explicit fs-types-exclude).
    #[arg(
        long = "collector.filesystem.fs-types-include",
        default_value = "",
        value_name = "REGEX"
    )]
    pub fs_types_include: String,

    /// How long to wait for a mount's statfs before reporting it stuck
    /// (`node_filesystem_device_error 1`); a stuck mount is not retried
    /// until its pending call returns.
    #[arg(long = "collector.filesystem.mount-timeout", default_value = "5s", value_parser = parse_duration, value_name = "DURATION")]
    pub fs_mount_timeout: Duration,

    /// How many statfs calls the filesystem collector runs at once (0: one
    /// per mount).
    #[arg(long = "collector.filesystem.stat-workers", default_value_t = crate::exporter::filesystem::DEFAULT_STAT_WORKERS, value_name = "N")]
    pub fs_stat_workers: usize,

    /// Regexp of block devices to leave out of the diskstats collector.
    #[arg(
        long = "collector.diskstats.device-exclude",
        default_value = crate::exporter::diskstats::DEFAULT_DEVICE_EXCLUDE,
        value_name = "REGEX"
    )]
    pub diskstats_device_exclude: String,

    /// Regexp of block devices to keep in the diskstats collector (as in
    /// node_exporter, only with `--collector.diskstats.device-exclude=`).
    #[arg(
        long = "collector.diskstats.device-include",
        default_value = "",
        value_name = "REGEX"
    )]
    pub diskstats_device_include: String,

    /// Regexp of network devices to leave out of the netdev collector
    /// (empty: keep all).
    #[arg(
        long = "collector.netdev.device-exclude",
        default_value = crate::exporter::netdev::DEFAULT_DEVICE_EXCLUDE,
        value_name = "REGEX"
    )]
    pub netdev_device_exclude: String,

    /// Regexp of network devices to keep in the netdev collector (when
    /// set, `--collector.netdev.device-exclude` is not applied).
    #[arg(
        long = "collector.netdev.device-include",
        default_value = "",
        value_name = "REGEX"
    )]
    pub netdev_device_include: String,

    /// Regexp of devices to leave out of the arp collector.
    #[arg(
        long = "collector.arp.device-exclude",
        default_value = "",
        value_name = "REGEX"
    )]
    pub arp_device_exclude: String,

    /// Regexp of devices to keep in the arp collector.
    #[arg(
        long = "collector.arp.device-include",
        default_value = "",
        value_name = "REGEX"
    )]
    pub arp_device_include: String,

    /// Regexp of hwmon chips to keep (the `chip` label, e.g. `platform_coretemp_0`).
    #[arg(
        long = "collector.hwmon.chip-include",
        default_value = "",
        value_name = "REGEX"
    )]
    pub hwmon_chip_include: String,

    /// Regexp of hwmon chips to leave out.
    #[arg(
        long = "collector.hwmon.chip-exclude",
        default_value = "",
        value_name = "REGEX"
    )]
    pub hwmon_chip_exclude: String,

    /// Regexp of hwmon sensors to keep, matched as `CHIP;SENSOR`
    /// (e.g. `platform_coretemp_0;temp1`).
    #[arg(
        long = "collector.hwmon.sensor-include",
        default_value = "",
        value_name = "REGEX"
    )]
    pub hwmon_sensor_include: String,

    /// Regexp of hwmon sensors to leave out, matched as `CHIP;SENSOR`.
    #[arg(
        long = "collector.hwmon.sensor-exclude",
        default_value = "",
        value_name = "REGEX"
    )]
    pub hwmon_sensor_exclude: String,

    /// Regexp of interrupt names (`NMI`, `LOC`, `11`) to keep in the interrupts collector.
    #[arg(
        long = "collector.interrupts.name-include",
        default_value = "",
        value_name = "REGEX"
    )]
    pub interrupts_name_include: String,

    /// Regexp of interrupt names to leave out of the interrupts collector.
    #[arg(
        long = "collector.interrupts.name-exclude",
        default_value = "",
        value_name = "REGEX"
    )]
    pub interrupts_name_exclude: String,

    /// Leave out interrupt counts of zero (`--collector.interrupts.include-zeros`,
    /// the default, keeps them).
    #[arg(
        long = "no-collector.interrupts.include-zeros",
        overrides_with = "interrupts_include_zeros"
    )]
    pub no_interrupts_include_zeros: bool,

    /// Keep interrupt counts of zero (the default).
    #[arg(
        long = "collector.interrupts.include-zeros",
        overrides_with = "no_interrupts_include_zeros"
    )]
    pub interrupts_include_zeros: bool,

    /// Comma-separated labels of node_ipvs_backend_* (any of local_address,
    /// local_port, remote_address, remote_port, proto, local_mark; empty: none).
    #[arg(
        long = "collector.ipvs.backend-labels",
        default_value = crate::exporter::ipvs::DEFAULT_BACKEND_LABELS,
        value_name = "LABELS"
    )]
    pub ipvs_backend_labels: String,

    /// Regexp of /proc/net/{netstat,snmp,snmp6} fields (`Tcp_InSegs`) to export.
    #[arg(
        long = "collector.netstat.fields",
        default_value = crate::exporter::netstat::DEFAULT_FIELDS,
        value_name = "REGEX"
    )]
    pub netstat_fields: String,

    /// Regexp of /proc/vmstat fields to export.
    #[arg(
        long = "collector.vmstat.fields",
        default_value = crate::exporter::vmstat::DEFAULT_FIELDS,
        value_name = "REGEX"
    )]
    pub vmstat_fields: String,

    /// Regexp of power supplies (`BAT0`, `AC`) to leave out of the powersupplyclass collector.
    #[arg(
        long = "collector.powersupply.ignored-supplies",
        default_value = "^$",
        value_name = "REGEX"
    )]
    pub powersupply_ignored_supplies: String,

    /// Regexp of tape devices (`st0`) to leave out of the tapestats collector.
    #[arg(
        long = "collector.tapestats.ignored-devices",
        default_value = "^$",
        value_name = "REGEX"
    )]
    pub tapestats_ignored_devices: String,

    /// Export RAPL counters as one family, node_rapl_joules_total, with the
    /// zone in a `rapl_zone` label.
    #[arg(long = "collector.rapl.enable-zone-label")]
    pub rapl_enable_zone_label: bool,

    /// Also export each bcache cache device's priority_stats (unused and
    /// metadata percentages); the kernel walks every bucket to answer.
    #[arg(long = "collector.bcache.priorityStats")]
    pub bcache_priority_stats: bool,

    /// Regexp of network devices to leave out of the netclass collector.
    #[arg(
        long = "collector.netclass.ignored-devices",
        default_value = "^$",
        value_name = "REGEX"
    )]
    pub netclass_ignored_devices: String,

    /// Leave out node_network_speed_bytes where the kernel reports an
    /// unknown speed (-1).
    #[arg(long = "collector.netclass.ignore-invalid-speed")]
    pub netclass_ignore_invalid_speed: bool,

    // --- netlink variants and netdev options (node_exporter 1.12) ---
    /// Read interface counters from /proc/net/dev under --path.procfs
    /// instead of asking the kernel over netlink (`--collector.netdev.netlink`,
    /// the default: 64-bit link statistics, plus receive_nohandler).
    #[arg(
        long = "no-collector.netdev.netlink",
        overrides_with = "netdev_netlink"
    )]
    pub no_netdev_netlink: bool,

    /// Read interface counters over netlink (RTM_GETLINK, the default); this
    /// reads the running kernel whatever --path.procfs says.
    #[arg(
        long = "collector.netdev.netlink",
        overrides_with = "no_netdev_netlink"
    )]
    pub netdev_netlink: bool,

    /// Export netdev counters under the kernel's own (detailed, and
    /// incompatible) names, e.g. node_network_receive_missed_errors_total,
    /// instead of folding them into /proc/net/dev's names.
    #[arg(long = "collector.netdev.enable-detailed-metrics")]
    pub netdev_enable_detailed_metrics: bool,

    /// Export node_network_address_info{device,address,netmask,scope} for
    /// every interface address (asked over netlink).
    #[arg(long = "collector.netdev.address-info")]
    pub netdev_address_info: bool,

    /// Add an `ifalias` label (/sys/class/net/<iface>/ifalias) to the
    /// netdev counters.
    #[arg(long = "collector.netdev.label-ifalias")]
    pub netdev_label_ifalias: bool,

    /// Count ARP entries from /proc/net/arp under --path.procfs instead of
    /// the kernel's neighbour table over netlink (`--collector.arp.netlink`,
    /// the default).
    #[arg(long = "no-collector.arp.netlink", overrides_with = "arp_netlink")]
    pub no_arp_netlink: bool,

    /// Count ARP entries over netlink (RTM_GETNEIGH, the default); this reads
    /// the running kernel whatever --path.procfs says.
    #[arg(long = "collector.arp.netlink", overrides_with = "no_arp_netlink")]
    pub arp_netlink: bool,

    /// Gather netclass's interface attributes over netlink (one RTM_GETLINK
    /// dump, plus speed and duplex from the ethtool netlink family) instead
    /// of ~20 files per interface under /sys/class/net; addr_assign_type,
    /// dev_id and name_assign_type are still read from sysfs. Off by
    /// default, as in node_exporter. Reads the running kernel whatever
    /// --path.sysfs says. Differs from the sysfs mode as node_exporter's
    /// does: no adminstate label, duplex as Full/Half/Unknown, flags with
    /// IFF_RUNNING/IFF_LOWER_UP, an unknown speed as 536870911875000, and
    /// node_network_altnames_info.
    #[arg(
        long = "collector.netclass.netlink",
        overrides_with = "no_netclass_netlink"
    )]
    pub netclass_netlink: bool,

    /// Read netclass's attributes from /sys/class/net (the default).
    #[arg(
        long = "no-collector.netclass.netlink",
        overrides_with = "netclass_netlink"
    )]
    pub no_netclass_netlink: bool,

    /// In netclass's netlink mode, also export each interface's statistics
    /// from its link message (IFLA_STATS64) as node_exporter names them:
    /// node_network_receive_bytes_total, …_packets_total, …_errors_total,
    /// multicast_total, collisions_total and the detailed error counters,
    /// 24 gauges per interface ("replacing netdev collector"; with netdev
    /// on too, netdev leaves those names out). Honours
    /// --collector.netclass.ignored-devices; no effect in the sysfs mode.
    #[arg(
        long = "collector.netclass_rtnl.with-stats",
        overrides_with = "no_netclass_rtnl_with_stats"
    )]
    pub netclass_rtnl_with_stats: bool,

    /// Leave the interface statistics out of netclass (the default).
    #[arg(
        long = "no-collector.netclass_rtnl.with-stats",
        overrides_with = "netclass_rtnl_with_stats"
    )]
    pub no_netclass_rtnl_with_stats: bool,
    // --- end of netlink variants ---
    /// Leave out node_cpu_guest_seconds_total (`--collector.cpu.guest`, the
    /// default, exports it).
    #[arg(long = "no-collector.cpu.guest", overrides_with = "cpu_guest")]
    pub no_cpu_guest: bool,

    /// Export node_cpu_guest_seconds_total (the default).
    #[arg(long = "collector.cpu.guest", overrides_with = "no_cpu_guest")]
    pub cpu_guest: bool,

    /// Export node_cpu_info from /proc/cpuinfo.
    #[arg(long = "collector.cpu.info")]
    pub cpu_info: bool,

    /// Regexp of CPU flags to export as node_cpu_flag_info (implies --collector.cpu.info).
    #[arg(
        long = "collector.cpu.info.flags-include",
        default_value = "",
        value_name = "REGEX"
    )]
    pub cpu_info_flags_include: String,

    /// Regexp of CPU bugs to export as node_cpu_bug_info (implies --collector.cpu.info).
    #[arg(
        long = "collector.cpu.info.bugs-include",
        default_value = "",
        value_name = "REGEX"
    )]
    pub cpu_info_bugs_include: String,

    /// Export softirqs per vector (node_softirqs_total) from /proc/stat.
    #[arg(long = "collector.stat.softirq")]
    pub stat_softirq: bool,

    /// Directory to read `*.prom` text files from (textfile collector); a
    /// glob names several. Repeat the flag for more; their files are read
    /// as if in one directory.
    #[arg(long = "collector.textfile.directory", value_name = "DIR")]
    pub textfile_directory: Vec<PathBuf>,

    /// Largest textfile read, e.g. `512KiB`, `4MiB` or bytes; a larger file
    /// is skipped unread and sets `node_textfile_scrape_error` (0: no limit).
    #[arg(
        long = "collector.textfile.max-size",
        default_value_t = Size(crate::exporter::textfile::DEFAULT_MAX_SIZE),
        value_name = "SIZE"
    )]
    pub textfile_max_size: Size,
    /// GPU indices the gpu collector watches, comma-separated (default: all).
    #[arg(
        long = "collector.gpu.devices",
        value_delimiter = ',',
        value_name = "INDEX,..."
    )]
    pub gpu_devices: Vec<u32>,

    /// Also export each process's GPU memory (gpu collector; a series per pid).
    #[arg(long = "collector.gpu.processes")]
    pub gpu_processes: bool,

    /// How often the cpu_benchmark collector runs its workload (at least 10s).
    #[arg(long = "collector.cpu_benchmark.interval", default_value = crate::exporter::cpu_benchmark::DEFAULT_INTERVAL, value_parser = parse_duration, value_name = "DURATION")]
    pub cpu_benchmark_interval: Duration,

    /// Alertmanager to post each new remote login to, as a short-lived
    /// `RemoteLogin` alert (logins collector), e.g. `http://localhost:9093`.
    #[arg(long = "collector.logins.alertmanager-url", value_name = "URL")]
    pub logins_alertmanager_url: Option<String>,

    /// Where the logins collector finds sessions: `logind` (systemd-logind over
    /// the system bus at /run/dbus/system_bus_socket under --path.rootfs),
    /// `utmp`, or `auto` (logind when that bus is there, else utmp).
    #[arg(
        long = "collector.logins.source",
        default_value = "auto",
        value_name = "SOURCE"
    )]
    pub logins_source: crate::exporter::logins::Source,

    /// The `agent` label of login alerts (default: this host's name).
    #[arg(long = "collector.logins.agent", value_name = "NAME")]
    pub logins_agent: Option<String>,

    /// At most 3 login alerts per window; later logins in it are posted
    /// together as one `RemoteLoginStorm` alert when it ends.
    #[arg(long = "collector.logins.alert-window", default_value = "1m", value_parser = parse_duration, value_name = "DURATION")]
    pub logins_alert_window: Duration,

    /// Regexp of systemd units to include (the whole name must match);
    /// units must match it and not `--collector.systemd.unit-exclude`.
    #[arg(long = "collector.systemd.unit-include", default_value = crate::exporter::systemd::DEFAULT_UNIT_INCLUDE, value_name = "REGEX")]
    pub systemd_unit_include: String,

    /// Regexp of systemd units to exclude (the whole name must match).
    #[arg(long = "collector.systemd.unit-exclude", default_value = crate::exporter::systemd::DEFAULT_UNIT_EXCLUDE, value_name = "REGEX")]
    pub systemd_unit_exclude: String,

    /// Export node_systemd_unit_tasks_current and _max for service units.
    #[arg(long = "collector.systemd.enable-task-metrics")]
    pub systemd_tasks: bool,

    /// Export node_systemd_service_restart_total for service units.
    #[arg(long = "collector.systemd.enable-restarts-metrics")]
    pub systemd_restarts: bool,

    /// Export node_systemd_unit_start_time_seconds.
    #[arg(long = "collector.systemd.enable-start-time-metrics")]
    pub systemd_start_time: bool,

    /// Regexp of network devices the ethtool collector reads (empty: all).
    #[arg(
        long = "collector.ethtool.device-include",
        default_value = "",
        value_name = "REGEX"
    )]
    pub ethtool_device_include: String,

    /// Regexp of network devices the ethtool collector leaves out.
    #[arg(
        long = "collector.ethtool.device-exclude",
        default_value = "",
        value_name = "REGEX"
    )]
    pub ethtool_device_exclude: String,

    /// Regexp of ethtool statistics to export (matched anywhere in the name).
    #[arg(
        long = "collector.ethtool.metrics-include",
        default_value = ".*",
        value_name = "REGEX"
    )]
    pub ethtool_metrics_include: String,

    /// Disable every collector that is on by default; enable some again with `--collector.NAME`.
    #[arg(long = "collector.disable-defaults")]
    pub disable_defaults: bool,

    #[command(flatten)]
    pub collectors: CollectorFlags,

    #[command(flatten)]
    pub probe: ProbeArgs,

    #[command(flatten)]
    pub actions: ActionsArgs,
}

/// Signed actions (see `exporter::actions`): off without `--actions.config`.
#[derive(Debug, Clone, Args)]
pub struct ActionsArgs {
    /// Allow-list of signed actions this agent serves (trusted keys, its
    /// name, built-in and custom actions); actions are off without it.
    #[arg(long = "actions.config", value_name = "FILE")]
    pub actions_config: Option<PathBuf>,

    /// Address of the actions listener, `[host]:port`; without TLS only a
    /// loopback address is accepted.
    #[arg(
        long = "actions.listen-address",
        default_value = ":9110",
        value_name = "ADDR"
    )]
    pub actions_listen_address: String,

    /// Exporter-toolkit web configuration for the actions listener (TLS).
    #[arg(long = "actions.web-config.file", value_name = "FILE")]
    pub actions_web_config_file: Option<PathBuf>,
}

/// `outpost actions …`.
#[derive(Debug, Subcommand)]
pub enum ActionsCommand {
    /// Print the `actions_sha256=…` pin of an actions listener's TLS
    /// certificate, for its line in agents.txt.
    Fingerprint(FingerprintArgs),
}

/// `outpost actions fingerprint` arguments.
#[derive(Debug, Args)]
pub struct FingerprintArgs {
    /// The certificate (PEM; the first one in the file is the leaf).
    #[arg(value_name = "CERT.pem")]
    pub cert: PathBuf,
}

/// `outpost keygen` flags.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Folder to write `actions.key` (private, mode 0600) and `actions.pub`
    /// into; created if missing. Existing keys are never overwritten.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// The key id agents will know this key by (`keys:` in --actions.config).
    #[arg(long, default_value = "bridge", value_name = "ID")]
    pub key_id: String,
}

/// TCP probe flags (see `exporter::probe` for the target syntax).
#[derive(Debug, Clone, Args)]
pub struct ProbeArgs {
    /// Probe this target in the background, `NAME=HOST:PORT`, or
    /// `NAME=HOST:PORT,tls` for a TLS handshake and certificate expiry (repeatable).
    #[arg(long = "probe.target", value_name = "NAME=HOST:PORT")]
    pub targets: Vec<String>,

    /// File of targets to probe in the background, one `NAME HOST:PORT [tls]`
    /// per line; re-read when it changes.
    #[arg(long = "probe.targets-file", value_name = "FILE")]
    pub targets_file: Option<PathBuf>,

    /// How often to probe the background targets.
    #[arg(long = "probe.interval", default_value = "15s", value_parser = parse_duration, value_name = "DURATION")]
    pub interval: Duration,

    /// At most this many background probes in flight (and `/probe` requests at once).
    #[arg(long = "probe.concurrency", default_value_t = crate::exporter::probe::DEFAULT_CONCURRENCY, value_name = "N")]
    pub concurrency: usize,

    /// Deadline of one probe (resolution, connect and TLS together).
    #[arg(long = "probe.timeout", default_value = "2s", value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Duration,
}

/// `--collector.NAME` / `--no-collector.NAME` for every collector in
/// [`Name::ALL`], generated from that one list.
#[derive(Debug, Clone, Default)]
pub struct CollectorFlags {
    /// Collectors switched on (`Some(true)`) or off (`Some(false)`) by flag.
    pub explicit: Vec<(Name, bool)>,
}

impl CollectorFlags {
    fn on_id(name: Name) -> String {
        format!("collector.{}", name.as_str())
    }
    fn off_id(name: Name) -> String {
        format!("no-collector.{}", name.as_str())
    }
}

impl FromArgMatches for CollectorFlags {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut explicit = Vec::new();
        for &name in Name::ALL {
            if m.get_flag(&Self::on_id(name)) {
                explicit.push((name, true));
            }
            if m.get_flag(&Self::off_id(name)) {
                explicit.push((name, false));
            }
        }
        Ok(CollectorFlags { explicit })
    }
    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl Args for CollectorFlags {
    fn augment_args(mut cmd: clap::Command) -> clap::Command {
        for &name in Name::ALL {
            let default = if name.enabled_by_default() {
                "enabled"
            } else {
                "disabled"
            };
            cmd = cmd
                .arg(
                    Arg::new(Self::on_id(name))
                        .long(Self::on_id(name))
                        .action(ArgAction::SetTrue)
                        .help(format!(
                            "Enable the {} collector: {} (default: {default})",
                            name.as_str(),
                            name.help()
                        )),
                )
                .arg(
                    Arg::new(Self::off_id(name))
                        .long(Self::off_id(name))
                        .action(ArgAction::SetTrue)
                        .conflicts_with(Self::on_id(name))
                        .help(format!("Disable the {} collector", name.as_str())),
                );
        }
        cmd
    }
    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn collector_flags_come_from_the_collector_list() {
        let cli = Cli::try_parse_from([
            "outpost",
            "exporter",
            "--no-collector.cpu",
            "--collector.timex",
        ])
        .unwrap();
        let Command::Exporter(args) = cli.command else {
            panic!("not the exporter")
        };
        assert_eq!(
            args.collectors.explicit,
            vec![(Name::Cpu, false), (Name::Timex, true)]
        );
        assert!(Cli::try_parse_from(["outpost", "exporter", "--collector.nosuch"]).is_err());
    }

    #[test]
    fn ask_takes_the_command_as_words() {
        let cli = Cli::try_parse_from([
            "outpost",
            "ask",
            "--timezone",
            "Europe/Berlin",
            "/mon_cpu_picture",
            "web1",
            "30",
        ])
        .unwrap();
        let Command::Ask(args) = cli.command else {
            panic!("not ask")
        };
        assert_eq!(args.command.join(" "), "/mon_cpu_picture web1 30");
        assert_eq!(args.chat.timezone, "Europe/Berlin");
        assert_eq!(args.chat.prometheus_url, "http://localhost:9090");
        assert!(Cli::try_parse_from(["outpost", "ask"]).is_err());
    }

    #[test]
    fn every_bridge_flag_has_its_env_var_and_secrets_stay_hidden() {
        let cmd = Cli::command();
        let bridge = cmd.find_subcommand("bridge").unwrap();
        for arg in bridge.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if long == "help" || long.starts_with("log.") {
                continue;
            }
            let expected = format!("OUTPOST_{}", long.replace('-', "_").to_uppercase());
            assert_eq!(
                arg.get_env().and_then(|e| e.to_str()),
                Some(expected.as_str()),
                "--{long}"
            );
            // `--state` may be a PostgreSQL URL with a password.
            let secret = long.ends_with("token") || long == "state";
            assert_eq!(arg.is_hide_env_values_set(), secret, "--{long}");
        }
        let cli = Cli::try_parse_from([
            "outpost",
            "bridge",
            "--allowed-users",
            "1,22,333",
            "--chat-id",
            "-5",
        ])
        .unwrap();
        let Command::Bridge(b) = cli.command else {
            panic!("not the bridge")
        };
        assert_eq!(b.roles.allowed_users, vec![1, 22, 333]);
        assert_eq!(b.chat_id, Some(-5));
    }
}
