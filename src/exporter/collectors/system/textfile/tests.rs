use super::*;
use crate::exporter::metrics::Kind;

#[test]
fn parses_help_type_labels_and_escapes() {
    let f = parse(
        "# HELP jobs_total Jobs run, by \\\\ kind.\n# TYPE jobs_total counter\n\
         jobs_total{kind=\"a \\\"b\\\"\",x=\"1\"} 3\njobs_total 4e3\n# a comment\n\
         temp{room=\"k\",} -Inf\n",
    )
    .unwrap();
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].help.as_deref(), Some("Jobs run, by \\ kind."));
    assert_eq!(f[0].kind, Kind::Counter);
    assert_eq!(f[0].samples[0].labels[0], ("kind".into(), "a \"b\"".into()));
    assert_eq!(f[0].samples[1].value, 4000.0);
    assert_eq!(f[1].kind, Kind::Untyped);
    assert_eq!(f[1].samples[0].value, f64::NEG_INFINITY);
}

/// The text a file's families encode to, as the exporter serves it.
fn served(file: &str) -> String {
    let mut m = Metrics::new();
    encode(parse(file).unwrap(), Path::new("/t/a.prom"), &mut m);
    crate::exporter::encode::encode(&m.into_sorted(), crate::exporter::encode::Format::Text)
}

#[test]
fn histograms_come_out_as_node_exporter_writes_them() {
    let got = served(
        "# HELP lat Latency.\n# TYPE lat histogram\n\
         lat_bucket{z=\"b\",le=\"1.0\"} 1\nlat_bucket{z=\"b\",le=\"0.5\"} 0\n\
         lat_bucket{z=\"b\",le=\"+Inf\"} 2\nlat_sum{z=\"b\"} 3\nlat_count{z=\"b\"} 2\n\
         lat_bucket{z=\"a\",le=\"1e6\"} 5\nlat_sum{z=\"a\"} 7.5\nlat_count{z=\"a\"} 6\n\
         lat_bucket 9\nlat 4\n",
    );
    assert_eq!(
        got,
        "# HELP lat Latency.\n# TYPE lat histogram\n\
         lat_bucket{z=\"\",le=\"+Inf\"} 0\nlat_sum{z=\"\"} 0\nlat_count{z=\"\"} 0\n\
         lat_bucket{z=\"a\",le=\"1e+06\"} 5\nlat_bucket{z=\"a\",le=\"+Inf\"} 6\n\
         lat_sum{z=\"a\"} 7.5\nlat_count{z=\"a\"} 6\n\
         lat_bucket{z=\"b\",le=\"0.5\"} 0\nlat_bucket{z=\"b\",le=\"1\"} 1\n\
         lat_bucket{z=\"b\",le=\"+Inf\"} 2\nlat_sum{z=\"b\"} 3\nlat_count{z=\"b\"} 2\n"
    );
}

#[test]
fn summaries_come_out_as_node_exporter_writes_them() {
    let got = served(
        "# TYPE rt summary\nrt{quantile=\"0.90\"} 4\nrt{quantile=\"0.5\"} 1\nrt_sum 3\nrt_count 2\n",
    );
    assert_eq!(
        got,
        "# HELP rt Metric read from /t/a.prom\n# TYPE rt summary\n\
         rt{quantile=\"0.5\"} 1\nrt{quantile=\"0.9\"} 4\nrt_sum 3\nrt_count 2\n"
    );
}

#[test]
fn a_bound_that_is_not_a_number_rejects_the_file() {
    assert!(parse("# TYPE h histogram\nh_bucket{le=\"x\"} 1\n").is_err());
    assert!(parse("# TYPE s summary\ns{quantile=\"half\"} 1\n").is_err());
    // Labels named so on other families are just labels.
    assert!(parse("g{le=\"x\"} 1\n").is_ok());
}

#[test]
fn missing_labels_are_filled_and_help_defaults() {
    let f = parse("m{a=\"1\"} 3\nm{b=\"2\"} 4\n").unwrap();
    let mut m = Metrics::new();
    encode(f, Path::new("/t/a.prom"), &mut m);
    let fam = m.get("m").unwrap();
    assert_eq!(fam.help, "Metric read from /t/a.prom");
    assert_eq!(fam.sample(0).labels().len(), 2);
    assert_eq!(fam.sample(1).labels().next(), Some(("a", "")));
}

