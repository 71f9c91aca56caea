//! `docker.ps`, `docker.logs NAME [lines]`, `docker.restart NAME`,
//! `docker.prune` and `docker.df`: the Docker Engine API over its unix
//! socket, through bollard (a maintained client that owns the API's types,
//! its versioned paths and the multiplexed log stream), never the `docker`
//! program.
//!
//! Decisions:
//! - bollard sends unversioned paths (`/containers/json`), which the
//!   engine serves at its own API version; the shapes `ps`, `logs`,
//!   `restart` and `prune` read are the same from Engine API 1.24 on.
//!   `/system/df` changed shape in 1.52 (Docker Engine 29: per-item sizes
//!   under `ContainerUsage`/`VolumeUsage`, the shape bollard 0.21 reads;
//!   before, `Containers` and `Volumes` arrays of the same items). bollard
//!   cannot read the older shape (its response type lacks those fields)
//!   and its version negotiation does not help (its paths are unversioned,
//!   so the engine answers at its own version either way). So `docker.df`
//!   asks `/version` first and, on an engine older than 1.52, makes that
//!   one documented request itself over the same socket (hyper, which
//!   bollard is built on) and reads the arrays with the same code. The
//!   query asks for containers and volumes only (`type`, from 1.42; older
//!   engines ignore it and compute everything).
//! - A NAME must look like a container name and match one of the
//!   allow-list's globs before any request is made; it is then the only
//!   thing that reaches the URL path. `docker.ps` and `docker.df` list every
//!   container (they read, and the bridge needs the whole picture for a
//!   disk alert); `ps` marks which ones a NAME may name.
//! - `docker.prune` is `docker system prune` without `--volumes`: stopped
//!   containers, dangling images and unused networks, engine-wide (the
//!   globs narrow names, and prune names none). Volumes hold data and are
//!   never pruned.
//! - `docker.logs` keeps the last 16 KiB of the interleaved stdout and
//!   stderr (the newest lines are the ones asked for); the line count is
//!   capped by the allow-list's `max_lines`.

use bollard::errors::Error as DockerError;
use bollard::query_parameters::{
    DataUsageOptions, ListContainersOptions, LogsOptions, PruneContainersOptions,
    PruneImagesOptions, PruneNetworksOptions,
};
use bollard::{ClientVersion, Docker, API_DEFAULT_VERSION};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::{config, json, Args, Builtin, ExecError};

/// The engine API version from which `/system/df` has the shape bollard
/// reads (`ContainerUsage`/`VolumeUsage` with items); older ones are asked
/// for the earlier shape ([`LEGACY_DF_PATH`]).
pub const DF_API_VERSION: ClientVersion = ClientVersion {
    major_version: 1,
    minor_version: 52,
};
/// Deadline of one call to the engine, in seconds.
pub const TIMEOUT_SECS: u64 = 30;
/// Most bytes of logs kept (the newest).
pub const MAX_LOG_BYTES: usize = super::config::MAX_STDOUT;
/// Largest containers and volumes `docker.df` lists.
pub const DF_TOP: usize = 10;

/// One container in `docker.ps`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    pub name: String,
    /// The short (12-digit) id.
    pub id: String,
    pub image: String,
    /// `running`, `exited`, `restarting`, …
    pub state: String,
    /// The engine's words: `Up 3 hours (healthy)`.
    pub status: String,
    /// Whether a NAME parameter may name it (the allow-list's globs).
    pub allowed: bool,
}

/// What `docker.logs` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Logs {
    pub container: String,
    pub lines: u32,
    /// stdout and stderr interleaved as the engine sent them.
    pub output: String,
    /// Whether older output was cut to keep [`MAX_LOG_BYTES`].
    pub truncated: bool,
}

/// What `docker.restart` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restarted {
    pub container: String,
}

/// What `docker.prune` removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pruned {
    pub containers_deleted: usize,
    pub images_deleted: usize,
    pub networks_deleted: usize,
    pub space_reclaimed_bytes: u64,
}

/// One container's disk use in `docker.df`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSize {
    pub name: String,
    /// Bytes written in the container's own layer.
    pub size_rw_bytes: u64,
    /// Bytes of all its layers, the image's included.
    pub size_root_fs_bytes: u64,
}

/// One volume's disk use in `docker.df`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeSize {
    pub name: String,
    pub size_bytes: u64,
}

