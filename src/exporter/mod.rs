//! `outpost exporter`: host metrics under node_exporter's names on
//! `/metrics`, served over HTTP (optionally TLS and basic auth), and TCP
//! probes ([`probe`]: blackbox-style `/probe` and a background prober).
//!
//! Flow: clap args → [`Config`] (validated once) → [`run`] with a bound
//! listener and a shutdown future. The collectors are listed in
//! [`collector::Name`]; [`build_registry`] turns the enabled ones into a
//! [`collector::Registry`].

pub mod actions;
pub mod collector;
pub mod dbus;
pub mod encode;
pub mod fasthash;
pub mod gzip;
pub mod intern;
pub mod matcher;
pub mod metrics;
pub mod openfiles;
pub mod probe;
pub mod process;
pub mod residency;
pub mod scrape;
pub mod web;

pub mod arp;
pub mod bonding;
pub mod conntrack;
pub mod cpu;
pub mod cpu_benchmark;
pub mod cpufreq;
pub mod diskstats;
pub mod dmi;
pub mod edac;
pub mod entropy;
pub mod fibrechannel;
pub mod filefd;
pub mod filesystem;
pub mod gpu;
pub mod hwmon;
pub mod infiniband;
pub mod loadavg;
pub mod logins;
pub mod mdadm;
pub mod meminfo;
pub mod netclass;
pub mod netdev;
pub mod netstat;
pub mod nvme;
pub mod os;
pub mod powersupplyclass;
pub mod pressure;
pub mod sockstat;
pub mod softnet;
pub mod stat;
pub mod textfile;
pub mod thermal_zone;
pub mod time;
pub mod timex;
pub mod udp_queues;
pub mod uname;
pub mod vmstat;
// Added for node_exporter parity (issue 12), kept apart so branches merge.
pub mod bcache;
pub mod btrfs;
pub mod cpu_vulnerabilities;
pub mod dmmultipath;
pub mod drm;
pub mod interrupts;
pub mod ipvs;
pub mod kernel_hung;
pub mod meminfo_numa;
pub mod nfs;
pub mod nfsd;
pub mod processes;
pub mod rapl;
pub mod schedstat;
pub mod selinux;
pub mod softirqs;
pub mod tapestats;
pub mod tcpstat;
pub mod watchdog;
pub mod xfs;
pub mod zfs;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use matcher::{DeviceFilter, Matcher};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::cli::ExporterArgs;
use collector::{Collector, Name, Paths, Registry, ScrapeGate};
use encode::Format;
use metrics::Metrics;

/// The exporter's validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub telemetry_path: String,
    pub web: Option<web::WebConfig>,
    pub paths: Paths,
    pub collectors: Vec<Name>,
    pub filesystem: filesystem::Options,
    pub textfile: textfile::Options,
    pub gpu: gpu::Options,
    pub cpu_benchmark_interval: std::time::Duration,
    pub logins: logins::Options,
    pub diskstats_device_exclude: Matcher,
    pub netdev_device_exclude: Option<Matcher>,
    /// `--collector.netdev.device-include`; when set, replaces the exclude.
    pub netdev_device_include: Option<Matcher>,
    pub arp_device_exclude: Option<Matcher>,
    pub netclass_ignored_devices: Option<Matcher>,
    pub netclass_ignore_invalid_speed: bool,
    pub stat_softirq: bool,
    pub cpu_info: cpu::InfoOptions,
    pub max_requests: usize,
    /// Connection cap and header deadline of the HTTP server.
    pub server: crate::server::Limits,
    pub probe: probe::Options,
    /// Signed actions on their own listener (`--actions.config`).
    pub actions: Option<ActionsOptions>,
}

/// Where and how the actions listener serves.
#[derive(Debug, Clone)]
pub struct ActionsOptions {
    pub config: actions::Config,
    pub listen: SocketAddr,
    pub web: Option<web::WebConfig>,
}