#[test]
fn malformed_files_are_errors() {
    for bad in [
        "bad metric here\n",
        "m{a=1} 2\n",
        "m{a=\"1\" 2\n",
        "m{a=\"1\",a=\"2\"} 2\n",
        "m\n",
        "m 1 2 3\n",
        "1m 2\n",
        "# TYPE m summaryish\nm 1\n",
        "m 1\n# TYPE m counter\n",
        "# HELP m a\n# HELP m b\nm 1\n",
        "# HELP m tab \\t\nm 1\n",
        "# TYPE m counter\n# TYPE m gauge\nm 1\n",
        "m{__name__=\"x\"} 1\n",
        "m{a=\"1\"} 1\nm{a=\"1\"} 2\n",
    ] {
        assert!(parse(bad).is_err(), "{bad:?}");
    }
    assert_eq!(
        parse("m 1 1700000000000\n"),
        Err(ParseError::Timestamp { line: 1 })
    );
}

#[test]
fn a_bad_file_is_skipped_and_flagged() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.prom"), "good_metric 1\n").unwrap();
    std::fs::write(dir.path().join("bad.prom"), "bad metric\n").unwrap();
    std::fs::write(dir.path().join("ignored.txt"), "not read\n").unwrap();
    let mut m = Metrics::new();
    Textfile::new(Options::new(Some(dir.path().into())))
        .update(&mut m)
        .unwrap();
    assert_eq!(m.get("good_metric").unwrap().sample(0).value, 1.0);
    assert_eq!(
        m.get("node_textfile_scrape_error").unwrap().sample(0).value,
        1.0
    );
    let mtimes = m.get("node_textfile_mtime_seconds").unwrap();
    assert_eq!(mtimes.len(), 1);
    assert!(mtimes
        .sample(0)
        .labels()
        .next()
        .unwrap()
        .1
        .ends_with("good.prom"));
}

/// node_exporter 1.12 over several directories (its flag repeated, a
/// glob among them): files read in the order given, families merged
/// across files by its rules.
#[test]
fn several_directories_are_read_as_one_by_node_exporters_rules() {
    let root = tempfile::tempdir().unwrap();
    let w = |rel: &str, text: &str| {
        let p = root.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    w("a/jobs.prom", "# HELP jobs_total Jobs run.\n# TYPE jobs_total counter\njobs_total{q=\"x\"} 1\nbare 1\nkind_m 1\n");
    // Same HELP: merged. Another HELP: left out, an error.
    w(
        "b/1/jobs.prom",
        "# HELP jobs_total Jobs run.\n# TYPE jobs_total counter\njobs_total{q=\"y\"} 2\n",
    );
    w(
        "b/2/other.prom",
        "# HELP jobs_total Other text.\n# TYPE jobs_total counter\njobs_total{q=\"z\"} 3\n",
    );
    // Without HELP in both files: help names both. A series read
    // before: left out, no error. Another type: left out, no error.
    w(
        "c/more.prom",
        "bare 5\n# TYPE kind_m gauge\nkind_m{s=\"2\"} 7\n",
    );
    let options = |dirs: &[&str]| Options {
        directories: dirs.iter().map(|d| root.path().join(d)).collect(),
        max_size: None,
    };
    let scrape = |o: Options| {
        let mut m = Metrics::new();
        Textfile::new(o).update(&mut m).unwrap();
        crate::exporter::encode::encode(&m.into_sorted(), crate::exporter::encode::Format::Text)
    };
    let text = scrape(options(&["a", "b/*", "c"]));
    let r = |rel: &str| root.path().join(rel).display().to_string();
    let series: Vec<&str> = text
        .lines()
        .filter(|l| !l.contains("node_textfile_mtime") && !l.starts_with("# TYPE"))
        .collect();
    assert_eq!(
        series,
        [
            format!("# HELP bare Metric read from {}, {}", r("a/jobs.prom"), r("c/more.prom")).as_str(),
            "bare 1",
            "# HELP jobs_total Jobs run.",
            "jobs_total{q=\"x\"} 1",
            "jobs_total{q=\"y\"} 2",
            format!("# HELP kind_m Metric read from {}, {}", r("a/jobs.prom"), r("c/more.prom")).as_str(),
            "kind_m 1",
            "# HELP node_textfile_scrape_error 1 if there was an error opening or reading a file, 0 otherwise",
            "node_textfile_scrape_error 1",
        ],
        "{text}"
    );
    // Every file that parsed has its mtime, the one left out too.
    assert_eq!(
        text.matches("node_textfile_mtime_seconds{").count(),
        4,
        "{text}"
    );
    // Without the file of the other HELP: no error. A glob that
    // matches nothing is read as a directory (missing: an error).
    let text = scrape(options(&["a", "b/1", "c"]));
    assert!(text.contains("node_textfile_scrape_error 0"), "{text}");
    let text = scrape(options(&["a", "nothing-*"]));
    assert!(text.contains("node_textfile_scrape_error 1"), "{text}");
    assert!(text.contains("jobs_total{q=\"x\"} 1"), "{text}");
}

#[test]
fn no_directory_means_no_error() {
    let mut m = Metrics::new();
    Textfile::new(Options::new(None)).update(&mut m).unwrap();
    assert_eq!(
        m.get("node_textfile_scrape_error").unwrap().sample(0).value,
        0.0
    );
    assert!(m.get("node_textfile_mtime_seconds").is_none());
}

#[test]
fn only_regular_files_within_the_size_limit_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fifo = d.join("fifo.prom");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    // Opened blocking, this would wait for a writer forever.
    assert!(matches!(read(&fifo, None), Err(Skip::NotRegular)));
    assert!(matches!(
        read(Path::new("/dev/null"), None),
        Err(Skip::NotRegular)
    ));
    std::fs::create_dir(d.join("dir.prom")).unwrap();
    assert!(matches!(
        read(&d.join("dir.prom"), None),
        Ok(Entry::Directory)
    ));
    std::fs::write(d.join("ten.prom"), "m_total 1\n").unwrap();
    let ten = d.join("ten.prom");
    assert!(
        matches!(read(&ten, Some(10)), Ok(Entry::File { ref text, .. }) if text == "m_total 1\n")
    );
    assert!(matches!(
        read(&ten, Some(9)),
        Err(Skip::TooLarge { size: 10, max: 9 })
    ));
    assert!(matches!(read(&ten, None), Ok(Entry::File { .. })));
    assert!(matches!(
        read(&d.join("gone.prom"), None),
        Err(Skip::Unreadable(_))
    ));
}