/// What `docker.df` answers: the largest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskUse {
    pub containers: Vec<ContainerSize>,
    pub volumes: Vec<VolumeSize>,
    pub containers_total_bytes: u64,
    pub volumes_total_bytes: u64,
}

/// Runs one enabled `docker.*` action.
pub async fn execute(
    d: &config::Docker,
    action: Builtin,
    mut a: Args<'_>,
) -> Result<String, ExecError> {
    match action {
        Builtin::DockerPs => {
            a.finish()?;
            json(&ps(d).await?)
        }
        Builtin::DockerLogs => {
            let cap = d.logs.expect("enabled");
            let name = container_arg(d, &mut a)?;
            let lines = a
                .int("lines", 1..=u64::from(cap))?
                .unwrap_or(u64::from(cap.min(100)));
            a.finish()?;
            json(&logs(d, &name, lines as u32).await?)
        }
        Builtin::DockerRestart => {
            let name = container_arg(d, &mut a)?;
            a.finish()?;
            json(&restart(d, &name).await?)
        }
        Builtin::DockerPrune => {
            a.finish()?;
            json(&prune(d).await?)
        }
        Builtin::DockerDf => {
            a.finish()?;
            json(&df(d).await?)
        }
        _ => unreachable!("not a docker action: {action:?}"),
    }
}

/// The `container` parameter: a container name the globs allow.
fn container_arg(d: &config::Docker, a: &mut Args<'_>) -> Result<String, ExecError> {
    let name = a.required("container")?;
    if !config::is_container_name(name) {
        return Err(ExecError::Args(format!(
            "parameter \"container\": {name:?} is not a container name"
        )));
    }
    if !d.allows(name) {
        return Err(ExecError::Args(format!(
            "parameter \"container\": {name:?} is not allowed on this agent (allowed: {})",
            d.containers.join(", ")
        )));
    }
    Ok(name.to_owned())
}

fn connect(d: &config::Docker) -> Result<Docker, ExecError> {
    if !d.socket.exists() {
        return Err(ExecError::Failed(format!(
            "no Docker engine socket at {}",
            d.socket.display()
        )));
    }
    Docker::connect_with_unix(
        &d.socket.to_string_lossy(),
        TIMEOUT_SECS,
        API_DEFAULT_VERSION,
    )
    .map_err(|e| engine_error(d, e, ""))
}

/// An engine error as the request's outcome: 404 for a container it does
/// not know, else failed. The engine's message is cut short.
fn engine_error(d: &config::Docker, e: DockerError, container: &str) -> ExecError {
    match e {
        DockerError::DockerResponseServerError {
            status_code: 404,
            message,
        } if !container.is_empty() => {
            ExecError::NotFound(format!("no container {container:?}: {}", cut(&message)))
        }
        DockerError::DockerResponseServerError {
            status_code,
            message,
        } => ExecError::Failed(format!(
            "Docker engine answered {status_code}: {}",
            cut(&message)
        )),
        other => ExecError::Failed(format!(
            "Docker engine at {}: {}",
            d.socket.display(),
            cut(&other.to_string())
        )),
    }
}

fn cut(s: &str) -> String {
    s.chars().take(300).collect()
}

