//! Packaging checks without a container engine: docker-compose.yml through a
//! real compose implementation (Debian's `docker-compose config`), the
//! Dockerfile's structure, the systemd units through `systemd-analyze
//! verify`, and that every `outpost` flag these files use exists in the
//! built binary's `--help` (for the subcommands this build has).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_yaml_ng::Value;

use crate::docs::{help, help_flags};
use crate::support::{free_port, outpost_bin, require, wait_for_port, Proc};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn compose_config(dir: &Path, file: &Path) -> Output {
    Command::new(require("docker-compose", "docker-compose"))
        .arg("-f")
        .arg(file)
        .arg("config")
        .current_dir(dir)
        .env("OUTPOST_CHAT_ID", "-1001234567890")
        .env_remove("OUTPOST_ALLOWED_USERS")
        .output()
        .unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| {
            s.iter()
                .map(|x| x.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The flags in `args` unknown to `outpost SUB --help`; `None` when this
/// build has no SUB (the bridge before it lands).
fn unknown_flags(sub: &str, args: &[String]) -> Option<Vec<String>> {
    let known = help_flags(&help(sub)?);
    Some(
        args.iter()
            .filter_map(|a| a.strip_prefix("--"))
            .map(|a| format!("--{}", a.split('=').next().unwrap()))
            .filter(|f| !known.contains(f))
            .collect(),
    )
}

#[test]
fn compose_file_is_valid_and_wired_as_documented() {
    let out = compose_config(root(), &root().join("docker-compose.yml"));
    assert!(
        out.status.success(),
        "docker-compose config failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config: Value = serde_yaml_ng::from_slice(&out.stdout).unwrap();
    let services = &config["services"];
    for s in [
        "exporter",
        "bridge",
        "prometheus",
        "alertmanager",
        "grafana",
    ] {
        assert!(services[s].is_mapping(), "no service {s}");
    }

    // The exporter as node_exporter documents it.
    let exporter = &services["exporter"];
    assert_eq!(exporter["pid"].as_str(), Some("host"));
    assert_eq!(exporter["network_mode"].as_str(), Some("host"));
    let command = strings(&exporter["command"]);
    for flag in [
        "--path.procfs=/host/proc",
        "--path.sysfs=/host/sys",
        "--path.rootfs=/host/root",
    ] {
        assert!(command.contains(&flag.to_string()), "{command:?}");
    }
    let volumes = strings(&exporter["volumes"]);
    for (host, inside) in [
        ("/proc", "/host/proc"),
        ("/sys", "/host/sys"),
        ("/", "/host/root"),
    ] {
        let v = volumes
            .iter()
            .find(|v| v.starts_with(&format!("{host}:{inside}:")))
            .unwrap_or_else(|| panic!("no {host} mount in {volumes:?}"));
        assert!(
            v.split(':').nth(2).unwrap().contains("ro"),
            "{v} is not read-only"
        );
    }

    // The bridge reads its secrets from files; compose resolves them.
    let bridge = &services["bridge"];
    // Short (`- name`) or long (`- source: name`) form, as the implementation prints it.
    let secrets: Vec<String> = bridge["secrets"]
        .as_sequence()
        .expect("the bridge has secrets")
        .iter()
        .map(|s| s.as_str().or(s["source"].as_str()).unwrap().to_string())
        .collect();
    let command = strings(&bridge["command"]);
    for s in &secrets {
        assert!(
            config["secrets"][s.as_str()]["file"].is_string(),
            "secret {s}"
        );
        assert!(
            command
                .iter()
                .any(|a| a.ends_with(&format!("=/run/secrets/{s}"))),
            "the bridge does not read secret {s}: {command:?}"
        );
    }
    assert!(secrets.contains(&"telegram_token".to_string()));
    assert!(!command.iter().any(|a| a.starts_with("--telegram-token=")));

    // Wired to the generated config: the mounted folders are the repository's
    // generated ones, the webhook token is Alertmanager's credentials_file.
    for (svc, dir) in [
        ("prometheus", "prometheus"),
        ("alertmanager", "alertmanager"),
        ("grafana", "grafana/provisioning"),
        ("grafana", "grafana/dashboards"),
    ] {
        let src = root().join(dir).display().to_string();
        assert!(
            strings(&services[svc]["volumes"])
                .iter()
                .any(|v| v.starts_with(&format!("{src}:"))),
            "{svc} does not mount {dir}"
        );
    }
    let am = std::fs::read_to_string(root().join("alertmanager/alertmanager.yml")).unwrap();
    assert!(am.contains("credentials_file: webhook-token"));
    assert_eq!(
        config["secrets"]["webhook_token"]["file"].as_str(),
        Some(root().join("alertmanager/webhook-token").to_str().unwrap())
    );
    let prom = std::fs::read_to_string(root().join("prometheus/prometheus.yml")).unwrap();
    assert!(
        prom.contains("127.0.0.1:9093"),
        "Prometheus does not alert to the compose Alertmanager"
    );
    assert!(strings(&services["alertmanager"]["command"])
        .contains(&"--web.listen-address=127.0.0.1:9093".into()));

    // Every outpost flag used here exists (subcommands not in this build aside).
    for svc in ["exporter", "bridge"] {
        let command = strings(&services[svc]["command"]);
        if let Some(unknown) = unknown_flags(&command[0], &command[1..]) {
            assert!(
                unknown.is_empty(),
                "{svc}: `outpost {}` has no {unknown:?}",
                command[0]
            );
        }
    }
}

/// The validator really validates: an unknown key is refused.
#[test]
fn compose_validation_catches_a_broken_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(root().join("docker-compose.yml")).unwrap();
    let broken = good.replacen("    pid: host\n", "    pid: host\n    pidd: host\n", 1);
    assert_ne!(good, broken);
    let file = dir.path().join("docker-compose.yml");
    std::fs::write(&file, broken).unwrap();
    let out = compose_config(dir.path(), &file);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("pidd"));
}

#[test]
fn dockerfile_is_multi_stage_non_root_with_a_shell_less_healthcheck() {
    let text = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    // Instructions, with `\` continuations joined and comments dropped.
    let joined = text.replace("\\\n", " ");
    let lines: Vec<&str> = joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let froms: Vec<_> = lines.iter().filter(|l| l.starts_with("FROM ")).collect();
    assert!(froms.len() >= 2, "not multi-stage: {froms:?}");
    let build_stage = froms[0]
        .split_whitespace()
        .nth(3)
        .expect("first stage named `AS x`");
    let last = lines.iter().rposition(|l| l.starts_with("FROM ")).unwrap();
    let final_stage = &lines[last..];
    assert!(
        final_stage
            .iter()
            .any(|l| l.starts_with(&format!("COPY --from={build_stage} "))),
        "the final stage copies nothing from {build_stage}"
    );
    let copies: Vec<_> = final_stage
        .iter()
        .filter(|l| l.starts_with("COPY"))
        .collect();
    assert!(copies.iter().any(|l| l.ends_with("/usr/local/bin/outpost")));
    let user = final_stage
        .iter()
        .rfind(|l| l.starts_with("USER "))
        .expect("final stage sets USER");
    let who = user[5..].split(':').next().unwrap().trim();
    assert!(who != "root" && who != "0", "runs as {who}");
    let health = final_stage
        .iter()
        .find(|l| l.starts_with("HEALTHCHECK"))
        .expect("HEALTHCHECK");
    // Exec form (no shell in the image), running the binary's own check.
    let exec = &health[health.find("CMD [").expect("exec-form CMD") + 4..];
    let argv: Vec<String> = serde_json::from_str(exec).unwrap();
    assert_eq!(argv[..2], ["/usr/local/bin/outpost", "healthcheck"]);
    assert!(final_stage
        .iter()
        .any(|l| l.starts_with("ENTRYPOINT [\"/usr/local/bin/outpost\"]")));

    // And that very command works: healthy against a running exporter,
    // unhealthy once it is gone.
    let port = free_port();
    let url = argv.last().unwrap().replace(":9100/", &format!(":{port}/"));
    let check = |url: &str| {
        Command::new(outpost_bin())
            .args(&argv[1..argv.len() - 1])
            .arg(url)
            .status()
            .unwrap()
    };
    let exporter = Proc(
        Command::new(outpost_bin())
            .args(["exporter", "--web.listen-address"])
            .arg(format!("127.0.0.1:{port}"))
            .spawn()
            .unwrap(),
    );
    assert!(wait_for_port(port, Duration::from_secs(10)));
    assert!(check(&url).success(), "healthcheck {url} failed");
    drop(exporter);
    assert_eq!(check(&url).code(), Some(1));
}

fn units() -> Vec<PathBuf> {
    let mut units: Vec<_> = std::fs::read_dir(root().join("deploy/systemd"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "service"))
        .collect();
    units.sort();
    units
}

/// `Key=value` settings of a unit's [Service] section.
fn service_settings(text: &str) -> Vec<(String, String)> {
    let mut section = "";
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
        } else if section == "[Service]" && !line.starts_with('#') {
            if let Some((k, v)) = line.split_once('=') {
                out.push((k.to_string(), v.to_string()));
            }
        }
    }
    out
}

