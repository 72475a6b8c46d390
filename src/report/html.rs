//! The page: sections of figures and tables, well-formed XHTML-style markup (every element
//! closed, text escaped) so that any XML parser reads it.

use std::fmt::Write;

use super::data::RunData;
use super::figures::{self, Series, BLUE, GREEN, ORANGE, RED};
use super::ReportError;

/// The `id` of each figure the page holds, in order.
pub const FIGURES: &[&str] = &[
    "funnel-docs",
    "funnel-bytes",
    "languages-docs",
    "languages-bytes",
    "perplexity",
    "duplicates",
    "tokens-per-doc",
    "bytes-per-token",
];

/// Languages with fewer kept and scored documents get no histogram of their own.
const MIN_DOCS_FOR_HISTOGRAM: usize = 5;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn figure(out: &mut String, id: &str, caption: &str, svg: &str) {
    let _ = writeln!(
        out,
        "<figure id=\"{id}\">{}<figcaption>{}</figcaption></figure>",
        strip_xml_declaration(svg),
        escape(caption)
    );
}

/// plotters starts its SVG with an XML declaration, which may not appear inside a page.
fn strip_xml_declaration(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

fn missing(out: &mut String, id: &str, what: &str) {
    let _ = writeln!(
        out,
        "<figure id=\"{id}\"><p class=\"missing\">{}</p></figure>",
        escape(what)
    );
}

pub fn render(run: &RunData) -> Result<String, ReportError> {
    let mut body = String::new();
    let s = &run.stats;
    let _ = write!(
        body,
        "<h1>glmkit run report</h1>\n<p class=\"lead\">{}: {} records read ({} unreadable), {} \
         documents and {:.2} MB of text kept by the pipeline{}.</p>\n",
        escape(&run.dir.display().to_string()),
        s.read,
        s.quarantined,
        s.kept,
        mb(s.text_bytes_kept),
        match &run.final_stats {
            Some(f) => format!(", {} after the perplexity buckets", f.kept),
            None => String::new(),
        }
    );

    // 1. Funnel.
    body.push_str("<h2>Funnel: documents and bytes through each step</h2>\n");
    let steps: Vec<String> = std::iter::once("read".to_string())
        .chain(run.funnel.iter().map(|f| f.name.clone()))
        .collect();
    let docs: Vec<f64> = std::iter::once(run.documents_read() as f64)
        .chain(run.funnel.iter().map(|f| f.docs_out as f64))
        .collect();
    let bytes: Vec<f64> = std::iter::once(mb(s.text_bytes_read))
        .chain(run.funnel.iter().map(|f| mb(f.bytes_out)))
        .collect();
    let one = |name, values, color| {
        vec![Series {
            name,
            values,
            color,
        }]
    };
    figure(
        &mut body,
        "funnel-docs",
        "Documents left after each step (top: read).",
        &figures::hbars(
            "Documents after each step",
            "documents",
            &steps,
            &one("documents", docs, BLUE),
        )?,
    );
    figure(
        &mut body,
        "funnel-bytes",
        "Text left after each step, in MB (UTF-8).",
        &figures::hbars(
            "Text after each step (MB)",
            "MB",
            &steps,
            &one("MB", bytes, GREEN),
        )?,
    );
    body.push_str(
        "<table><tr><th>step</th><th>docs in</th><th>removed</th><th>MB in</th><th>MB removed</th><th>reasons</th></tr>\n",
    );
    for f in &run.funnel {
        let reasons: Vec<String> = f.reasons.iter().map(|(r, n)| format!("{r} {n}")).collect();
        let _ = writeln!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{}</td></tr>",
            escape(&f.name),
            f.docs_in,
            f.docs_in - f.docs_out,
            mb(f.bytes_in),
            mb(f.bytes_in - f.bytes_out),
            escape(&reasons.join(", "))
        );
    }
    body.push_str("</table>\n");

    // 2. Languages.
    body.push_str("<h2>Languages before and after</h2>\n");
    let mut langs: Vec<(&String, &super::LanguageFigures)> = run.languages.iter().collect();
    langs.sort_by_key(|(l, f)| (std::cmp::Reverse(f.docs_before), (*l).clone()));
    let names: Vec<String> = langs.iter().map(|(l, _)| (*l).clone()).collect();
    let pair = |before: Vec<f64>, after: Vec<f64>| {
        vec![
            Series {
                name: "before (read)",
                values: before,
                color: ORANGE,
            },
            Series {
                name: "after (kept)",
                values: after,
                color: BLUE,
            },
        ]
    };
    figure(
        &mut body,
        "languages-docs",
        "Documents per language (glmkit.lang, else the record's lang) before the pipeline and finally kept.",
        &figures::hbars(
            "Documents per language",
            "documents",
            &names,
            &pair(
                langs.iter().map(|(_, f)| f.docs_before as f64).collect(),
                langs.iter().map(|(_, f)| f.docs_after as f64).collect(),
            ),
        )?,
    );
    figure(
        &mut body,
        "languages-bytes",
        "Text per language in MB, before and after.",
        &figures::hbars(
            "Text per language (MB)",
            "MB",
            &names,
            &pair(
                langs.iter().map(|(_, f)| mb(f.bytes_before)).collect(),
                langs.iter().map(|(_, f)| mb(f.bytes_after)).collect(),
            ),
        )?,
    );

    // 3. Perplexity.
    body.push_str("<h2>Perplexity per language</h2>\n");
    let all: Vec<f64> = run
        .ppl
        .values()
        .flatten()
        .filter(|p| p.is_finite() && **p > 0.0)
        .map(|p| p.log10())
        .collect();
    if all.is_empty() {
        missing(&mut body, "perplexity", "No scored documents in this run.");
    } else {
        let lo = all.iter().copied().fold(f64::INFINITY, f64::min).floor();
        let hi = all.iter().copied().fold(f64::NEG_INFINITY, f64::max).ceil();
        let hi = if hi <= lo { lo + 1.0 } else { hi };
        let mut grid = String::from("<div class=\"grid\">");
        let mut shown = 0;
        for (lang, values) in &run.ppl {
            if values.len() < MIN_DOCS_FOR_HISTOGRAM {
                continue;
            }
            let logs: Vec<f64> = values
                .iter()
                .filter(|p| **p > 0.0)
                .map(|p| p.log10())
                .collect();
            let cuts: Vec<f64> = run
                .cutoffs
                .as_ref()
                .and_then(|c| c.languages.get(lang))
                .map(|c| vec![c.low.log10(), c.high.log10()])
                .unwrap_or_default();
            let svg = figures::histogram(
                &format!("{lang} ({} docs)", values.len()),
                "perplexity",
                &logs,
                (lo, hi),
                24,
                &cuts,
            )?;
            grid.push_str(figures_inline(&svg));
            shown += 1;
        }
        grid.push_str("</div>");
        let caption = format!(
            "Perplexity of the documents the pipeline kept, under the scoring model (log scale), \
             for the {shown} languages with at least {MIN_DOCS_FOR_HISTOGRAM} documents; red lines: \
             the bucket cut points (head | middle | tail at the {} percentiles).",
            run.cutoffs
                .as_ref()
                .map(|c| format!("{:.0}th and {:.0}th", c.percentiles.0, c.percentiles.1))
                .unwrap_or_else(|| "(no cutoffs in this run)".into())
        );
        let _ = writeln!(
            body,
            "<figure id=\"perplexity\">{grid}<figcaption>{}</figcaption></figure>",
            escape(&caption)
        );
        if !run.buckets.is_empty() {
            let parts: Vec<String> = run
                .buckets
                .iter()
                .map(|(b, n)| format!("{b} {n}"))
                .collect();
            let _ = writeln!(
                body,
                "<p>Finally kept documents per bucket: {}.</p>",
                escape(&parts.join(", "))
            );
        }
    }

    // 4. Duplicates.
    body.push_str("<h2>Duplicate clusters</h2>\n");
    let sizes: std::collections::BTreeSet<u64> = run
        .clusters
        .values()
        .flat_map(|m| m.keys().copied())
        .collect();
    if sizes.is_empty() {
        missing(
            &mut body,
            "duplicates",
            "No duplicates were removed in this run.",
        );
    } else {
        let cats: Vec<String> = sizes.iter().map(|s| format!("{s} docs")).collect();
        let colors = [BLUE, ORANGE, GREEN, RED];
        let series: Vec<Series> = run
            .clusters
            .iter()
            .enumerate()
            .map(|(i, (step, m))| Series {
                name: step,
                values: sizes
                    .iter()
                    .map(|s| *m.get(s).unwrap_or(&0) as f64)
                    .collect(),
                color: colors[i % colors.len()],
            })
            .collect();
        figure(
            &mut body,
            "duplicates",
            "Clusters by size (a kept document and the copies removed as its duplicates), per dedup step.",
            &figures::hbars("Duplicate clusters by size", "clusters", &cats, &series)?,
        );
    }

    // 5. Tokens.
    body.push_str("<h2>Tokens per language (the run's trained vocabulary)</h2>\n");
    if run.tokens.is_empty() {
        missing(
            &mut body,
            "tokens-per-doc",
            "No trained vocabulary in this run.",
        );
        missing(
            &mut body,
            "bytes-per-token",
            "No trained vocabulary in this run.",
        );
    } else {
        let mut langs: Vec<(&String, &super::TokenFigures)> = run.tokens.iter().collect();
        langs.sort_by(|a, b| a.0.cmp(b.0));
        let names: Vec<String> = langs.iter().map(|(l, _)| (*l).clone()).collect();
        let mean: Vec<f64> = langs
            .iter()
            .map(|(_, t)| t.tokens() as f64 / t.per_doc.len().max(1) as f64)
            .collect();
        let median: Vec<f64> = langs
            .iter()
            .map(|(_, t)| {
                let mut v = t.per_doc.clone();
                v.sort_unstable();
                v.get(v.len() / 2).copied().unwrap_or(0) as f64
            })
            .collect();
        figure(
            &mut body,
            "tokens-per-doc",
            "Tokens per kept document, mean and median, per language.",
            &figures::hbars(
                "Tokens per document",
                "tokens",
                &names,
                &[
                    Series {
                        name: "mean",
                        values: mean,
                        color: BLUE,
                    },
                    Series {
                        name: "median",
                        values: median,
                        color: ORANGE,
                    },
                ],
            )?,
        );
        figure(
            &mut body,
            "bytes-per-token",
            "UTF-8 bytes per token per language (higher: the vocabulary compresses that language better).",
            &figures::hbars(
                "Bytes per token",
                "bytes / token",
                &names,
                &one(
                    "bytes per token",
                    langs.iter().map(|(_, t)| t.bytes_per_token()).collect(),
                    GREEN,
                ),
            )?,
        );
    }

    // Where everything is.
    body.push_str("<h2>Outputs</h2>\n<ul>\n");
    for (what, path) in &run.outputs {
        let _ = writeln!(
            body,
            "<li>{}: <code>{}</code></li>",
            escape(what),
            escape(&path.display().to_string())
        );
    }
    body.push_str("</ul>\n");

    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n\
         <title>glmkit run report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    ))
}

