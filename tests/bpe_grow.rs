//! Growing vocabularies (`glmkit bpe extend` / `merge`): every base token keeps its id and
//! bytes, `extend` from the byte alphabet is `train`, adding nothing encodes as the base, and the
//! result's tokenizer.json (in the tokenizers crate) and rank file (in glmkit's encoder) give the
//! same ids on every fixture document. Small bases are trained inside the tests.

mod common;

use common::glmkit;
use glmkit::bpe::formats::{
    read_base_vocabulary, write_tiktoken, write_tokenizer_json, GLM4_SPECIAL_TOKENS,
};
use glmkit::bpe::grow::{rank_file_disagreements, tokens_without_merge};
use glmkit::bpe::input::InputOptions;
use glmkit::bpe::stages::count_inputs;
use glmkit::bpe::{
    extend, merge_vocabularies, train, Encoder, ExtendConfig, MergeConfig, PreTokenizer, Token,
    TrainerConfig, Vocabulary, WordCounts,
};
use glmkit::corpus::expand_inputs;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/bpe")
        .join(name)
}

fn path_str(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

/// Every fixture document (and every line of `en.txt`).
fn documents() -> Vec<String> {
    let mut docs = vec![];
    for f in ["zh.jsonl", "mixed.jsonl", "edge.jsonl"] {
        for l in std::fs::read_to_string(fixture(f)).unwrap().lines() {
            let doc: Value = serde_json::from_str(l).unwrap();
            docs.push(doc["text"].as_str().unwrap().to_string());
        }
    }
    let en = std::fs::read_to_string(fixture("en.txt")).unwrap();
    docs.extend(en.split_inclusive('\n').map(str::to_string));
    docs.push(en);
    docs
}

/// GLM-4's pattern itself (a vocabulary stores the regex, not the preset's name).
fn glm4_pattern() -> String {
    PreTokenizer::new("glm4").unwrap().pattern().to_string()
}

fn counts(names: &[&str]) -> WordCounts {
    let pre = PreTokenizer::new("glm4").unwrap();
    let inputs: Vec<String> = names.iter().map(|n| path_str(&fixture(n))).collect();
    let options = InputOptions {
        txt_lines: true,
        ..Default::default()
    };
    count_inputs(&expand_inputs(&inputs).unwrap(), &options, &pre, None)
        .unwrap()
        .0
}

fn trained(names: &[&str], vocab_size: usize, specials: &[&str]) -> Vocabulary {
    let config = TrainerConfig {
        vocab_size,
        special_tokens: specials.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    train(&counts(names), &config, &glm4_pattern())
}

fn glm4() -> Vec<String> {
    GLM4_SPECIAL_TOKENS.iter().map(|s| s.to_string()).collect()
}

fn add(n: usize) -> ExtendConfig {
    ExtendConfig {
        add: n,
        ..Default::default()
    }
}

/// The base's tokens and merges are a prefix of the result's.
fn assert_base_kept(base: &Vocabulary, grown: &Vocabulary, first_new: u32) {
    for (id, t) in base.tokens().iter().enumerate().take(first_new as usize) {
        assert_eq!(grown.token(id as u32), Some(t), "token {id} kept");
    }
    assert_eq!(
        &grown.merges()[..base.merges().len()],
        base.merges(),
        "the base's merges come first, unchanged"
    );
}

/// Loads `vocab` as tokenizer.json in the tokenizers crate and as a rank file in glmkit's
/// encoder: both give glmkit's ids on every fixture document. Returns the token count.
fn assert_formats_agree(vocab: &Vocabulary) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("tokenizer.json");
    let model = dir.path().join("tokenizer.model");
    write_tokenizer_json(vocab, &json).unwrap();
    write_tiktoken(vocab, &model).unwrap();
    let hf = tokenizers::Tokenizer::from_file(&json).unwrap();
    let from_ranks = read_base_vocabulary(&model).unwrap();
    assert_eq!(from_ranks.tokens(), vocab.tokens(), "rank file reads back");
    let ranks = Encoder::new(from_ranks).unwrap();
    let ours = Encoder::new(vocab.clone()).unwrap();
    let docs = documents();
    let (a, b) = (ours.encode_batch(&docs), ranks.encode_batch(&docs));
    let mut tokens = 0;
    for ((doc, x), y) in docs.iter().zip(&a).zip(&b) {
        let theirs = hf.encode(doc.as_str(), false).unwrap().get_ids().to_vec();
        let short: String = doc.chars().take(60).collect();
        assert_eq!(x, &theirs, "glmkit vs tokenizers crate on {short:?}");
        assert_eq!(x, y, "tokenizer.json vs rank file on {short:?}");
        assert_eq!(ours.decode_bytes(x).unwrap(), doc.as_bytes());
        tokens += x.len();
    }
    tokens
}

#[test]
fn extend_from_the_byte_alphabet_is_train() {
    let all = counts(&["mixed.jsonl", "zh.jsonl", "en.txt"]);
    let bytes_only = train(
        &all,
        &TrainerConfig {
            vocab_size: 256,
            ..Default::default()
        },
        &glm4_pattern(),
    );
    assert_eq!(bytes_only.len(), 256);
    for (n, min_frequency, max_len) in [(3000, 0, None), (1500, 3, Some(6))] {
        let config = TrainerConfig {
            vocab_size: 256 + n,
            min_frequency,
            max_token_length: max_len,
            ..Default::default()
        };
        let from_scratch = train(&all, &config, &glm4_pattern());
        let ext = ExtendConfig {
            add: n,
            min_frequency,
            max_token_length: max_len,
            ..Default::default()
        };
        let grown = extend(&bytes_only, &all, &ext).unwrap();
        assert_eq!(grown.added, n);
        assert_eq!(grown.vocab, from_scratch, "add {n}: same tokens and merges");
    }
    // With GLM-4's specials: train puts them first, extend after the new tokens; the merges,
    // as strings, are the same.
    let with_specials = train(
        &all,
        &TrainerConfig {
            vocab_size: 256 + 14 + 800,
            special_tokens: glm4(),
            ..Default::default()
        },
        &glm4_pattern(),
    );
    let grown = extend(
        &bytes_only,
        &all,
        &ExtendConfig {
            add: 800,
            special_tokens: glm4(),
            ..Default::default()
        },
    )
    .unwrap();
    let names = |v: &Vocabulary| -> Vec<String> {
        v.merges()
            .iter()
            .map(|m| v.token(m.result).unwrap().hf_string())
            .collect()
    };
    assert_eq!(names(&grown.vocab), names(&with_specials));
    assert_eq!(
        grown.vocab.specials()[0],
        ("<|endoftext|>".to_string(), 1056)
    );
}

#[test]
fn extend_keeps_every_base_token_and_both_formats_agree() {
    // A base with GLM-4's specials at ids 0..13 (as `bpe train` numbers them), trained on
    // English, extended on Chinese and mixed text.
    let base = trained(&["en.txt"], 1200, &GLM4_SPECIAL_TOKENS);
    let grown = extend(
        &base,
        &counts(&["zh.jsonl", "mixed.jsonl"]),
        &ExtendConfig {
            add: 1500,
            special_tokens: vec!["<|endoftext|>".into(), "<|extra|>".into()],
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(grown.first_new, 1200);
    assert_eq!(grown.added, 1500);
    assert_eq!(grown.vocab.len(), 2701);
    assert_base_kept(&base, &grown.vocab, 1200);
    assert_eq!(grown.specials_in_base, ["<|endoftext|>"]);
    assert_eq!(grown.specials_added, [("<|extra|>".to_string(), 2700)]);
    assert!(matches!(grown.vocab.token(1200), Some(Token::Bytes(_))));
    assert!(rank_file_disagreements(&grown.vocab, grown.first_new).is_empty());
    let before = Encoder::new(base).unwrap().encode_batch(&documents());
    let after = assert_formats_agree(&grown.vocab);
    let before: usize = before.iter().map(Vec::len).sum();
    assert!(
        after * 10 < before * 9,
        "new tokens shorten the text: {before} -> {after}"
    );
}

#[test]
fn adding_nothing_encodes_every_document_as_the_base() {
    let docs = documents();
    // A base from tokenizer.json form (merges listed) and one read from a rank file (merges
    // rebuilt from ranks, no special tokens).
    let trained_base = trained(&["mixed.jsonl", "en.txt"], 2000, &GLM4_SPECIAL_TOKENS);
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("ranks.tiktoken");
    write_tiktoken(&trained(&["mixed.jsonl"], 1500, &[]), &model).unwrap();
    let rank_base = read_base_vocabulary(&model).unwrap();
    assert!(rank_base.specials().is_empty());
    for base in [trained_base, rank_base] {
        let grown = extend(&base, &counts(&["zh.jsonl"]), &add(0)).unwrap();
        assert_eq!(grown.added, 0);
        assert_eq!(grown.vocab, base);
        let merged =
            merge_vocabularies(&base, std::slice::from_ref(&base), &MergeConfig::default())
                .unwrap();
        assert_eq!(merged.added, 0);
        assert_eq!(merged.vocab, base);
        let (a, b) = (
            Encoder::new(base.clone()).unwrap(),
            Encoder::new(grown.vocab).unwrap(),
        );
        assert_eq!(a.encode_batch(&docs), b.encode_batch(&docs));
        assert_formats_agree(&base);
    }
}

#[test]
fn merge_appends_the_other_vocabularies_tokens_in_rank_order() {
    // GLM-4's recipe in small: a base, then a Chinese and a multilingual vocabulary trained
    // from scratch, merged into it.
    let base = trained(&["en.txt"], 1000, &[]);
    let zh = trained(&["zh.jsonl"], 1500, &[]);
    let multi = trained(&["mixed.jsonl"], 1500, &GLM4_SPECIAL_TOKENS);
    let grown = merge_vocabularies(
        &base,
        &[zh.clone(), multi.clone()],
        &MergeConfig {
            special_tokens: glm4(),
            ..Default::default()
        },
    )
    .unwrap();
    let vocab = &grown.vocab;
    assert_base_kept(&base, vocab, 1000);
    assert!(grown.added > 1000, "added {}", grown.added);
    // Every byte token of the others is in the result or reported as not added (a token of zh
    // reported there may still come in with the multilingual vocabulary); none of the last
    // vocabulary's is both.
    let present = vocab.bytes_to_id();
    for (source, other) in [&zh, &multi].iter().enumerate() {
        for (id, t) in other.tokens().iter().enumerate() {
            if let Token::Bytes(b) = t {
                let reported = grown
                    .not_added
                    .iter()
                    .any(|n| n.source == source && n.id == id as u32);
                let here = present.contains_key(b.as_slice());
                assert!(here || reported, "token {id} of vocabulary {source} lost");
                assert!(!(source == 1 && here && reported), "token {id} both");
            }
        }
    }
    // The new tokens follow the others' rank order: those added from zh in zh's id order.
    let zh_ids = zh.bytes_to_id();
    let from_zh: Vec<u32> = (1000..vocab.len() as u32)
        .filter_map(|id| match vocab.token(id) {
            Some(Token::Bytes(b)) => zh_ids.get(b.as_slice()).copied(),
            _ => None,
        })
        .filter(|zh_id| {
            !grown
                .not_added
                .iter()
                .any(|n| n.source == 0 && n.id == *zh_id)
        })
        .collect();
    assert!(from_zh.len() > 300, "{}", from_zh.len());
    assert!(from_zh.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(vocab.specials().len(), 14);
    assert_eq!(vocab.specials()[0].1 as usize, 1000 + grown.added);
    assert!(tokens_without_merge(vocab).is_empty());
    assert!(rank_file_disagreements(vocab, 0).is_empty());
    assert_formats_agree(vocab);
}

/// Writes a rank file of the given `(bytes, rank)` lines.
fn rank_file(dir: &Path, name: &str, lines: &[(Vec<u8>, u32)]) -> PathBuf {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let text: String = lines
        .iter()
        .map(|(b, r)| format!("{} {r}\n", b64.encode(b)))
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn bytes_ranks() -> Vec<(Vec<u8>, u32)> {
    (0..=255u8).map(|b| (vec![b], b as u32)).collect()
}

/// Runs `glmkit bpe extend` on a base and expects it to fail with `want` in its message.
fn assert_extend_fails(base: &Path, want: &str, extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let out = path_str(&dir.path().join("out"));
    let zh = path_str(&fixture("zh.jsonl"));
    let mut args = vec![
        "bpe",
        "extend",
        "--base",
        base.to_str().unwrap(),
        "--add",
        "10",
        &zh,
        "-o",
        &out,
    ];
    args.extend_from_slice(extra);
    let run = glmkit(&args);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "{base:?} was accepted");
    assert!(stderr.contains(want), "expected `{want}` in: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_bases_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let mut holes = bytes_ranks();
    holes.push((b"ab".to_vec(), 257));
    assert_extend_fails(
        &rank_file(d, "holes.tiktoken", &holes),
        "rank 256 is missing",
        &[],
    );

    let mut dup = bytes_ranks();
    dup.push((b"ab".to_vec(), 256));
    dup.push((b"ab".to_vec(), 257));
    assert_extend_fails(
        &rank_file(d, "dup.tiktoken", &dup),
        "ranks 256 and 257 hold the same token",
        &[],
    );

    let missing_byte: Vec<_> = bytes_ranks().into_iter().skip(1).collect();
    let mut missing_byte: Vec<_> = missing_byte.into_iter().map(|(b, r)| (b, r - 1)).collect();
    missing_byte.push((b"ab".to_vec(), 255));
    assert_extend_fails(
        &rank_file(d, "missing.tiktoken", &missing_byte),
        "byte 0x00 has no single-byte token",
        &[],
    );

    // Not BPE, and BPE that is not byte-level.
    let wordpiece = d.join("wordpiece.json");
    std::fs::write(
        &wordpiece,
        r#"{"model": {"type": "WordPiece", "vocab": {"a": 0}}, "pre_tokenizer": null}"#,
    )
    .unwrap();
    assert_extend_fails(&wordpiece, "model type is not BPE", &[]);
    let chars = d.join("chars.json");
    std::fs::write(
        &chars,
        r#"{"model": {"type": "BPE", "vocab": {"中": 0, "a": 1}, "merges": []},
            "pre_tokenizer": {"type": "ByteLevel", "use_regex": true}}"#,
    )
    .unwrap();
    assert_extend_fails(&chars, "is not a byte-level string", &[]);

    // Special tokens right after the last rank sit where new tokens go.
    let sub = d.join("with_specials");
    std::fs::create_dir(&sub).unwrap();
    let model = rank_file(&sub, "tokenizer.model", &bytes_ranks());
    std::fs::write(
        sub.join("special_tokens.json"),
        r#"{"<|endoftext|>": 256, "[gMASK]": 257}"#,
    )
    .unwrap();
    assert_extend_fails(&model, "take ids from 256", &[]);

    // With --drop-base-specials they are left out, and --special-tokens numbers them after
    // the new tokens.
    let out = d.join("dropped");
    let zh = path_str(&fixture("zh.jsonl"));
    let run = glmkit(&[
        "bpe",
        "extend",
        "--base",
        model.to_str().unwrap(),
        "--add",
        "10",
        &zh,
        "-o",
        out.to_str().unwrap(),
        "--drop-base-specials",
        "--special-tokens",
        "<|endoftext|>,[gMASK]",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let specials: Value =
        serde_json::from_slice(&std::fs::read(out.join("special_tokens.json")).unwrap()).unwrap();
    assert_eq!(specials["<|endoftext|>"], 266);
    assert_eq!(specials["[gMASK]"], 267);
}

#[test]
fn extend_and_merge_commands_write_vocabularies_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let d = |name: &str| path_str(&dir.path().join(name));
    let (en, zh, mixed) = (
        path_str(&fixture("en.txt")),
        path_str(&fixture("zh.jsonl")),
        path_str(&fixture("mixed.jsonl")),
    );
    let ok = |args: &[&str]| {
        let run = glmkit(args);
        let stderr = String::from_utf8_lossy(&run.stderr).to_string();
        assert!(run.status.success(), "glmkit {args:?}: {stderr}");
        stderr
    };
    ok(&[
        "bpe",
        "train",
        &en,
        "--vocab-size",
        "900",
        "--output",
        &d("base"),
    ]);
    ok(&[
        "bpe",
        "train",
        &zh,
        "--vocab-size",
        "1200",
        "--output",
        &d("zh"),
    ]);
    let base_model = d("base/tokenizer.model");
    let stderr = ok(&[
        "bpe",
        "extend",
        "--base",
        &base_model,
        "--add",
        "600",
        &zh,
        &mixed,
        "-o",
        &d("ext"),
        "--special-tokens",
        "glm4",
        "--held-out",
        &mixed,
        "--threads",
        "2",
    ]);
    assert!(stderr.contains("900 base tokens, 600 new"), "{stderr}");
    assert!(stderr.contains("bytes per token"), "{stderr}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(d("ext/extend_report.json")).unwrap())
            .unwrap();
    assert_eq!(report["tokens_added"], 600);
    assert_eq!(report["first_new_id"], 900);
    assert_eq!(report["vocab"], 900 + 600 + 14);
    assert_eq!(report["new_tokens_rank_file_disagrees"]["count"], 0);
    let zh_bpt = &report["compression"]["by_lang"]["zh"];
    assert!(
        zh_bpt["bytes_per_token_after"].as_f64().unwrap()
            > zh_bpt["bytes_per_token_before"].as_f64().unwrap() * 1.2,
        "{zh_bpt}"
    );
    // The written vocabulary keeps the base's ranks, and its two files agree.
    let base = read_base_vocabulary(Path::new(&base_model)).unwrap();
    let ext = read_base_vocabulary(Path::new(&d("ext/tokenizer.json"))).unwrap();
    assert_base_kept(&base, &ext, 900);
    assert_formats_agree(&ext);

    let stderr = ok(&[
        "bpe",
        "merge",
        &base_model,
        &d("zh/tokenizer.json"),
        "-o",
        &d("merged"),
        "--special-tokens",
        "glm4",
    ]);
    assert!(stderr.contains("900 base tokens"), "{stderr}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(d("merged/merge_report.json")).unwrap())
            .unwrap();
    let added = report["tokens_added"].as_u64().unwrap();
    let not_added = report["not_added"].as_array().unwrap().len() as u64;
    let present = report["already_present"].as_u64().unwrap();
    assert_eq!(
        added + not_added + present,
        1200,
        "every zh token accounted for"
    );
    let merged = read_base_vocabulary(Path::new(&d("merged/tokenizer.json"))).unwrap();
    assert_base_kept(&base, &merged, 900);
    assert_formats_agree(&merged);
}
