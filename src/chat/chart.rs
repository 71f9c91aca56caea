//! Line charts as PNG bytes, pure: a [`Chart`] in, a PNG out. Drawn with
//! plotters' bitmap backend and the DejaVu Sans font shipped in
//! `assets/fonts/` (compiled in), so a container without system fonts draws
//! the same picture. Bars ([`render_bars`]) for breakdowns like `/mem_picture`. Sized to be readable on a phone.

use std::sync::Once;

use jiff::tz::TimeZone;
use jiff::Timestamp;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

/// Picture size in pixels (5:3, legible on a phone held either way).
pub const WIDTH: u32 = 1000;
pub const HEIGHT: u32 = 600;

/// The font every chart uses (DejaVu Sans, see `assets/fonts/DejaVuSans.LICENSE`).
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
/// The family name the font is registered under; only this one is used.
const FAMILY: &str = "outpost-sans";

/// Distinct, colour-blind-friendly line colours (Okabe–Ito), reused cyclically.
const COLOURS: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(240, 228, 66),
    RGBColor(0, 0, 0),
];
/// The threshold line.
const THRESHOLD: RGBColor = RGBColor(220, 0, 0);

/// One line: a legend name and (unix seconds, value) points in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Everything drawn on one picture.
#[derive(Debug, Clone)]
pub struct Chart {
    /// e.g. `CPU usage — web1`.
    pub title: String,
    /// Unit of the y axis, e.g. `%`.
    pub unit: String,
    pub lines: Vec<Line>,
    /// Dashed red line at the alert rule's threshold, if any.
    pub threshold: Option<f64>,
    /// Time window, unix seconds.
    pub start: f64,
    pub end: f64,
    /// Zone of the time axis labels.
    pub tz: TimeZone,
    /// Fixed y range for percentages (0–100); otherwise fitted to the data.
    pub percent: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("cannot draw the chart: {0}")]
    Draw(String),
    #[error("cannot encode the chart as PNG: {0}")]
    Encode(#[from] png::EncodingError),
}

fn draw_err<E: std::fmt::Display>(e: E) -> ChartError {
    ChartError::Draw(e.to_string())
}

fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if register_font(FAMILY, FontStyle::Normal, FONT).is_err() {
            // Cannot happen with the shipped file; a unit test renders text.
            tracing::error!("the bundled chart font is invalid");
        }
    });
}

/// Renders the chart as a PNG of [`WIDTH`]×[`HEIGHT`].
pub fn render(chart: &Chart) -> Result<Vec<u8>, ChartError> {
    register();
    let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    draw(chart, &mut rgb)?;
    encode_png(&rgb)
}

fn y_range(chart: &Chart) -> (f64, f64) {
    let values = chart
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .chain(chart.threshold);
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if chart.percent {
        return (
            lo.min(0.0),
            hi.max(100.0) * if hi > 100.0 { 1.05 } else { 1.0 },
        );
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.08).max(hi.abs() * 0.05).max(1e-9);
    let lo = if lo >= 0.0 && lo - pad < 0.0 {
        0.0
    } else {
        lo - pad
    };
    (lo, hi + pad)
}

