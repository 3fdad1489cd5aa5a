//! Charts drawn on the server as SVG (the CSP allows no script): a [`Chart`] is the geometry of
//! stacked bars or lines over time buckets, with axes and their units, a legend, a `<title>` on
//! every bar and point for hover text, and the same numbers as a table for screen readers and
//! for anyone who would rather read. `web/templates/chart.html` renders it.

/// Width of the SVG's view box.
const WIDTH: f64 = 520.0;
/// Height of the SVG's view box.
const HEIGHT: f64 = 250.0;
const LEFT: f64 = 58.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 40.0;
/// At most this many labels on the time axis, so they never overlap.
const X_LABELS: usize = 4;

/// A label at a position along an axis.
pub struct Tick {
    pub at: f64,
    pub label: String,
}

/// One bar segment.
pub struct Bar {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
    pub class: &'static str,
    pub title: String,
}

/// A point of a line, with its hover text.
pub struct Point {
    pub x: f64,
    pub y: f64,
    pub title: String,
}

/// One line: its SVG `points` and its points.
pub struct Line {
    pub points: String,
    pub dots: Vec<Point>,
    pub class: &'static str,
}

/// A legend entry.
pub struct Legend {
    pub class: &'static str,
    pub label: String,
}

/// A chart ready to render.
pub struct Chart {
    /// Element id (also names its title and table).
    pub id: &'static str,
    pub title: String,
    /// The y axis' unit (`requests per hour`, `units`, `%`).
    pub unit: String,
    pub width: f64,
    pub height: f64,
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
    pub y_ticks: Vec<Tick>,
    pub x_ticks: Vec<Tick>,
    pub bars: Vec<Bar>,
    pub lines: Vec<Line>,
    pub legend: Vec<Legend>,
    /// The table alternative: headers, then one row per bucket.
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// One series: its legend label, CSS class and a value per bucket (`None`: no data).
pub struct Series {
    pub label: String,
    pub class: &'static str,
    pub values: Vec<Option<f64>>,
}

impl Series {
    /// A series of counts.
    pub fn counts(label: impl Into<String>, class: &'static str, values: impl IntoIterator<Item = i64>) -> Self {
        Series {
            label: label.into(),
            class,
            values: values.into_iter().map(|v| Some(v as f64)).collect(),
        }
    }
}

/// A round step for about four ticks up to `max`, and the axis' top.
fn nice_scale(max: f64) -> (f64, f64) {
    if max <= 0.0 {
        return (1.0, 4.0);
    }
    let raw = max / 4.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    if step < 1.0 {
        // Counts below 4: whole-number ticks up to 4, so a line of ones is not drawn on the frame.
        return (1.0, 4.0);
    }
    (step, (max / step).ceil().max(1.0) * step)
}

/// `12345` as `12.3k`, `2000000` as `2M`.
pub fn short_number(v: f64) -> String {
    let (n, suffix) = if v.abs() >= 1e6 {
        (v / 1e6, "M")
    } else if v.abs() >= 1e4 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    if n.fract().abs() < 1e-9 {
        format!("{n:.0}{suffix}")
    } else {
        format!("{n:.1}{suffix}")
    }
}

impl Chart {
    fn frame(
        id: &'static str,
        title: &str,
        unit: &str,
        labels: &[String],
        y_max: f64,
        y_fmt: &dyn Fn(f64) -> String,
    ) -> Self {
        let (step, top) = nice_scale(y_max);
        let plot_h = HEIGHT - TOP - BOTTOM;
        let y_ticks = (0..)
            .map(|i| i as f64 * step)
            .take_while(|v| *v <= top + step / 2.0)
            .map(|v| Tick {
                at: TOP + plot_h - v / top * plot_h,
                label: y_fmt(v),
            })
            .collect();
        let n = labels.len().max(1);
        let slot = (WIDTH - LEFT - RIGHT) / n as f64;
        let every = n.div_ceil(X_LABELS).max(1);
        let x_ticks = labels
            .iter()
            .enumerate()
            .filter(|(i, _)| i % every == 0)
            .map(|(i, l)| Tick {
                at: LEFT + slot * (i as f64 + 0.5),
                label: l.clone(),
            })
            .collect();
        Chart {
            id,
            title: title.into(),
            unit: unit.into(),
            width: WIDTH,
            height: HEIGHT,
            left: LEFT,
            right: WIDTH - RIGHT,
            top: TOP,
            bottom: HEIGHT - BOTTOM,
            y_ticks,
            x_ticks,
            bars: Vec::new(),
            lines: Vec::new(),
            legend: Vec::new(),
            headers: Vec::new(),
            rows: Vec::new(),
        }
    }

