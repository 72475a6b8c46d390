//! The glmkit command line: parse, call the library, print. Each command group lives in its own
//! module under `src/bin/glmkit/`.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "glmkit", version, about = "Turn raw multilingual text corpora into GLM-4-ready pretraining data")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {}
}
