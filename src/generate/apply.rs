//! Applying an [`Edit`] to a running setup: the I/O edge of the chat's
//! config commands. In order: read agents.txt (it must still be the text
//! the diff was shown for), edit it ([`super::edit`]), build the output with
//! the same code and settings as `outpost generate` ([`super::build`]),
//! validate it in a staging directory with the real `promtool check config`
//! and `promtool check rules`, write agents.txt and the output atomically
//! (and check there is no drift, as `--check` would), ask Prometheus to
//! reload and confirm that the change is live ([`Live`]). A failure at any
//! step restores agents.txt and every generated file to their bytes before,
//! reloads Prometheus again if it had been asked to, and names the step.
//!
//! Decisions:
//! - Staging holds the generated files plus the user's own rule files from
//!   `prometheus/rules/` (Prometheus loads `rules/*.yml`), so a broken rule
//!   file fails validation before anything is written, not at the reload.
//! - Without promtool on the machine the validation step is skipped and the
//!   result says so; Prometheus's reload still validates.
//! - Prometheus is reached through the [`Live`] trait so the files part is
//!   tested without HTTP, and the chat owns its Prometheus client.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};

use super::edit::{self, Edit, Edited};
use super::Files;
use crate::alerts::Threshold;

/// Where the config lives and how it is generated.
#[derive(Debug, Clone)]
pub struct Target {
    /// agents.txt.
    pub agents: PathBuf,
    /// The `outpost generate` invocation (its `--out` and settings) whose
    /// output this setup runs on.
    pub generate: super::Config,
    /// The promtool program (looked up on `PATH` unless a path).
    pub promtool: PathBuf,
}

/// A step of [`apply`], named when it fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Read,
    Edit,
    Generate,
    Validate,
    Write,
    Reload,
    Confirm,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Read => "reading agents.txt",
            Step::Edit => "editing agents.txt",
            Step::Generate => "generating the config",
            Step::Validate => "validating with promtool",
            Step::Write => "writing the files",
            Step::Reload => "reloading Prometheus",
            Step::Confirm => "confirming the change is live",
        })
    }
}

/// A failed change: which step, why, and whether the rollback worked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{step} failed: {reason}{}", rollback_note(.rolled_back, .rollback_error))]
pub struct Failed {
    pub step: Step,
    pub reason: String,
    /// Files had been written and were restored.
    pub rolled_back: bool,
    /// What went wrong while restoring, if anything.
    pub rollback_error: Option<String>,
    /// The edit was refused before anything was touched.
    pub refused: Option<Box<edit::EditError>>,
}

fn rollback_note(rolled_back: &bool, err: &Option<String>) -> String {
    match (rolled_back, err) {
        (_, Some(e)) => format!("; rolling back ALSO failed: {e}"),
        (true, None) => "; agents.txt and the generated files were restored".into(),
        (false, None) => "; nothing was changed".into(),
    }
}

impl Failed {
    fn at(step: Step, reason: impl ToString) -> Self {
        Failed {
            step,
            reason: reason.to_string(),
            rolled_back: false,
            rollback_error: None,
            refused: None,
        }
    }
}

/// What must be true in Prometheus once a change is live.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// An active target whose `label` is `value` (`agent` or `check`), or
    /// none any more.
    Target {
        label: &'static str,
        value: String,
        present: bool,
    },
    /// The threshold series of `agent` holds `value` (`None`: the series may
    /// be absent, for an agent Prometheus does not scrape and no override).
    Threshold {
        agent: String,
        threshold: Threshold,
        value: f64,
        is_default: bool,
    },
}

impl Expect {
    /// What confirms `edit` (applied as `edited`, with `settings`' defaults).
    pub fn of(edit: &Edit, edited: &Edited, settings: &super::settings::Settings) -> Expect {
        match edit {
            Edit::AddAgent { name, .. } | Edit::RemoveAgent { name } => Expect::Target {
                label: "agent",
                value: name.clone(),
                present: matches!(edit, Edit::AddAgent { .. }),
            },
            Edit::AddCheck { name, .. } | Edit::RemoveCheck { name } => Expect::Target {
                label: "check",
                value: name.clone(),
                present: matches!(edit, Edit::AddCheck { .. }),
            },
            Edit::SetThreshold {
                agent, threshold, ..
            } => {
                let set = edited
                    .inventory
                    .agent(agent)
                    .and_then(|a| a.thresholds.get(threshold).copied());
                Expect::Threshold {
                    agent: agent.clone(),
                    threshold: *threshold,
                    value: set.unwrap_or(settings.threshold(*threshold)),
                    is_default: set.is_none(),
                }
            }
        }
    }
}

