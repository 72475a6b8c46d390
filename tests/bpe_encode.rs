//! The encoder gives the ids of the tokenizers crate loading our `tokenizer.json`, on every
//! fixture document; decoding gives the text back; the tiktoken rank file and the Megatron
//! dataset carry the same vocabulary and ids.

use glmkit::bpe::formats::{
    read_tiktoken, read_tokenizer_json, write_tiktoken, write_tokenizer_json, GLM4_SPECIAL_TOKENS,
};
use glmkit::bpe::input::InputOptions;
use glmkit::bpe::megatron::read_indexed_dataset;
use glmkit::bpe::stages::{count_inputs, tokenize_to_megatron};
use glmkit::bpe::{train, Encoder, PreTokenizer, TrainerConfig, Vocabulary};
use glmkit::corpus::{expand_inputs, InputFile};
use serde_json::Value;
use std::path::{Path, PathBuf};

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

fn documents() -> Vec<String> {
    let mut docs = vec![];
    for f in ["zh.jsonl", "mixed.jsonl", "edge.jsonl"] {
        for l in std::fs::read_to_string(fixture(f)).unwrap().lines() {
            docs.push(
                serde_json::from_str::<Value>(l).unwrap()["text"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
    }
    let en = std::fs::read_to_string(fixture("en.txt")).unwrap();
    docs.extend(en.split_inclusive('\n').map(str::to_string));
    docs.push(en);
    docs
}

fn trained(pattern: &str, vocab_size: usize) -> Vocabulary {
    let pre = PreTokenizer::new(pattern).unwrap();
    let inputs = [
        fixture("mixed.jsonl"),
        fixture("zh.jsonl"),
        fixture("en.txt"),
    ];
    let options = InputOptions {
        txt_lines: true,
        ..Default::default()
    };
    let (counts, _) = count_inputs(&files(&inputs), &options, &pre, None).unwrap();
    let specials = GLM4_SPECIAL_TOKENS.iter().map(|s| s.to_string()).collect();
    train(
        &counts,
        &TrainerConfig {
            vocab_size,
            special_tokens: specials,
            ..Default::default()
        },
        pre.pattern(),
    )
}

fn check_against_tokenizers_crate(vocab: Vocabulary) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.json");
    write_tokenizer_json(&vocab, &path).unwrap();
    let hf = tokenizers::Tokenizer::from_file(&path).unwrap();
    assert_eq!(
        read_tokenizer_json(&path).unwrap(),
        vocab,
        "tokenizer.json reads back"
    );
    let encoder = Encoder::new(vocab).unwrap();
    let docs = documents();
    let ours = encoder.encode_batch(&docs);
    let mut tokens = 0;
    for (doc, ids) in docs.iter().zip(&ours) {
        let theirs = hf.encode(doc.as_str(), false).unwrap().get_ids().to_vec();
        assert_eq!(
            ids,
            &theirs,
            "ids differ on {:?}",
            &doc[..doc.len().min(80)]
        );
        assert_eq!(
            encoder.decode_bytes(ids).unwrap(),
            doc.as_bytes(),
            "decode(encode(x)) == x"
        );
        assert_eq!(encoder.encode(doc), *ids, "batch and single encoding agree");
        tokens += ids.len();
    }
    assert!(tokens > 50_000);
}

#[test]
fn ids_equal_tokenizers_crate_glm4_pattern() {
    check_against_tokenizers_crate(trained("glm4", 4000));
}

#[test]
fn ids_equal_tokenizers_crate_small_vocab_gpt2_pattern() {
    check_against_tokenizers_crate(trained("gpt2", 600));
}

#[test]
fn tiktoken_rank_file_round_trips() {
    let vocab = trained("glm4", 2500);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.model");
    write_tiktoken(&vocab, &path).unwrap();
    let back = read_tiktoken(&path, None).unwrap();
    assert_eq!(back.tokens(), vocab.tokens());
    // Merges are rebuilt from ranks; encoding with them gives the same ids.
    let (a, b) = (Encoder::new(vocab).unwrap(), Encoder::new(back).unwrap());
    let docs = documents();
    assert_eq!(a.encode_batch(&docs), b.encode_batch(&docs));

    // Without special_tokens.json, GLM-4's specials are numbered after the last rank.
    std::fs::remove_file(dir.path().join("special_tokens.json")).unwrap();
    std::fs::write(
        &path,
        "YQ== 0\nYg== 1\n".to_string()
            + &(2..256)
                .map(|b| format!("{} {b}\n", b64(&[b as u8])))
                .collect::<String>(),
    )
    .unwrap();
    assert!(
        read_tiktoken(&path, None).is_err(),
        "bytes 0 and 1 have no token: refused"
    );
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn glm4_specials_follow_the_ranks_in_a_plain_rank_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.model");
    let lines: String = (0..=255u8)
        .map(|b| format!("{} {b}\n", b64(&[b])))
        .collect::<String>()
        + &format!("{} 256\n", b64(b"ab"));
    std::fs::write(&path, lines).unwrap();
    let vocab = read_tiktoken(&path, None).unwrap();
    assert_eq!(vocab.specials()[0], ("<|endoftext|>".to_string(), 257));
    assert_eq!(vocab.specials()[2], ("[gMASK]".to_string(), 259));
    let encoder = Encoder::new(vocab.clone()).unwrap();
    assert_eq!(encoder.encode("ab<|endoftext|>"), vec![256, 257]);
    let plain = Encoder::new(vocab).unwrap().with_plain_specials();
    let ids = plain.encode("ab<|endoftext|>");
    assert!(!ids.contains(&257) && ids.len() > 2, "{ids:?}");
    assert_eq!(plain.decode_bytes(&ids).unwrap(), b"ab<|endoftext|>");
}

#[test]
fn megatron_dataset_holds_the_encoded_documents() {
    let vocab = trained("glm4", 1000);
    let encoder = Encoder::new(vocab).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("shard");
    let inputs = [fixture("mixed.jsonl"), fixture("zh.jsonl")];
    let stats = tokenize_to_megatron(
        &files(&inputs),
        &InputOptions::default(),
        &encoder,
        &prefix,
        Some("<|endoftext|>"),
    )
    .unwrap();
    let docs: Vec<String> = ["mixed.jsonl", "zh.jsonl"]
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(fixture(f))
                .unwrap()
                .lines()
                .map(|l| {
                    serde_json::from_str::<Value>(l).unwrap()["text"]
                        .as_str()
                        .unwrap()
                        .to_string()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let mut want = encoder.encode_batch(&docs);
    want.iter_mut().for_each(|ids| ids.push(0));
    let got = read_indexed_dataset(&prefix).unwrap();
    assert_eq!(got, want);
    assert_eq!(stats.documents as usize, docs.len());
    // A vocabulary this small is stored as uint16: 2 bytes per token.
    let bin = std::fs::metadata(dir.path().join("shard.bin"))
        .unwrap()
        .len();
    assert_eq!(bin, 2 * stats.tokens);
}

/// Random text from a palette of troublesome chars: ids equal the tokenizers crate's and decode
/// back to the text.
#[test]
fn random_text_round_trips_and_matches() {
    let vocab = trained("glm4", 2000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.json");
    write_tokenizer_json(&vocab, &path).unwrap();
    let hf = tokenizers::Tokenizer::from_file(&path).unwrap();
    let encoder = Encoder::new(vocab).unwrap();
    let palette: Vec<&str> = vec![
        "a",
        "Z",
        "7",
        " ",
        "  ",
        "\t",
        "\n",
        "\r\n",
        "\u{3000}",
        "\u{a0}",
        "\u{2003}",
        "'s",
        "'LL",
        "中",
        "文",
        "，",
        "😀",
        "👩\u{200d}👩",
        "e\u{301}",
        "ё",
        "ß",
        "\u{0}",
        "\u{7f}",
        "\u{85}",
        "\u{2028}",
        "<|endoftext|>",
        "[gMASK]",
        "<sop>",
        "...",
        "-",
        "1234",
        "ﬁ",
        "\u{feff}",
        "한",
        "ا",
        "\u{10ffff}",
    ];
    let mut state = 0x2545F4914F6CDD1Du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..300 {
        let len = (next() % 40) as usize;
        let text: String = (0..len)
            .map(|_| palette[(next() % palette.len() as u64) as usize])
            .collect();
        let ids = encoder.encode(&text);
        assert_eq!(
            encoder.decode_bytes(&ids).unwrap(),
            text.as_bytes(),
            "round trip of {text:?}"
        );
        assert_eq!(
            ids,
            hf.encode(text.as_str(), false).unwrap().get_ids(),
            "ids of {text:?}"
        );
    }
}

/// The merge loop as it was first written (rescans for the best pair at every merge, quadratic):
/// the reference the encoder must equal on every piece.
struct ReferenceMerge {
    byte_ids: [u32; 256],
    /// `(left, right)` to `(rank, result)`; a repeated pair keeps its later rank.
    ranks: std::collections::HashMap<(u32, u32), (usize, u32)>,
}

impl ReferenceMerge {
    fn new(vocab: &Vocabulary) -> Self {
        let ranks = (vocab.merges().iter().enumerate())
            .map(|(rank, m)| ((m.left, m.right), (rank, m.result)))
            .collect();
        ReferenceMerge {
            byte_ids: vocab.byte_ids(),
            ranks,
        }
    }

    fn merge(&self, piece: &[u8]) -> Vec<u32> {
        let (byte_ids, ranks) = (&self.byte_ids, &self.ranks);
        let rank_of = |l: u32, r: u32| ranks.get(&(l, r)).copied().unwrap_or((usize::MAX, 0));
        let mut symbols: Vec<u32> = piece.iter().map(|&b| byte_ids[b as usize]).collect();
        // pair_ranks[i]: (rank, result) of the pair (symbols[i], symbols[i + 1]).
        let mut pair_ranks: Vec<(usize, u32)> =
            symbols.windows(2).map(|w| rank_of(w[0], w[1])).collect();
        while let Some((i, &(rank, result))) = pair_ranks
            .iter()
            .enumerate()
            .min_by_key(|(i, (rank, _))| (*rank, *i))
        {
            if rank == usize::MAX {
                break;
            }
            symbols[i] = result;
            symbols.remove(i + 1);
            pair_ranks.remove(i);
            if i > 0 {
                pair_ranks[i - 1] = rank_of(symbols[i - 1], symbols[i]);
            }
            if i < pair_ranks.len() {
                pair_ranks[i] = rank_of(symbols[i], symbols[i + 1]);
            }
        }
        symbols
    }
}

/// Long single pieces of the kinds that made the first merge loop quadratic (DNA, base64-like
/// blobs, repeats, CJK runs, whitespace, punctuation): the ids equal the reference merge of every
/// pre-token and the tokenizers crate's, on a vocabulary whose merges chain deep into such runs.
#[test]
fn long_pieces_equal_the_reference_and_the_tokenizers_crate() {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut below = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let mut random = |alphabet: &[&str], len: usize| -> String {
        (0..len).map(|_| alphabet[below(alphabet.len())]).collect()
    };
    let letters = |s: &'static str| s.split("").filter(|c| !c.is_empty()).collect::<Vec<_>>();
    let acgt = letters("acgt");
    let b64 = letters("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
    let cjk = letters("的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年");
    let few = letters("xyz");
    let spaces = vec![" ", " ", " ", "\t", "\u{3000}"];
    let punct = letters("=-*#.");
    let mut texts = vec![];
    for len in [300, 1600] {
        texts.push(random(&acgt, len));
        texts.push(random(&b64, len));
        texts.push(random(&cjk, len / 3));
        texts.push(random(&few, len));
        texts.push(random(&spaces, len) + "x");
        texts.push(" ".repeat(len));
        texts.push(random(&punct, len));
        texts.push("a".repeat(len));
        texts.push("ab".repeat(len / 2));
        texts.push("acgtt".repeat(len / 5));
        texts.push("中文".repeat(len / 6));
    }

    // Train on such text (and the fixtures) so that long tokens of each kind exist.
    let pre = PreTokenizer::new("glm4").unwrap();
    let mut counts = glmkit::bpe::WordCounts::new();
    let mut training: Vec<String> = documents();
    for _ in 0..30 {
        for alphabet in [&acgt, &b64, &cjk, &few, &punct] {
            let len = 5 + training.len() * 7919 % 40;
            training.push(random(alphabet, len));
        }
    }
    glmkit::bpe::WordCounter::new(&pre).count_batch(&training, &mut counts);
    let vocab = train(
        &counts,
        &TrainerConfig {
            vocab_size: 6000,
            special_tokens: vec!["<|endoftext|>".into()],
            ..Default::default()
        },
        pre.pattern(),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.json");
    write_tokenizer_json(&vocab, &path).unwrap();
    let hf = tokenizers::Tokenizer::from_file(&path).unwrap();
    let encoder = Encoder::new(vocab.clone()).unwrap();
    let reference = ReferenceMerge::new(&vocab);
    // The same vocabulary through a tiktoken rank file (merges rebuilt from ranks).
    write_tiktoken(&vocab, &dir.path().join("tokenizer.model")).unwrap();
    let from_ranks =
        Encoder::new(read_tiktoken(&dir.path().join("tokenizer.model"), None).unwrap()).unwrap();

    let mut long_pieces = 0;
    for text in &texts {
        let ids = encoder.encode(text);
        let mut want = vec![];
        for piece in pre.pieces(text) {
            long_pieces += usize::from(piece.len() > 1000);
            want.extend(reference.merge(piece.as_bytes()));
        }
        let head = &text[..text.char_indices().nth(20).map_or(text.len(), |(i, _)| i)];
        assert_eq!(ids, want, "reference merge of {head:?}...");
        assert_eq!(
            ids,
            hf.encode(text.as_str(), false).unwrap().get_ids(),
            "tokenizers crate on {head:?}..."
        );
        assert_eq!(ids, from_ranks.encode(text), "rank file on {head:?}...");
        assert!(ids.len() < text.len(), "merges applied in {head:?}...");
    }
    assert!(long_pieces >= 8, "long pieces tested: {long_pieces}");
    // A document of many long pieces, in a batch (several threads, caches reused).
    let batch: Vec<String> = texts.iter().map(|t| format!("{t} {t}\n")).collect();
    let ids = encoder.encode_batch(&batch);
    for (text, ids) in batch.iter().zip(ids) {
        assert_eq!(ids, encoder.encode(text));
        assert_eq!(encoder.decode_bytes(&ids).unwrap(), text.as_bytes());
    }
}
