//! `outpost exporter`: host metrics under node_exporter's names on
//! `/metrics`, served over HTTP (optionally TLS and basic auth), and TCP
//! probes ([`probe`]: blackbox-style `/probe` and a background prober).
//!
//! Flow: clap args → [`Config`] (validated once, in `cli::exporter`; this
//! module never sees clap) → [`run`] with a bound listener and a shutdown
//! future. The collectors are listed in
//! [`collector::Name`]; [`build_registry`] turns the enabled ones into a
//! [`collector::Registry`].

pub mod actions;
pub mod collector;
pub mod dbus;
pub mod dirwatch;
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

pub mod collectors;
// Collectors keep their short paths (`exporter::cpu`): the groups are
// for reading the tree, not part of any name.
pub use collectors::hardware::{
    cpufreq, dmi, drm, edac, gpu, hwmon, powersupplyclass, rapl, thermal_zone, watchdog,
};
pub use collectors::kernel::{
    cpu, cpu_vulnerabilities, entropy, filefd, interrupts, kernel_hung, loadavg, meminfo,
    meminfo_numa, pressure, processes, schedstat, selinux, softirqs, stat, time, timex, uname,
    vmstat,
};
pub use collectors::network::{
    arp, bonding, conntrack, ethtool, ethtool_ioctl, infiniband, ipvs, netclass, netclass_netlink,
    netdev, netstat, rtnl, sockstat, softnet, tcpstat, udp_queues,
};
pub use collectors::storage::{
    bcache, bcachefs, btrfs, diskstats, dmmultipath, fibrechannel, filesystem, mdadm, mountstats,
    nfs, nfsd, nvme, tapestats, xfs, zfs,
};
pub use collectors::system::{logind, logins, os, systemd, textfile};

// Outpost's own benchmark collector (not node_exporter's).
pub mod cpu_benchmark;

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
    pub diskstats_devices: DeviceFilter,
    pub netdev_device_exclude: Option<Matcher>,
    /// `--collector.netdev.device-include`; when set, replaces the exclude.
    pub netdev_device_include: Option<Matcher>,
    pub arp_devices: DeviceFilter,
    /// `--collector.netdev.netlink`, `.enable-detailed-metrics`,
    /// `.address-info`, `.label-ifalias`; its `filter` is built from the
    /// two device fields above.
    pub netdev: netdev::Options,
    /// `--collector.arp.netlink`.
    pub arp_netlink: bool,
    pub netclass_ignored_devices: Option<Matcher>,
    pub netclass_ignore_invalid_speed: bool,
    /// `--collector.netclass.netlink`.
    pub netclass_netlink: bool,
    /// `--collector.netclass_rtnl.with-stats`.
    pub netclass_rtnl_with_stats: bool,
    pub stat_softirq: bool,
    pub cpu_info: cpu::InfoOptions,
    pub systemd: systemd::Options,
    pub ethtool: ethtool::Options,
    /// `--[no-]collector.cpu.guest`.
    pub cpu_guest: bool,
    pub hwmon: hwmon::Filters,
    pub interrupts: interrupts::Options,
    pub ipvs_backend_labels: Vec<ipvs::BackendLabel>,
    pub netstat_fields: Matcher,
    pub vmstat_fields: Matcher,
    /// `--collector.powersupply.ignored-supplies`.
    pub powersupply_ignored: Matcher,
    /// `--collector.tapestats.ignored-devices`.
    pub tapestats_ignored: Matcher,
    pub rapl_zone_label: bool,
    /// `--collector.bcache.priorityStats`: also read each cache device's
    /// `priority_stats`.
    pub bcache_priority_stats: bool,
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