/// The running Prometheus: reload it and confirm a change is live.
pub trait Live {
    /// `POST /-/reload` and `prometheus_config_last_reload_successful == 1`.
    fn reload(&self) -> impl Future<Output = Result<(), String>> + Send;
    /// Waits (bounded) until `expect` holds; says what it saw.
    fn confirm(&self, expect: &Expect) -> impl Future<Output = Result<String, String>> + Send;
}

/// A change that is live.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub edited: Edited,
    /// How the change was confirmed.
    pub confirmed: String,
    /// Files under the output directory that were written or removed.
    pub files_changed: usize,
    /// Set when promtool was not found and validation was skipped.
    pub unvalidated: bool,
}

/// The edit `edit` would make now, for the confirmation's diff: reads the
/// file and returns its text and the result. Nothing is written.
pub fn preview(target: &Target, edit: &Edit) -> Result<(String, Edited), Failed> {
    let text = std::fs::read_to_string(&target.agents).map_err(|e| {
        Failed::at(
            Step::Read,
            format!("cannot read {}: {e}", target.agents.display()),
        )
    })?;
    let edited = edit::apply(&file_name(target), &text, edit).map_err(|e| Failed {
        refused: Some(Box::new(e.clone())),
        ..Failed::at(Step::Edit, e)
    })?;
    Ok((text, edited))
}

fn file_name(target: &Target) -> String {
    target.agents.display().to_string()
}

/// Applies `edit` to the setup, provided agents.txt still reads `based_on`
/// (the text its diff was shown for). See the module docs for the steps.
pub async fn apply(
    target: &Target,
    edit: &Edit,
    based_on: &str,
    live: &impl Live,
) -> Result<Applied, Failed> {
    let (text, edited) = preview(target, edit)?;
    if text != based_on {
        return Err(Failed::at(
            Step::Read,
            "agents.txt changed since the diff was shown; run the command again",
        ));
    }
    let settings = &target.generate.settings;
    let files =
        super::build(&edited.inventory, settings).map_err(|e| Failed::at(Step::Generate, e))?;
    let out = &target.generate.out;
    let unvalidated = validate(&target.promtool, out, &files)
        .await
        .map_err(|e| Failed::at(Step::Validate, e))?;
    let before = Snapshot::take(&target.agents, out, &files);
    let stale = before.stale;
    let fail = |step: Step, reason: String, reloaded: bool| async move {
        let restored = before.restore(&target.agents, out);
        let again = if reloaded {
            live.reload().await.err()
        } else {
            None
        };
        let rollback_error = match (restored, again) {
            (Err(e), _) => Some(e),
            (Ok(()), Some(e)) => Some(format!("Prometheus did not reload the old config: {e}")),
            (Ok(()), None) => None,
        };
        Failed {
            step,
            reason,
            rolled_back: true,
            rollback_error,
            refused: None,
        }
    };
    let written = write_agents(&target.agents, &edited.text)
        .and_then(|()| super::write(out, &files).map_err(|e| format!("{e:#}")))
        .and_then(|n| {
            let drift = super::drift(out, &files);
            if drift.is_empty() {
                Ok(n)
            } else {
                Err(format!(
                    "the output drifted after writing: {}",
                    drift.join(", ")
                ))
            }
        });
    let files_changed = match written {
        Ok(n) => n + stale,
        Err(e) => return Err(fail(Step::Write, e, false).await),
    };
    // A refused reload leaves Prometheus on the config it had: restoring
    // the files is enough.
    if let Err(e) = live.reload().await {
        return Err(fail(Step::Reload, e, false).await);
    }
    let expect = Expect::of(edit, &edited, settings);
    match live.confirm(&expect).await {
        Ok(confirmed) => Ok(Applied {
            edited,
            confirmed,
            files_changed,
            unvalidated,
        }),
        Err(e) => Err(fail(Step::Confirm, e, true).await),
    }
}

/// Writes agents.txt through a temporary file in its directory and a rename.
fn write_agents(path: &Path, text: &str) -> Result<(), String> {
    write_atomically(path, text.as_bytes())
}