/// A configuration problem. `Usage` errors exit 2, the rest 1.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "invalid --web.listen-address {0:?}: expected [host]:port, e.g. :9100 or 127.0.0.1:9100"
    )]
    ListenAddress(String),
    #[error("invalid --web.telemetry-path {0:?}: must start with / and not be /")]
    TelemetryPath(String),
    #[error("invalid regular expression for {flag}: {reason}")]
    Regex { flag: &'static str, reason: String },
    #[error(transparent)]
    Web(#[from] web::WebConfigError),
    #[error(transparent)]
    Actions(#[from] actions::config::ConfigError),
    #[error("invalid --actions.listen-address {0:?}: without TLS (--actions.web-config.file with tls_server_config) actions are only served on a loopback address")]
    ActionsNeedTls(String),
    #[error("{0} needs --actions.config")]
    ActionsOff(&'static str),
    #[error(transparent)]
    ProbeTarget(#[from] probe::targets::ListError),
    #[error("invalid {flag}: {reason}")]
    Url { flag: &'static str, reason: String },
    #[error("invalid {flag}: {reason}")]
    Probe {
        flag: &'static str,
        reason: &'static str,
    },
    #[error("invalid {flag}: {source}")]
    Server {
        flag: &'static str,
        source: crate::server::LimitsError,
    },
}

impl ConfigError {
    pub fn is_usage(&self) -> bool {
        !matches!(self, ConfigError::Web(_) | ConfigError::Actions(_))
    }
}

/// Parses node_exporter-style listen addresses: `:9100`, `host:9100`, `[::1]:9100`.
pub fn parse_listen_address(s: &str) -> Result<SocketAddr, ConfigError> {
    let err = || ConfigError::ListenAddress(s.to_owned());
    let full = if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else {
        s.to_owned()
    };
    if let Ok(a) = full.parse() {
        return Ok(a);
    }
    // A host name: resolve it once, at startup.
    use std::net::ToSocketAddrs;
    full.to_socket_addrs()
        .map_err(|_| err())?
        .next()
        .ok_or_else(err)
}

fn regex(flag: &'static str, pattern: &str) -> Result<Matcher, ConfigError> {
    Matcher::new(pattern).map_err(|e| ConfigError::Regex {
        flag,
        reason: e.to_string(),
    })
}

impl TryFrom<ExporterArgs> for Config {
    type Error = ConfigError;

    fn try_from(a: ExporterArgs) -> Result<Self, Self::Error> {
        let listen = parse_listen_address(&a.listen_address)?;
        if !a.telemetry_path.starts_with('/') || a.telemetry_path == "/" {
            return Err(ConfigError::TelemetryPath(a.telemetry_path));
        }
        let web = a
            .web_config_file
            .as_deref()
            .map(web::WebConfig::load)
            .transpose()?;
        let logins = logins_options(&a)?;
        let mut collectors: Vec<Name> = Name::ALL
            .iter()
            .copied()
            .filter(|n| n.enabled_by_default() && !a.disable_defaults)
            .collect();
        for (name, on) in a.collectors.explicit {
            collectors.retain(|n| *n != name);
            if on {
                collectors.push(name);
            }
        }
        collectors.sort();
        let probe = probe_options(&a.probe)?;
        let actions = actions_options(&a.actions)?;
        let server = crate::server::Limits::new(a.max_connections, a.read_header_timeout).map_err(
            |source| ConfigError::Server {
                flag: match source {
                    crate::server::LimitsError::NoConnections => "--web.max-connections",
                    crate::server::LimitsError::NoTimeout => "--web.read-header-timeout",
                },
                source,
            },
        )?;
        Ok(Config {
            listen,
            telemetry_path: a.telemetry_path,
            web,
            paths: Paths {
                procfs: a.procfs,
                sysfs: a.sysfs,
                rootfs: a.rootfs,
                udev_data: a.udev_data,
            },
            collectors,
            filesystem: filesystem::Options {
                mount_points_exclude: regex(
                    "--collector.filesystem.mount-points-exclude",
                    &a.fs_mount_points_exclude,
                )?,
                fs_types_exclude: regex(
                    "--collector.filesystem.fs-types-exclude",
                    &a.fs_types_exclude,
                )?,
                mount_timeout: a.fs_mount_timeout,
            },
            textfile: textfile::Options {
                directory: a.textfile_directory,
                max_size: Some(a.textfile_max_size.0).filter(|&n| n > 0),
            },
            gpu: gpu::Options {
                devices: a.gpu_devices,
                processes: a.gpu_processes,
            },
            logins,
            cpu_benchmark_interval: a.cpu_benchmark_interval,
            diskstats_device_exclude: regex(
                "--collector.diskstats.device-exclude",
                &a.diskstats_device_exclude,
            )?,
            netdev_device_exclude: match a.netdev_device_exclude.as_str() {
                "" => None,
                re => Some(regex("--collector.netdev.device-exclude", re)?),
            },
            netdev_device_include: optional_regex(
                "--collector.netdev.device-include",
                &a.netdev_device_include,
            )?,
            arp_device_exclude: optional_regex(
                "--collector.arp.device-exclude",
                &a.arp_device_exclude,
            )?,
            netclass_ignored_devices: optional_regex(
                "--collector.netclass.ignored-devices",
                &a.netclass_ignored_devices,
            )?,
            netclass_ignore_invalid_speed: a.netclass_ignore_invalid_speed,
            stat_softirq: a.stat_softirq,
            cpu_info: cpu::InfoOptions {
                enabled: a.cpu_info,
                flags_include: optional_regex(
                    "--collector.cpu.info.flags-include",
                    &a.cpu_info_flags_include,
                )?,
                bugs_include: optional_regex(
                    "--collector.cpu.info.bugs-include",
                    &a.cpu_info_bugs_include,
                )?,
            },
            max_requests: a.max_requests,
            server,
            probe,
            actions,
        })
    }
}

/// An optional filter flag: empty means none.
fn optional_regex(flag: &'static str, pattern: &str) -> Result<Option<Matcher>, ConfigError> {
    match pattern {
        "" => Ok(None),
        re => regex(flag, re).map(Some),
    }
}

fn actions_options(a: &crate::cli::ActionsArgs) -> Result<Option<ActionsOptions>, ConfigError> {
    let Some(path) = &a.actions_config else {
        if a.actions_web_config_file.is_some() {
            return Err(ConfigError::ActionsOff("--actions.web-config.file"));
        }
        return Ok(None);
    };
    let config = actions::Config::load(path)?;
    let listen = parse_listen_address(&a.actions_listen_address).map_err(|_| {
        ConfigError::ListenAddress(format!(
            "--actions.listen-address {}",
            a.actions_listen_address
        ))
    })?;
    let web = a
        .actions_web_config_file
        .as_deref()
        .map(web::WebConfig::load)
        .transpose()?;
    if web.as_ref().and_then(|w| w.tls.as_ref()).is_none() && !listen.ip().is_loopback() {
        return Err(ConfigError::ActionsNeedTls(
            a.actions_listen_address.clone(),
        ));
    }
    Ok(Some(ActionsOptions {
        config,
        listen,
        web,
    }))
}

fn logins_options(a: &ExporterArgs) -> Result<logins::Options, ConfigError> {
    let alertmanager_url = a
        .logins_alertmanager_url
        .as_deref()
        .map(|u| {
            let mut url = reqwest::Url::parse(u).map_err(|e| ConfigError::Url {
                flag: "--collector.logins.alertmanager-url",
                reason: e.to_string(),
            })?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(ConfigError::Url {
                    flag: "--collector.logins.alertmanager-url",
                    reason: format!("scheme {:?}: use http or https", url.scheme()),
                });
            }
            // A base URL: `api/v2/alerts` is joined to it.
            if !url.path().ends_with('/') {
                url.set_path(&format!("{}/", url.path()));
            }
            Ok(url)
        })
        .transpose()?;
    let agent = match &a.logins_agent {
        Some(name) => name.clone(),
        None => nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".into()),
    };
    if a.logins_alert_window.is_zero() {
        return Err(ConfigError::Probe {
            flag: "--collector.logins.alert-window",
            reason: "must be greater than zero",
        });
    }
    Ok(logins::Options {
        alertmanager_url,
        agent,
        alert_window: a.logins_alert_window,
        source: a.logins_source,
    })
}

fn probe_options(a: &crate::cli::ProbeArgs) -> Result<probe::Options, ConfigError> {
    let targets = a
        .targets
        .iter()
        .map(|t| probe::targets::parse_flag(t))
        .collect::<Result<Vec<_>, _>>()?;
    probe::targets::check_flags(&targets)?;
    let positive = |flag, d: std::time::Duration| {
        if d.is_zero() {
            Err(ConfigError::Probe {
                flag,
                reason: "must be greater than zero",
            })
        } else {
            Ok(d)
        }
    };
    if a.concurrency == 0 {
        return Err(ConfigError::Probe {
            flag: "--probe.concurrency",
            reason: "must be at least 1",
        });
    }
    Ok(probe::Options {
        targets,
        targets_file: a.targets_file.clone(),
        interval: positive("--probe.interval", a.interval)?,
        concurrency: a.concurrency,
        timeout: positive("--probe.timeout", a.timeout)?,
    })
}

/// Builds the collector for `name` from the config; `gate` is the
/// registry's scrape gate.
fn build_collector(name: Name, config: &Config, gate: &Arc<ScrapeGate>) -> Arc<dyn Collector> {
    let p = config.paths.clone();
    match name {
        Name::Arp => Arc::new(arp::Arp::new(
            p,
            DeviceFilter {
                include: None,
                exclude: config.arp_device_exclude.clone(),
            },
        )),
        Name::Bonding => Arc::new(bonding::Bonding::new(p)),
        Name::Conntrack => Arc::new(conntrack::Conntrack::new(p)),
        Name::Cpu => Arc::new(cpu::Cpu::new(p, config.cpu_info.clone())),
        Name::Cpufreq => Arc::new(cpufreq::Cpufreq::new(p)),
        Name::CpuBenchmark => Arc::new(cpu_benchmark::CpuBenchmark::new(
            config.cpu_benchmark_interval,
            gate.clone(),
        )),
        Name::Diskstats => Arc::new(diskstats::Diskstats::new(
            p,
            config.diskstats_device_exclude.clone(),
        )),
        Name::Dmi => Arc::new(dmi::Dmi::new(p)),
        Name::Edac => Arc::new(edac::Edac::new(p)),
        Name::Entropy => Arc::new(entropy::Entropy::new(p)),
        Name::Fibrechannel => Arc::new(fibrechannel::Fibrechannel::new(p)),
        Name::Filefd => Arc::new(filefd::Filefd::new(p)),
        Name::Filesystem => Arc::new(filesystem::Filesystem::new(p, config.filesystem.clone())),
        Name::Gpu => Arc::new(gpu::Gpu::new(p, config.gpu.clone())),
        Name::Hwmon => Arc::new(hwmon::Hwmon::new(p)),
        Name::Infiniband => Arc::new(infiniband::Infiniband::new(p)),
        Name::Loadavg => Arc::new(loadavg::Loadavg::new(p)),
        Name::Logins => Arc::new(logins::Logins::new(p, config.logins.clone())),
        Name::Mdadm => Arc::new(mdadm::Mdadm::new(p)),
        Name::Meminfo => Arc::new(meminfo::Meminfo::new(p)),
        Name::Netclass => Arc::new(netclass::Netclass::new(
            p,
            DeviceFilter {
                include: None,
                exclude: config.netclass_ignored_devices.clone(),
            },
            config.netclass_ignore_invalid_speed,
        )),
        Name::Netdev => Arc::new(netdev::Netdev::new(
            p,
            match &config.netdev_device_include {
                Some(include) => DeviceFilter {
                    include: Some(include.clone()),
                    exclude: None,
                },
                None => DeviceFilter {
                    include: None,
                    exclude: config.netdev_device_exclude.clone(),
                },
            },
        )),
        Name::Netstat => Arc::new(netstat::Netstat::new(p)),
        Name::Nvme => Arc::new(nvme::Nvme::new(p)),
        Name::Os => Arc::new(os::Os::new(p)),
        Name::PowerSupplyClass => Arc::new(powersupplyclass::PowerSupplyClass::new(p)),
        Name::Pressure => Arc::new(pressure::Pressure::new(p)),
        Name::Sockstat => Arc::new(sockstat::Sockstat::new(p)),
        Name::Softnet => Arc::new(softnet::Softnet::new(p)),
        Name::Stat => Arc::new(stat::Stat::new(p, config.stat_softirq)),
        Name::Textfile => Arc::new(textfile::Textfile::new(config.textfile.clone())),
        Name::ThermalZone => Arc::new(thermal_zone::ThermalZone::new(p)),
        Name::Time => Arc::new(time::Time::new(p)),
        Name::Timex => Arc::new(timex::TimexCollector),
        Name::UdpQueues => Arc::new(udp_queues::UdpQueues::new(p)),
        Name::Uname => Arc::new(uname::UnameCollector::new(p)),
        Name::Vmstat => Arc::new(vmstat::Vmstat::new(p)),
        Name::Schedstat => Arc::new(schedstat::Schedstat::new(p)),
        Name::Watchdog => Arc::new(watchdog::Watchdog::new(p)),
        Name::KernelHung => Arc::new(kernel_hung::KernelHung::new(p)),
        Name::Selinux => Arc::new(selinux::Selinux::new(p)),
        Name::Rapl => Arc::new(rapl::Rapl::new(p)),
        Name::Xfs => Arc::new(xfs::Xfs::new(p)),
        Name::Btrfs => Arc::new(btrfs::Btrfs::new(p)),
        Name::Zfs => Arc::new(zfs::Zfs::new(p)),
        Name::Nfs => Arc::new(nfs::Nfs::new(p)),
        Name::Nfsd => Arc::new(nfsd::Nfsd::new(p)),
        Name::Ipvs => Arc::new(ipvs::Ipvs::new(p)),
        Name::Bcache => Arc::new(bcache::Bcache::new(p)),
        Name::Tapestats => Arc::new(tapestats::Tapestats::new(p)),
        Name::Dmmultipath => Arc::new(dmmultipath::Dmmultipath::new(p)),
        Name::Tcpstat => Arc::new(tcpstat::Tcpstat::new(p)),
        Name::Interrupts => Arc::new(interrupts::Interrupts::new(p)),
        Name::Softirqs => Arc::new(softirqs::SoftirqsCollector::new(p)),
        Name::MeminfoNuma => Arc::new(meminfo_numa::MeminfoNuma::new(p)),
        Name::Processes => Arc::new(processes::Processes::new(p)),
        Name::CpuVulnerabilities => Arc::new(cpu_vulnerabilities::CpuVulnerabilities::new(p)),
        Name::Drm => Arc::new(drm::Drm::new(p)),
    }
}

pub fn build_registry(config: &Config) -> Registry {
    let gate = Arc::default();
    let collectors = config
        .collectors
        .iter()
        .map(|&n| (n, build_collector(n, config, &gate)))
        .collect();
    Registry::with_gate(collectors, gate)
}

/// What the HTTP handlers share.
pub struct AppState {
    pub registry: Registry,
    pub paths: Paths,
    pub telemetry_path: String,
    pub limit: Option<Semaphore>,
    pub gzip: gzip::GzipPool,
    scraper: std::sync::OnceLock<scrape::Scraper>,
    pub probes: probe::Probes,
    /// The HTTP server's connection counts, on `/metrics`.
    pub connections: Arc<crate::server::Stats>,
    /// Signed action requests counted, on `/metrics` when actions are on.
    pub actions: Option<Arc<actions::Stats>>,
    /// Read at the first scrape: it only places this process's own start
    /// time, which does not change.
    boot_time: std::sync::OnceLock<f64>,
}

impl AppState {
    pub fn new(config: &Config) -> Self {
        AppState {
            registry: build_registry(config),
            paths: config.paths.clone(),
            telemetry_path: config.telemetry_path.clone(),
            limit: (config.max_requests > 0).then(|| Semaphore::new(config.max_requests)),
            gzip: gzip::GzipPool::new(flate2::Compression::fast()),
            scraper: std::sync::OnceLock::new(),
            probes: probe::Probes::new(&config.probe),
            connections: Arc::default(),
            actions: config.actions.as_ref().map(|_| Arc::default()),
            boot_time: std::sync::OnceLock::new(),
        }
    }

    /// The scrape thread, started on first use.
    fn scraper(self: &Arc<Self>) -> Option<&scrape::Scraper> {
        if self.scraper.get().is_none() {
            match scrape::Scraper::start(Arc::downgrade(self)) {
                Ok(s) => {
                    let _ = self.scraper.set(s);
                }
                Err(err) => {
                    tracing::error!(error = %err, "cannot start the scrape thread");
                    return None;
                }
            }
        }
        self.scraper.get()
    }

    /// One full scrape: every collector plus the process metrics.
    pub fn gather(&self) -> Metrics {
        let mut m = self.registry.gather();
        let boot = *self
            .boot_time
            .get_or_init(|| boot_time(&self.paths).unwrap_or(0.0));
        if let Ok(st) = process::read_self(&self.paths.procfs, boot) {
            process::encode(&st, &mut m);
        }
        self.probes.board.encode(&mut m);
        encode_connections(&self.connections, &mut m);
        if let Some(a) = &self.actions {
            a.encode(&mut m);
        }
        m
    }
}

/// The server loop's counts as `outpost_http_connections_*`.
fn encode_connections(stats: &crate::server::Stats, m: &mut Metrics) {
    use crate::server::{ShedReason, OPEN_HELP, SHED_HELP};
    let shed = m.counter("outpost_http_connections_shed_total", SHED_HELP);
    for reason in ShedReason::ALL {
        shed.add(&[("reason", reason.as_str())], stats.shed(reason) as f64);
    }
    m.gauge("outpost_http_connections_open", OPEN_HELP)
        .add(&[], stats.open() as f64);
}

fn boot_time(paths: &Paths) -> Option<f64> {
    let text = collector::read_text(paths.proc("stat")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())
}

pub fn router(state: Arc<AppState>) -> Router {
    let path = state.telemetry_path.clone();
    Router::new()
        .route("/", get(landing))
        .route(&path, get(metrics_handler))
        .route("/probe", get(probe::handler::probe))
        .with_state(state)
}

async fn landing(State(state): State<Arc<AppState>>) -> Html<String> {
    Html(format!(
        "<html><head><title>Outpost exporter</title></head><body><h1>Outpost exporter</h1>\
         <p><a href=\"{0}\">{0}</a></p><p><a href=\"/probe?target=localhost:22\">/probe?target=HOST:PORT</a></p></body></html>",
        state.telemetry_path
    ))
}

async fn metrics_handler(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let _permit = match &state.limit {
        Some(sem) => match sem.try_acquire() {
            Ok(p) => Some(p),
            Err(_) => {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many concurrent scrapes\n",
                )
                    .into_response();
            }
        },
        None => None,
    };
    let format = Format::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(accepts_gzip);
    let body = match state.scraper() {
        Some(scraper) => scraper.scrape(format, gzip).await,
        None => None,
    };
    match body {
        Some(bytes) => {
            let mut resp = (
                StatusCode::OK,
                [(header::CONTENT_TYPE, format.content_type())],
                bytes,
            )
                .into_response();
            if gzip {
                resp.headers_mut().insert(
                    header::CONTENT_ENCODING,
                    "gzip".parse().expect("static header"),
                );
            }
            resp
        }
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "scrape failed\n").into_response(),
    }
}

fn accepts_gzip(v: &str) -> bool {
    v.split(',').any(|part| {
        let mut it = part.split(';').map(str::trim);
        let enc = it.next().unwrap_or("");
        let q_zero = it.any(|p| p.replace(' ', "") == "q=0" || p.replace(' ', "") == "q=0.0");
        (enc == "gzip" || enc == "*") && !q_zero
    })
}

/// `outpost exporter`: validate flags, bind, serve until SIGINT/SIGTERM.
pub fn main(args: ExporterArgs) -> anyhow::Result<()> {
    let mut config = match Config::try_from(args) {
        Ok(c) => c,
        Err(e) if e.is_usage() => return Err(crate::UsageError(e.to_string()).into()),
        Err(e) => return Err(e.into()),
    };
    // Thousands of probes in flight need as many sockets: those, and 128
    // for files and clients, are kept free of HTTP connections.
    let background_probes = !config.probe.targets.is_empty() || config.probe.targets_file.is_some();
    let probe_sockets = if background_probes {
        config.probe.concurrency as u64
    } else {
        0
    };
    let (server, nofile) = crate::server::prepare(config.server, 128 + probe_sockets);
    config.server = server;
    if let Some(limit) = nofile.filter(|&n| (n as usize) < config.probe.concurrency + 128) {
        tracing::warn!(
            limit,
            concurrency = config.probe.concurrency,
            "open-file limit is low for --probe.concurrency; probes may fail with reason error"
        );
    }
    // One scheduler thread is plenty: scrapes run on the blocking pool.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(16)
        .build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| anyhow::anyhow!("listening on {}: {e}", config.listen))?;
        residency::shed_startup_code();
        run(config, listener, crate::shutdown_signal()).await
    })
}

