//! Chat benchmark: chart render time (300 and 3,000 points) and the
//! `/mon_cpu_picture` round trip through the engine against a running
//! Prometheus. Run by `bench/chat.sh`, which starts the local stack.
//!
//! `chat_bench render [ITERATIONS]`
//! `chat_bench roundtrip ITERATIONS PROMETHEUS_URL ALERTMANAGER_URL AGENTS_FILE STATE_DB`

use std::time::{Duration, Instant};

use outpost::chat::audit::Audit;
use outpost::chat::chart::{self, Chart, Line};
use outpost::chat::{Caller, Config, Engine};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "{name}: n={} p50={:.2}ms p90={:.2}ms p99={:.2}ms mean={:.2}ms min={:.2}ms",
        samples.len(),
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.9).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        mean.as_secs_f64() * 1e3,
        samples[0].as_secs_f64() * 1e3,
    );
}

/// The same chart as bench/chart_matplotlib.py: one CPU-like series,
/// threshold line, title, legend, time axis, 1000×600.
fn chart_of(points: usize) -> Chart {
    let start = 1_700_000_000.0;
    let step = 300.0 / points as f64;
    Chart {
        title: "CPU usage — web1".into(),
        unit: "%".into(),
        lines: vec![Line {
            name: "web1".into(),
            points: (0..points)
                .map(|i| {
                    let x = i as f64;
                    (
                        start + x * step,
                        40.0 + 30.0 * (x / 20.0).sin() + 5.0 * (x / 3.0).cos(),
                    )
                })
                .collect(),
        }],
        threshold: Some(80.0),
        start,
        end: start + 300.0,
        tz: jiff::tz::TimeZone::UTC,
        percent: true,
    }
}

fn render(iterations: usize) {
    for points in [300, 3000] {
        let c = chart_of(points);
        chart::render(&c).expect("warm-up render");
        let samples = (0..iterations)
            .map(|_| {
                let t = Instant::now();
                let png = chart::render(&c).expect("render");
                std::hint::black_box(png);
                t.elapsed()
            })
            .collect();
        report(&format!("rust plotters render {points} points"), samples);
    }
}

fn roundtrip(iterations: usize, prom: &str, am: &str, agents: &str, state: &str) {
    let engine = Engine::new(
        Config {
            prometheus_url: prom.into(),
            alertmanager_url: am.into(),
            agents: outpost::chat::agents::read(agents.as_ref()).expect("agents file"),
            roles: {
                let mut r = outpost::chat::Roles::default();
                r.grant([1], outpost::chat::Role::Operator);
                r
            },
            timezone: jiff::tz::TimeZone::UTC,
            timeout: Duration::from_secs(3),
            actions_key: None,
            actions_timeout: Duration::from_secs(1),
            config_change: None,
        },
        Audit::open(state.as_ref(), Default::default()).expect("state db"),
    );
    let caller = Caller {
        user_id: 1,
        chat_id: 1,
        username: Some("bench".into()),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let once = || {
        let t = Instant::now();
        let reply = rt
            .block_on(engine.handle(&caller, "/mon_cpu_picture web1"))
            .expect("reply");
        let el = t.elapsed();
        assert!(reply.chart.is_some(), "no chart: {}", reply.text);
        el
    };
    once();
    let samples = (0..iterations).map(|_| once()).collect();
    report(
        "engine round trip /mon_cpu_picture web1 (5 min window)",
        samples,
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("render") => render(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(200)),
        Some("roundtrip") if args.len() == 6 => roundtrip(
            args[1].parse().expect("iterations"),
            &args[2],
            &args[3],
            &args[4],
            &args[5],
        ),
        _ => {
            eprintln!("usage: chat_bench render [N] | chat_bench roundtrip N PROM_URL AM_URL AGENTS STATE");
            std::process::exit(2);
        }
    }
}
