//! SVG bar charts of the comparison (plotters, SVG backend only: no fonts or
//! native libraries needed).

use std::path::Path;

use plotters::prelude::*;

use super::summary::{Comparison, Figures};

const COLORS: [RGBColor; 6] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
];

/// Writes one grouped bar chart per metric into `dir`; returns the files written.
pub fn write_all(c: &Comparison, dir: &Path) -> Result<Vec<String>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut written = Vec::new();
    let charts: [(&str, &str, &[&str], fn(&Figures) -> Option<f64>); 3] = [
        (
            "cpu-per-op.svg",
            "server CPU per operation (µs, log scale)",
            &["echo", "fanout", "connect"],
            |f| f.cpu_us_per_op,
        ),
        (
            "throughput.svg",
            "operations per second (log scale)",
            &["echo", "fanout", "connect"],
            |f| Some(f.per_second),
        ),
        (
            "idle-memory.svg",
            "server RSS per idle connection (bytes, log scale)",
            &["idle"],
            |f| f.rss_per_connection,
        ),
    ];
    for (file, title, scenarios, get) in charts {
        let path = dir.join(file);
        if bar_chart(c, &path, title, scenarios, get)? {
            written.push(path.display().to_string());
        }
    }
    Ok(written)
}

fn bar_chart(
    c: &Comparison,
    path: &Path,
    title: &str,
    scenarios: &[&str],
    get: fn(&Figures) -> Option<f64>,
) -> Result<bool, String> {
    let cases: Vec<_> = c
        .cases
        .iter()
        .filter(|k| scenarios.contains(&k.scenario.as_str()))
        .collect();
    let values: Vec<Vec<Option<f64>>> = cases
        .iter()
        .map(|k| {
            c.server_names
                .iter()
                .map(|n| {
                    k.servers
                        .get(n)
                        .filter(|r| r.failure.is_none())
                        .and_then(|r| get(&r.median))
                        .filter(|v| *v > 0.0)
                })
                .collect()
        })
        .collect();
    let all: Vec<f64> = values.iter().flatten().flatten().copied().collect();
    if all.is_empty() {
        return Ok(false);
    }
    let lo = all.iter().cloned().fold(f64::INFINITY, f64::min) / 2.0;
    let hi = all.iter().cloned().fold(0.0, f64::max) * 2.0;
    let width = (180 + 70 * cases.len()) as u32;
    let root = SVGBackend::new(path, (width.max(640), 480)).into_drawing_area();
    let err = |e: DrawingAreaErrorKind<_>| format!("{}: {e:?}", path.display());
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(90)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..cases.len() as f64, (lo..hi).log_scale())
        .map_err(err)?;
    let labels: Vec<String> = cases.iter().map(|k| k.id.clone()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(cases.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - i as f64 - 0.5).abs() < 0.01 {
                labels.get(i).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .x_label_style(
            ("sans-serif", 10)
                .into_font()
                .transform(FontTransform::Rotate90),
        )
        .draw()
        .map_err(err)?;
    let n = c.server_names.len().max(1) as f64;
    for (s, name) in c.server_names.iter().enumerate() {
        let color = COLORS[s % COLORS.len()];
        let bars = values.iter().enumerate().filter_map(|(i, row)| {
            let v = row[s]?;
            let x0 = i as f64 + 0.1 + 0.8 * s as f64 / n;
            let x1 = x0 + 0.8 / n;
            Some(Rectangle::new([(x0, lo), (x1, v)], color.filled()))
        });
        chart
            .draw_series(bars)
            .map_err(err)?
            .label(name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(true)
}
