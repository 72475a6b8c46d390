//! `glmkit bpe {train,extend,merge,encode,eval}` and `glmkit tokenize`: thin wrappers over
//! `glmkit::bpe`.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use glmkit::bpe::count_file::{read_count_file, write_count_file};
use glmkit::bpe::formats::{
    read_base_vocabulary, read_vocabulary, write_tiktoken, write_tokenizer_json,
    GLM4_SPECIAL_TOKENS,
};
use glmkit::bpe::grow::{rank_file_disagreements, tokens_without_merge};
use glmkit::bpe::input::{InputOptions, ReadSummary};
use glmkit::bpe::stages::{
    compare_compression, count_inputs, evaluate, shard_files, tokenize_to_megatron,
    CompressionReport,
};
use glmkit::bpe::{
    extend, merge_vocabularies, train, Encoder, ExtendConfig, Grown, MergeConfig, PreTokenizer,
    TrainerConfig, Vocabulary, WordCounts,
};
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
    /// Continue BPE training from an existing vocabulary: its tokens keep their ids, N new
    /// tokens follow its last rank, special tokens come after them.
    Extend(ExtendArgs),
    /// One vocabulary from several: the first keeps its ids; tokens of the others that it lacks
    /// are appended in their rank order when one merge of earlier tokens makes them.
    Merge(MergeArgs),
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
struct ExtendArgs {
    /// The vocabulary to continue: a byte-level BPE tokenizer.json, or a tiktoken rank file
    /// (its special tokens from special_tokens.json next to it, else none).
    #[arg(long)]
    base: PathBuf,
    /// How many new tokens to learn (fewer if the input runs out of pairs).
    #[arg(long)]
    add: usize,
    /// Text as for `bpe train` (.txt: one sequence per line; .jsonl[.zst|.gz], .parquet), or
    /// word-count files (`.counts` from `bpe train --shard`) counted with the base's pattern.
    #[arg(required = true)]
    inputs: Vec<String>,
    /// Output directory: tokenizer.json, tokenizer.model (tiktoken ranks), special_tokens.json,
    /// extend_report.json.
    #[arg(long, short = 'o')]
    output: PathBuf,
    /// Pairs seen fewer times are not merged.
    #[arg(long, default_value_t = 0)]
    min_frequency: u64,
    /// Longest token (in bytes) a merge may create.
    #[arg(long)]
    max_token_length: Option<usize>,
    /// Cap on the word table (e.g. 512M, 4G); the rarest words are pruned and reported.
    #[arg(long)]
    max_memory: Option<String>,
    #[command(flatten)]
    grow: GrowArgs,
    #[command(flatten)]
    read: ReadArgs,
}

#[derive(Args)]
struct MergeArgs {
    /// Vocabularies (tokenizer.json or tiktoken rank files): the first keeps its ids, the
    /// others' new tokens follow in order.
    #[arg(required = true, num_args = 2..)]
    vocabularies: Vec<PathBuf>,
    /// Output directory: tokenizer.json, tokenizer.model (tiktoken ranks), special_tokens.json,
    /// merge_report.json.
    #[arg(long, short = 'o')]
    output: PathBuf,
    #[command(flatten)]
    grow: GrowArgs,
    #[command(flatten)]
    read: ReadArgs,
}

