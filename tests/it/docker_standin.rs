//! A stand-in for the Docker Engine API on a unix socket. No Docker engine
//! can run on this machine, so this small server follows the Engine API
//! documentation (versions 1.44 and 1.52) for exactly the endpoints the
//! `docker.*` actions use, and records every request it gets:
//!
//! - a path may be versioned (`/v1.44/…`; a version above the engine's
//!   `ApiVersion` is refused with 400 and `{"message": "client version … is
//!   too new …"}`) or not, when the engine answers at its own version, as
//!   the documentation says (bollard sends unversioned paths);
//! - `GET /version`, `GET /containers/json?all=true`,
//!   `GET /containers/{name}/logs?stdout&stderr&tail=N` (the multiplexed
//!   stream: an 8-byte header — stream 1 stdout or 2 stderr, three zero
//!   bytes, the big-endian payload length — before each frame, content type
//!   `application/vnd.docker.multiplexed-stream`),
//!   `POST /containers/{name}/restart` (204), `POST /containers/prune`,
//!   `POST /images/prune`, `POST /networks/prune`, and `GET /system/df`
//!   (before 1.52: `LayersSize`, `Images`, `Containers`, `Volumes`,
//!   `BuildCache`, the arrays limited by `type=` from 1.42; from 1.52:
//!   `ContainerUsage`/`VolumeUsage` with `Items` when `verbose=true`, and
//!   the earlier fields too unless `verbose` is given, as the engine's
//!   code does for clients that send no version);
//! - an unknown container is 404 with `{"message": "No such container: …"}`.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response};

#[derive(Clone, Debug)]
pub struct Container {
    pub name: &'static str,
    pub id: &'static str,
    pub image: &'static str,
    pub state: &'static str,
    pub status: &'static str,
    pub size_rw: i64,
    pub size_root_fs: i64,
    /// (stream: 1 stdout, 2 stderr, line without its newline)
    pub logs: Vec<(u8, String)>,
}

