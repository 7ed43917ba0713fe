//! SVG bar charts of the comparison (plotters, SVG backend only: no fonts or
//! native libraries needed).
//!
//! Bars are horizontal, one row of bars per case with the case id written
//! level to its left: the standard matrix has some 25 cases, and vertical
//! bars left about 30 px per case for ids like `echo/16KiB/c1000/d16`, so
//! rotated labels overlapped. Rows grow the chart downwards instead.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::summary::{CaseResult, Comparison, Figures};

const COLORS: [RGBColor; 6] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
];

/// Height of one server's bar, px.
const BAR_PX: u32 = 10;
/// Space between two cases' rows, px.
const GAP_PX: u32 = 12;
/// Title and legend above the plot, px.
const HEADER_PX: u32 = 64;
/// Value axis labels and description below the plot, px.
const AXIS_PX: u32 = 50;
/// Chart width, px.
const WIDTH_PX: u32 = 960;
/// Font size of the case ids; the label column is sized for the longest.
const LABEL_FONT: u32 = 13;

/// One chart: which file, what it shows, for which scenarios.
struct Spec {
    file: &'static str,
    title: &'static str,
    axis: &'static str,
    scenarios: &'static [&'static str],
    get: fn(&Figures) -> Option<f64>,
}

const CHARTS: [Spec; 4] = [
    Spec {
        file: "cpu-per-op.svg",
        title: "Server CPU per operation (lower is better)",
        axis: "µs per echoed message, delivery or handshake (log scale)",
        scenarios: &["echo", "fanout", "connect"],
        get: |f| f.cpu_us_per_op,
    },
    Spec {
        file: "throughput.svg",
        title: "Operations per second (higher is better)",
        axis: "operations per second (log scale; /r<rate> cells: offered rate)",
        scenarios: &["echo", "fanout", "connect"],
        get: |f| Some(f.per_second),
    },
    Spec {
        file: "latency-p99.svg",
        title: "Latency p99 (lower is better)",
        axis: "µs (log scale; /r<rate> cells: from the intended send time)",
        scenarios: &["echo", "fanout", "connect"],
        get: |f| Some(f.p99_us),
    },
    Spec {
        file: "idle-memory.svg",
        title: "Server RSS per idle connection (lower is better)",
        axis: "bytes (log scale)",
        scenarios: &["idle"],
        get: |f| f.rss_per_connection,
    },
];

/// Writes one grouped bar chart per metric into `dir`; returns the files written.
pub fn write_all(c: &Comparison, dir: &Path) -> Result<Vec<String>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut written = Vec::new();
    for spec in &CHARTS {
        let path = dir.join(spec.file);
        if bar_chart(c, &path, spec)? {
            written.push(path.display().to_string());
        }
    }
    Ok(written)
}

/// A value with a few significant digits, for the label at a bar's end.
fn short(v: f64) -> String {
    match v {
        v if v >= 1e6 => format!("{:.2}M", v / 1e6),
        v if v >= 1e4 => format!("{:.0}k", v / 1e3),
        v if v >= 100.0 => format!("{v:.0}"),
        v if v >= 10.0 => format!("{v:.1}"),
        v => format!("{v:.2}"),
    }
}