/// Options shared by `extend` and `merge`.
#[derive(Args)]
struct GrowArgs {
    /// Special tokens numbered after the new tokens: `glm4` (GLM-4's 14), a file (one per
    /// line) or a comma-separated list.
    #[arg(long)]
    special_tokens: Option<String>,
    /// Leave out the base's special tokens that follow its last rank (they would collide with
    /// the new tokens' ids; by default that is an error). List them in --special-tokens to
    /// number them after the new tokens.
    #[arg(long)]
    drop_base_specials: bool,
    /// Held-out documents (a file, directory or glob; repeat the flag for more) on which the
    /// report gives bytes per token per language before and after.
    #[arg(long)]
    held_out: Vec<String>,
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
        BpeCommand::Extend(a) => run_extend(a),
        BpeCommand::Merge(a) => run_merge(a),
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
    let (texts, count_files) = split_inputs(&a.inputs)?;
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
    let (counts, read) = count_all(&texts, &count_files, &options, &pre, max_memory)?;
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

/// Counts the words of text inputs and adds those of `.counts` files (which must have been
/// counted with the same pattern), keeping the table under `max_memory`.
fn count_all(
    texts: &[InputFile],
    count_files: &[String],
    options: &InputOptions,
    pre: &PreTokenizer,
    max_memory: Option<usize>,
) -> Result<(WordCounts, ReadSummary)> {
    let (mut counts, read) = count_inputs(texts, options, pre, max_memory)?;
    for file in count_files {
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
    Ok((counts, read))
}

/// Splits inputs into text files (expanded) and `.counts` files.
fn split_inputs(inputs: &[String]) -> Result<(Vec<InputFile>, Vec<String>)> {
    let (count_files, texts): (Vec<String>, Vec<String>) =
        inputs.iter().cloned().partition(|p| p.ends_with(".counts"));
    let texts = if texts.is_empty() {
        vec![]
    } else {
        expand_inputs(&texts)?
    };
    Ok((texts, count_files))
}

fn load_base(path: &Path) -> Result<Vocabulary> {
    read_base_vocabulary(path).with_context(|| {
        format!(
            "{}: not usable as a byte-level BPE vocabulary to grow",
            path.display()
        )
    })
}

/// Writes the grown vocabulary and its report (JSON in the directory, a summary on stderr).
fn write_grown(
    grown: &Grown,
    base: &Vocabulary,
    output: &Path,
    report_name: &str,
    mut report: serde_json::Value,
    held_out: &[String],
    read: &ReadArgs,
) -> Result<()> {
    write_tokenizer_json(&grown.vocab, &output.join("tokenizer.json"))?;
    write_tiktoken(&grown.vocab, &output.join("tokenizer.model"))?;
    let show = |ids: &[u32], vocab: &Vocabulary| -> Vec<String> {
        ids.iter()
            .take(20)
            .map(|&id| vocab.token(id).map_or_else(String::new, |t| t.hf_string()))
            .collect()
    };
    let unreachable = tokens_without_merge(base);
    let disagree = rank_file_disagreements(&grown.vocab, grown.first_new);
    let compression = if held_out.is_empty() {
        None
    } else {
        let before = load_encoder_from(base.clone(), read)?;
        let after = load_encoder_from(grown.vocab.clone(), read)?;
        Some(compare_compression(
            &expand_inputs(held_out)?,
            &read.options(false),
            &before,
            &after,
        )?)
    };
    let extra = serde_json::json!({
        "base_tokens": base.len(),
        "first_new_id": grown.first_new,
        "tokens_added": grown.added,
        "vocab": grown.vocab.len(),
        "special_tokens_added": grown.specials_added,
        "special_tokens_already_in_base": grown.specials_in_base,
        "base_special_tokens_dropped": grown.dropped_base_specials,
        "base_tokens_without_merge": {"count": unreachable.len(), "first": show(&unreachable, base)},
        "new_tokens_rank_file_disagrees": {"count": disagree.len(), "first": show(&disagree, &grown.vocab)},
        "held_out": held_out,
        "compression": compression,
    });
    let map = report.as_object_mut().expect("the report is a JSON object");
    map.extend(extra.as_object().expect("an object").clone());
    std::fs::write(
        output.join(report_name),
        serde_json::to_string_pretty(&report)?,
    )?;
    eprintln!(
        "{} base tokens, {} new (ids {}..{}), {} special tokens after them -> {}",
        base.len(),
        grown.added,
        grown.first_new,
        grown.first_new as usize + grown.added,
        grown.specials_added.len(),
        output.display()
    );
    if !unreachable.is_empty() {
        eprintln!(
            "the base has {} multi-byte tokens that no merge makes (BPE never produces them), e.g. {:?}",
            unreachable.len(),
            show(&unreachable[..unreachable.len().min(5)], base)
        );
    }
    if !disagree.is_empty() {
        eprintln!(
            "{} new tokens are made by a different merge when the rank file is read (tokenizer.json and tokenizer.model may encode differently), e.g. {:?}",
            disagree.len(),
            show(&disagree[..disagree.len().min(5)], &grown.vocab)
        );
    }
    if let Some(c) = &compression {
        print_compression(c);
    }
    Ok(())
}

fn print_compression(c: &CompressionReport) {
    eprintln!("bytes per token on the held-out documents (before -> after):");
    for (lang, f) in c.by_lang.iter().chain([(&"all".to_string(), &c.all)]) {
        eprintln!(
            "  {lang:>8}: {:.3} -> {:.3} ({} documents, {} -> {} tokens)",
            f.bytes_per_token_before,
            f.bytes_per_token_after,
            f.documents,
            f.tokens_before,
            f.tokens_after
        );
    }
}

fn run_extend(a: ExtendArgs) -> Result<()> {
    a.read.init_threads()?;
    let started = Instant::now();
    let base = load_base(&a.base)?;
    let pre = PreTokenizer::new(base.pattern())?;
    let max_memory = a.max_memory.as_deref().map(parse_size).transpose()?;
    let (texts, count_files) = split_inputs(&a.inputs)?;
    std::fs::create_dir_all(&a.output)
        .with_context(|| format!("creating {}", a.output.display()))?;
    let (counts, read) = count_all(
        &texts,
        &count_files,
        &a.read.options(true),
        &pre,
        max_memory,
    )?;
    let counted = started.elapsed().as_secs_f64();
    let config = ExtendConfig {
        add: a.add,
        min_frequency: a.min_frequency,
        max_token_length: a.max_token_length,
        special_tokens: special_tokens(a.grow.special_tokens.as_deref())?,
        drop_base_specials: a.grow.drop_base_specials,
    };
    let grown = extend(&base, &counts, &config)
        .with_context(|| format!("extending {}", a.base.display()))?;
    let trained = started.elapsed().as_secs_f64();
    let report = serde_json::json!({
        "base": a.base,
        "inputs": a.inputs,
        "pattern": base.pattern(),
        "add": a.add,
        "min_frequency": a.min_frequency,
        "max_token_length": a.max_token_length,
        "documents": read.documents,
        "quarantined": read.quarantined,
        "sequences": counts.sequences,
        "distinct_words": counts.len(),
        "pruned": counts.pruned,
        "pairs_skipped_as_existing_tokens": grown.skipped_existing_pairs,
        "seconds": {"count": counted, "merge": trained - counted},
    });
    write_grown(
        &grown,
        &base,
        &a.output,
        "extend_report.json",
        report,
        &a.grow.held_out,
        &a.read,
    )?;
    if grown.added < a.add {
        eprintln!(
            "the input ran out of pairs to merge: {} of {} tokens added",
            grown.added, a.add
        );
    }
    eprintln!(
        "{} sequences, {} distinct words (count {counted:.1}s, merge {:.1}s)",
        counts.sequences,
        counts.len(),
        trained - counted
    );
    report_read(&read);
    report_pruned(&counts);
    Ok(())
}

fn run_merge(a: MergeArgs) -> Result<()> {
    a.read.init_threads()?;
    let vocabs: Vec<Vocabulary> = a
        .vocabularies
        .iter()
        .map(|p| load_base(p))
        .collect::<Result<_>>()?;
    let (base, others) = vocabs.split_first().expect("clap asks for two or more");
    std::fs::create_dir_all(&a.output)
        .with_context(|| format!("creating {}", a.output.display()))?;
    let config = MergeConfig {
        special_tokens: special_tokens(a.grow.special_tokens.as_deref())?,
        drop_base_specials: a.grow.drop_base_specials,
    };
    let grown = merge_vocabularies(base, others, &config)
        .with_context(|| format!("merging into {}", a.vocabularies[0].display()))?;
    let patterns_differ: Vec<&PathBuf> = a
        .vocabularies
        .iter()
        .zip(&vocabs)
        .filter(|(_, v)| v.pattern() != base.pattern())
        .map(|(p, _)| p)
        .collect();
    let report = serde_json::json!({
        "vocabularies": a.vocabularies,
        "pattern": base.pattern(),
        "pattern_differs": patterns_differ,
        "already_present": grown.already_present,
        "not_added": grown.not_added,
    });
    write_grown(
        &grown,
        base,
        &a.output,
        "merge_report.json",
        report,
        &a.grow.held_out,
        &a.read,
    )?;
    if !grown.not_added.is_empty() {
        eprintln!(
            "{} tokens not added (one merge of earlier tokens does not make them; see merge_report.json), e.g.:",
            grown.not_added.len()
        );
        for n in grown.not_added.iter().take(5) {
            eprintln!(
                "  {} id {} `{}`: {}",
                a.vocabularies[n.source + 1].display(),
                n.id,
                n.token,
                n.reason
            );
        }
    }
    if !patterns_differ.is_empty() {
        eprintln!(
            "warning: {patterns_differ:?} pre-tokenize with another pattern than the first; the result uses the first's"
        );
    }
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
    load_encoder_from(read_vocabulary(path)?, read)
}

fn load_encoder_from(vocab: Vocabulary, read: &ReadArgs) -> Result<Encoder> {
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
