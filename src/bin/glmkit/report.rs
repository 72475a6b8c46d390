//! `glmkit report`: report.html of a run directory.

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

/// Write RUN_DIR/report.html: the funnel of documents and bytes through the steps, languages
/// before and after, perplexity histograms with the bucket cut points, duplicate cluster sizes,
/// tokens per language. Reads the run's stats and outputs: a `glmkit run` directory, or any
/// pipeline output directory (kept/, rejected/, stats.json).
#[derive(Args)]
pub struct ReportArgs {
    /// The run directory.
    #[arg(value_name = "RUN_DIR")]
    run_dir: PathBuf,
}

pub fn run(args: ReportArgs) -> Result<()> {
    let data = glmkit::report::RunData::read(&args.run_dir)?;
    let path = glmkit::report::write_report(&data, &args.run_dir)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