struct State {
    api_version: &'static str,
    containers: Vec<Container>,
    volumes: Vec<(&'static str, i64)>,
    requests: Vec<String>,
}

pub struct Engine {
    pub socket: PathBuf,
    state: Arc<Mutex<State>>,
    _runtime: tokio::runtime::Runtime,
}

impl Engine {
    /// Every request so far, as `METHOD /path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }
}

/// Serves on `dir/docker.sock` an engine speaking `api_version`.
pub fn start(
    dir: &Path,
    api_version: &'static str,
    containers: Vec<Container>,
    volumes: Vec<(&'static str, i64)>,
) -> Engine {
    let socket = dir.join("docker.sock");
    let state = Arc::new(Mutex::new(State {
        api_version,
        containers,
        volumes,
        requests: Vec::new(),
    }));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = {
        let _guard = runtime.enter();
        tokio::net::UnixListener::bind(&socket).unwrap()
    };
    let shared = Arc::clone(&state);
    runtime.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let state = Arc::clone(&shared);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let state = Arc::clone(&state);
                    async move { Ok::<_, Infallible>(handle(&state, req)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Engine {
        socket,
        state,
        _runtime: runtime,
    }
}

fn reply(status: u16, content_type: &str, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut b = Response::builder().status(status);
    if !body.is_empty() {
        b = b.header("content-type", content_type);
    }
    b.body(Full::new(Bytes::from(body))).unwrap()
}

fn json(status: u16, v: serde_json::Value) -> Response<Full<Bytes>> {
    reply(status, "application/json", v.to_string().into_bytes())
}

fn version_tuple(v: &str) -> (u32, u32) {
    let (a, b) = v.split_once('.').unwrap();
    (a.parse().unwrap(), b.parse().unwrap())
}

fn handle<B>(state: &Mutex<State>, req: Request<B>) -> Response<Full<Bytes>> {
    let mut s = state.lock().unwrap();
    let uri = req.uri().clone();
    let method = req.method().as_str().to_owned();
    s.requests.push(format!(
        "{method} {}",
        uri.path_and_query().map_or("", |p| p.as_str())
    ));
    let query: Vec<(String, String)> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let q = |k: &str| {
        query
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let (version, path) = match uri
        .path()
        .strip_prefix("/v")
        .and_then(|r| r.split_once('/'))
    {
        Some((v, rest)) if v.contains('.') => (v.to_owned(), format!("/{rest}")),
        _ => (s.api_version.to_owned(), uri.path().to_owned()),
    };
    let version = version.as_str();
    if version_tuple(version) > version_tuple(s.api_version) {
        return json(
            400,
            serde_json::json!({"message": format!(
                "client version {version} is too new. Maximum supported API version is {}",
                s.api_version
            )}),
        );
    }
    let summary = |c: &Container, size: bool| {
        let mut v = serde_json::json!({
            "Id": c.id, "Names": [format!("/{}", c.name)], "Image": c.image,
            "ImageID": "sha256:0123", "Command": "run", "Created": 1700000000,
            "Ports": [], "Labels": {}, "State": c.state, "Status": c.status,
            "HostConfig": {"NetworkMode": "default"}, "NetworkSettings": {"Networks": {}},
            "Mounts": []
        });
        if size {
            v["SizeRw"] = c.size_rw.into();
            v["SizeRootFs"] = c.size_root_fs.into();
        }
        v
    };
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["version"]) => json(
            200,
            serde_json::json!({
                "Version": "29.0.0", "ApiVersion": s.api_version, "MinAPIVersion": "1.24",
                "Os": "linux", "Arch": "amd64", "KernelVersion": "6.1.0"
            }),
        ),
        ("GET", ["containers", "json"]) => {
            let all = q("all") == Some("true") || q("all") == Some("1");
            let list: Vec<_> = s
                .containers
                .iter()
                .filter(|c| all || c.state == "running")
                .map(|c| summary(c, false))
                .collect();
            json(200, serde_json::Value::Array(list))
        }
        (_, ["containers", "prune"]) if method == "POST" => {
            let (gone, kept): (Vec<Container>, Vec<Container>) =
                s.containers.drain(..).partition(|c| c.state == "exited");
            s.containers = kept;
            json(
                200,
                serde_json::json!({
                    "ContainersDeleted": gone.iter().map(|c| c.id).collect::<Vec<_>>(),
                    "SpaceReclaimed": gone.iter().map(|c| c.size_rw).sum::<i64>()
                }),
            )
        }
        ("POST", ["images", "prune"]) => json(
            200,
            serde_json::json!({
                "ImagesDeleted": [{"Deleted": "sha256:aaaa"}, {"Untagged": "old:1"}],
                "SpaceReclaimed": 1000
            }),
        ),
        ("POST", ["networks", "prune"]) => {
            json(200, serde_json::json!({"NetworksDeleted": ["old_net"]}))
        }
        ("GET", ["system", "df"]) => {
            let current = version_tuple(version) >= (1, 52);
            let verbose = current && (q("verbose") == Some("true") || q("verbose") == Some("1"));
            let legacy = !verbose;
            let items = |v: Vec<serde_json::Value>| if verbose { Some(v) } else { None };
            let types: Vec<&str> = query
                .iter()
                .filter(|(k, _)| k == "type")
                .map(|(_, v)| v.as_str())
                .collect();
            let wanted = |t: &str| {
                types.is_empty() || version_tuple(version) < (1, 42) || types.contains(&t)
            };
            let containers: Vec<_> = s.containers.iter().map(|c| summary(c, true)).collect();
            let volumes: Vec<_> = s
                .volumes
                .iter()
                .map(|(n, size)| {
                    serde_json::json!({
                        "Name": n, "Driver": "local", "Mountpoint": format!("/var/lib/docker/volumes/{n}/_data"),
                        "Labels": {}, "Scope": "local", "Options": {},
                        "UsageData": {"Size": size, "RefCount": 1}
                    })
                })
                .collect();
            let mut body = serde_json::json!({});
            if legacy {
                body["LayersSize"] = 5000.into();
                for (field, kind, list) in [
                    ("Images", "image", Vec::new()),
                    ("Containers", "container", containers.clone()),
                    ("Volumes", "volume", volumes.clone()),
                    ("BuildCache", "build-cache", Vec::new()),
                ] {
                    if wanted(kind) {
                        body[field] = serde_json::Value::Array(list);
                    }
                }
            }
            if !current {
                return json(200, body);
            }
            let usage = serde_json::json!({
                    "ImageUsage": {"ActiveCount": 1, "TotalCount": 1, "Reclaimable": 0, "TotalSize": 5000},
                    "ContainerUsage": {
                        "ActiveCount": s.containers.iter().filter(|c| c.state == "running").count(),
                        "TotalCount": s.containers.len(), "Reclaimable": 0,
                        "TotalSize": s.containers.iter().map(|c| c.size_rw).sum::<i64>(),
                        "Items": items(containers)
                    },
                    "VolumeUsage": {
                        "ActiveCount": s.volumes.len(), "TotalCount": s.volumes.len(), "Reclaimable": 0,
                        "TotalSize": s.volumes.iter().map(|(_, n)| n).sum::<i64>(),
                        "Items": items(volumes)
                    },
                    "BuildCacheUsage": {"ActiveCount": 0, "TotalCount": 0, "Reclaimable": 0, "TotalSize": 0}
            });
            for (k, v) in usage.as_object().unwrap() {
                body[k] = v.clone();
            }
            json(200, body)
        }
        (m, ["containers", name, action]) => {
            let Some(c) = s
                .containers
                .iter()
                .find(|c| c.name == *name || c.id.starts_with(*name))
                .cloned()
            else {
                return json(
                    404,
                    serde_json::json!({"message": format!("No such container: {name}")}),
                );
            };
            match (m, *action) {
                ("POST", "restart") => reply(204, "", Vec::new()),
                ("GET", "logs") => {
                    let tail: usize = q("tail")
                        .and_then(|t| t.parse().ok())
                        .unwrap_or(c.logs.len());
                    let want = |stream: u8| match stream {
                        1 => q("stdout") == Some("true"),
                        _ => q("stderr") == Some("true"),
                    };
                    let lines: Vec<&(u8, String)> =
                        c.logs.iter().filter(|(st, _)| want(*st)).collect();
                    let mut body = Vec::new();
                    for (stream, line) in &lines[lines.len().saturating_sub(tail)..] {
                        let payload = format!("{line}\n");
                        body.push(*stream);
                        body.extend_from_slice(&[0, 0, 0]);
                        body.extend_from_slice(&(payload.len() as u32).to_be_bytes());
                        body.extend_from_slice(payload.as_bytes());
                    }
                    reply(200, "application/vnd.docker.multiplexed-stream", body)
                }
                _ => json(404, serde_json::json!({"message": "page not found"})),
            }
        }
        _ => json(404, serde_json::json!({"message": "page not found"})),
    }
}