fn figures_inline(svg: &str) -> &str {
    strip_xml_declaration(svg)
}

const STYLE: &str = "body{font-family:sans-serif;max-width:1100px;margin:1.5em auto;color:#222;padding:0 1em}\
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd}\
figure{margin:0.8em 0}figcaption{font-size:0.85em;color:#555}\
.grid{display:flex;flex-wrap:wrap;gap:4px}table{border-collapse:collapse;font-size:0.85em}\
td,th{border:1px solid #ddd;padding:2px 6px;text-align:right}td:first-child,td:last-child{text-align:left}\
.missing{color:#a00}.lead{font-size:0.95em}";

/// The text `glmkit run` prints at the end: documents and bytes in and out per step, and
/// where everything is.
pub fn summary_text(run: &RunData, seconds: f64) -> String {
    let mut out = String::new();
    let s = &run.stats;
    let _ = writeln!(
        out,
        "glmkit run: {} records read ({} unreadable), {:.2} MB of text, in {seconds:.1} s",
        s.read,
        s.quarantined,
        mb(s.text_bytes_read)
    );
    let _ = writeln!(
        out,
        "{:<20} {:>8} {:>8} {:>10} {:>10}  removed because",
        "step", "docs in", "out", "MB in", "MB out"
    );
    for f in &run.funnel {
        let reasons: Vec<String> = f.reasons.iter().map(|(r, n)| format!("{r} {n}")).collect();
        let _ = writeln!(
            out,
            "{:<20} {:>8} {:>8} {:>10.3} {:>10.3}  {}",
            f.name,
            f.docs_in,
            f.docs_out,
            mb(f.bytes_in),
            mb(f.bytes_out),
            reasons.join(", ")
        );
    }
    if let Some(f) = &run.final_stats {
        let buckets: Vec<String> = run
            .buckets
            .iter()
            .map(|(b, n)| format!("{b} {n}"))
            .collect();
        let _ = writeln!(
            out,
            "{:<20} {:>8} {:>8} {:>10.3} {:>10.3}  buckets: {}",
            "ppl_bucket",
            f.read,
            f.kept,
            mb(f.text_bytes_read),
            mb(f.text_bytes_kept),
            buckets.join(", ")
        );
    }
    let tokens: u64 = run.tokens.values().map(|t| t.tokens()).sum();
    if tokens > 0 {
        let _ = writeln!(out, "{tokens} tokens under the trained vocabulary");
    }
    out.push_str("outputs:\n");
    for (what, path) in &run.outputs {
        let _ = writeln!(out, "  {what:<26} {}", path.display());
    }
    let _ = writeln!(
        out,
        "  {:<26} {}",
        "report",
        run.dir.join(super::REPORT_FILE).display()
    );
    out
}