fn write_atomically(path: &Path, body: &[u8]) -> Result<(), String> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.outpost-tmp"));
    std::fs::write(&tmp, body).map_err(|e| format!("writing {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("renaming into {}: {e}", path.display()))
}

/// The bytes of agents.txt and of every file the write may touch, before.
struct Snapshot {
    agents: Vec<u8>,
    /// Output-relative path → old bytes (`None`: did not exist).
    files: Vec<(PathBuf, Option<Vec<u8>>)>,
    /// Stale generated files the write removes.
    stale: usize,
}

impl Snapshot {
    fn take(agents: &Path, out: &Path, files: &Files) -> Snapshot {
        let stale = super::stale(out, files);
        let mut saved: Vec<(PathBuf, Option<Vec<u8>>)> = files
            .keys()
            .chain(stale.iter())
            .map(|rel| (rel.clone(), std::fs::read(out.join(rel)).ok()))
            .collect();
        saved.dedup_by(|a, b| a.0 == b.0);
        Snapshot {
            agents: std::fs::read(agents).unwrap_or_default(),
            files: saved,
            stale: stale.len(),
        }
    }

    fn restore(&self, agents: &Path, out: &Path) -> Result<(), String> {
        let mut errors = Vec::new();
        if let Err(e) = write_atomically(agents, &self.agents) {
            errors.push(e);
        }
        for (rel, old) in &self.files {
            let path = out.join(rel);
            let result = match old {
                Some(bytes) if std::fs::read(&path).ok().as_ref() == Some(bytes) => Ok(()),
                Some(bytes) => write_atomically(&path, bytes),
                None => match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        Err(format!("removing {}: {e}", path.display()))
                    }
                    _ => Ok(()),
                },
            };
            if let Err(e) = result {
                errors.push(e);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

/// Runs promtool on the files in a staging directory; `Ok(true)` when
/// promtool is not installed (validation skipped).
async fn validate(promtool: &Path, out: &Path, files: &Files) -> Result<bool, String> {
    let stage = Stage::new()?;
    for (rel, body) in files {
        let path = stage.0.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("staging: {e}"))?;
        }
        std::fs::write(&path, body).map_err(|e| format!("staging: {e}"))?;
    }
    // The user's own rule files, which Prometheus loads with ours.
    let rules = Path::new("prometheus/rules");
    if let Ok(entries) = std::fs::read_dir(out.join(rules)) {
        for entry in entries.flatten() {
            let rel = rules.join(entry.file_name());
            let is_yml = rel.extension().is_some_and(|x| x == "yml");
            if is_yml && !files.contains_key(&rel) {
                std::fs::copy(entry.path(), stage.0.join(&rel))
                    .map_err(|e| format!("staging {}: {e}", rel.display()))?;
            }
        }
    }
    let rule_file = format!("prometheus/{}", super::rules::RULE_FILE);
    let runs: [[&str; 3]; 2] = [
        ["check", "config", "prometheus/prometheus.yml"],
        ["check", "rules", rule_file.as_str()],
    ];
    for args in runs {
        let output = tokio::process::Command::new(promtool)
            .args(args)
            .current_dir(&stage.0)
            .kill_on_drop(true)
            .output()
            .await;
        let output = match output {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
            Err(e) => return Err(format!("cannot run {}: {e}", promtool.display())),
            Ok(o) => o,
        };
        if !output.status.success() {
            let said = String::from_utf8_lossy(&output.stderr).to_string()
                + &String::from_utf8_lossy(&output.stdout);
            let said: String = said.trim().chars().take(1500).collect();
            return Err(format!("promtool {}: {said}", args.join(" ")));
        }
    }
    Ok(false)
}

/// A temporary directory, removed when dropped.
struct Stage(PathBuf);

impl Stage {
    fn new() -> Result<Stage, String> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "outpost-stage-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("staging {}: {e}", dir.display()))?;
        Ok(Stage(dir))
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A Prometheus stand-in for the files part: records calls and fails
    /// where told. The real one is in the integration tests.
    #[derive(Default)]
    struct FakeLive {
        fail_reload: bool,
        fail_confirm: bool,
        calls: Mutex<Vec<String>>,
    }

    impl Live for FakeLive {
        async fn reload(&self) -> Result<(), String> {
            self.calls.lock().unwrap().push("reload".into());
            if self.fail_reload {
                Err("HTTP 403: Lifecycle API is not enabled.".into())
            } else {
                Ok(())
            }
        }
        async fn confirm(&self, expect: &Expect) -> Result<String, String> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("confirm {expect:?}"));
            if self.fail_confirm {
                Err("target never appeared".into())
            } else {
                Ok("seen".into())
            }
        }
    }

    fn setup(text: &str) -> (PathBuf, Target) {
        let dir = std::env::temp_dir().join(format!(
            "outpost-apply-test-{}-{}",
            std::process::id(),
            text.len()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let agents = dir.join("agents.txt");
        std::fs::write(&agents, text).unwrap();
        let generate = super::super::Config {
            agents: agents.clone(),
            out: dir.join("out"),
            check: false,
            settings: Default::default(),
        };
        let inv = super::super::inventory::parse("a", text).unwrap();
        super::super::write(
            &generate.out,
            &super::super::build(&inv, &generate.settings).unwrap(),
        )
        .unwrap();
        (
            dir,
            Target {
                agents,
                generate,
                // Validation is covered by the integration tests with the
                // real promtool; here it is skipped.
                promtool: PathBuf::from("/nonexistent/promtool"),
            },
        )
    }

    fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                if e.file_type().unwrap().is_dir() {
                    stack.push(e.path());
                } else {
                    out.push((e.path(), std::fs::read(e.path()).unwrap()));
                }
            }
        }
        out.sort();
        out
    }

    #[tokio::test]
    async fn a_change_is_written_reloaded_and_confirmed() {
        let text = "# fleet\nweb1 127.0.0.1:9100\n";
        let (dir, target) = setup(text);
        let live = FakeLive::default();
        let edit = Edit::AddCheck {
            name: "ssh".into(),
            target: "127.0.0.1:22".into(),
            from: "web1".into(),
            failures: None,
        };
        let applied = apply(&target, &edit, text, &live).await.unwrap();
        assert!(applied.unvalidated);
        assert_eq!(
            std::fs::read_to_string(&target.agents).unwrap(),
            "# fleet\nweb1 127.0.0.1:9100\ncheck ssh 127.0.0.1:22 from web1\n"
        );
        let inv = super::super::read_inventory(&target.agents).unwrap();
        let files = super::super::build(&inv, &target.generate.settings).unwrap();
        assert!(super::super::drift(&target.generate.out, &files).is_empty());
        assert!(target
            .generate
            .out
            .join("prometheus/targets/tcp-web1.json")
            .exists());
        let calls = live.calls.lock().unwrap().clone();
        assert_eq!(calls[0], "reload");
        assert!(calls[1].contains("label: \"check\", value: \"ssh\", present: true"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_failed_reload_or_confirm_restores_every_byte() {
        let text = "web1 127.0.0.1:9100\ncheck ssh 127.0.0.1:22 from web1\n";
        for (fail_reload, step) in [(true, Step::Reload), (false, Step::Confirm)] {
            let (dir, target) = setup(text);
            let before = tree(&dir);
            let live = FakeLive {
                fail_reload,
                fail_confirm: true,
                ..Default::default()
            };
            // Removing the check also removes tcp-web1.json (stale).
            let edit = Edit::RemoveCheck { name: "ssh".into() };
            let err = apply(&target, &edit, text, &live).await.unwrap_err();
            assert_eq!(err.step, step);
            assert!(err.rolled_back && err.rollback_error.is_none(), "{err}");
            assert!(err.to_string().contains("were restored"), "{err}");
            assert_eq!(tree(&dir), before, "{step}");
            // After a reload of the new config, the old one is reloaded; a
            // refused reload left Prometheus on the old one.
            let reloads = live
                .calls
                .lock()
                .unwrap()
                .iter()
                .filter(|c| *c == "reload")
                .count();
            assert_eq!(reloads, if fail_reload { 1 } else { 2 });
            std::fs::remove_dir_all(dir).unwrap();
        }
    }

    #[tokio::test]
    async fn a_stale_diff_or_a_refused_edit_touches_nothing() {
        let text = "web1 127.0.0.1:9100\n";
        let (dir, target) = setup(text);
        let before = tree(&dir);
        let live = FakeLive::default();
        let edit = Edit::RemoveAgent {
            name: "web1".into(),
        };
        let err = apply(&target, &edit, "other text", &live)
            .await
            .unwrap_err();
        assert_eq!(err.step, Step::Read);
        let edit = Edit::RemoveAgent {
            name: "web9".into(),
        };
        let err = apply(&target, &edit, text, &live).await.unwrap_err();
        assert_eq!(err.step, Step::Edit);
        assert_eq!(
            err.refused.as_deref(),
            Some(&edit::EditError::UnknownAgent("web9".into()))
        );
        assert!(err.to_string().ends_with("nothing was changed"), "{err}");
        assert_eq!(tree(&dir), before);
        assert!(live.calls.lock().unwrap().is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
