//! The trainer's merges and vocabulary equal HF tokenizers' `BpeTrainer` (the tokenizers crate,
//! same settings: Split(pattern, Isolated) + ByteLevel without regex, the 256 byte symbols as
//! initial alphabet) on several real and synthetic corpora, sizes and options.

use glmkit::bpe::formats::to_tokenizer_json;
use glmkit::bpe::input::InputOptions;
use glmkit::bpe::stages::{count_inputs, shard_files};
use glmkit::bpe::{train, PreTokenizer, TrainerConfig, WordCounter, WordCounts};
use glmkit::corpus::ShardSpec;
use glmkit::corpus::{expand_inputs, InputFile};
use serde_json::Value;
use std::path::{Path, PathBuf};
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::models::TrainerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/bpe")
        .join(name)
}

fn files(paths: &[PathBuf]) -> Vec<InputFile> {
    expand_inputs(
        &paths
            .iter()
            .map(|p| p.to_string_lossy().to_string())
            .collect::<Vec<_>>(),
    )
    .unwrap()
}

fn texts(name: &str) -> Vec<String> {
    std::fs::read_to_string(fixture(name))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// HF's tokenizer and trainer with the given settings.
fn hf(pattern: &str, config: &TrainerConfig) -> (Tokenizer, TrainerWrapper) {
    let split = Split::new(
        SplitPattern::Regex(pattern.to_string()),
        SplitDelimiterBehavior::Isolated,
        false,
    )
    .unwrap();
    let pre = Sequence::new(vec![
        PreTokenizerWrapper::Split(split),
        PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, false)),
    ]);
    let mut tokenizer = Tokenizer::new(BPE::default());
    tokenizer.with_pre_tokenizer(Some(pre));
    let mut builder = BpeTrainerBuilder::new()
        .show_progress(false)
        .vocab_size(config.vocab_size)
        .min_frequency(config.min_frequency)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .special_tokens(
            config
                .special_tokens
                .iter()
                .map(|s| AddedToken::from(s.clone(), true))
                .collect(),
        );
    if let Some(l) = config.max_token_length {
        builder = builder.max_token_length(Some(l));
    }
    (tokenizer, builder.build().into())
}

/// `(vocab, merges)` of a `tokenizer.json` document.
fn model_of(doc: &Value) -> (Value, Value) {
    let model = &doc["model"];
    (model["vocab"].clone(), model["merges"].clone())
}

fn assert_same(ours: &Value, theirs: &Value, what: &str) {
    let (ov, om) = model_of(ours);
    let (tv, tm) = model_of(theirs);
    let (om, tm) = (om.as_array().unwrap(), tm.as_array().unwrap());
    if let Some(i) = om.iter().zip(tm).position(|(a, b)| a != b) {
        panic!("{what}: merge {i} differs: ours {} vs HF {}", om[i], tm[i]);
    }
    assert_eq!(om.len(), tm.len(), "{what}: number of merges");
    assert_eq!(ov, tv, "{what}: vocab");
    assert!(!om.is_empty(), "{what}: trained something");
}

fn check_sequences(sequences: &[String], pattern: &str, config: &TrainerConfig, what: &str) {
    let pre = PreTokenizer::new(pattern).unwrap();
    let mut counts = WordCounts::new();
    WordCounter::new(&pre).count_batch(sequences, &mut counts);
    let ours = to_tokenizer_json(&train(&counts, config, pre.pattern()));

    let (mut tokenizer, mut trainer) = hf(pre.pattern(), config);
    tokenizer.train(&mut trainer, sequences.iter()).unwrap();
    let theirs: Value = serde_json::from_str(&tokenizer.to_string(false).unwrap()).unwrap();
    assert_same(&ours, &theirs, what);
}

fn config(vocab_size: usize) -> TrainerConfig {
    TrainerConfig {
        vocab_size,
        ..Default::default()
    }
}

#[test]
fn chinese_with_glm4_specials() {
    let specials = glmkit::bpe::formats::GLM4_SPECIAL_TOKENS
        .iter()
        .map(|s| s.to_string())
        .collect();
    let c = TrainerConfig {
        vocab_size: 1500,
        special_tokens: specials,
        ..Default::default()
    };
    check_sequences(&texts("zh.jsonl"), "glm4", &c, "zh 1500 + specials");
}

#[test]
fn mixed_languages_at_several_sizes() {
    let t = texts("mixed.jsonl");
    check_sequences(&t, "glm4", &config(400), "mixed 400");
    check_sequences(&t, "glm4", &config(3000), "mixed 3000");
    let limited = TrainerConfig {
        vocab_size: 2000,
        max_token_length: Some(4),
        ..Default::default()
    };
    check_sequences(&t, "glm4", &limited, "mixed 2000 max_token_length 4");
    let frequent = TrainerConfig {
        vocab_size: 5000,
        min_frequency: 3,
        ..Default::default()
    };
    check_sequences(
        &t,
        "glm4",
        &frequent,
        "mixed 5000 min_frequency 3 (stops early)",
    );
    check_sequences(&t, "gpt2", &config(1200), "mixed gpt2 1200");
}

#[test]
fn edge_cases_run_out_of_pairs() {
    // Asking for more tokens than there are pairs: both stop when no pair is left.
    check_sequences(&texts("edge.jsonl"), "glm4", &config(5000), "edge 5000");
}