fn draw(chart: &Chart, rgb: &mut [u8]) -> Result<(), ChartError> {
    let root = BitMapBackend::with_buffer(rgb, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_err)?;
    let (start, end) = if chart.end > chart.start {
        (chart.start, chart.end)
    } else {
        (chart.start, chart.start + 1.0)
    };
    let (ylo, yhi) = y_range(chart);
    let window = end - start;
    let tz = &chart.tz;
    let ticks = time_ticks(start, end, tz);
    let sub_minute = ticks.windows(2).next().is_some_and(|w| w[1] - w[0] < 60.0) || window < 60.0;
    let time_fmt = if sub_minute { "%H:%M:%S" } else { "%H:%M" };
    let day = Timestamp::from_second(end as i64)
        .map(|t| tz.to_datetime(t).strftime("%Y-%m-%d").to_string())
        .unwrap_or_default();

    let mut ctx = ChartBuilder::on(&root)
        .caption(&chart.title, (FAMILY, 32).into_font())
        .margin(18)
        .margin_right(48)
        .x_label_area_size(60)
        .y_label_area_size(80)
        .build_cartesian_2d(start..end, ylo..yhi)
        .map_err(draw_err)?;
    let x_fmt = |x: &f64| {
        Timestamp::from_second(x.round() as i64)
            .map(|t| tz.to_datetime(t).strftime(time_fmt).to_string())
            .unwrap_or_default()
    };
    let y_fmt = |y: &f64| {
        if (yhi - ylo) >= 10.0 {
            format!("{y:.0}")
        } else {
            format!("{y:.2}")
        }
    };
    // plotters' own x ticks fall on decimal seconds (14:03:20); the time axis
    // gets grid lines and labels on round clock times instead.
    let label_font: TextStyle = (FAMILY, 20).into_font().into();
    for t in ticks {
        ctx.draw_series(std::iter::once(PathElement::new(
            vec![(t, ylo), (t, yhi)],
            RGBColor(210, 210, 210),
        )))
        .map_err(draw_err)?;
        let text = x_fmt(&t);
        let (w, _) = root
            .estimate_text_size(&text, &label_font)
            .map_err(draw_err)?;
        let (px, py) = ctx.backend_coord(&(t, ylo));
        root.draw(&Text::new(
            text,
            (px - w as i32 / 2, py + 10),
            label_font.clone(),
        ))
        .map_err(draw_err)?;
    }
    ctx.configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_labels(6)
        .y_label_formatter(&y_fmt)
        .x_desc(format!("{day} ({})", super::zone::name(tz)))
        .y_desc(&chart.unit)
        .label_style((FAMILY, 20).into_font())
        .axis_desc_style((FAMILY, 20).into_font())
        .light_line_style(RGBColor(238, 238, 238))
        .bold_line_style(RGBColor(210, 210, 210))
        .draw()
        .map_err(draw_err)?;

    for (i, line) in chart.lines.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        ctx.draw_series(LineSeries::new(
            line.points.iter().copied(),
            colour.stroke_width(3),
        ))
        .map_err(draw_err)?
        .label(line.name.clone())
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], colour.stroke_width(3)));
    }
    if let Some(t) = chart.threshold {
        ctx.draw_series(DashedLineSeries::new(
            vec![(start, t), (end, t)],
            12,
            8,
            THRESHOLD.stroke_width(2),
        ))
        .map_err(draw_err)?
        .label(format!("alert threshold {t}{}", chart.unit))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], THRESHOLD.stroke_width(2)));
    }
    if chart.lines.iter().all(|l| l.points.is_empty()) {
        root.draw(&Text::new(
            "no data in this window",
            ((WIDTH / 2 - 120) as i32, (HEIGHT / 2) as i32),
            (FAMILY, 26).into_font(),
        ))
        .map_err(draw_err)?;
    }
    if !chart.lines.is_empty() || chart.threshold.is_some() {
        ctx.configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font((FAMILY, 20).into_font())
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .draw()
            .map_err(draw_err)?;
    }
    root.present().map_err(draw_err)?;
    Ok(())
}

/// A bar chart: one bar per part, e.g. the memory breakdown.
#[derive(Debug, Clone, PartialEq)]
pub struct Bars {
    pub title: String,
    /// Unit of the values as shown above each bar, e.g. `GiB`.
    pub unit: String,
    /// (label, value) per bar, left to right.
    pub bars: Vec<(String, f64)>,
}