pub async fn ps(d: &config::Docker) -> Result<Vec<Container>, ExecError> {
    let docker = connect(d)?;
    let list = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            ..Default::default()
        }))
        .await
        .map_err(|e| engine_error(d, e, ""))?;
    let mut out: Vec<Container> = list
        .into_iter()
        .map(|c| {
            let name = first_name(c.names.as_deref());
            Container {
                allowed: d.allows(&name),
                name,
                id: c.id.unwrap_or_default().chars().take(12).collect(),
                image: c.image.unwrap_or_default(),
                state: c.state.map(|s| s.to_string()).unwrap_or_default(),
                status: c.status.unwrap_or_default(),
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// A container's name without the engine's leading `/`.
fn first_name(names: Option<&[String]>) -> String {
    names
        .and_then(|n| n.first())
        .map(|n| n.trim_start_matches('/').to_owned())
        .unwrap_or_default()
}

pub async fn logs(d: &config::Docker, name: &str, lines: u32) -> Result<Logs, ExecError> {
    let docker = connect(d)?;
    let mut stream = docker.logs(
        name,
        Some(LogsOptions {
            stdout: true,
            stderr: true,
            tail: lines.to_string(),
            ..Default::default()
        }),
    );
    let mut output: Vec<u8> = Vec::new();
    let mut truncated = false;
    while let Some(frame) = stream.next().await {
        let frame = frame.map_err(|e| engine_error(d, e, name))?;
        output.extend_from_slice(frame.as_ref());
        if output.len() > 2 * MAX_LOG_BYTES {
            let cut_at = output.len() - MAX_LOG_BYTES;
            output.drain(..cut_at);
            truncated = true;
        }
    }
    if output.len() > MAX_LOG_BYTES {
        output.drain(..output.len() - MAX_LOG_BYTES);
        truncated = true;
    }
    Ok(Logs {
        container: name.to_owned(),
        lines,
        output: String::from_utf8_lossy(&output).into_owned(),
        truncated,
    })
}

pub async fn restart(d: &config::Docker, name: &str) -> Result<Restarted, ExecError> {
    let docker = connect(d)?;
    docker
        .restart_container(name, None)
        .await
        .map_err(|e| engine_error(d, e, name))?;
    Ok(Restarted {
        container: name.to_owned(),
    })
}

pub async fn prune(d: &config::Docker) -> Result<Pruned, ExecError> {
    let docker = connect(d)?;
    let err = |e| engine_error(d, e, "");
    let containers = docker
        .prune_containers(None::<PruneContainersOptions>)
        .await
        .map_err(err)?;
    let images = docker
        .prune_images(None::<PruneImagesOptions>)
        .await
        .map_err(err)?;
    let networks = docker
        .prune_networks(None::<PruneNetworksOptions>)
        .await
        .map_err(err)?;
    let bytes = |n: Option<i64>| n.unwrap_or(0).max(0) as u64;
    Ok(Pruned {
        containers_deleted: containers.containers_deleted.map_or(0, |v| v.len()),
        images_deleted: images.images_deleted.map_or(0, |v| v.len()),
        networks_deleted: networks.networks_deleted.map_or(0, |v| v.len()),
        space_reclaimed_bytes: bytes(containers.space_reclaimed) + bytes(images.space_reclaimed),
    })
}

pub async fn df(d: &config::Docker) -> Result<DiskUse, ExecError> {
    let docker = connect(d)?;
    let version = docker.version().await.map_err(|e| engine_error(d, e, ""))?;
    let speaks = version.api_version.unwrap_or_default();
    if !at_least(&speaks, &DF_API_VERSION) {
        let usage = legacy_df(d).await?;
        let items = |k: &str| usage[k].as_array().cloned().unwrap_or_default();
        return Ok(disk_use(
            &items("Containers"),
            &items("Volumes"),
            None,
            None,
        ));
    }
    let usage = docker
        .df(Some(DataUsageOptions {
            verbose: true,
            ..Default::default()
        }))
        .await
        .map_err(|e| engine_error(d, e, ""))?;
    let items = |v: Option<Vec<serde_json::Value>>| v.unwrap_or_default();
    let (c_items, c_total) = usage
        .container_usage
        .map_or((Vec::new(), None), |u| (items(u.items), u.total_size));
    let (v_items, v_total) = usage
        .volume_usage
        .map_or((Vec::new(), None), |u| (items(u.items), u.total_size));
    Ok(disk_use(&c_items, &v_items, c_total, v_total))
}

/// The request `docker.df` makes of an engine older than API 1.52.
pub const LEGACY_DF_PATH: &str = "/system/df?type=container&type=volume";

/// `/system/df` of an engine older than API 1.52, in the shape it has
/// there (`Containers`, `Volumes`), as JSON.
async fn legacy_df(d: &config::Docker) -> Result<serde_json::Value, ExecError> {
    use http_body_util::BodyExt;
    let at = d.socket.display();
    let failed = |e: &dyn std::fmt::Display| {
        ExecError::Failed(format!("Docker engine at {at}: {}", cut(&e.to_string())))
    };
    let call = async {
        let stream = tokio::net::UnixStream::connect(&d.socket)
            .await
            .map_err(|e| failed(&e))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| failed(&e))?;
        tokio::spawn(conn);
        let request = hyper::Request::get(LEGACY_DF_PATH)
            .header(hyper::header::HOST, "docker")
            .body(http_body_util::Empty::<hyper::body::Bytes>::new())
            .map_err(|e| failed(&e))?;
        let response = sender.send_request(request).await.map_err(|e| failed(&e))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| failed(&e))?
            .to_bytes();
        if !status.is_success() {
            return Err(ExecError::Failed(format!(
                "Docker engine answered {}: {}",
                status.as_u16(),
                cut(&String::from_utf8_lossy(&body))
            )));
        }
        serde_json::from_slice(&body).map_err(|e| failed(&e))
    };
    tokio::time::timeout(std::time::Duration::from_secs(TIMEOUT_SECS), call)
        .await
        .map_err(|_| failed(&format!("no answer to /system/df within {TIMEOUT_SECS} s")))?
}

/// Whether an engine's `ApiVersion` (`"1.52"`) is at least `min`.
fn at_least(version: &str, min: &ClientVersion) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<usize>());
    match (parts.next(), parts.next()) {
        (Some(Ok(major)), Some(Ok(minor))) => {
            (major, minor) >= (min.major_version, min.minor_version)
        }
        _ => false,
    }
}

