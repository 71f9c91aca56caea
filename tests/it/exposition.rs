//! A small parser for the Prometheus text format, for comparing outputs in
//! tests (families with their type, label names and samples).

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Default, Clone)]
pub struct Family {
    pub kind: String,
    pub label_names: BTreeSet<String>,
    pub samples: Vec<(BTreeMap<String, String>, f64)>,
}

/// Parses an exposition body into families by name. Panics on malformed
/// input: the tests feed it only real exporter output.
pub fn parse(text: &str) -> BTreeMap<String, Family> {
    let mut out: BTreeMap<String, Family> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE line");
            out.entry(name.to_owned()).or_default().kind = kind.to_owned();
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (name, labels, rest) = match line.find('{') {
            Some(i) => {
                let (labels, after) = parse_labels(&line[i + 1..]);
                (&line[..i], labels, after)
            }
            None => {
                let (n, r) = line.split_once(' ').expect("sample line");
                (n, BTreeMap::new(), r)
            }
        };
        let value = rest.split_whitespace().next().expect("value");
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let fam = out.entry(name.to_owned()).or_default();
        fam.label_names.extend(labels.keys().cloned());
        fam.samples.push((labels, value));
    }
    out
}

fn parse_labels(s: &str) -> (BTreeMap<String, String>, &str) {
    let mut labels = BTreeMap::new();
    let b = s.as_bytes();
    let mut i = 0;
    loop {
        while b[i] == b',' || b[i] == b' ' {
            i += 1;
        }
        if b[i] == b'}' {
            return (labels, &s[i + 1..]);
        }
        let eq = s[i..].find('=').expect("label =") + i;
        let name = s[i..eq].to_owned();
        i = eq + 2; // skip ="
        let mut value = String::new();
        while b[i] != b'"' {
            if b[i] == b'\\' {
                i += 1;
                value.push(match b[i] {
                    b'n' => '\n',
                    c => c as char,
                });
            } else {
                let c = s[i..].chars().next().unwrap();
                value.push(c);
                i += c.len_utf8() - 1;
            }
            i += 1;
        }
        i += 1;
        labels.insert(name, value);
    }
}

#[test]
fn parses_labels_with_escapes() {
    let f = parse("# TYPE x gauge\nx{a=\"q\\\"uo,te\",b=\"\"} 1.5\ny 2\n");
    assert_eq!(f["x"].kind, "gauge");
    assert_eq!(f["x"].samples[0].0["a"], "q\"uo,te");
    assert_eq!(f["x"].samples[0].1, 1.5);
    assert_eq!(f["y"].samples[0].1, 2.0);
}