fn bar_chart(c: &Comparison, path: &Path, spec: &Spec) -> Result<bool, String> {
    let cases: Vec<&CaseResult> = c
        .cases
        .iter()
        .filter(|k| spec.scenarios.contains(&k.scenario.as_str()))
        .collect();
    // values[case][server]: only valid, positive figures (log scale).
    let values: Vec<Vec<Option<f64>>> = cases
        .iter()
        .map(|k| {
            c.server_names
                .iter()
                .map(|n| {
                    k.servers
                        .get(n)
                        .filter(|r| r.failure.is_none())
                        .and_then(|r| (spec.get)(&r.median))
                        .filter(|v| *v > 0.0)
                })
                .collect()
        })
        .collect();
    let all: Vec<f64> = values.iter().flatten().flatten().copied().collect();
    if all.is_empty() {
        return Ok(false);
    }
    let lo = all.iter().copied().fold(f64::INFINITY, f64::min) / 2.0;
    // Room on the right for the value written after the longest bar.
    let hi = all.iter().copied().fold(0.0, f64::max) * 4.0;
    let n_cases = cases.len();
    let n_servers = c.server_names.len().max(1);
    let row_px = BAR_PX * n_servers as u32 + GAP_PX;
    let height = HEADER_PX + AXIS_PX + 20 + row_px * n_cases as u32;
    let longest = cases
        .iter()
        .map(|k| k.id.chars().count())
        .max()
        .unwrap_or(0);
    // ~0.62 em per character of a sans-serif font, plus padding.
    let label_px = (longest as f64 * LABEL_FONT as f64 * 0.62) as u32 + 16;

    let root = SVGBackend::new(path, (WIDTH_PX, height)).into_drawing_area();
    let err = |e: DrawingAreaErrorKind<_>| format!("{}: {e:?}", path.display());
    root.fill(&WHITE).map_err(err)?;
    let (header, body) = root.split_vertically(HEADER_PX);

    // Title and legend in the header, clear of the bars.
    header
        .draw(&Text::new(
            spec.title,
            (12, 8),
            ("sans-serif", 18).into_font(),
        ))
        .map_err(err)?;
    let mut x = 12;
    for (s, name) in c.server_names.iter().enumerate() {
        let color = COLORS[s % COLORS.len()];
        header
            .draw(&Rectangle::new([(x, 40), (x + 14, 52)], color.filled()))
            .map_err(err)?;
        header
            .draw(&Text::new(
                name.as_str(),
                (x + 20, 46),
                ("sans-serif", LABEL_FONT)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Left, VPos::Center)),
            ))
            .map_err(err)?;
        x += 20 + (name.chars().count() as f64 * LABEL_FONT as f64 * 0.62) as i32 + 24;
    }

    let n = n_cases as f64;
    let mut chart = ChartBuilder::on(&body)
        .margin_right(16)
        .margin_bottom(10)
        .x_label_area_size(AXIS_PX)
        .y_label_area_size(label_px)
        .build_cartesian_2d((lo..hi).log_scale(), 0f64..n)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        // Case ids are drawn below, centred on their rows.
        .y_labels(0)
        .x_desc(spec.axis)
        .axis_desc_style(("sans-serif", LABEL_FONT))
        .x_label_style(("sans-serif", 12))
        .draw()
        .map_err(err)?;

    // Case i occupies y in [n - i - 1, n - i] (first case on top); its
    // servers' bars share the middle 80% of that band.
    let band = |i: usize, s: usize| {
        let top = n - i as f64 - 0.1 - 0.8 * s as f64 / n_servers as f64;
        (top - 0.8 / n_servers as f64, top)
    };
    for s in 0..c.server_names.len() {
        let color = COLORS[s % COLORS.len()];
        let bars = values.iter().enumerate().filter_map(|(i, row)| {
            let v = row[s]?;
            let (y0, y1) = band(i, s);
            Some(Rectangle::new([(lo, y0), (v, y1)], color.filled()))
        });
        chart.draw_series(bars).map_err(err)?;
        let labels = values.iter().enumerate().filter_map(|(i, row)| {
            let v = row[s]?;
            let (y0, y1) = band(i, s);
            Some(Text::new(
                short(v),
                (v * 1.04, (y0 + y1) / 2.0),
                ("sans-serif", 9)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Left, VPos::Center)),
            ))
        });
        chart.draw_series(labels).map_err(err)?;
    }
    for (i, k) in cases.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(lo, n - i as f64 - 0.5));
        root.draw(&Text::new(
            k.id.as_str(),
            (px - 8, py),
            ("sans-serif", LABEL_FONT)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Right, VPos::Center)),
        ))
        .map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(true)
}
