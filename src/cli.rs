//! Command-line surface: clap structs only. Each subcommand's raw flags are
//! turned into a validated config by the module that runs it.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Arg, ArgAction, ArgMatches, Args, FromArgMatches, Parser, Subcommand};

use crate::exporter::collector::Name;

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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve host metrics (node_exporter-compatible) and TCP probes over HTTP.
    Exporter(ExporterArgs),
    /// Run one chat command (e.g. "/mon_cpu web1") through the chat engine and print the reply.
    Ask(AskArgs),
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

    /// IANA time zone for `hhmm` in chart commands, chart axes and times in replies.
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

    /// Where to write a chart reply.
    #[arg(long, default_value = "outpost-chart.png", value_name = "FILE")]
    pub chart_out: PathBuf,

    /// SQLite state database (the audit log is kept there).
    #[arg(
        long,
        env = "OUTPOST_STATE",
        default_value = "./data/outpost.db",
        value_name = "FILE"
    )]
    pub state: PathBuf,

    /// Comma-separated Telegram user ids shown as allowed by /whoami (the local operator always is).
    #[arg(
        long,
        env = "OUTPOST_ALLOWED_USERS",
        value_delimiter = ',',
        value_name = "IDS"
    )]
    pub allowed_users: Vec<i64>,

    #[command(flatten)]
    pub chat: ChatArgs,
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

    /// procfs mountpoint.
    #[arg(long = "path.procfs", default_value = "/proc", value_name = "DIR")]
    pub procfs: PathBuf,

    /// sysfs mountpoint.
    #[arg(long = "path.sysfs", default_value = "/sys", value_name = "DIR")]
    pub sysfs: PathBuf,

    /// Root filesystem of the host (e.g. `/host` in a container).
    #[arg(long = "path.rootfs", default_value = "/", value_name = "DIR")]
    pub rootfs: PathBuf,

    /// Regexp of mount points to ignore in the filesystem collector.
    #[arg(
        long = "collector.filesystem.mount-points-exclude",
        default_value = crate::exporter::filesystem::DEFAULT_MOUNT_POINTS_EXCLUDE,
        value_name = "REGEX"
    )]
    pub fs_mount_points_exclude: String,

    /// Regexp of filesystem types to ignore in the filesystem collector.
    #[arg(
        long = "collector.filesystem.fs-types-exclude",
        default_value = crate::exporter::filesystem::DEFAULT_FS_TYPES_EXCLUDE,
        value_name = "REGEX"
    )]
    pub fs_types_exclude: String,

    /// How long to wait for a mount's statfs before reporting it stuck
    /// (`node_filesystem_device_error 1`); a stuck mount is not retried
    /// until its pending call returns.
    #[arg(long = "collector.filesystem.mount-timeout", default_value = "5s", value_parser = parse_duration, value_name = "DURATION")]
    pub fs_mount_timeout: Duration,

    /// Directory to read `*.prom` text files from (textfile collector).
    #[arg(long = "collector.textfile.directory", value_name = "DIR")]
    pub textfile_directory: Option<PathBuf>,

    /// Disable every collector that is on by default; enable some again with `--collector.NAME`.
    #[arg(long = "collector.disable-defaults")]
    pub disable_defaults: bool,

    #[command(flatten)]
    pub collectors: CollectorFlags,
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

/// Parses `500ms`, `5s`, `2m`, `1h` (and plain seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map(|i| s.split_at(i))
        .unwrap_or((s, "s"));
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: expected e.g. 500ms, 5s, 2m"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        _ => {
            return Err(format!(
                "invalid duration unit in {s:?}: use ms, s, m, h or d"
            ))
        }
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("invalid duration {s:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
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
    fn durations_parse() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5y").is_err());
    }
}