/// Serves the exporter on `listener` until `shutdown` completes.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = Arc::new(AppState::new(&config));
    let names: Vec<&str> = state.registry.names().map(Name::as_str).collect();
    tracing::info!(address = %listener.local_addr()?, collectors = ?names, tls = config.web.as_ref().is_some_and(|w| w.tls.is_some()), "exporter listening");
    let prober = state
        .probes
        .start()
        .await
        .map_err(|e| anyhow::anyhow!("starting the background prober: {e}"))?;
    let connections = Arc::clone(&state.connections);
    let (shutdown, actions_task) = match (config.actions, &state.actions) {
        (Some(opts), Some(stats)) => {
            let (task, shutdown) = start_actions(
                opts,
                config.paths.procfs.clone(),
                config.paths.rootfs.clone(),
                Arc::clone(stats),
                config.server,
                shutdown,
            )
            .await?;
            (shutdown, Some(task))
        }
        _ => (
            Box::pin(shutdown) as std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
            None,
        ),
    };
    let app = router(state);
    web::serve(
        listener,
        app,
        config.web,
        config.server,
        connections,
        shutdown,
    )
    .await;
    if let Some(task) = prober {
        task.abort();
    }
    if let Some(task) = actions_task {
        let _ = task.await;
    }
    Ok(())
}

