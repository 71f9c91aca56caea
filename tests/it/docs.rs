//! The documentation cannot drift from the binary: every flag (and every
//! `OUTPOST_*` variable) that a subcommand's `--help` lists must appear in
//! README.md or docs/*.md. Data-driven: the flags come from parsing the
//! built binary's `--help`, for every subcommand this build has.

use std::path::Path;
use std::process::Command;

use crate::support::outpost_bin;

/// Subcommands whose flags must be documented (those this build lacks are
/// skipped by name in the report, never silently passed).
pub const SUBCOMMANDS: &[&str] = &[
    "exporter",
    "generate",
    "healthcheck",
    "bridge",
    "ask",
    "keygen",
];

/// `outpost SUB --help`, or `None` when this build has no such subcommand.
pub fn help(sub: &str) -> Option<String> {
    let out = Command::new(outpost_bin())
        .args([sub, "--help"])
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8(out.stdout).unwrap())
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// The long flags a clap `--help` text defines (`--help`, `--version` left
/// out), from its option lines only, not from prose that mentions flags.
pub fn help_flags(help: &str) -> Vec<String> {
    let mut flags = Vec::new();
    for line in help.lines() {
        let trimmed = line.trim_start();
        // Definitions sit at clap's option indent (2 or 6 spaces); wrapped
        // descriptions are indented further and may start with a flag.
        if !trimmed.starts_with('-') || line.len() - trimmed.len() > 6 {
            continue;
        }
        let spec = trimmed.split("  ").next().unwrap_or("");
        for word in spec.split([' ', ',', '=']) {
            let Some(name) = word.strip_prefix("--") else {
                continue;
            };
            let name: String = name.chars().take_while(|&c| is_name_char(c)).collect();
            if !name.is_empty() && name != "help" && name != "version" {
                let flag = format!("--{name}");
                if !flags.contains(&flag) {
                    flags.push(flag);
                }
            }
        }
    }
    flags
}

/// The environment variables a clap `--help` text names (`[env: NAME=…]`).
pub fn help_env_vars(help: &str) -> Vec<String> {
    let mut vars = Vec::new();
    // clap may wrap between `[env:` and the name.
    for part in help.split("[env:").skip(1) {
        let name: String = part
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() && !vars.contains(&name) {
            vars.push(name);
        }
    }
    vars
}

/// Whether `text` mentions `word` as a whole flag or variable name (not as
/// the prefix of a longer one).
pub fn mentions(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let mut after = text[i + word.len()..].chars();
        let ok_before = before.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        let ok_after = match after.next() {
            None => true,
            // A sentence may end right after a flag.
            Some('.') => after.next().is_none_or(|c| !is_name_char(c)),
            Some(c) => !is_name_char(c),
        };
        ok_before && ok_after
    })
}

/// README.md and every docs/*.md, concatenated.
fn documentation() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    for p in docs {
        text.push('\n');
        text.push_str(&std::fs::read_to_string(p).unwrap());
    }
    text
}

/// What of `help` the documentation `docs` does not mention. Per-collector
/// switches (`--collector.X` with a matching `--no-collector.X`) count as
/// documented when the docs give the `--collector.NAME` pattern and name X.
pub fn undocumented(help: &str, docs: &str) -> Vec<String> {
    let flags = help_flags(help);
    let mut missing = Vec::new();
    for flag in &flags {
        let toggle = flag
            .strip_prefix("--no-collector.")
            .or_else(|| flag.strip_prefix("--collector."))
            .filter(|x| {
                flags.contains(&format!("--collector.{x}"))
                    && flags.contains(&format!("--no-collector.{x}"))
            });
        let documented = match toggle {
            Some(x) => mentions(docs, "--collector.NAME") && mentions(docs, x),
            None => mentions(docs, flag),
        };
        if !documented {
            missing.push(flag.clone());
        }
    }
    for var in help_env_vars(help) {
        if !mentions(docs, &var) {
            missing.push(var);
        }
    }
    missing
}

#[test]
fn every_flag_of_every_subcommand_is_documented() {
    let docs = documentation();
    let mut checked = Vec::new();
    let mut missing = Vec::new();
    for sub in SUBCOMMANDS {
        let Some(help) = help(sub) else {
            continue;
        };
        let flags = help_flags(&help);
        assert!(
            sub == &"healthcheck" || flags.len() >= 3,
            "parsed only {flags:?} from `outpost {sub} --help`:\n{help}"
        );
        checked.push(*sub);
        for m in undocumented(&help, &docs) {
            missing.push(format!("outpost {sub} {m}"));
        }
    }
    // The exporter and the generator are on main; the others join as they land.
    assert!(checked.contains(&"exporter") && checked.contains(&"generate"));
    assert!(
        missing.is_empty(),
        "not in README.md or docs/*.md (checked {checked:?}):\n{}",
        missing.join("\n")
    );
}

#[test]
fn help_parsing_finds_definitions_not_prose() {
    let help = "\
Usage: outpost x [OPTIONS]

Options:
      --web.listen-address <ADDR>
          Address to listen on; see also --not-a-flag
  -t, --telegram-token <TOKEN>  Bot token [env: OUTPOST_TELEGRAM_TOKEN]
      --allowed-users <IDS>
          Comma-separated Telegram user ids, wrapped [env:
          OUTPOST_ALLOWED_USERS=]
          --not-a-definition-either at the start of a wrapped line
      --collector.cpu           Enable the cpu collector
      --no-collector.cpu        Disable the cpu collector
      --collector.disable-defaults  Start from none
  -h, --help                    Print help
";
    assert_eq!(
        help_flags(help),
        [
            "--web.listen-address",
            "--telegram-token",
            "--allowed-users",
            "--collector.cpu",
            "--no-collector.cpu",
            "--collector.disable-defaults"
        ]
    );
    assert_eq!(
        help_env_vars(help),
        ["OUTPOST_TELEGRAM_TOKEN", "OUTPOST_ALLOWED_USERS"]
    );
    let docs = "`--web.listen-address`, OUTPOST_TELEGRAM_TOKEN_FILE, --collector.NAME: cpu. \
                Also --telegram-tokens. --allowed-users (OUTPOST_ALLOWED_USERS)";
    assert_eq!(
        undocumented(help, docs),
        [
            "--telegram-token",
            "--collector.disable-defaults",
            "OUTPOST_TELEGRAM_TOKEN"
        ]
    );
    assert!(mentions("use --check.", "--check"));
    assert!(!mentions("use --check.all", "--check"));
    assert!(!mentions("--memory-critical-for", "--critical-for"));
}