/// Renders the bars as a PNG of [`WIDTH`]×[`HEIGHT`], each bar in its own
/// colour with its value written above it.
pub fn render_bars(bars: &Bars) -> Result<Vec<u8>, ChartError> {
    register();
    let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let n = bars.bars.len().max(1) as f64;
        let top = bars
            .bars
            .iter()
            .map(|b| b.1)
            .fold(0.0_f64, f64::max)
            .max(1e-9)
            * 1.15;
        let mut ctx = ChartBuilder::on(&root)
            .caption(&bars.title, (FAMILY, 32).into_font())
            .margin(18)
            .x_label_area_size(50)
            .y_label_area_size(80)
            .build_cartesian_2d(0.0..n, 0.0..top)
            .map_err(draw_err)?;
        let labels: Vec<String> = bars.bars.iter().map(|b| b.0.clone()).collect();
        ctx.configure_mesh()
            .disable_x_mesh()
            .x_labels(bars.bars.len() * 2 + 1)
            .x_label_formatter(&|x: &f64| {
                // Labels sit at the bars' centres (i + 0.5).
                let i = (x - 0.5).round();
                if (x - 0.5 - i).abs() < 1e-6 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc(&bars.unit)
            .label_style((FAMILY, 20).into_font())
            .axis_desc_style((FAMILY, 20).into_font())
            .light_line_style(RGBColor(238, 238, 238))
            .draw()
            .map_err(draw_err)?;
        for (i, (_, v)) in bars.bars.iter().enumerate() {
            let x = i as f64;
            let colour = COLOURS[i % COLOURS.len()];
            ctx.draw_series(std::iter::once(Rectangle::new(
                [(x + 0.15, 0.0), (x + 0.85, *v)],
                colour.filled(),
            )))
            .map_err(draw_err)?;
            ctx.draw_series(std::iter::once(Text::new(
                format!("{v:.2} {}", bars.unit),
                (x + 0.3, v + top * 0.06),
                (FAMILY, 22).into_font(),
            )))
            .map_err(draw_err)?;
        }
        root.present().map_err(draw_err)?;
    }
    encode_png(&rgb)
}

/// Tick positions on round clock times (every 10 s … 6 h, in `tz`), about
/// six across the window, so labels read 14:05, 14:10 … rather than 14:03:20.
pub fn time_ticks(start: f64, end: f64, tz: &TimeZone) -> Vec<f64> {
    const STEPS: [f64; 14] = [
        10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 10800.0,
        21600.0, 43200.0,
    ];
    let window = (end - start).max(1.0);
    let step = STEPS
        .iter()
        .copied()
        .find(|s| window / s <= 7.0)
        .unwrap_or(86400.0);
    let offset = Timestamp::from_second(start as i64)
        .map(|t| f64::from(tz.to_offset(t).seconds()))
        .unwrap_or(0.0);
    let mut t = ((start + offset) / step).ceil() * step - offset;
    let mut ticks = Vec::new();
    while t <= end {
        ticks.push(t);
        t += step;
    }
    ticks
}

fn encode_png(rgb: &[u8]) -> Result<Vec<u8>, ChartError> {
    let mut out = Vec::with_capacity(64 * 1024);
    {
        let mut enc = png::Encoder::new(&mut out, WIDTH, HEIGHT);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Fast);
        let mut writer = enc.write_header()?;
        writer.write_image_data(rgb)?;
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::chat::zone;

    /// Decodes a PNG: (width, height, RGB(A) pixels, bytes per pixel).
    pub(crate) fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<u8>, usize) {
        let decoder = png::Decoder::new(png_bytes);
        let mut reader = decoder.read_info().expect("valid PNG header");
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).expect("valid PNG data");
        let bpp = info.color_type.samples();
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf, bpp)
    }

    /// Pixels inside the plot region that are clearly coloured (not white,
    /// grey or black): lines and the threshold, never grid or text.
    pub(crate) fn coloured_plot_pixels(png_bytes: &[u8]) -> usize {
        let (w, h, px, bpp) = decode(png_bytes);
        let mut n = 0;
        for y in (h / 6)..(h * 5 / 6) {
            for x in (w / 8)..(w * 15 / 16) {
                let i = ((y * w + x) as usize) * bpp;
                let (r, g, b) = (px[i] as i32, px[i + 1] as i32, px[i + 2] as i32);
                if r.max(g).max(b) - r.min(g).min(b) > 60 {
                    n += 1;
                }
            }
        }
        n
    }

    fn sample(points: usize, threshold: Option<f64>) -> Chart {
        let start = 1_700_000_000.0;
        Chart {
            title: "CPU usage — web1".into(),
            unit: "%".into(),
            lines: vec![Line {
                name: "web1".into(),
                points: (0..points)
                    .map(|i| (start + i as f64, 40.0 + 30.0 * ((i as f64) / 20.0).sin()))
                    .collect(),
            }],
            threshold,
            start,
            end: start + points as f64,
            tz: zone::parse("Europe/Berlin").unwrap(),
            percent: true,
        }
    }

    #[test]
    fn png_has_the_expected_size_and_a_plot() {
        let png_bytes = render(&sample(300, Some(80.0))).unwrap();
        assert_eq!(&png_bytes[..8], b"\x89PNG\r\n\x1a\n");
        // IHDR: width and height big-endian at bytes 16..24
        assert_eq!(
            u32::from_be_bytes(png_bytes[16..20].try_into().unwrap()),
            WIDTH
        );
        assert_eq!(
            u32::from_be_bytes(png_bytes[20..24].try_into().unwrap()),
            HEIGHT
        );
        let (w, h, _, _) = decode(&png_bytes);
        assert_eq!((w, h), (WIDTH, HEIGHT));
        assert!(coloured_plot_pixels(&png_bytes) > 2000);
    }

    #[test]
    fn empty_chart_has_no_coloured_plot_pixels_but_text() {
        let mut c = sample(0, None);
        c.lines.clear();
        let empty = render(&c).unwrap();
        assert_eq!(coloured_plot_pixels(&empty), 0);
        // text was drawn with the bundled font: dark pixels exist
        let (_, _, px, bpp) = decode(&empty);
        assert!(
            px.chunks(bpp)
                .filter(|p| p[0] < 80 && p[1] < 80 && p[2] < 80)
                .count()
                > 500
        );
        let with_line = render(&sample(50, None)).unwrap();
        assert!(coloured_plot_pixels(&with_line) > 500);
    }

    #[test]
    fn many_series_and_free_range() {
        let mut c = sample(3000, None);
        c.percent = false;
        c.lines.push(Line {
            name: "db1".into(),
            points: c.lines[0]
                .points
                .iter()
                .map(|(t, v)| (*t, v * 2.0 + 50.0))
                .collect(),
        });
        assert!(y_range(&c).1 > 190.0);
        if let Ok(dir) = std::env::var("CHART_SAMPLE_DIR") {
            std::fs::write(format!("{dir}/sample.png"), render(&c).unwrap()).unwrap();
            std::fs::write(
                format!("{dir}/sample-pct.png"),
                render(&sample(300, Some(80.0))).unwrap(),
            )
            .unwrap();
        }
        let png_bytes = render(&c).unwrap();
        assert!(coloured_plot_pixels(&png_bytes) > 2000);
    }

    #[test]
    fn ticks_fall_on_round_local_times() {
        let berlin = zone::parse("Europe/Berlin").unwrap();
        let india = zone::parse("Asia/Kolkata").unwrap(); // UTC+5:30
        let start = 1_700_000_000.0; // 22:13:20 UTC
        let t = time_ticks(start, start + 300.0, &berlin);
        assert_eq!(t.len(), 5, "{t:?}"); // every minute
        assert!(t.iter().all(|x| (*x as i64) % 60 == 0));
        let t = time_ticks(start, start + 6.0 * 3600.0, &india);
        // hourly in Kolkata = half past the hour in UTC
        assert!(t.iter().all(|x| (*x as i64 + 19800) % 3600 == 0), "{t:?}");
        assert!((5..=7).contains(&t.len()));
        assert!(time_ticks(start, start + 1440.0 * 60.0, &berlin).len() <= 7);
    }

    #[test]
    fn y_range_rules() {
        let mut c = sample(10, Some(80.0));
        assert_eq!(y_range(&c), (0.0, 100.0));
        c.lines[0].points[0].1 = 150.0;
        assert!(y_range(&c).1 > 150.0);
        c.percent = false;
        c.lines.clear();
        c.threshold = None;
        assert_eq!(y_range(&c), (0.0, 1.0));
    }
}