#[test]
fn systemd_units_verify_and_are_hardened() {
    let analyze = require("systemd-analyze", "systemd");
    let units = units();
    let names: Vec<_> = units
        .iter()
        .map(|u| u.file_name().unwrap().to_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["outpost-bridge.service", "outpost-exporter.service"]
    );

    // systemd-analyze checks that ExecStart's program exists: point copies of
    // the units at the built binary; nothing else changes.
    let dir = tempfile::tempdir().unwrap();
    let bin = outpost_bin();
    let mut copies = Vec::new();
    for unit in &units {
        let text = std::fs::read_to_string(unit).unwrap();
        assert!(text.contains("ExecStart=/usr/local/bin/outpost "));
        let copy = dir.path().join(unit.file_name().unwrap());
        std::fs::write(
            &copy,
            text.replace("/usr/local/bin/outpost", bin.to_str().unwrap()),
        )
        .unwrap();
        copies.push(copy);
    }
    let out = Command::new(&analyze)
        .arg("verify")
        .args(&copies)
        .output()
        .unwrap();
    // verify exits 0 on mere warnings (unknown keys, bad values): any output fails.
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify:\n{said}"
    );

    for unit in &units {
        let text = std::fs::read_to_string(unit).unwrap();
        let settings = service_settings(&text);
        let get = |k: &str| -> Vec<&str> {
            settings
                .iter()
                .filter(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
                .collect()
        };
        let name = unit.display();
        for (k, v) in [
            ("NoNewPrivileges", "yes"),
            ("ProtectSystem", "strict"),
            ("PrivateTmp", "yes"),
            ("CapabilityBoundingSet", ""),
        ] {
            assert_eq!(get(k), [v], "{name}: {k}");
        }
        assert!(!get("ProtectHome").is_empty(), "{name}: ProtectHome");
        assert!(
            get("SystemCallFilter").contains(&"@system-service"),
            "{name}"
        );
        assert!(!get("RestrictAddressFamilies").is_empty(), "{name}");
        // Enough descriptors for the connection cap, the probes and the
        // process's own files, so the cap is not fitted down.
        let nofile: Vec<u64> = get("LimitNOFILE")
            .iter()
            .filter_map(|v| v.rsplit(':').next()?.parse().ok())
            .collect();
        let needed = (outpost::server::DEFAULT_MAX_CONNECTIONS
            + outpost::exporter::probe::DEFAULT_CONCURRENCY
            + 128) as u64;
        assert!(
            nofile.len() == 1 && nofile[0] >= needed,
            "{name}: LimitNOFILE {nofile:?}, needs at least {needed}"
        );
        let user = get("User");
        assert!(
            get("DynamicUser") == ["yes"] || (user.len() == 1 && user[0] != "root"),
            "{name}: runs as root"
        );

        // Its ExecStart flags exist in the built binary.
        let exec = get("ExecStart")[0];
        let args: Vec<String> = exec.split_whitespace().skip(1).map(String::from).collect();
        if let Some(unknown) = unknown_flags(&args[0], &args[1..]) {
            assert!(
                unknown.is_empty(),
                "{name}: `outpost {}` has no {unknown:?}",
                args[0]
            );
        }
    }

    let bridge =
        std::fs::read_to_string(root().join("deploy/systemd/outpost-bridge.service")).unwrap();
    let settings = service_settings(&bridge);
    let has = |k: &str, v: &str| settings.iter().any(|(a, b)| a == k && b.starts_with(v));
    assert!(has("StateDirectory", "outpost") && has("ReadWritePaths", "/var/lib/outpost"));
    assert!(has("EnvironmentFile", "/etc/outpost/"));
    assert!(has("LoadCredential", "telegram-token:"));
    assert!(has(
        "Environment",
        "OUTPOST_TELEGRAM_TOKEN_FILE=%d/telegram-token"
    ));
    assert!(
        !bridge.contains("OUTPOST_TELEGRAM_TOKEN="),
        "token inline in the unit"
    );
}
