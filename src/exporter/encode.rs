//! Exposition encoders: Prometheus text format 0.0.4 and OpenMetrics 1.0,
//! plus content negotiation from the `Accept` header.
//!
//! Hand-written rather than taken from a client library: the exporter must
//! reproduce node_exporter's names and types exactly (including its
//! `untyped` families and camel-case compatibility names) and spend as little
//! CPU per scrape as possible.
//!
//! Decisions: the scrape thread writes into one buffer it keeps
//! ([`encode_into`]), first sized from the last scrape's length, so a large
//! exposition (150 kB on the fixture tree) is written without growing and
//! copying the buffer, and without a 150 kB allocation per scrape;
//! integral sample values, the common case, are written
//! digit by digit rather than through `fmt`.

use std::fmt::Write;

use super::metrics::{Family, Kind, Sample};

pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    OpenMetrics,
}

impl Format {
    /// Picks the format the client prefers by `q`; text when it does not say.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Text;
        };
        let mut best = (Format::Text, -1.0f32);
        for part in accept.split(',') {
            let mut params = part.split(';').map(str::trim);
            let media = params.next().unwrap_or("");
            let mut q = 1.0f32;
            let mut version = None;
            for p in params {
                if let Some(v) = p.strip_prefix("q=") {
                    q = v.parse().unwrap_or(0.0);
                } else if let Some(v) = p.strip_prefix("version=") {
                    version = Some(v);
                }
            }
            let format = match media {
                "application/openmetrics-text" if version.is_none_or(|v| v.starts_with("1.")) => {
                    Format::OpenMetrics
                }
                "text/plain" | "*/*" => Format::Text,
                _ => continue,
            };
            if q > best.1 {
                best = (format, q);
            }
        }
        best.0
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => TEXT_CONTENT_TYPE,
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }
}

/// Encodes sorted families in `format`.
pub fn encode(families: &[Family], format: Format) -> String {
    let mut out = String::with_capacity(64 * 1024);
    encode_into(&mut out, families, format);
    out
}

/// Encodes like [`encode`], appending to `out`.
pub fn encode_into(out: &mut String, families: &[Family], format: Format) {
    for fam in families {
        if fam.is_empty() {
            continue;
        }
        match format {
            Format::Text => encode_text_family(out, fam),
            Format::OpenMetrics => encode_openmetrics_family(out, fam),
        }
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
}

fn encode_text_family(out: &mut String, fam: &Family) {
    out.push_str("# HELP ");
    out.push_str(&fam.name);
    out.push(' ');
    escape_help(out, &fam.help, false);
    out.push_str("\n# TYPE ");
    out.push_str(&fam.name);
    out.push_str(match fam.kind {
        Kind::Counter => " counter\n",
        Kind::Gauge => " gauge\n",
        Kind::Untyped => " untyped\n",
        Kind::Histogram => " histogram\n",
        Kind::Summary => " summary\n",
    });
    for s in fam.samples() {
        write_sample(out, &fam.name, "", s);
    }
}

fn encode_openmetrics_family(out: &mut String, fam: &Family) {
    // OpenMetrics names a counter family without `_total` and requires the
    // suffix on its samples.
    let (family_name, suffix) = match fam.kind {
        Kind::Counter => match fam.name.strip_suffix("_total") {
            Some(base) => (base, "_total"),
            None => (&*fam.name, "_total"),
        },
        _ => (&*fam.name, ""),
    };
    out.push_str("# TYPE ");
    out.push_str(family_name);
    out.push_str(match fam.kind {
        Kind::Counter => " counter\n",
        Kind::Gauge => " gauge\n",
        Kind::Untyped => " unknown\n",
        Kind::Histogram => " histogram\n",
        Kind::Summary => " summary\n",
    });
    out.push_str("# HELP ");
    out.push_str(family_name);
    out.push(' ');
    escape_help(out, &fam.help, true);
    out.push('\n');
    for s in fam.samples() {
        write_sample(out, family_name, suffix, s);
    }
}

fn write_sample(out: &mut String, name: &str, suffix: &str, sample: Sample<'_>) {
    out.push_str(name);
    out.push_str(suffix);
    out.push_str(sample.suffix.as_str());
    let labels = sample.labels();
    if labels.len() > 0 {
        out.push('{');
        for (i, (k, v)) in labels.enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            escape_label_value(out, v);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    write_value(out, sample.value);
    out.push('\n');
}

/// Writes a sample value the way Prometheus parses it: `NaN`, `+Inf`,
/// `-Inf`, or the shortest decimal that round-trips.
pub fn write_value(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else if value == value.trunc() && value.abs() < 1e15 {
        // Integral values are the common case; print them without a
        // fraction, and without the formatting machinery.
        push_int(out, value as i64);
    } else {
        let _ = write!(out, "{value}");
    }
}

/// Writes `v` in decimal.
fn push_int(out: &mut String, v: i64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = v.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push('-');
    }
    out.push_str(std::str::from_utf8(&digits[at..]).expect("ASCII digits"));
}

/// `f` as Go's `strconv.FormatFloat(f, 'g', -1, 64)` writes it, which is
/// how client_golang writes the `le` and `quantile` label values: the same
/// bound must give the same label value as node_exporter's, or it would be
/// another series. Shortest round-trip digits; exponent form (`1e+06`,
/// `1e-05`) when the decimal exponent is below -4 or at least 6.
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "-1.5e-7".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponent");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{dot}{rest}e{esign}{:02}", exp.abs());
    }
    if exp < 0 {
        let zeros = "0".repeat((-exp - 1) as usize);
        return format!("{sign}0.{zeros}{digits}");
    }
    let point = exp as usize + 1;
    if digits.len() <= point {
        format!("{sign}{digits}{}", "0".repeat(point - digits.len()))
    } else {
        format!("{sign}{}.{}", &digits[..point], &digits[point..])
    }
}

