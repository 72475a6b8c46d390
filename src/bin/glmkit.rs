//! The glmkit command line: parse, call the library, print. Each command group lives in its own
//! module under `src/bin/glmkit/`.

use clap::{Parser, Subcommand};

#[path = "glmkit/bpe.rs"]
mod bpe;

#[derive(Parser)]
#[command(name = "glmkit", version, about = "Turn raw multilingual text corpora into GLM-4-ready pretraining data")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Byte-level BPE: train, encode, evaluate.
    Bpe(bpe::BpeArgs),
    /// Encode documents into a Megatron-LM indexed dataset (PREFIX.bin + PREFIX.idx).
    Tokenize(bpe::TokenizeArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Bpe(args) => bpe::run(args),
        Command::Tokenize(args) => bpe::run_tokenize(args),
    }
}
