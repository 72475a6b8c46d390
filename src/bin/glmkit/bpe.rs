//! `glmkit bpe {train,encode,eval}` and `glmkit tokenize`: thin wrappers over `glmkit::bpe`.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use glmkit::bpe::count_file::{read_count_file, write_count_file};
use glmkit::bpe::formats::{read_vocabulary, write_tiktoken, write_tokenizer_json, GLM4_SPECIAL_TOKENS};
use glmkit::bpe::input::{self, InputOptions, Record, TxtUnit};
use glmkit::bpe::stages::{count_inputs, evaluate, tokenize_to_megatron, Shard};
use glmkit::bpe::{train, Encoder, PreTokenizer, TrainerConfig, WordCounts};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Args)]
pub struct BpeArgs {
    #[command(subcommand)]
    command: BpeCommand,
}

#[derive(Subcommand)]
enum BpeCommand {
    /// Train a byte-level BPE vocabulary (merges equal HF tokenizers' BpeTrainer).
    Train(TrainArgs),
    /// Encode documents: one `{"id": .., "ids": [..]}` line per document.
    Encode(EncodeArgs),
    /// Bytes per token and tokens per word / char, per language.
    Eval(EvalArgs),
}

#[derive(Args)]
struct ReadArgs {
    /// Field holding the text in JSONL input.
    #[arg(long, default_value = "text")]
    text_field: String,
    /// Field holding the id in JSONL input.
    #[arg(long, default_value = "id")]
    id_field: String,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

impl ReadArgs {
    fn options(&self, txt_unit: TxtUnit) -> InputOptions {
        InputOptions {
            text_field: self.text_field.clone(),
            id_field: self.id_field.clone(),
            txt_unit,
            ..Default::default()
        }
    }

    fn init_threads(&self) -> Result<()> {
        if let Some(n) = self.threads {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build_global()
                .context("setting up the thread pool")?;
        }
        Ok(())
    }
}

#[derive(Args)]
struct TrainArgs {
    /// Text (.txt: one sequence per line; .jsonl[.zst|.gz]: one per document) or word-count
    /// files (`.counts`, written with --shard) to merge.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Vocabulary size, special tokens and the 256 byte symbols included.
    #[arg(long)]
    vocab_size: Option<usize>,
    /// Output directory: tokenizer.json, tokenizer.model (tiktoken ranks), special_tokens.json,
    /// train_report.json; with --shard, the shard's word-count file.
    #[arg(long)]
    output: PathBuf,
    /// Pairs seen fewer times are not merged.
    #[arg(long, default_value_t = 0)]
    min_frequency: u64,
    /// Special tokens: `glm4` (GLM-4's 14), a file (one per line) or a comma-separated list.
    #[arg(long)]
    special_tokens: Option<String>,
    /// Pre-tokenization pattern: glm4, cl100k, gpt2 or a regex.
    #[arg(long, default_value = "glm4")]
    pattern: String,
    /// Longest token (in bytes) a merge may create.
    #[arg(long)]
    max_token_length: Option<usize>,
    /// Only count this shard's sequences (`i/n`, 0-based) and write its word counts.
    #[arg(long)]
    shard: Option<String>,
    /// Cap on the word table (e.g. 512M, 4G); the rarest words are pruned and reported.
    #[arg(long)]
    max_memory: Option<String>,
    #[command(flatten)]
    read: ReadArgs,
}

#[derive(Args)]
struct EncodeArgs {
    /// tokenizer.json or a tiktoken rank file.
    #[arg(long)]
    tokenizer: PathBuf,
    /// Inputs; none or `-`: standard input, one document per line.
    inputs: Vec<PathBuf>,
    #[command(flatten)]
    read: ReadArgs,
}

#[derive(Args)]
struct EvalArgs {
    #[arg(long)]
    tokenizer: PathBuf,
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    #[command(flatten)]
    read: ReadArgs,
}

/// `glmkit tokenize`: encode documents into a Megatron-LM indexed dataset.
#[derive(Args)]
pub struct TokenizeArgs {
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    #[arg(long)]
    tokenizer: PathBuf,
    /// Writes PREFIX.bin and PREFIX.idx.
    #[arg(long)]
    output: PathBuf,
    /// End every document with the end-of-document token.
    #[arg(long)]
    append_eod: bool,
    #[arg(long, default_value = "<|endoftext|>")]
    eod_token: String,
    #[command(flatten)]
    read: ReadArgs,
}

pub fn run(args: BpeArgs) -> Result<()> {
    match args.command {
        BpeCommand::Train(a) => run_train(a),
        BpeCommand::Encode(a) => run_encode(a),
        BpeCommand::Eval(a) => run_eval(a),
    }
}

fn parse_size(s: &str) -> Result<usize> {
    let s = s.trim();
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len()));
    let value: f64 = digits
        .parse()
        .with_context(|| format!("--max-memory `{s}`: expected e.g. 512M or 4G"))?;
    let scale = match unit
        .trim()
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 1.0,
        "K" => 1024.0,
        "M" => 1024.0 * 1024.0,
        "G" => 1024.0 * 1024.0 * 1024.0,
        other => bail!("--max-memory `{s}`: unknown unit `{other}`"),
    };
    Ok((value * scale) as usize)
}

