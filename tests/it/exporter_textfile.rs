//! The textfile collector accepts and rejects the same files as the real
//! node_exporter 1.5: both read one directory of tricky `*.prom` files, and
//! `node_textfile_mtime_seconds{file}` (emitted only for files read
//! successfully) must name the same files on both sides; files sharing
//! families merge as in node_exporter; the directory flag repeats.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use outpost::exporter::collector::Collector;
use outpost::exporter::metrics::Metrics;
use outpost::exporter::textfile::{Options, Textfile};

use crate::support;

/// File name and content. Each exercises one rule of Go's text parser.
const CASES: &[(&str, &str)] = &[
    ("ok_basic", "# HELP ok_m A metric.\n# TYPE ok_m gauge\nok_m{a=\"1\"} 1\n"),
    ("dup_type", "# TYPE dup_m counter\n# TYPE dup_m gauge\ndup_m 1\n"),
    ("noncontiguous", "nc_a 1\nnc_b 1\nnc_a{x=\"1\"} 2\n"),
    ("bad_label", "bl_m{a=1} 1\n"),
    ("timestamp", "ts_m 1 1700000000000\n"),
    ("colon_name", "job:rate:5m 1\n"),
    ("help_escapes", "# HELP he_m line\\nbreak \\\\ x\nhe_m 1\n"),
    ("help_bad_escape", "# HELP hb_m tab \\t here\nhb_m 1\n"),
    ("empty", ""),
    ("special_values", "sv_m NaN\nsv_n +Inf\nsv_o -Inf\n"),
    ("histogram", "# HELP h_m Latency.\n# TYPE h_m histogram\nh_m_bucket{z=\"b\",le=\"1.0\"} 1\nh_m_bucket{z=\"b\",le=\"0.5\"} 0\nh_m_bucket{z=\"b\",le=\"+Inf\"} 2\nh_m_sum{z=\"b\"} 3\nh_m_count{z=\"b\"} 2\nh_m_bucket{z=\"a\",le=\"1e6\"} 5\nh_m_sum{z=\"a\"} 7.5\nh_m_count{z=\"a\"} 6\n"),
    ("summary", "# TYPE s_m summary\ns_m{quantile=\"0.90\"} 4\ns_m{quantile=\"0.5\"} 1\ns_m_sum 3\ns_m_count 2\n"),
    ("histogram_partial", "# TYPE hp_m histogram\nhp_m_bucket 1\nhp_m_count 1\nhp_m 7\n"),
    ("histogram_sum_only", "# TYPE hs_m histogram\nhs_m_sum 2\n"),
    ("histogram_bad_le", "# TYPE hn_m histogram\nhn_m_bucket{le=\"x\"} 1\n"),
    ("summary_bare", "# TYPE sq_m summary\nsq_m 1\nsq_m_sum 1\n"),
    ("type_after_sample", "ta_m 1\n# TYPE ta_m counter\n"),
    ("empty_braces", "eb_m{} 1\n"),
    ("whitespace", "ws_m  1\nws_n\t2\n"),
    ("label_bad_escape", "le_m{a=\"x\\ty\"} 1\n"),
    ("duplicate_label", "dl_m{a=\"1\",a=\"2\"} 1\n"),
    ("trailing_garbage", "tg_m 1 abc\n"),
    ("help_without_space", "#HELP nh_m no space\nnh_m 1\n"),
    ("duplicate_help", "# HELP hh_m a\n# HELP hh_m b\nhh_m 1\n"),
    ("utf8_label", "u_m{a=\"\u{e9}t\u{e9}\"} 1\n"),
    ("value_after_brace", "vb_m{a=\"1\"}1\n"),
    ("leading_space", "  lead_m 1\n"),
    ("numbers", "neg_m -1.5e-3\nexp_m 1E6\n"),
    ("hex_value", "hex_m 0x10\n"),
    ("unknown_type", "# TYPE wt_m weird\nwt_m 1\n"),
    ("reserved_label", "rl_m{__name__=\"x\"} 1\n"),
    ("trailing_comma", "lc_m{a=\"1\",} 1\n"),
    ("bad_name", "1bad 1\n"),
    ("unterminated_label", "ul_m{a=\"1} 1\n"),
    ("comment_only", "# just a comment\n"),
    ("counter", "# HELP c_total Counts.\n# TYPE c_total counter\nc_total 3\n"),
];