/// Builds the collector for `name` from the config; `gate` is the
/// registry's scrape gate.
fn build_collector(name: Name, config: &Config, gate: &Arc<ScrapeGate>) -> Arc<dyn Collector> {
    let p = config.paths.clone();
    match name {
        Name::Arp => Arc::new(arp::Arp::new(
            p,
            config.arp_devices.clone(),
            config.arp_netlink,
        )),
        Name::Bonding => Arc::new(bonding::Bonding::new(p)),
        Name::Conntrack => Arc::new(conntrack::Conntrack::new(p)),
        Name::Cpu => Arc::new(cpu::Cpu::new(p, config.cpu_info.clone(), config.cpu_guest)),
        Name::Cpufreq => Arc::new(cpufreq::Cpufreq::new(p)),
        Name::CpuBenchmark => Arc::new(cpu_benchmark::CpuBenchmark::new(
            config.cpu_benchmark_interval,
            gate.clone(),
        )),
        Name::Diskstats => Arc::new(diskstats::Diskstats::new(
            p,
            config.diskstats_devices.clone(),
        )),
        Name::Dmi => Arc::new(dmi::Dmi::new(p)),
        Name::Edac => Arc::new(edac::Edac::new(p)),
        Name::Entropy => Arc::new(entropy::Entropy::new(p)),
        Name::Fibrechannel => Arc::new(fibrechannel::Fibrechannel::new(p)),
        Name::Filefd => Arc::new(filefd::Filefd::new(p)),
        Name::Filesystem => Arc::new(filesystem::Filesystem::new(p, config.filesystem.clone())),
        Name::Gpu => Arc::new(gpu::Gpu::new(p, config.gpu.clone())),
        Name::Hwmon => Arc::new(hwmon::Hwmon::new(p, config.hwmon.clone())),
        Name::Infiniband => Arc::new(infiniband::Infiniband::new(p)),
        Name::Loadavg => Arc::new(loadavg::Loadavg::new(p)),
        Name::Logins => Arc::new(logins::Logins::new(p, config.logins.clone())),
        Name::Mdadm => Arc::new(mdadm::Mdadm::new(p)),
        Name::Meminfo => Arc::new(meminfo::Meminfo::new(p)),
        Name::Netclass => Arc::new(netclass::Netclass::new(
            p,
            netclass::Options {
                ignored: DeviceFilter {
                    include: None,
                    exclude: config.netclass_ignored_devices.clone(),
                },
                ignore_invalid_speed: config.netclass_ignore_invalid_speed,
                netlink: config.netclass_netlink,
                with_stats: config.netclass_rtnl_with_stats,
            },
        )),
        Name::Netdev => Arc::new(netdev::Netdev::new(
            p,
            netdev::Options {
                filter: match &config.netdev_device_include {
                    Some(include) => DeviceFilter {
                        include: Some(include.clone()),
                        exclude: None,
                    },
                    None => DeviceFilter {
                        include: None,
                        exclude: config.netdev_device_exclude.clone(),
                    },
                },
                yield_to_netclass_stats: config.netclass_rtnl_with_stats
                    && config.netclass_netlink
                    && config.collectors.contains(&Name::Netclass),
                ..config.netdev.clone()
            },
        )),
        Name::Netstat => Arc::new(netstat::Netstat::new(p, config.netstat_fields.clone())),
        Name::Nvme => Arc::new(nvme::Nvme::new(p)),
        Name::Os => Arc::new(os::Os::new(p)),
        Name::PowerSupplyClass => Arc::new(powersupplyclass::PowerSupplyClass::new(
            p,
            config.powersupply_ignored.clone(),
        )),
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
        Name::Vmstat => Arc::new(vmstat::Vmstat::new(p, config.vmstat_fields.clone())),
        Name::Schedstat => Arc::new(schedstat::Schedstat::new(p)),
        Name::Watchdog => Arc::new(watchdog::Watchdog::new(p)),
        Name::KernelHung => Arc::new(kernel_hung::KernelHung::new(p)),
        Name::Selinux => Arc::new(selinux::Selinux::new(p)),
        Name::Rapl => Arc::new(rapl::Rapl::new(p, config.rapl_zone_label)),
        Name::Xfs => Arc::new(xfs::Xfs::new(p)),
        Name::Btrfs => Arc::new(btrfs::Btrfs::new(p)),
        Name::Zfs => Arc::new(zfs::Zfs::new(p)),
        Name::Nfs => Arc::new(nfs::Nfs::new(p)),
        Name::Nfsd => Arc::new(nfsd::Nfsd::new(p)),
        Name::Ipvs => Arc::new(ipvs::Ipvs::new(p, config.ipvs_backend_labels.clone())),
        Name::Bcache => Arc::new(bcache::Bcache::new(p, config.bcache_priority_stats)),
        Name::Tapestats => Arc::new(tapestats::Tapestats::new(
            p,
            config.tapestats_ignored.clone(),
        )),
        Name::Dmmultipath => Arc::new(dmmultipath::Dmmultipath::new(p)),
        Name::Tcpstat => Arc::new(tcpstat::Tcpstat::new(p)),
        Name::Interrupts => Arc::new(interrupts::Interrupts::new(p, config.interrupts.clone())),
        Name::Softirqs => Arc::new(softirqs::SoftirqsCollector::new(p)),
        Name::MeminfoNuma => Arc::new(meminfo_numa::MeminfoNuma::new(p)),
        Name::Processes => Arc::new(processes::Processes::new(p)),
        Name::CpuVulnerabilities => Arc::new(cpu_vulnerabilities::CpuVulnerabilities::new(p)),
        Name::Drm => Arc::new(drm::Drm::new(p)),
        Name::Bcachefs => Arc::new(bcachefs::Bcachefs::new(p)),
        Name::Systemd => Arc::new(systemd::Systemd::new(p, config.systemd.clone())),
        Name::Logind => Arc::new(logind::Logind::new(p)),
        Name::Mountstats => Arc::new(mountstats::Mountstats::new(p)),
        Name::Ethtool => Arc::new(ethtool::Ethtool::new(p, config.ethtool.clone())),
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
            gzip: gzip::GzipPool::new(),
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

    /// Hands back an encoded scrape's families ([`collector::Registry::recycle`]).
    pub fn recycle(&self, families: Vec<metrics::Family>) {
        self.registry.recycle(families);
    }

    /// One full scrape: every collector plus the process metrics.
    pub fn gather(&self) -> Metrics {
        // Every change made before the scrape began is seen by it.
        dirwatch::sync();
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

/// `outpost exporter`: bind, serve until SIGINT/SIGTERM (the flags were
/// validated into `config` by `cli::exporter`).
pub fn main(mut config: Config) -> anyhow::Result<()> {
    residency::one_malloc_arena();
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
    if let Some(n) = nofile {
        openfiles::cap(n);
    }
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
    fn gzip_negotiation() {
        assert!(accepts_gzip("gzip"));
        assert!(accepts_gzip("deflate, gzip;q=1.0, *;q=0.5"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("identity"));
    }
}