fn special_tokens(arg: Option<&str>) -> Result<Vec<String>> {
    let Some(arg) = arg else { return Ok(vec![]) };
    if arg == "glm4" {
        return Ok(GLM4_SPECIAL_TOKENS.iter().map(|s| s.to_string()).collect());
    }
    let path = Path::new(arg);
    if path.is_file() {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading special tokens from {arg}"))?;
        return Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect());
    }
    Ok(arg
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect())
}

fn run_train(a: TrainArgs) -> Result<()> {
    a.read.init_threads()?;
    let started = Instant::now();
    let pre = PreTokenizer::new(&a.pattern)?;
    let max_memory = a.max_memory.as_deref().map(parse_size).transpose()?;
    let (count_files, texts): (Vec<PathBuf>, Vec<PathBuf>) = a
        .inputs
        .iter()
        .cloned()
        .partition(|p| p.extension().is_some_and(|e| e == "counts"));
    std::fs::create_dir_all(&a.output).with_context(|| format!("creating {}", a.output.display()))?;
    let options = InputOptions { with_ids: false, ..a.read.options(TxtUnit::Line) };

    if let Some(shard) = &a.shard {
        let shard = Shard::parse(shard).with_context(|| format!("--shard `{shard}`: expected i/n with i < n"))?;
        if !count_files.is_empty() {
            bail!("--shard counts text inputs; pass .counts files to a run without --shard");
        }
        let counts = count_inputs(&texts, &options, &pre, shard, max_memory)?;
        let file = a
            .output
            .join(format!("word-counts-{}-of-{}.counts", shard.index, shard.count));
        let header = write_count_file(&file, &counts, pre.pattern(), &shard.to_string())?;
        eprintln!(
            "shard {shard}: {} sequences, {} distinct words -> {} ({:.1}s)",
            header.sequences,
            header.words,
            file.display(),
            started.elapsed().as_secs_f64()
        );
        report_pruned(&counts);
        return Ok(());
    }

    let vocab_size = a.vocab_size.context("--vocab-size is required to train")?;
    let mut counts = if texts.is_empty() {
        WordCounts::new()
    } else {
        count_inputs(&texts, &options, &pre, Shard::ALL, max_memory)?
    };
    for file in &count_files {
        let (header, part) = read_count_file(file)?;
        if header.pattern != pre.pattern() {
            bail!(
                "{}: counted with pattern `{}`, but training uses `{}`",
                file.display(),
                header.pattern,
                pre.pattern()
            );
        }
        counts.merge(part);
        if let Some(cap) = max_memory {
            if counts.memory_estimate() > cap {
                counts.prune_to(cap / 4 * 3);
            }
        }
    }
    let counted = started.elapsed().as_secs_f64();
    let config = TrainerConfig {
        vocab_size,
        min_frequency: a.min_frequency,
        special_tokens: special_tokens(a.special_tokens.as_deref())?,
        max_token_length: a.max_token_length,
    };
    let vocab = train(&counts, &config, pre.pattern());
    let trained = started.elapsed().as_secs_f64();
    write_tokenizer_json(&vocab, &a.output.join("tokenizer.json"))?;
    write_tiktoken(&vocab, &a.output.join("tokenizer.model"))?;
    let report = serde_json::json!({
        "inputs": a.inputs,
        "pattern": pre.pattern(),
        "vocab_size": vocab_size,
        "min_frequency": a.min_frequency,
        "max_token_length": a.max_token_length,
        "special_tokens": config.special_tokens,
        "sequences": counts.sequences,
        "distinct_words": counts.len(),
        "pruned": counts.pruned,
        "vocab": vocab.len(),
        "merges": vocab.merges().len(),
        "seconds": {"count": counted, "merge": trained - counted},
    });
    std::fs::write(
        a.output.join("train_report.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    eprintln!(
        "{} sequences, {} distinct words, {} merges, vocab {} -> {} (count {:.1}s, merge {:.1}s)",
        counts.sequences,
        counts.len(),
        vocab.merges().len(),
        vocab.len(),
        a.output.display(),
        counted,
        trained - counted
    );
    report_pruned(&counts);
    Ok(())
}

fn report_pruned(counts: &WordCounts) {
    let p = &counts.pruned;
    if p.words > 0 {
        eprintln!(
            "memory cap: pruned {} distinct words ({} occurrences) seen at most {} times; merges may differ from an uncapped run",
            p.words, p.occurrences, p.max_count
        );
    }
}

/// Prints one line; a closed pipe (`| head`) is not an error.
fn print_line(line: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{line}").and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

fn load_encoder(path: &Path) -> Result<Encoder> {
    let vocab = read_vocabulary(path)?;
    Ok(Encoder::new(vocab)?)
}

fn run_encode(a: EncodeArgs) -> Result<()> {
    a.read.init_threads()?;
    let encoder = load_encoder(&a.tokenizer)?;
    let stdin = a.inputs.is_empty() || a.inputs == [PathBuf::from("-")];
    let inputs = if stdin {
        vec![PathBuf::from("-")]
    } else {
        a.inputs.clone()
    };
    let mut options = a.read.options(if stdin { TxtUnit::Line } else { TxtUnit::File });
    if stdin {
        options.batch_bytes = 1 << 20;
    }
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    input::for_each_batch(&inputs, &options, |mut batch: Vec<Record>| {
        if stdin {
            for r in &mut batch {
                let trimmed = r.text.trim_end_matches('\n').trim_end_matches('\r').len();
                r.text.truncate(trimmed);
                r.id = r.id.trim_start_matches("-:").to_string();
            }
        }
        let texts: Vec<&str> = batch.iter().map(|r| r.text.as_str()).collect();
        for (ids, r) in encoder.encode_batch(&texts).into_iter().zip(&batch) {
            serde_json::to_writer(&mut out, &serde_json::json!({"id": r.id, "ids": ids}))?;
            out.write_all(b"\n")?;
        }
        Ok::<(), anyhow::Error>(())
    })?;
    out.flush()?;
    Ok(())
}

fn run_eval(a: EvalArgs) -> Result<()> {
    a.read.init_threads()?;
    let encoder = load_encoder(&a.tokenizer)?;
    let report = evaluate(&a.inputs, &a.read.options(TxtUnit::File), &encoder)?;
    print_line(&serde_json::to_string_pretty(&report)?)
}

pub fn run_tokenize(a: TokenizeArgs) -> Result<()> {
    a.read.init_threads()?;
    let encoder = load_encoder(&a.tokenizer)?;
    let eod = a.append_eod.then_some(a.eod_token.as_str());
    let stats = tokenize_to_megatron(&a.inputs, &a.read.options(TxtUnit::File), &encoder, &a.output, eod)?;
    print_line(&serde_json::to_string(&stats)?)
}