    /// Bars stacked per bucket, first series at the bottom. `labels` name the buckets.
    pub fn stacked(id: &'static str, title: &str, unit: &str, labels: &[String], series: Vec<Series>) -> Self {
        let totals: Vec<f64> = (0..labels.len())
            .map(|i| {
                series
                    .iter()
                    .map(|s| s.values.get(i).copied().flatten().unwrap_or(0.0))
                    .sum()
            })
            .collect();
        let max = totals.iter().copied().fold(0.0, f64::max);
        let mut c = Chart::frame(id, title, unit, labels, max, &short_number);
        let axis_top = nice_scale(max).1;
        let plot_h = c.bottom - c.top;
        let slot = (c.right - c.left) / labels.len().max(1) as f64;
        let w = (slot * 0.72).max(1.0);
        for (i, label) in labels.iter().enumerate() {
            let mut base = 0.0;
            for s in &series {
                let v = s.values.get(i).copied().flatten().unwrap_or(0.0);
                if v <= 0.0 {
                    continue;
                }
                let y0 = c.bottom - base / axis_top * plot_h;
                let h = v / axis_top * plot_h;
                c.bars.push(Bar {
                    x: c.left + slot * i as f64 + (slot - w) / 2.0,
                    y: y0 - h,
                    w,
                    h,
                    class: s.class,
                    title: format!("{label}: {} {} {unit}", v as i64, s.label),
                });
                base += v;
            }
        }
        c.legend = series
            .iter()
            .map(|s| Legend {
                class: s.class,
                label: s.label.clone(),
            })
            .collect();
        c.headers = std::iter::once("From".to_string())
            .chain(series.iter().map(|s| s.label.clone()))
            .chain(std::iter::once("Total".to_string()))
            .collect();
        c.rows = labels
            .iter()
            .enumerate()
            .map(|(i, l)| {
                std::iter::once(l.clone())
                    .chain(
                        series
                            .iter()
                            .map(|s| format!("{}", s.values.get(i).copied().flatten().unwrap_or(0.0) as i64)),
                    )
                    .chain(std::iter::once(format!("{}", totals[i] as i64)))
                    .collect()
            })
            .collect();
        c
    }

    /// One line per series; `y_max` fixes the axis' top (100 for a percentage), else it fits the
    /// data. `fmt` writes values (`87%`, `4,990`).
    pub fn lines(
        id: &'static str,
        title: &str,
        unit: &str,
        labels: &[String],
        series: Vec<Series>,
        y_max: Option<f64>,
        fmt: &dyn Fn(f64) -> String,
    ) -> Self {
        let max = y_max.unwrap_or_else(|| {
            series
                .iter()
                .flat_map(|s| s.values.iter().flatten().copied())
                .fold(0.0, f64::max)
        });
        let mut c = Chart::frame(id, title, unit, labels, max, fmt);
        let axis_top = nice_scale(max).1;
        let plot_h = c.bottom - c.top;
        let slot = (c.right - c.left) / labels.len().max(1) as f64;
        for s in &series {
            let dots: Vec<Point> = s
                .values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| {
                    v.map(|v| Point {
                        x: c.left + slot * (i as f64 + 0.5),
                        y: c.bottom - v.min(axis_top) / axis_top * plot_h,
                        title: format!("{}: {} {}", labels[i], s.label, fmt(v)),
                    })
                })
                .collect();
            let points = dots
                .iter()
                .map(|p| format!("{:.1},{:.1}", p.x, p.y))
                .collect::<Vec<_>>()
                .join(" ");
            c.lines.push(Line {
                points,
                dots,
                class: s.class,
            });
        }
        c.legend = series
            .iter()
            .map(|s| Legend {
                class: s.class,
                label: s.label.clone(),
            })
            .collect();
        c.headers = std::iter::once("From".to_string())
            .chain(series.iter().map(|s| s.label.clone()))
            .collect();
        c.rows = labels
            .iter()
            .enumerate()
            .map(|(i, l)| {
                std::iter::once(l.clone())
                    .chain(
                        series
                            .iter()
                            .map(|s| s.values.get(i).copied().flatten().map_or_else(|| "-".into(), fmt)),
                    )
                    .collect()
            })
            .collect();
        c
    }

    /// Whether any bar or point is drawn.
    pub fn has_data(&self) -> bool {
        !self.bars.is_empty() || self.lines.iter().any(|l| !l.dots.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_are_round_and_cover_the_data() {
        assert_eq!(nice_scale(0.0), (1.0, 4.0));
        assert_eq!(nice_scale(37.0), (10.0, 40.0));
        assert_eq!(nice_scale(100.0), (25.0, 100.0));
        assert_eq!(nice_scale(3.0), (1.0, 3.0));
        assert_eq!(nice_scale(1.0), (1.0, 4.0));
        assert_eq!(short_number(12_345.0), "12.3k");
        assert_eq!(short_number(2_000_000.0), "2M");
    }

    #[test]
    fn stacked_bars_carry_titles_and_a_table_and_at_most_four_time_labels() {
        let labels: Vec<String> = (0..24).map(|h| format!("{h:02}:00")).collect();
        let c = Chart::stacked(
            "requests",
            "Requests",
            "requests",
            &labels,
            vec![
                Series::counts("HIT", "s-hit", (0..24).map(|i| i as i64)),
                Series::counts("MISS", "s-miss", (0..24).map(|_| 1)),
            ],
        );
        assert_eq!(c.x_ticks.len(), 4);
        assert_eq!(c.bars.len(), 23 + 24);
        assert_eq!(c.bars[0].title, "00:00: 1 MISS requests");
        assert_eq!(c.rows[23], vec!["23:00", "23", "1", "24"]);
        assert!(
            c.bars
                .iter()
                .all(|b| b.y >= c.top - 0.01 && b.y + b.h <= c.bottom + 0.01)
        );
    }
}