/// The file names (without directory) that `text` reports an mtime for.
fn accepted(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| l.starts_with("node_textfile_mtime_seconds{"))
        .map(|l| {
            let path = l.split('"').nth(1).expect("file label");
            Path::new(path)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// The real node_exporter 1.5 with only its textfile collector, reading
/// `dir`, listening; and its port.
fn node_exporter_over(dir: &Path) -> (support::Proc, u16) {
    let bin = support::require("prometheus-node-exporter", "prometheus-node-exporter");
    let port = support::free_port();
    let ne = support::spawn(
        Command::new(bin)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--collector.textfile.directory={}", dir.display()))
            .arg("--collector.disable-defaults")
            .arg("--collector.textfile"),
    );
    assert!(support::wait_for_port(port, Duration::from_secs(10)));
    (ne, port)
}

#[test]
fn accepts_and_rejects_the_same_files_as_node_exporter() {
    let dir = tempfile::tempdir().unwrap();
    for (name, body) in CASES {
        std::fs::write(dir.path().join(format!("{name}.prom")), body).unwrap();
    }

    let (_ne, port) = node_exporter_over(dir.path());
    let (status, theirs) = support::http_get(&format!("http://127.0.0.1:{port}/metrics")).unwrap();
    assert_eq!(status, 200);

    let mut m = Metrics::new();
    Textfile::new(Options::new(Some(dir.path().into())))
        .update(&mut m)
        .unwrap();
    let ours = outpost::exporter::encode::encode(
        &m.into_sorted(),
        outpost::exporter::encode::Format::Text,
    );

    let want = accepted(&theirs);
    let got = accepted(&ours);
    assert!(want.len() >= 10 && want.len() < CASES.len(), "{want:?}");
    assert_eq!(
        got, want,
        "accepted files differ (left: ours, right: node_exporter)"
    );
    // Some files were rejected, so both report the error.
    assert!(theirs.contains("node_textfile_scrape_error 1"));
    assert!(ours.contains("node_textfile_scrape_error 1"));
    // And what was accepted carries the same series and HELP.
    let compared = [
        "ok_m",
        "he_m",
        "u_m",
        "# HELP he_m",
        "c_total",
        "# HELP c_total",
    ];
    for line in theirs
        .lines()
        .filter(|l| compared.iter().any(|p| l.starts_with(p)))
    {
        assert!(
            ours.lines().any(|o| o == line),
            "missing {line:?} in ours:\n{ours}"
        );
    }
    // Histograms and summaries: the same lines in the same order (bucket
    // order, `le` written as Go writes floats, the added `+Inf` bucket,
    // default sum and count), HELP and TYPE included.
    for family in ["h_m", "s_m", "hp_m", "hs_m", "sq_m"] {
        let block = |text: &str| -> Vec<String> {
            text.lines()
                .filter(|l| {
                    let name = l
                        .strip_prefix("# HELP ")
                        .or_else(|| l.strip_prefix("# TYPE "))
                        .unwrap_or(l);
                    name.split(['{', ' ']).next().is_some_and(|n| {
                        n == family
                            || ["_bucket", "_sum", "_count"]
                                .iter()
                                .any(|s| n == format!("{family}{s}"))
                    })
                })
                .map(str::to_owned)
                .collect()
        };
        let want = block(&theirs);
        assert!(want.len() >= 4, "{family}: {want:?}");
        assert_eq!(
            block(&ours),
            want,
            "{family} (left: ours, right: node_exporter)"
        );
    }
}

/// The `outpost_textfile_skipped` lines of `text`, as `(file name, reason)`.
fn skipped(text: &str) -> BTreeSet<(String, String)> {
    text.lines()
        .filter(|l| l.starts_with("outpost_textfile_skipped{"))
        .map(|l| {
            let mut quoted = l.split('"').skip(1).step_by(2);
            let file = quoted.next().expect("file label");
            let reason = quoted.next().expect("reason label");
            let name = Path::new(file).file_name().unwrap().to_string_lossy();
            assert!(l.ends_with("} 1"), "{l}");
            (name.into_owned(), reason.to_owned())
        })
        .collect()
}

/// A FIFO (node_exporter 1.5 blocks its scrape on one for good), a device
/// and a file over `--collector.textfile.max-size` (a sparse 64 GiB one,
/// which only an unread file can pass quickly) among good files: every
/// scrape of the real binary answers, serves the good files as
/// node_exporter serves them without the bad ones, and names the bad ones.
#[test]
fn fifos_devices_and_huge_files_are_skipped_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("good.prom"), "# HELP good_m Good.\ngood_m 1\n").unwrap();
    std::fs::write(elsewhere.path().join("target"), "linked_m 2\n").unwrap();
    std::os::unix::fs::symlink(elsewhere.path().join("target"), d.join("linked.prom")).unwrap();
    std::fs::write(
        d.join("small.prom"),
        format!("small_m 3\n# {}\n", "x".repeat(900)),
    )
    .unwrap();
    std::fs::create_dir(d.join("subdir.prom")).unwrap();

    // What node_exporter serves from the good files alone.
    let theirs = {
        let (_ne, port) = node_exporter_over(d);
        let (status, body) =
            support::http_get(&format!("http://127.0.0.1:{port}/metrics")).unwrap();
        assert_eq!(status, 200);
        body
    };

    // Now the bad entries.
    nix::unistd::mkfifo(&d.join("fifo.prom"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    std::os::unix::fs::symlink("/dev/zero", d.join("zero.prom")).unwrap();
    std::fs::File::create(d.join("huge.prom"))
        .unwrap()
        .set_len(64 << 30)
        .unwrap();
    std::fs::write(
        d.join("over.prom"),
        format!("over_m 4\n# {}\n", "x".repeat(1100)),
    )
    .unwrap();

    let port = support::free_port();
    let _op = support::spawn(
        Command::new(support::outpost_bin())
            .arg("exporter")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--collector.textfile.directory={}", d.display()))
            .arg("--collector.textfile.max-size=1KiB")
            .arg("--collector.disable-defaults")
            .arg("--collector.textfile"),
    );
    assert!(support::wait_for_port(port, Duration::from_secs(10)));
    for scrape in 0..3 {
        let (status, ours) = support::http_get(&format!("http://127.0.0.1:{port}/metrics"))
            .unwrap_or_else(|e| panic!("scrape {scrape} did not answer: {e}"));
        assert_eq!(status, 200);
        // The good files, as node_exporter reads them (its extra
        // `subdir.prom`, a directory it reads as an empty file, aside).
        let mut want = accepted(&theirs);
        assert!(want.remove("subdir.prom"), "{want:?}");
        assert_eq!(accepted(&ours), want);
        for line in theirs.lines().filter(|l| {
            ["good_m", "# HELP good_m", "linked_m", "small_m"]
                .iter()
                .any(|p| l.starts_with(p))
        }) {
            assert!(
                ours.lines().any(|o| o == line),
                "missing {line:?} in ours:\n{ours}"
            );
        }
        assert!(!ours.contains("over_m"), "{ours}");
        assert!(theirs.contains("node_textfile_scrape_error 0"));
        assert!(ours.contains("node_textfile_scrape_error 1"), "{ours}");
        let named: BTreeSet<(String, String)> = [
            ("fifo.prom", "not_regular"),
            ("huge.prom", "too_large"),
            ("over.prom", "too_large"),
            ("zero.prom", "not_regular"),
        ]
        .iter()
        .map(|(f, r)| (f.to_string(), r.to_string()))
        .collect();
        assert_eq!(skipped(&ours), named);
    }
}

/// Files of one directory that share families: node_exporter 1.5 merges
/// them by the rules 1.12 applies across directories too (first HELP
/// stands, another HELP drops that family, no HELP names every file, a
/// repeated series or another type is dropped at gather time). Both must
/// serve the same lines.
#[test]
fn families_shared_by_files_merge_as_in_node_exporter() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        ("a.prom", "# HELP jobs_total Jobs run.\n# TYPE jobs_total counter\njobs_total{q=\"x\"} 1\nbare 1\nkind_m 1\n"),
        ("b.prom", "# HELP jobs_total Jobs run.\n# TYPE jobs_total counter\njobs_total{q=\"y\"} 2\nbare{l=\"2\"} 4\n"),
        ("c.prom", "# HELP jobs_total Other text.\n# TYPE jobs_total counter\njobs_total{q=\"z\"} 3\n"),
        ("d.prom", "bare 5\n# TYPE kind_m gauge\nkind_m{s=\"2\"} 7\n"),
    ];
    for (name, body) in files {
        std::fs::write(dir.path().join(name), body).unwrap();
    }
    let (_ne, port) = node_exporter_over(dir.path());
    let (status, theirs) = support::http_get(&format!("http://127.0.0.1:{port}/metrics")).unwrap();
    assert_eq!(status, 200);
    let mut m = Metrics::new();
    Textfile::new(Options::new(Some(dir.path().into())))
        .update(&mut m)
        .unwrap();
    let ours = outpost::exporter::encode::encode(
        &m.into_sorted(),
        outpost::exporter::encode::Format::Text,
    );
    let lines = |text: &str| -> BTreeSet<String> {
        text.lines()
            .filter(|l| {
                ["jobs_total", "bare", "kind_m", "node_textfile_scrape_error"]
                    .iter()
                    .any(|p| {
                        l.starts_with(p)
                            || l.starts_with(&format!("# HELP {p}"))
                            || l.starts_with(&format!("# TYPE {p}"))
                    })
            })
            .map(str::to_owned)
            .collect()
    };
    // One difference, 1.12's: since 1.8 (#2962, "Avoid inconsistent
    // help-texts") a second HELP also sets node_textfile_scrape_error; the
    // 1.5 here drops the family without flagging it.
    assert!(theirs.contains("node_textfile_scrape_error 0"), "{theirs}");
    assert!(ours.contains("node_textfile_scrape_error 1"), "{ours}");
    let without_error = |text: &str| -> BTreeSet<String> {
        lines(text)
            .into_iter()
            .filter(|l| !l.starts_with("node_textfile_scrape_error"))
            .collect()
    };
    assert_eq!(
        without_error(&ours),
        without_error(&theirs),
        "ours:\n{ours}\nnode_exporter:\n{theirs}"
    );
}

