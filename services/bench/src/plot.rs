//! The SVG plots in docs/benchmarks/, drawn from the JSON results with `plotters`
//! (SVG backend only; text is left to the viewer's fonts).
//!
//! - `fanout-room-size.svg`: time to full delivery vs room size, roomcast and the
//!   planetstack's two approaches (log–log).
//! - `knob-sweep.svg`: the knob sweep, one panel per knob, measured next to the docs'
//!   arithmetic.

use crate::fanout::{FanoutResults, RESULTS, SweepPoint};
use crate::support::Output;
use anyhow::Context;
use plotters::prelude::*;
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Where the SVGs are written (default: docs/benchmarks, run from the repository
    /// root).
    #[arg(long, default_value = "docs/benchmarks")]
    pub dir: PathBuf,
}

impl Args {
    /// `all --quick` draws no plots; `quick` writes under target/ for a manual check.
    #[allow(dead_code)]
    pub fn quick() -> Self {
        Self {
            dir: PathBuf::from("target/bench/plots"),
        }
    }
    pub fn full() -> Self {
        Self {
            dir: PathBuf::from("docs/benchmarks"),
        }
    }
}

const ROOMCAST: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
const ONE_BY_ONE: RGBColor = RGBColor(0xd6, 0x27, 0x28);
const ALL_AT_ONCE: RGBColor = RGBColor(0xff, 0x7f, 0x0e);
const MODEL: RGBColor = RGBColor(0x7f, 0x7f, 0x7f);

pub async fn run(args: Args, out: &Output) -> anyhow::Result<()> {
    let results: FanoutResults = out.load(RESULTS)?;
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    if !results.rooms.is_empty() {
        let path = args.dir.join("fanout-room-size.svg");
        room_size(&results, &path).map_err(|e| anyhow::anyhow!("{e}"))?;
        println!("wrote {}", path.display());
    }
    if !results.sweep.is_empty() {
        let path = args.dir.join("knob-sweep.svg");
        sweep(&results, &path).map_err(|e| anyhow::anyhow!("{e}"))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn room_size(r: &FanoutResults, path: &std::path::Path) -> DrawResult {
    let root = SVGBackend::new(path, (820, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let sizes: Vec<f64> = r.rooms.iter().map(|x| x.members as f64).collect();
    let times = r.rooms.iter().flat_map(|x| {
        [
            Some(x.roomcast.median_s),
            x.one_by_one.as_ref().map(|a| a.median_s),
            Some(x.all_at_once.median_s),
        ]
        .into_iter()
        .flatten()
    });
    let (lo, hi) = times.fold((f64::INFINITY, 0f64), |(lo, hi), t| (lo.min(t), hi.max(t)));
    let x_lo = sizes.iter().copied().fold(f64::INFINITY, f64::min) / 1.5;
    let x_hi = sizes.iter().copied().fold(0.0, f64::max) * 1.5;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "Time to full delivery vs room size ({} ms per post, median)",
                r.endpoint.latency_ms
            ),
            ("sans-serif", 20),
        )
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d((x_lo..x_hi).log_scale(), (lo / 2.0..hi * 2.0).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("members in the room")
        .y_desc("seconds (log)")
        .light_line_style(TRANSPARENT)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| {
            if *v >= 1.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.2}")
            }
        })
        .draw()?;
    type Series<'a> = (&'a str, RGBColor, Vec<(f64, f64)>);
    let series: [Series; 3] = [
        (
            "roomcast (planner + deliverer + ApiGwPoster)",
            ROOMCAST,
            r.rooms
                .iter()
                .map(|x| (x.members as f64, x.roomcast.median_s))
                .collect(),
        ),
        (
            "planetstack one-by-one",
            ONE_BY_ONE,
            r.rooms
                .iter()
                .filter_map(|x| Some((x.members as f64, x.one_by_one.as_ref()?.median_s)))
                .collect(),
        ),
        (
            "planetstack all-at-once (not all delivered where throttled)",
            ALL_AT_ONCE,
            r.rooms
                .iter()
                .map(|x| (x.members as f64, x.all_at_once.median_s))
                .collect(),
        ),
    ];
    for (label, color, points) in series {
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart.draw_series(points.iter().map(|p| Circle::new(*p, 4, color.filled())))?;
        chart.draw_series(points.iter().map(|&(x, y)| {
            Text::new(
                format!("{} s", secs(y)),
                (x * 1.06, y * 1.12),
                ("sans-serif", 12).into_font().color(&color),
            )
        }))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    root.present()?;
    Ok(())
}