#[test]
fn skipped_files_are_named_with_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("a.prom"), "a_m 1\n").unwrap();
    std::fs::write(d.join("big.prom"), "big_m 1\n# padding\n").unwrap();
    std::fs::write(d.join("bad.prom"), "bad metric\n").unwrap();
    nix::unistd::mkfifo(&d.join("p.prom"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    std::fs::create_dir(d.join("sub.prom")).unwrap();
    let mut m = Metrics::new();
    Textfile::new(Options {
        directories: vec![d.into()],
        max_size: Some(16),
    })
    .update(&mut m)
    .unwrap();
    let skipped: Vec<(String, String)> = m
        .get(SKIPPED)
        .unwrap()
        .samples()
        .map(|s| {
            let file = s.label("file").unwrap();
            let name = Path::new(file).file_name().unwrap().to_string_lossy();
            (name.into_owned(), s.label("reason").unwrap().to_owned())
        })
        .collect();
    let want = [
        ("bad.prom", "invalid"),
        ("big.prom", "too_large"),
        ("p.prom", "not_regular"),
    ];
    assert_eq!(
        skipped,
        want.map(|(f, r)| (f.to_owned(), r.to_owned())).to_vec()
    );
    assert_eq!(m.get("a_m").unwrap().sample(0).value, 1.0);
    assert_eq!(m.get("node_textfile_mtime_seconds").unwrap().len(), 1);
    assert_eq!(
        m.get("node_textfile_scrape_error").unwrap().sample(0).value,
        1.0
    );
}

#[test]
fn a_directory_without_glob_characters_is_taken_as_it_is() {
    let tmp = tempfile::tempdir().unwrap();
    let there = tmp.path().join("prom.d");
    std::fs::create_dir(&there).unwrap();
    std::fs::create_dir(tmp.path().join("prom.e")).unwrap();
    // Taken as it is whether or not it exists, as globbing it would give.
    assert_eq!(expand(&there), vec![there.clone()]);
    let missing = tmp.path().join("none");
    assert_eq!(expand(&missing), vec![missing.clone()]);
    // With a glob character it is still globbed, in order.
    let pattern = tmp.path().join("prom.?");
    assert_eq!(expand(&pattern), vec![there, tmp.path().join("prom.e")]);
    let bracket = tmp.path().join("prom.[e]");
    assert_eq!(expand(&bracket), vec![tmp.path().join("prom.e")]);
    let nothing = tmp.path().join("x*");
    assert_eq!(expand(&nothing), vec![nothing.clone()]);
}