/// The flag repeated, one value a glob (node_exporter 1.9+; the 1.5 here
/// takes it once): every directory's files are served.
#[test]
fn the_directory_flag_repeats_and_takes_globs() {
    let root = tempfile::tempdir().unwrap();
    for (dir, body) in [
        ("one", "from_one 1\n"),
        ("two/x", "from_two_x 2\n"),
        ("two/y", "from_two_y 3\n"),
    ] {
        std::fs::create_dir_all(root.path().join(dir)).unwrap();
        std::fs::write(root.path().join(dir).join("m.prom"), body).unwrap();
    }
    let port = support::free_port();
    let _op = support::spawn(
        Command::new(support::outpost_bin())
            .arg("exporter")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!(
                "--collector.textfile.directory={}",
                root.path().join("one").display()
            ))
            .arg(format!(
                "--collector.textfile.directory={}",
                root.path().join("two/*").display()
            ))
            .arg("--collector.disable-defaults")
            .arg("--collector.textfile"),
    );
    assert!(support::wait_for_port(port, Duration::from_secs(10)));
    let (_, ours) = support::http_get(&format!("http://127.0.0.1:{port}/metrics")).unwrap();
    for line in [
        "from_one 1",
        "from_two_x 2",
        "from_two_y 3",
        "node_textfile_scrape_error 0",
    ] {
        assert!(ours.lines().any(|l| l == line), "missing {line:?}:\n{ours}");
    }
    assert_eq!(
        accepted(&ours),
        BTreeSet::from(["m.prom".to_owned()]),
        "{ours}"
    );
    assert_eq!(
        ours.matches("node_textfile_mtime_seconds{").count(),
        3,
        "{ours}"
    );
}