/// Binds and serves the actions listener; both servers stop on `shutdown`
/// (the returned future completes when it does).
///
/// Decision: the actions listener is bound here, from the config, rather
/// than passed in, so `run`'s signature stays the one for every exporter.
async fn start_actions(
    opts: ActionsOptions,
    procfs: PathBuf,
    rootfs: PathBuf,
    stats: Arc<actions::Stats>,
    limits: crate::server::Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<(
    tokio::task::JoinHandle<()>,
    std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
)> {
    let listener = TcpListener::bind(opts.listen).await.map_err(|e| {
        anyhow::anyhow!("listening on --actions.listen-address {}: {e}", opts.listen)
    })?;
    let enabled: Vec<String> = actions::Builtin::ALL
        .iter()
        .map(|b| b.as_str().to_owned())
        .chain(opts.config.custom.keys().cloned())
        .collect();
    tracing::info!(address = %listener.local_addr()?, agent = %opts.config.agent, keys = ?opts.config.keys.keys().collect::<Vec<_>>(), known = ?enabled, tls = opts.web.as_ref().is_some_and(|w| w.tls.is_some()), "actions listening");
    let (tx, rx) = tokio::sync::watch::channel(false);
    let agent = Arc::new(actions::Agent::new(opts.config, procfs, &rootfs, stats));
    let mut rx_actions = rx.clone();
    let task = tokio::spawn(web::serve(
        listener,
        actions::router(agent),
        opts.web,
        limits,
        Arc::default(),
        async move {
            let _ = rx_actions.wait_for(|&v| v).await;
        },
    ));
    let both = async move {
        shutdown.await;
        let _ = tx.send(true);
    };
    drop(rx);
    Ok((task, Box::pin(both)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_parse_like_node_exporter() {
        assert_eq!(
            parse_listen_address(":9100").unwrap(),
            "0.0.0.0:9100".parse().unwrap()
        );
        assert_eq!(
            parse_listen_address("[::1]:9100").unwrap(),
            "[::1]:9100".parse().unwrap()
        );
        assert!(parse_listen_address("nonsense").is_err());
        assert!(parse_listen_address(":99999").is_err());
    }

    #[test]
    fn gzip_negotiation() {
        assert!(accepts_gzip("gzip"));
        assert!(accepts_gzip("deflate, gzip;q=1.0, *;q=0.5"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("identity"));
    }
}
