//! SVG figures drawn with plotters (SVG backend only): grouped horizontal bars and histograms.

use plotters::prelude::*;

use super::ReportError;

/// Series colours (colour-blind safe: Okabe-Ito).
pub const BLUE: RGBColor = RGBColor(0, 114, 178);
pub const ORANGE: RGBColor = RGBColor(230, 159, 0);
pub const GREEN: RGBColor = RGBColor(0, 158, 115);
pub const RED: RGBColor = RGBColor(213, 94, 0);

fn draw_error(e: impl std::fmt::Display) -> ReportError {
    ReportError::Draw(e.to_string())
}

/// One named series of values, one per category.
pub struct Series<'a> {
    pub name: &'a str,
    pub values: Vec<f64>,
    pub color: RGBColor,
}

/// Horizontal bars: one row per category (first at the top), one bar per series in each row.
pub fn hbars(
    title: &str,
    x_desc: &str,
    categories: &[String],
    series: &[Series],
) -> Result<String, ReportError> {
    let n = categories.len().max(1);
    let groups = series.len().max(1) as f64;
    let row = 10.0 + 9.0 * groups;
    let height = (70.0 + row * n as f64) as u32;
    let label_width = categories
        .iter()
        .map(|c| c.chars().count())
        .max()
        .unwrap_or(4) as u32
        * 7
        + 16;
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0f64, f64::max)
        .max(1e-9)
        * 1.08;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 15))
            .margin(8)
            .x_label_area_size(32)
            .y_label_area_size(label_width.min(220))
            .build_cartesian_2d(0f64..max, -0.5f64..(n as f64 - 0.5))
            .map_err(draw_error)?;
        let names: Vec<String> = categories.to_vec();
        let label = move |y: &f64| {
            let i = (n as f64 - 1.0 - y).round();
            if (y - y.round()).abs() < 1e-6 && i >= 0.0 && (i as usize) < names.len() {
                names[i as usize].clone()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(TRANSPARENT)
            .y_labels(n * 2 + 1)
            .y_label_formatter(&label)
            .x_desc(x_desc)
            .x_label_formatter(&|x| short_number(*x))
            .label_style(("sans-serif", 11))
            .draw()
            .map_err(draw_error)?;
        let bar = 0.8 / groups;
        for (k, s) in series.iter().enumerate() {
            let color = s.color;
            chart
                .draw_series(s.values.iter().enumerate().map(|(i, &v)| {
                    let top = (n - 1 - i) as f64 + 0.4 - bar * k as f64;
                    Rectangle::new([(0.0, top), (v, top - bar * 0.92)], color.filled())
                }))
                .map_err(draw_error)?
                .label(s.name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled())
                });
        }
        if series.len() > 1 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.3))
                .label_font(("sans-serif", 11))
                .draw()
                .map_err(draw_error)?;
        }
        root.present().map_err(draw_error)?;
    }
    Ok(svg)
}

/// A histogram of `values` (already on the axis' scale, e.g. log10 perplexity) with vertical
/// lines at `cuts`.
pub fn histogram(
    title: &str,
    x_desc: &str,
    values: &[f64],
    range: (f64, f64),
    bins: usize,
    cuts: &[f64],
) -> Result<String, ReportError> {
    let (lo, hi) = range;
    let width = (hi - lo) / bins as f64;
    let mut counts = vec![0u64; bins];
    for &v in values {
        let b = (((v - lo) / width).floor().max(0.0) as usize).min(bins - 1);
        counts[b] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(1).max(1) as f64 * 1.15;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (250, 170)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 13))
            .margin(6)
            // Room for the last power of ten, centred on the right edge.
            .margin_right(16)
            .x_label_area_size(30)
            .y_label_area_size(30)
            .build_cartesian_2d(lo..hi, 0f64..top)
            .map_err(draw_error)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(((hi - lo).round() as usize + 1).clamp(2, 8))
            .y_labels(4)
            .x_desc(x_desc)
            // The axis is log10: label the powers of ten only, as 1, 10, 100, 1000, 10k.
            .x_label_formatter(&|x| {
                if (x - x.round()).abs() < 1e-6 {
                    short_number(10f64.powf(x.round()))
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|y| format!("{y:.0}"))
            .label_style(("sans-serif", 10))
            .draw()
            .map_err(draw_error)?;
        chart
            .draw_series(counts.iter().enumerate().map(|(i, &c)| {
                let x0 = lo + width * i as f64;
                Rectangle::new([(x0, 0.0), (x0 + width * 0.95, c as f64)], BLUE.filled())
            }))
            .map_err(draw_error)?;
        for &cut in cuts {
            chart
                .draw_series(LineSeries::new(
                    [(cut, 0.0), (cut, top)],
                    RED.stroke_width(2),
                ))
                .map_err(draw_error)?;
        }
        root.present().map_err(draw_error)?;
    }
    Ok(svg)
}

/// 1234567 -> "1.2M", 0.50 -> "0.5", 20.0 -> "20": axis labels stay short, without trailing
/// zeros, so that the ticks of one axis read alike.
pub fn short_number(x: f64) -> String {
    let a = x.abs();
    let (value, decimals, suffix) = if a >= 1e9 {
        (x / 1e9, 1, "G")
    } else if a >= 1e6 {
        (x / 1e6, 1, "M")
    } else if a >= 1e4 {
        (x / 1e3, 0, "k")
    } else if a >= 100.0 || a == 0.0 {
        (x, 0, "")
    } else if a >= 1.0 {
        (x, 1, "")
    } else {
        (x, 2, "")
    };
    let mut digits = format!("{value:.decimals$}");
    if digits.contains('.') {
        digits.truncate(digits.trim_end_matches('0').trim_end_matches('.').len());
    }
    digits + suffix
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn powers_of_ten_are_labelled_without_decimals() {
        let labels: Vec<String> = (-2..=6)
            .map(|e| short_number(10f64.powf(f64::from(e))))
            .collect();
        assert_eq!(
            labels,
            ["0.01", "0.1", "1", "10", "100", "1000", "10k", "100k", "1M"]
        );
    }

    #[test]
    fn short_numbers_drop_trailing_zeros() {
        let labels: Vec<String> = [0.0, 0.05, 0.5, 1.0, 2.5, 20.0, 150.0, 12_345.0, 2_500_000.0]
            .into_iter()
            .map(short_number)
            .collect();
        assert_eq!(
            labels,
            ["0", "0.05", "0.5", "1", "2.5", "20", "150", "12k", "2.5M"]
        );
    }
}
