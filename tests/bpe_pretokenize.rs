//! The `regex`-based pre-tokenizer (with its hand-written `\s+(?!\S)`) splits text exactly as a
//! backtracking engine with lookahead (fancy-regex, the engine HF tokenizers uses) does.

use glmkit::bpe::pattern::{GLM4, GPT2};
use glmkit::bpe::PreTokenizer;
use std::path::Path;

fn oracle<'t>(re: &fancy_regex::Regex, text: &'t str) -> Vec<&'t str> {
    re.find_iter(text).map(|m| m.unwrap().as_str()).collect()
}

fn texts_of(path: &Path) -> Vec<String> {
    let data = std::fs::read(path).unwrap();
    let data = if path.extension().is_some_and(|e| e == "zst") {
        zstd::decode_all(&data[..]).unwrap()
    } else {
        data
    };
    let data = String::from_utf8(data).unwrap();
    if path.to_string_lossy().contains(".jsonl") {
        data.lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["text"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    } else {
        vec![data]
    }
}

fn check(texts: &[String]) -> usize {
    let mut pieces = 0;
    for (name, pattern) in [("glm4", GLM4), ("gpt2", GPT2)] {
        let ours = PreTokenizer::new(name).unwrap();
        let re = fancy_regex::Regex::new(pattern).unwrap();
        for text in texts {
            let got: Vec<&str> = ours.pieces(text).collect();
            let want = oracle(&re, text);
            if got != want {
                let at = got
                    .iter()
                    .zip(&want)
                    .position(|(a, b)| a != b)
                    .unwrap_or(got.len().min(want.len()));
                panic!(
                    "{name}: split differs at piece {at}: ours {:?} vs oracle {:?}",
                    got.get(at),
                    want.get(at)
                );
            }
            assert_eq!(got.concat(), *text, "pieces tile the text");
            pieces += got.len();
        }
    }
    pieces
}

#[test]
fn splits_equal_fancy_regex_on_fixtures() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bpe");
    let mut texts = vec![];
    for f in ["zh.jsonl", "mixed.jsonl", "edge.jsonl", "en.txt"] {
        texts.extend(texts_of(&dir.join(f)));
    }
    // Whitespace corner cases around the lookahead.
    for t in [
        "",
        " ",
        "  ",
        "a ",
        "a  ",
        " a",
        "  a",
        "\t\ta",
        " \u{3000}x",
        "\n \n  x",
        "x \r\n  y",
        "a\u{a0}\u{a0}\u{a0}b",
    ] {
        texts.push(t.to_string());
    }
    assert!(check(&texts) > 40_000);
}

/// The whole shared development corpus (13 MB of text in 24 languages plus noisy and
/// near-duplicate documents), when present. Slow in debug builds, so run on demand:
/// `cargo test --test bpe_pretokenize -- --ignored`.
#[test]
#[ignore]
fn splits_equal_fancy_regex_on_shared_corpus() {
    // The development corpus sits beside the repository (`../shared/corpus`) unless told otherwise.
    let root = std::env::var("GLMKIT_SHARED_CORPUS")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus").into());
    let files: Vec<_> = ["clean.jsonl.zst", "noisy.jsonl.zst", "neardup.jsonl.zst"]
        .iter()
        .map(|f| Path::new(&root).join(f))
        .collect();
    if let Some(missing) = files.iter().find(|p| !p.exists()) {
        panic!(
            "{} not found: set GLMKIT_SHARED_CORPUS to the corpus folder",
            missing.display()
        );
    }
    let mut total = 0;
    for f in files {
        total += check(&texts_of(&f));
    }
    eprintln!("{total} pieces identical");
}
