//! The text exposition format (0.0.4) as node_exporter's textfile
//! collector reads it: families, samples, labels, escapes.

use std::collections::HashSet;

use crate::exporter::metrics::Kind;

/// One family as the file declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedFamily {
    pub name: String,
    pub help: Option<String>,
    pub kind: Kind,
    /// Whether a `# TYPE` line declared the kind (a second one is an error).
    pub typed: bool,
    pub samples: Vec<ParsedSample>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParseError {
    #[error("line {line}: {reason}")]
    Syntax { line: usize, reason: String },
    #[error("line {line}: client-side timestamps are not supported")]
    Timestamp { line: usize },
}

pub(super) fn is_name(s: &str, colons: bool) -> bool {
    let mut chars = s.chars();
    let ok_first = |c: char| c.is_ascii_alphabetic() || c == '_' || (colons && c == ':');
    chars.next().is_some_and(ok_first) && chars.all(|c| ok_first(c) || c.is_ascii_digit())
}

pub(super) fn parse_value(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

/// Which declared family a sample name belongs to.
pub(super) fn family_of(families: &[ParsedFamily], sample: &str) -> Option<usize> {
    if let Some(i) = families.iter().position(|f| f.name == sample) {
        return Some(i);
    }
    for (suffix, kinds) in [
        ("_bucket", &[Kind::Histogram][..]),
        ("_sum", &[Kind::Histogram, Kind::Summary][..]),
        ("_count", &[Kind::Histogram, Kind::Summary][..]),
    ] {
        if let Some(base) = sample.strip_suffix(suffix) {
            if let Some(i) = families
                .iter()
                .position(|f| f.name == base && kinds.contains(&f.kind))
            {
                return Some(i);
            }
        }
    }
    None
}

/// Appends an untyped family named `name` without help; returns its index.
pub(super) fn new_family(families: &mut Vec<ParsedFamily>, name: &str) -> usize {
    families.push(ParsedFamily {
        name: name.to_owned(),
        help: None,
        kind: Kind::Untyped,
        typed: false,
        samples: Vec::new(),
    });
    families.len() - 1
}

type Labels = Vec<(String, String)>;

/// Parses `{a="1",b="x\"y"}` starting after the `{`; returns the labels and
/// the rest of the line after `}`.
pub(super) fn parse_labels(s: &str) -> Result<(Labels, &str), String> {
    let mut labels = Vec::new();
    let mut rest = s.trim_start();
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = rest.find('=').ok_or("expected label name and '='")?;
        let name = rest[..eq].trim();
        if !is_name(name, false) {
            return Err(format!("invalid label name {name:?}"));
        }
        rest = rest[eq + 1..].trim_start();
        rest = rest
            .strip_prefix('"')
            .ok_or("expected '\"' to open label value")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err("unterminated label value".into()),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    _ => return Err("invalid escape in label value".into()),
                },
                Some((_, c)) => value.push(c),
            }
        };
        if name == "__name__" {
            return Err("label name \"__name__\" is reserved".into());
        }
        if labels.iter().any(|(n, _)| n == name) {
            return Err(format!("duplicate label {name:?}"));
        }
        labels.push((name.to_owned(), value));
        rest = rest[end + 1..].trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after.trim_start();
        } else if !rest.starts_with('}') {
            return Err("expected ',' or '}' after label value".into());
        }
    }
}

/// Undoes HELP escaping; only `\\` and `\n` are valid, as in Go's parser.
pub(super) fn unescape_help(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('\\') => out.push('\\'),
            other => return Err(format!("invalid escape sequence {other:?} in HELP")),
        }
    }
    Ok(out)
}

/// Parses one file in the text exposition format.
pub fn parse(text: &str) -> Result<Vec<ParsedFamily>, ParseError> {
    let mut families: Vec<ParsedFamily> = Vec::new();
    let mut seen: HashSet<(String, Labels)> = HashSet::new();
    for (n, raw) in text.lines().enumerate() {
        let line_no = n + 1;
        let err = |reason: String| ParseError::Syntax {
            line: line_no,
            reason,
        };
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut parts = comment.trim_start().splitn(3, [' ', '\t']);
            let keyword = parts.next().unwrap_or("");
            if keyword != "HELP" && keyword != "TYPE" {
                continue;
            }
            let name = parts.next().unwrap_or("").trim();
            if !is_name(name, true) {
                return Err(err(format!("invalid metric name {name:?} in {keyword}")));
            }
            let arg = parts.next().unwrap_or("").trim();
            let at = families
                .iter()
                .position(|f| f.name == name)
                .unwrap_or_else(|| new_family(&mut families, name));
            let fam = &mut families[at];
            if keyword == "HELP" {
                if fam.help.is_some() {
                    return Err(err(format!("second HELP line for {name}")));
                }
                fam.help = Some(unescape_help(arg).map_err(err)?);
            } else {
                if fam.typed || !fam.samples.is_empty() {
                    return Err(err(format!(
                        "second TYPE line for {name}, or TYPE after its samples"
                    )));
                }
                fam.typed = true;
                fam.kind = match arg {
                    "counter" => Kind::Counter,
                    "gauge" => Kind::Gauge,
                    "untyped" => Kind::Untyped,
                    "histogram" => Kind::Histogram,
                    "summary" => Kind::Summary,
                    other => return Err(err(format!("unknown metric type {other:?}"))),
                };
            }
            continue;
        }
        let name_end = line
            .find(|c: char| c == '{' || c.is_whitespace())
            .ok_or_else(|| err("expected a value after the metric name".into()))?;
        let name = &line[..name_end];
        if !is_name(name, true) {
            return Err(err(format!("invalid metric name {name:?}")));
        }
        let (labels, rest) = match line[name_end..].trim_start().strip_prefix('{') {
            Some(after) => parse_labels(after).map_err(err)?,
            None => (Vec::new(), &line[name_end..]),
        };
        let mut fields = rest.split_whitespace();
        let value = fields
            .next()
            .and_then(parse_value)
            .ok_or_else(|| err(format!("expected a float value for {name}")))?;
        match fields.next() {
            None => {}
            Some(ts) if ts.parse::<i64>().is_ok() => {
                return Err(ParseError::Timestamp { line: line_no })
            }
            Some(other) => return Err(err(format!("unexpected {other:?} after the value"))),
        }
        if fields.next().is_some() {
            return Err(err("trailing text after the timestamp".into()));
        }
        let at = family_of(&families, name).unwrap_or_else(|| new_family(&mut families, name));
        let fam = &families[at];
        let is_bound_part = match fam.kind {
            Kind::Histogram => name.len() == fam.name.len() + "_bucket".len(),
            Kind::Summary => name == fam.name,
            _ => false,
        } && name.starts_with(fam.name.as_str());
        if let (true, Some(bound)) = (is_bound_part, fam.kind.bound_label()) {
            if let Some((_, v)) = labels.iter().find(|(k, _)| k == bound) {
                if parse_bound(v).is_none() {
                    return Err(err(format!("{bound}={v:?} of {name} is not a number")));
                }
            }
        }
        let mut key = labels.clone();
        key.sort();
        if !seen.insert((name.to_owned(), key)) {
            return Err(err(format!("duplicate series for {name}")));
        }
        families[at].samples.push(ParsedSample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    families.retain(|f| !f.samples.is_empty());
    Ok(families)
}

/// A `le` or `quantile` value as Go's parser reads it.
pub(super) fn parse_bound(v: &str) -> Option<f64> {
    parse_value(v).or_else(|| v.parse().ok())
}
