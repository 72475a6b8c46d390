//! `report.html` of a run: one self-contained page (inline SVG, no scripts, no network) with the
//! funnel of documents and bytes through the steps, languages before and after, perplexity
//! histograms with the bucket cut points, duplicate cluster sizes, and tokens per language.
//! Everything comes from the run's stats and outputs ([`RunData`]).

mod data;
mod figures;
mod html;

pub use data::{FunnelStep, LanguageFigures, RunData, TokenFigures};
pub use html::{render, summary_text, FIGURES};

use std::path::{Path, PathBuf};

/// The report's file name in a run directory.
pub const REPORT_FILE: &str = "report.html";
/// The summary `glmkit run` prints, kept next to the report.
pub const SUMMARY_FILE: &str = "summary.txt";

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Input(String),
    #[error("drawing a figure: {0}")]
    Draw(String),
}

impl ReportError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        ReportError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Writes `dir/report.html` for `run` and returns its path.
pub fn write_report(run: &RunData, dir: &Path) -> Result<PathBuf, ReportError> {
    let page = render(run)?;
    let path = dir.join(REPORT_FILE);
    crate::pipeline::write_atomic(&path, page.as_bytes()).map_err(|e| ReportError::io(&path, e))?;
    Ok(path)
}