/// Many equal counts: every 1..4-letter word over a small alphabet once, plus runs of one letter
/// (overlapping pairs), so nearly every choice is decided by the id tie-break.
#[test]
fn ties_are_broken_by_smallest_pair_ids() {
    let mut words = vec![];
    let alphabet = ['a', 'b', 'c', ' ', 'é'];
    let mut stack: Vec<String> = alphabet.iter().map(|c| c.to_string()).collect();
    while let Some(w) = stack.pop() {
        if w.chars().count() < 4 {
            for c in alphabet {
                stack.push(format!("{w}{c}"));
            }
        }
        words.push(w);
    }
    words.sort();
    for n in 1..12 {
        words.push("a".repeat(n));
        words.push(format!("b{}c", "a".repeat(n)));
    }
    let seqs: Vec<String> = words.chunks(7).map(|c| c.join(" ")).collect();
    check_sequences(&seqs, "glm4", &config(700), "ties 700");
    check_sequences(&seqs, "gpt2", &config(300), "ties gpt2 300");
}

/// A `.txt` file trains one sequence per line (with its newline), as HF's `train_from_files`.
#[test]
fn text_file_lines_match_train_from_files() {
    let path = fixture("en.txt");
    let c = TrainerConfig {
        vocab_size: 1000,
        min_frequency: 2,
        ..Default::default()
    };
    let pre = PreTokenizer::new("glm4").unwrap();
    let options = InputOptions {
        txt_lines: true,
        batch_bytes: 4096,
        ..Default::default()
    };
    let (counts, _) =
        count_inputs(&files(std::slice::from_ref(&path)), &options, &pre, None).unwrap();
    let ours = to_tokenizer_json(&train(&counts, &c, pre.pattern()));

    let (mut tokenizer, mut trainer) = hf(pre.pattern(), &c);
    tokenizer
        .train_from_files(&mut trainer, vec![path.to_string_lossy().to_string()])
        .unwrap();
    let theirs: Value = serde_json::from_str(&tokenizer.to_string(false).unwrap()).unwrap();
    assert_same(&ours, &theirs, "en.txt 1000 min_frequency 2");
}

/// Counting in shards (of input files) and merging the shard files gives the same vocabulary
/// as one count.
#[test]
fn shard_counts_merge_to_the_whole() {
    use glmkit::bpe::count_file::{read_count_file, write_count_file};
    let pre = PreTokenizer::new("glm4").unwrap();
    let all = files(&[
        fixture("mixed.jsonl"),
        fixture("zh.jsonl"),
        fixture("en.txt"),
        fixture("edge.jsonl"),
    ]);
    let options = InputOptions {
        txt_lines: true,
        batch_bytes: 8192,
        ..Default::default()
    };
    let (whole, _) = count_inputs(&all, &options, &pre, None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut merged = WordCounts::new();
    for i in 0..3 {
        let shard = ShardSpec::new(i, 3).unwrap();
        let (part, _) = count_inputs(&shard_files(&all, shard), &options, &pre, None).unwrap();
        let file = dir.path().join(format!("counts-{i}.counts"));
        write_count_file(&file, &part, pre.pattern(), &shard.to_string()).unwrap();
        let (header, back) = read_count_file(&file).unwrap();
        assert_eq!(header.shard, shard.to_string());
        merged.merge(back);
    }
    assert_eq!(merged.sequences, whole.sequences);
    assert_eq!(merged.sorted(), whole.sorted());
    let c = config(800);
    assert_eq!(
        train(&merged, &c, pre.pattern()),
        train(&whole, &c, pre.pattern())
    );

    // A truncated file is refused.
    let file = dir.path().join("counts-0.counts");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() - 5]).unwrap();
    assert!(read_count_file(&file).is_err());
}

/// Enough distinct words sharing pairs that merges run on several threads.
#[test]
fn parallel_merges_match() {
    let letters: Vec<char> = ('a'..='z').collect();
    let mut words = vec![];
    for &x in &letters {
        for &y in &letters {
            for &z in letters.iter().step_by(2) {
                words.push(format!("e{x}{y}{z}"));
            }
        }
    }
    let seqs: Vec<String> = words.chunks(50).map(|c| c.join(" ")).collect();
    check_sequences(&seqs, "glm4", &config(600), "8788 words sharing ` e`");
}

/// JSON Lines read through the corpus readers: one sequence per document, as HF's
/// `train_from_iterator` over the texts.
#[test]
fn jsonl_documents_match_train_from_iterator() {
    let paths = [
        fixture("edge.jsonl"),
        fixture("mixed.jsonl"),
        fixture("zh.jsonl"),
    ];
    let pre = PreTokenizer::new("glm4").unwrap();
    let (counts, summary) =
        count_inputs(&files(&paths), &InputOptions::default(), &pre, None).unwrap();
    assert_eq!(summary.quarantined, 1, "edge.jsonl has one empty text");
    let c = config(2500);
    let ours = to_tokenizer_json(&train(&counts, &c, pre.pattern()));
    let all: Vec<String> = ["edge.jsonl", "mixed.jsonl", "zh.jsonl"]
        .iter()
        .flat_map(|f| texts(f))
        .collect();
    let (mut tokenizer, mut trainer) = hf(pre.pattern(), &c);
    tokenizer.train(&mut trainer, all.iter()).unwrap();
    let theirs: Value = serde_json::from_str(&tokenizer.to_string(false).unwrap()).unwrap();
    assert_same(&ours, &theirs, "jsonl documents 2500");
}