/// The largest containers and volumes from `/system/df`'s items
/// (container summaries with `SizeRw`/`SizeRootFs`, volumes with
/// `UsageData.Size`; -1 means "not computed").
fn disk_use(
    containers: &[serde_json::Value],
    volumes: &[serde_json::Value],
    containers_total: Option<i64>,
    volumes_total: Option<i64>,
) -> DiskUse {
    let size = |v: &serde_json::Value| v.as_i64().unwrap_or(0).max(0) as u64;
    let mut cs: Vec<ContainerSize> = containers
        .iter()
        .map(|c| ContainerSize {
            name: first_name(
                serde_json::from_value::<Vec<String>>(c["Names"].clone())
                    .ok()
                    .as_deref(),
            ),
            size_rw_bytes: size(&c["SizeRw"]),
            size_root_fs_bytes: size(&c["SizeRootFs"]),
        })
        .collect();
    cs.sort_by(|a, b| {
        (b.size_rw_bytes, b.size_root_fs_bytes, &a.name).cmp(&(
            a.size_rw_bytes,
            a.size_root_fs_bytes,
            &b.name,
        ))
    });
    let mut vs: Vec<VolumeSize> = volumes
        .iter()
        .map(|v| VolumeSize {
            name: v["Name"].as_str().unwrap_or_default().to_owned(),
            size_bytes: size(&v["UsageData"]["Size"]),
        })
        .collect();
    vs.sort_by(|a, b| (b.size_bytes, &a.name).cmp(&(a.size_bytes, &b.name)));
    let total = |t: Option<i64>, sum: u64| t.map_or(sum, |t| t.max(0) as u64);
    DiskUse {
        containers_total_bytes: total(containers_total, cs.iter().map(|c| c.size_rw_bytes).sum()),
        volumes_total_bytes: total(volumes_total, vs.iter().map(|v| v.size_bytes).sum()),
        containers: cs.into_iter().take(DF_TOP).collect(),
        volumes: vs.into_iter().take(DF_TOP).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_compare_as_numbers() {
        assert!(at_least("1.52", &DF_API_VERSION));
        assert!(at_least("1.53", &DF_API_VERSION));
        assert!(at_least("2.0", &DF_API_VERSION));
        assert!(!at_least("1.51", &DF_API_VERSION));
        assert!(!at_least("1.9", &DF_API_VERSION));
        assert!(!at_least("", &DF_API_VERSION));
    }

    #[test]
    fn disk_use_lists_the_largest_first() {
        let c = serde_json::json!([
            {"Names": ["/small"], "SizeRw": 10, "SizeRootFs": 100},
            {"Names": ["/big"], "SizeRw": 5000, "SizeRootFs": 9000},
            {"Names": ["/unknown"], "SizeRw": -1, "SizeRootFs": -1}
        ]);
        let v = serde_json::json!([
            {"Name": "data", "UsageData": {"Size": 700, "RefCount": 1}},
            {"Name": "cache", "UsageData": {"Size": 900, "RefCount": 0}}
        ]);
        let d = disk_use(
            c.as_array().unwrap(),
            v.as_array().unwrap(),
            None,
            Some(1600),
        );
        let names: Vec<&str> = d.containers.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["big", "small", "unknown"]);
        assert_eq!(d.containers[2].size_rw_bytes, 0);
        assert_eq!(d.containers_total_bytes, 5010);
        let names: Vec<&str> = d.volumes.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["cache", "data"]);
        assert_eq!(d.volumes_total_bytes, 1600);
    }
}
