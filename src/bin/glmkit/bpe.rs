//! `glmkit bpe {train,encode,eval}` and `glmkit tokenize`: thin wrappers over `glmkit::bpe`.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use glmkit::bpe::count_file::{read_count_file, write_count_file};
use glmkit::bpe::formats::{
    read_vocabulary, write_tiktoken, write_tokenizer_json, GLM4_SPECIAL_TOKENS,
};
use glmkit::bpe::input::{InputOptions, ReadSummary};
use glmkit::bpe::stages::{count_inputs, evaluate, shard_files, tokenize_to_megatron};
use glmkit::bpe::{train, Encoder, PreTokenizer, TrainerConfig, WordCounts};
use glmkit::corpus::ShardSpec;
use glmkit::corpus::{expand_inputs, InputFile, ReadOptions};
use std::io::{BufRead, Write};
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
    /// Encode special-token strings found in the text as plain text (GLM-4's tiktoken
    /// tokenizer's default) instead of as their ids (HF tokenizers' behaviour).
    #[arg(long)]
    plain_specials: bool,
}

impl ReadArgs {
    fn options(&self, txt_lines: bool) -> InputOptions {
        let read = ReadOptions {
            text_field: self.text_field.clone(),
            id_field: self.id_field.clone(),
            ..ReadOptions::default()
        };
        InputOptions {
            read,
            txt_lines,
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
    /// Files, directories or globs: text (.txt: one sequence per line; .jsonl[.zst|.gz],
    /// .parquet: one per document) or word-count files (`.counts`, written with --shard).
    #[arg(required = true)]
    inputs: Vec<String>,
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
    /// Only count the input files of shard i of n (every n-th file from the i-th) and write
    /// their word counts.
    #[arg(long, value_name = "i/n")]
    shard: Option<ShardSpec>,
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
    /// Files, directories or globs; none or `-`: standard input, one document per line.
    inputs: Vec<String>,
    #[command(flatten)]
    read: ReadArgs,
}

#[derive(Args)]
struct EvalArgs {
    /// tokenizer.json or a tiktoken rank file.
    #[arg(long)]
    tokenizer: PathBuf,
    #[arg(required = true)]
    inputs: Vec<String>,
    #[command(flatten)]
    read: ReadArgs,
}

/// `glmkit tokenize`: encode documents into a Megatron-LM indexed dataset.
#[derive(Args)]
pub struct TokenizeArgs {
    /// Files, directories or globs; every document becomes one sequence.
    #[arg(required = true)]
    inputs: Vec<String>,
    /// tokenizer.json or a tiktoken rank file.
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
    let (digits, unit) = s.split_at(
        s.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.len()),
    );
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
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading special tokens from {arg}"))?;
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

fn report_read(summary: &ReadSummary) {
    if summary.quarantined > 0 {
        eprintln!(
            "skipped {} records that are not documents, e.g.:",
            summary.quarantined
        );
        for example in &summary.quarantine_examples {
            eprintln!("  {example}");
        }
    }
}

fn run_train(a: TrainArgs) -> Result<()> {
    a.read.init_threads()?;
    let started = Instant::now();
    let pre = PreTokenizer::new(&a.pattern)?;
    let max_memory = a.max_memory.as_deref().map(parse_size).transpose()?;
    let (count_files, texts): (Vec<String>, Vec<String>) = a
        .inputs
        .iter()
        .cloned()
        .partition(|p| p.ends_with(".counts"));
    let texts: Vec<InputFile> = if texts.is_empty() {
        vec![]
    } else {
        expand_inputs(&texts)?
    };
    std::fs::create_dir_all(&a.output)
        .with_context(|| format!("creating {}", a.output.display()))?;
    let options = a.read.options(true);

    if let Some(shard) = a.shard {
        if !count_files.is_empty() {
            bail!("--shard counts text inputs; pass .counts files to a run without --shard");
        }
        let (counts, read) = count_inputs(&shard_files(&texts, shard), &options, &pre, max_memory)?;
        let file = a.output.join(format!(
            "word-counts-{}-of-{}.counts",
            shard.index, shard.count
        ));
        let header = write_count_file(&file, &counts, pre.pattern(), &shard.to_string())?;
        eprintln!(
            "shard {shard}: {} sequences, {} distinct words -> {} ({:.1}s)",
            header.sequences,
            header.words,
            file.display(),
            started.elapsed().as_secs_f64()
        );
        report_read(&read);
        report_pruned(&counts);
        return Ok(());
    }

    let vocab_size = a.vocab_size.context("--vocab-size is required to train")?;
    let (mut counts, read) = count_inputs(&texts, &options, &pre, max_memory)?;
    for file in &count_files {
        let (header, part) = read_count_file(Path::new(file))?;
        if header.pattern != pre.pattern() {
            bail!(
                "{file}: counted with pattern `{}`, but training uses `{}`",
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
        "documents": read.documents,
        "quarantined": read.quarantined,
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
    report_read(&read);
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

fn load_encoder(path: &Path, read: &ReadArgs) -> Result<Encoder> {
    let vocab = read_vocabulary(path)?;
    let encoder = Encoder::new(vocab)?;
    Ok(if read.plain_specials {
        encoder.with_plain_specials()
    } else {
        encoder
    })
}

fn write_ids(out: &mut impl Write, id: &str, ids: &[u32]) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, &serde_json::json!({"id": id, "ids": ids}))?;
    out.write_all(b"\n")
}

fn run_encode(a: EncodeArgs) -> Result<()> {
    a.read.init_threads()?;
    let encoder = load_encoder(&a.tokenizer, &a.read)?;
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, out.lock());
    let result = if a.inputs.is_empty() || a.inputs == ["-"] {
        // Standard input: one document per line (without its line ending), ids 1, 2, ...
        let mut batch: Vec<String> = Vec::new();
        let mut first = 1u64;
        let mut lines = std::io::stdin().lock().lines();
        loop {
            let line = lines.next().transpose().context("reading standard input")?;
            let end = line.is_none();
            batch.extend(line.map(|l| l.trim_end_matches('\r').to_string()));
            if batch.len() < 4096 && !end {
                continue;
            }
            for (k, ids) in encoder.encode_batch(&batch).iter().enumerate() {
                write_ids(&mut out, &(first + k as u64).to_string(), ids)?;
            }
            first += batch.len() as u64;
            batch.clear();
            if end {
                break;
            }
        }
        Ok(())
    } else {
        let files = expand_inputs(&a.inputs)?;
        let read = glmkit::bpe::input::for_each_batch(&files, &a.read.options(false), |batch| {
            let texts: Vec<&str> = batch.iter().map(|d| d.text.as_str()).collect();
            for (ids, doc) in encoder.encode_batch(&texts).iter().zip(&batch) {
                write_ids(&mut out, &doc.id, ids)?;
            }
            Ok::<(), anyhow::Error>(())
        });
        read.map(|summary| report_read(&summary))
    };
    match result.and_then(|_| Ok(out.flush()?)) {
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(())
        }
        other => other,
    }
}

fn run_eval(a: EvalArgs) -> Result<()> {
    a.read.init_threads()?;
    let encoder = load_encoder(&a.tokenizer, &a.read)?;
    let report = evaluate(&expand_inputs(&a.inputs)?, &a.read.options(false), &encoder)?;
    print_line(&serde_json::to_string_pretty(&report)?)
}

pub fn run_tokenize(a: TokenizeArgs) -> Result<()> {
    a.read.init_threads()?;
    let encoder = load_encoder(&a.tokenizer, &a.read)?;
    let eod = a.append_eod.then_some(a.eod_token.as_str());
    let stats = tokenize_to_megatron(
        &expand_inputs(&a.inputs)?,
        &a.read.options(false),
        &encoder,
        &a.output,
        eod,
    )?;
    print_line(&serde_json::to_string(&stats)?)
}