fn secs(s: f64) -> String {
    if s >= 10.0 {
        format!("{s:.0}")
    } else if s >= 0.1 {
        format!("{s:.2}")
    } else {
        format!("{s:.3}")
    }
}

fn value_label(p: &SweepPoint) -> String {
    if p.knob == "RATE_LIMIT" && p.value == 0 {
        "unlimited".into()
    } else {
        p.value.to_string()
    }
}

fn sweep(r: &FanoutResults, path: &std::path::Path) -> DrawResult {
    let root = SVGBackend::new(path, (1000, 760)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(
        &format!(
            "Knob sweep: room of {}, {} ms per post (baseline SHARD_SIZE={} POOL_SIZE={} POST_CONCURRENCY={} RATE_LIMIT={})",
            r.sweep_room,
            r.endpoint.latency_ms,
            r.baseline.shard_size,
            r.baseline.pool_size,
            r.baseline.post_concurrency,
            if r.baseline.rate_limit == 0 {
                "unlimited".to_string()
            } else {
                r.baseline.rate_limit.to_string()
            }
        ),
        ("sans-serif", 17),
    )?;
    let panels = root.split_evenly((2, 2));
    let knobs = ["SHARD_SIZE", "POOL_SIZE", "POST_CONCURRENCY", "RATE_LIMIT"];
    for (area, knob) in panels.iter().zip(knobs) {
        let points: Vec<&SweepPoint> = r.sweep.iter().filter(|p| p.knob == knob).collect();
        if points.is_empty() {
            continue;
        }
        let labels: Vec<String> = points.iter().map(|p| value_label(p)).collect();
        let n = points.len() as i32;
        let y_hi = points
            .iter()
            .flat_map(|p| [p.result.median_s, p.model_s])
            .fold(0.0, f64::max)
            * 1.45;
        let mut chart = ChartBuilder::on(area)
            .caption(knob, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(52)
            .build_cartesian_2d(-1..n, 0.0..y_hi)?;
        let formatter = |x: &i32| {
            usize::try_from(*x)
                .ok()
                .and_then(|i| labels.get(i).cloned())
                .unwrap_or_default()
        };
        chart
            .configure_mesh()
            .x_labels((n + 2) as usize)
            .x_label_formatter(&formatter)
            .y_desc("seconds")
            .disable_x_mesh()
            .light_line_style(TRANSPARENT)
            .draw()?;
        let measured: Vec<(i32, f64)> = points
            .iter()
            .enumerate()
            .map(|(i, p)| (i as i32, p.result.median_s))
            .collect();
        let model: Vec<(i32, f64)> = points
            .iter()
            .enumerate()
            .map(|(i, p)| (i as i32, p.model_s))
            .collect();
        chart
            .draw_series(LineSeries::new(measured.clone(), ROOMCAST.stroke_width(2)))?
            .label("measured (median)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], ROOMCAST.stroke_width(2)));
        chart.draw_series(
            measured
                .iter()
                .map(|p| Circle::new(*p, 4, ROOMCAST.filled())),
        )?;
        chart
            .draw_series(DashedLineSeries::new(
                model.clone(),
                6,
                4,
                MODEL.stroke_width(1),
            ))?
            .label("arithmetic (docs/operations.md)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], MODEL.stroke_width(1)));
        chart.draw_series(
            model
                .iter()
                .map(|p| Cross::new(*p, 4, MODEL.stroke_width(1))),
        )?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.3))
            .draw()?;
    }
    root.present()?;
    Ok(())
}