fn escape_help(out: &mut String, help: &str, quote: bool) {
    // A help text rarely needs escaping: one vectorised scan (memchr3)
    // decides, where a byte loop was ~0.8% of a scrape's CPU.
    if memchr::memchr3(b'\\', b'\n', b'"', help.as_bytes()).is_none() {
        out.push_str(help);
        return;
    }
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

fn escape_label_value(out: &mut String, v: &str) {
    if memchr::memchr3(b'\\', b'\n', b'"', v.as_bytes()).is_none() {
        out.push_str(v);
        return;
    }
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_written_as_go_writes_them() {
        for (f, want) in [
            (1.0, "1"),
            (0.5, "0.5"),
            (0.25, "0.25"),
            (10.0, "10"),
            (100000.0, "100000"),
            (1e6, "1e+06"),
            (2.5e21, "2.5e+21"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (-3.0, "-3"),
            (123.456, "123.456"),
            (0.1 + 0.2, "0.30000000000000004"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (0.0, "0"),
        ] {
            assert_eq!(go_float(f), want, "{f}");
        }
    }
    use crate::exporter::metrics::Metrics;

    fn sample_set() -> Vec<Family> {
        let mut m = Metrics::new();
        m.counter("node_forks_total", "Total number of forks.")
            .add(&[], 1234.0);
        m.gauge("node_load1", "1m load average.").add(&[], 0.25);
        m.untyped(
            "node_vmstat_pgfault",
            "/proc/vmstat information field pgfault.",
        )
        .add(&[], 9.0);
        m.gauge("node_x_info", "Help with \\ and\nnewline.")
            .add(&[("b", "quote\"d"), ("a", "back\\slash\nnl")], 1.0);
        m.into_sorted()
    }

    #[test]
    fn text_format_matches_the_exposition_spec() {
        let text = encode(&sample_set(), Format::Text);
        assert_eq!(
            text,
            "# HELP node_forks_total Total number of forks.\n\
             # TYPE node_forks_total counter\n\
             node_forks_total 1234\n\
             # HELP node_load1 1m load average.\n\
             # TYPE node_load1 gauge\n\
             node_load1 0.25\n\
             # HELP node_vmstat_pgfault /proc/vmstat information field pgfault.\n\
             # TYPE node_vmstat_pgfault untyped\n\
             node_vmstat_pgfault 9\n\
             # HELP node_x_info Help with \\\\ and\\nnewline.\n\
             # TYPE node_x_info gauge\n\
             node_x_info{a=\"back\\\\slash\\nnl\",b=\"quote\\\"d\"} 1\n"
        );
    }

    #[test]
    fn openmetrics_strips_total_from_counter_family_and_ends_with_eof() {
        let text = encode(&sample_set(), Format::OpenMetrics);
        assert!(text.contains("# TYPE node_forks counter\n# HELP node_forks Total number of forks.\nnode_forks_total 1234\n"));
        assert!(text.contains("# TYPE node_vmstat_pgfault unknown\n"));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn values_print_like_prometheus_parses_them() {
        let mut s = String::new();
        for v in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            3.0,
            -2.5,
            1.795325216e9,
            1e300,
        ] {
            write_value(&mut s, v);
            s.push(' ');
        }
        assert_eq!(
            s.split(' ').take(6).collect::<Vec<_>>(),
            ["NaN", "+Inf", "-Inf", "3", "-2.5", "1795325216"]
        );
        for v in [0.0, -0.0, 7.0, -7.0, 10.0, -100.0, 999_999_999_999_999.0] {
            let mut got = String::new();
            write_value(&mut got, v);
            assert_eq!(got, (v as i64).to_string(), "{v}");
        }
        assert_eq!(s.split(' ').nth(6).unwrap().parse::<f64>().unwrap(), 1e300);
    }

    #[test]
    fn negotiation_follows_prometheus_accept_header() {
        let prom = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prom)), Format::OpenMetrics);
        assert_eq!(
            Format::negotiate(Some("text/plain;version=0.0.4")),
            Format::Text
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;version=0.0.1")),
            Format::Text
        );
        assert_eq!(Format::negotiate(None), Format::Text);
        assert_eq!(Format::negotiate(Some("application/json")), Format::Text);
    }
}
