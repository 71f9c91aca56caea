//! The exporter's flags ([`ExporterArgs`]) validated into its
//! [`Config`]: the one place they are checked (regular expressions,
//! addresses, include/exclude pairs, files that must load), so that
//! `exporter/` never sees clap (as ripgrep turns raw flags into validated
//! options in one step).

use std::net::SocketAddr;

use super::{ActionsArgs, ExporterArgs, ProbeArgs};
use crate::exporter::collector::{Name, Paths};
use crate::exporter::matcher::{self, DeviceFilter, Matcher};
use crate::exporter::{
    actions, cpu, ethtool, filesystem, gpu, hwmon, interrupts, ipvs, logins, probe, systemd,
    textfile, web, ActionsOptions, Config,
};

/// `outpost exporter`'s flags as a [`Config`]; a usage error (exit 2)
/// for a bad flag, any other for a file that does not load.
pub fn config(args: ExporterArgs) -> anyhow::Result<Config> {
    match Config::try_from(args) {
        Ok(c) => Ok(c),
        Err(e) if e.is_usage() => Err(crate::UsageError(e.to_string()).into()),
        Err(e) => Err(e.into()),
    }
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
    #[error("{include} and {exclude} are mutually exclusive")]
    Exclusive {
        include: &'static str,
        exclude: &'static str,
    },
    #[error("invalid --collector.ipvs.backend-labels: {0}")]
    IpvsLabels(String),
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
                mount_points: filter(
                    [
                        "--collector.filesystem.mount-points-include",
                        "--collector.filesystem.mount-points-exclude",
                    ],
                    DeviceFilter::from_flags(
                        &a.fs_mount_points_include,
                        a.fs_mount_points_exclude.as_deref(),
                        filesystem::DEFAULT_MOUNT_POINTS_EXCLUDE,
                    ),
                )?,
                fs_types: filter(
                    [
                        "--collector.filesystem.fs-types-include",
                        "--collector.filesystem.fs-types-exclude",
                    ],
                    DeviceFilter::from_flags(
                        &a.fs_types_include,
                        a.fs_types_exclude.as_deref(),
                        filesystem::DEFAULT_FS_TYPES_EXCLUDE,
                    ),
                )?,
                mount_timeout: a.fs_mount_timeout,
                stat_workers: a.fs_stat_workers,
            },
            textfile: textfile::Options {
                directories: a.textfile_directory,
                max_size: Some(a.textfile_max_size.0).filter(|&n| n > 0),
            },
            gpu: gpu::Options {
                devices: a.gpu_devices,
                processes: a.gpu_processes,
            },
            logins,
            cpu_benchmark_interval: a.cpu_benchmark_interval,
            diskstats_devices: filter(
                [
                    "--collector.diskstats.device-include",
                    "--collector.diskstats.device-exclude",
                ],
                DeviceFilter::strict(&a.diskstats_device_include, &a.diskstats_device_exclude),
            )?,
            netdev_device_exclude: match a.netdev_device_exclude.as_str() {
                "" => None,
                re => Some(regex("--collector.netdev.device-exclude", re)?),
            },
            netdev_device_include: optional_regex(
                "--collector.netdev.device-include",
                &a.netdev_device_include,
            )?,
            arp_devices: DeviceFilter {
                include: optional_regex("--collector.arp.device-include", &a.arp_device_include)?,
                exclude: optional_regex("--collector.arp.device-exclude", &a.arp_device_exclude)?,
            },
            netdev: crate::exporter::netdev::Options {
                filter: DeviceFilter::default(),
                netlink: !a.no_netdev_netlink,
                detailed: a.netdev_enable_detailed_metrics,
                address_info: a.netdev_address_info,
                label_ifalias: a.netdev_label_ifalias,
                // Set where the collectors are built (it depends on netclass).
                yield_to_netclass_stats: false,
            },
            arp_netlink: !a.no_arp_netlink,
            netclass_ignored_devices: optional_regex(
                "--collector.netclass.ignored-devices",
                &a.netclass_ignored_devices,
            )?,
            netclass_ignore_invalid_speed: a.netclass_ignore_invalid_speed,
            netclass_netlink: a.netclass_netlink,
            netclass_rtnl_with_stats: a.netclass_rtnl_with_stats,
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
            cpu_guest: !a.no_cpu_guest,
            hwmon: hwmon::Filters {
                chips: DeviceFilter {
                    include: optional_regex(
                        "--collector.hwmon.chip-include",
                        &a.hwmon_chip_include,
                    )?,
                    exclude: optional_regex(
                        "--collector.hwmon.chip-exclude",
                        &a.hwmon_chip_exclude,
                    )?,
                },
                sensors: DeviceFilter {
                    include: optional_regex(
                        "--collector.hwmon.sensor-include",
                        &a.hwmon_sensor_include,
                    )?,
                    exclude: optional_regex(
                        "--collector.hwmon.sensor-exclude",
                        &a.hwmon_sensor_exclude,
                    )?,
                },
            },
            interrupts: interrupts::Options {
                names: DeviceFilter {
                    include: optional_regex(
                        "--collector.interrupts.name-include",
                        &a.interrupts_name_include,
                    )?,
                    exclude: optional_regex(
                        "--collector.interrupts.name-exclude",
                        &a.interrupts_name_exclude,
                    )?,
                },
                include_zeros: !a.no_interrupts_include_zeros,
            },
            ipvs_backend_labels: ipvs::BackendLabel::parse_list(&a.ipvs_backend_labels)
                .map_err(ConfigError::IpvsLabels)?,
            netstat_fields: regex("--collector.netstat.fields", &a.netstat_fields)?,
            vmstat_fields: regex("--collector.vmstat.fields", &a.vmstat_fields)?,
            powersupply_ignored: regex(
                "--collector.powersupply.ignored-supplies",
                &a.powersupply_ignored_supplies,
            )?,
            tapestats_ignored: regex(
                "--collector.tapestats.ignored-devices",
                &a.tapestats_ignored_devices,
            )?,
            rapl_zone_label: a.rapl_enable_zone_label,
            bcache_priority_stats: a.bcache_priority_stats,
            systemd: systemd::Options {
                unit_include: regex(
                    "--collector.systemd.unit-include",
                    &systemd::anchored(&a.systemd_unit_include),
                )?,
                unit_exclude: regex(
                    "--collector.systemd.unit-exclude",
                    &systemd::anchored(&a.systemd_unit_exclude),
                )?,
                start_time: a.systemd_start_time,
                tasks: a.systemd_tasks,
                restarts: a.systemd_restarts,
            },
            ethtool: ethtool::Options {
                devices: DeviceFilter {
                    include: optional_regex(
                        "--collector.ethtool.device-include",
                        &a.ethtool_device_include,
                    )?,
                    exclude: optional_regex(
                        "--collector.ethtool.device-exclude",
                        &a.ethtool_device_exclude,
                    )?,
                },
                metrics_include: regex(
                    "--collector.ethtool.metrics-include",
                    &a.ethtool_metrics_include,
                )?,
            },
            max_requests: a.max_requests,
            server,
            probe,
            actions,
        })
    }
}

/// The filter of an include/exclude flag pair (`PREFIX-include`,
/// `PREFIX-exclude`), its error naming the flag at fault.
fn filter(
    [include, exclude]: [&'static str; 2],
    f: Result<DeviceFilter, matcher::FilterError>,
) -> Result<DeviceFilter, ConfigError> {
    f.map_err(|e| match e {
        matcher::FilterError::Both => ConfigError::Exclusive { include, exclude },
        matcher::FilterError::Regex {
            pattern: _,
            reason,
            include: is_include,
        } => ConfigError::Regex {
            flag: if is_include { include } else { exclude },
            reason,
        },
    })
}

/// An optional filter flag: empty means none.
fn optional_regex(flag: &'static str, pattern: &str) -> Result<Option<Matcher>, ConfigError> {
    match pattern {
        "" => Ok(None),
        re => regex(flag, re).map(Some),
    }
}

fn actions_options(a: &ActionsArgs) -> Result<Option<ActionsOptions>, ConfigError> {
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

fn probe_options(a: &ProbeArgs) -> Result<probe::Options, ConfigError> {
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
}
