//! The glmkit command line: parse, call the library, print. Each command group lives in its own
//! module under `src/bin/glmkit/`.

use clap::{Parser, Subcommand};

#[path = "glmkit/model.rs"]
mod model;

#[derive(Parser)]
#[command(
    name = "glmkit",
    version,
    about = "Turn raw multilingual text corpora into GLM-4-ready pretraining data"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Inspect a GLM-4 checkpoint or run its forward pass.
    Model(model::ModelArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Model(args) => model::run(args),
    }
}
