//! Growing a vocabulary while keeping every id, as GLM-4's tokenizer was built: continue BPE
//! training from an existing vocabulary ([`extend`]), or append the tokens of other
//! vocabularies ([`merge_vocabularies`]).
//!
//! Both keep every token of the base (id and bytes) and its merges, append the new tokens right
//! after the base's last rank, and number requested special tokens after the new tokens.

use super::byte_level;
use super::count::WordCounts;
use super::encode::Encoder;
use super::formats::merge_of_rank;
use super::pattern::PatternError;
use super::train::{run_merges, MergeRules, OnExisting, TokenTable, Words};
use super::vocab::{Merge, Token, VocabError, Vocabulary};
use rayon::prelude::*;
use rustc_hash::FxHashMap;

/// Settings of [`extend`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtendConfig {
    /// New tokens to learn (fewer when the words run out of pairs).
    pub add: usize,
    /// Pairs seen fewer times are never merged.
    pub min_frequency: u64,
    /// Longest token, in bytes, a merge may create (none: no limit).
    pub max_token_length: Option<usize>,
    /// Special tokens numbered after the new tokens (those the base has already are kept where
    /// they are).
    pub special_tokens: Vec<String>,
    /// Leave out the base's special tokens that follow its ranks instead of refusing the base.
    pub drop_base_specials: bool,
}

/// Settings of [`merge_vocabularies`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeConfig {
    pub special_tokens: Vec<String>,
    pub drop_base_specials: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum GrowError {
    #[error(
        "the base's special tokens {names} take ids from {first}, right after its last rank \
         ({last_rank}), where new tokens go; pass --drop-base-specials and list them in \
         --special-tokens to number them after the new tokens"
    )]
    SpecialsAfterRanks {
        names: String,
        first: u32,
        last_rank: u32,
    },
    #[error("the base's pre-tokenization pattern: {0}")]
    Pattern(#[from] PatternError),
    #[error("the base without its trailing special tokens: {0}")]
    Vocab(#[from] VocabError),
}

/// A grown vocabulary and what growing it did.
#[derive(Debug, Clone)]
pub struct Grown {
    pub vocab: Vocabulary,
    /// Id of the first new token (the base's tokens are `0..first_new`).
    pub first_new: u32,
    /// New (non-special) tokens.
    pub added: usize,
    /// Special tokens appended after the new tokens, with their ids.
    pub specials_added: Vec<(String, u32)>,
    /// Requested special tokens the base already had (kept at their ids).
    pub specials_in_base: Vec<String>,
    /// The base's special tokens left out (`drop_base_specials`), with their old ids.
    pub dropped_base_specials: Vec<(String, u32)>,
    /// [`extend`]: distinct pairs not merged because their token already existed.
    pub skipped_existing_pairs: usize,
    /// [`merge_vocabularies`]: tokens of the other vocabularies that were not added.
    pub not_added: Vec<NotAdded>,
    /// [`merge_vocabularies`]: tokens of the other vocabularies the result already had.
    pub already_present: usize,
}

/// A token of another vocabulary that [`merge_vocabularies`] did not add, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NotAdded {
    /// Index of its vocabulary among the others (0: the first after the base).
    pub source: usize,
    /// Its id there.
    pub id: u32,
    /// The token as `tokenizer.json` writes it (byte-level chars).
    pub token: String,
    pub reason: String,
}

/// Special tokens as `(content, id)`.
type Specials = Vec<(String, u32)>;

/// The base's tokens up to and including its last rank, and the special tokens after it that
/// were dropped. Special tokens after the last rank collide with the new tokens' ids.
fn base_tokens(
    base: &Vocabulary,
    drop_specials: bool,
) -> Result<(Vec<Token>, Specials), GrowError> {
    let end = base
        .tokens()
        .iter()
        .rposition(|t| matches!(t, Token::Bytes(_)))
        .map_or(0, |last| last + 1);
    let trailing: Vec<(String, u32)> = base
        .specials()
        .into_iter()
        .filter(|(_, id)| *id as usize >= end)
        .collect();
    if !trailing.is_empty() && !drop_specials {
        let names: Vec<&str> = trailing.iter().map(|(s, _)| s.as_str()).collect();
        return Err(GrowError::SpecialsAfterRanks {
            names: names.join(" "),
            first: trailing[0].1,
            last_rank: end as u32 - 1,
        });
    }
    Ok((base.tokens()[..end].to_vec(), trailing))
}

/// Appends `specials` (those not in `tokens` already) and builds the vocabulary.
fn finish(
    pattern: &str,
    mut tokens: Vec<Token>,
    merges: Vec<Merge>,
    first_new: usize,
    specials: &[String],
    dropped: Specials,
) -> Result<Grown, GrowError> {
    let added = tokens.len() - first_new;
    let mut specials_added = Vec::new();
    let mut specials_in_base = Vec::new();
    for s in specials {
        let special = Token::Special(s.clone());
        if tokens.contains(&special) {
            if !specials_added.iter().any(|(a, _)| a == s) {
                specials_in_base.push(s.clone());
            }
            continue;
        }
        specials_added.push((s.clone(), tokens.len() as u32));
        tokens.push(special);
    }
    Ok(Grown {
        vocab: Vocabulary::new(pattern.to_string(), tokens, merges)?,
        first_new: first_new as u32,
        added,
        specials_added,
        specials_in_base,
        dropped_base_specials: dropped,
        skipped_existing_pairs: 0,
        not_added: vec![],
        already_present: 0,
    })
}

/// Continues BPE training from `base`: every counted word starts as `base` encodes it, then the
/// most frequent adjacent pair is merged, ties to the smallest `(left id, right id)` as in HF's
/// trainer, until `config.add` new tokens exist. A pair whose bytes are already a token is left
/// unmerged (counted in [`Grown::skipped_existing_pairs`]). From the 256 byte tokens alone in
/// HF's alphabet order (a `train` to 256 tokens), the merges are those of [`super::train`].
pub fn extend(
    base: &Vocabulary,
    counts: &WordCounts,
    config: &ExtendConfig,
) -> Result<Grown, GrowError> {
    let (tokens, dropped) = base_tokens(base, config.drop_base_specials)?;
    let first_new = tokens.len();
    let base_merges = base.merges().to_vec();
    let encoder = Encoder::new(Vocabulary::new(
        base.pattern().to_string(),
        tokens.clone(),
        base_merges.clone(),
    )?)?;

    // Words as the base encodes them, in byte order (a fixed order keeps runs reproducible).
    let sorted = counts.sorted();
    let segments: Vec<Vec<u32>> = sorted
        .par_iter()
        .map_init(
            || encoder.cache(),
            |cache, (word, _)| {
                let mut ids = Vec::new();
                encoder.encode_word(word, cache, &mut ids);
                ids
            },
        )
        .collect();
    drop(encoder);
    let total = segments.iter().map(Vec::len).sum();
    let mut words = Words::with_capacity(segments.len(), total);
    for (ids, (_, count)) in segments.iter().zip(&sorted) {
        words.push(ids, *count);
    }
    drop((segments, sorted));

    let mut table = TokenTable {
        names: Vec::with_capacity(first_new + config.add),
        ids: FxHashMap::default(),
        token_len: Vec::with_capacity(first_new + config.add),
    };
    for (id, t) in tokens.iter().enumerate() {
        let name = t.hf_string();
        table.ids.entry(name.clone()).or_insert(id as u32);
        table.names.push(name);
        table.token_len.push(t.bytes().len() as u32);
    }
    let rules = MergeRules {
        table_size: first_new + config.add,
        min_frequency: config.min_frequency,
        max_len: config.max_token_length.unwrap_or(usize::MAX),
        on_existing: OnExisting::Skip,
    };
    let outcome = run_merges(&mut table, words, &rules);

    let mut tokens = tokens;
    tokens.extend(table.names.drain(first_new..).map(|name| {
        Token::Bytes(byte_level::decode_str(&name).expect("merged byte-level names decode"))
    }));
    let mut merges = base_merges;
    merges.extend(outcome.merges);
    let mut grown = finish(
        base.pattern(),
        tokens,
        merges,
        first_new,
        &config.special_tokens,
        dropped,
    )?;
    grown.skipped_existing_pairs = outcome.skipped_existing;
    Ok(grown)
}

/// One vocabulary from several: `base`'s tokens keep their ids and merges; then, vocabulary by
/// vocabulary, each token of `others` (in its rank order) that the result lacks is appended when
/// its bytes, merged by tiktoken's rule with the result's tokens so far (all ranked below it),
/// end as exactly two tokens: that pair is its merge. Other tokens are listed with the reason.
/// Special tokens of `others` are not carried over (list them in `config.special_tokens`).
pub fn merge_vocabularies(
    base: &Vocabulary,
    others: &[Vocabulary],
    config: &MergeConfig,
) -> Result<Grown, GrowError> {
    let (mut tokens, dropped) = base_tokens(base, config.drop_base_specials)?;
    let first_new = tokens.len();
    let mut merges = base.merges().to_vec();
    let mut ranks: FxHashMap<Vec<u8>, u32> = FxHashMap::default();
    for (id, t) in tokens.iter().enumerate() {
        if let Token::Bytes(b) = t {
            ranks.entry(b.clone()).or_insert(id as u32);
        }
    }
    let (mut not_added, mut already_present) = (Vec::new(), 0);
    for (source, other) in others.iter().enumerate() {
        for (id, t) in other.tokens().iter().enumerate() {
            let Token::Bytes(bytes) = t else { continue };
            if ranks.contains_key(bytes) {
                already_present += 1;
                continue;
            }
            let rank = tokens.len() as u32;
            match merge_of_rank(bytes, |b| ranks.get(b).copied(), rank) {
                Ok((left, right)) => {
                    merges.push(Merge {
                        left,
                        right,
                        result: rank,
                    });
                    ranks.insert(bytes.clone(), rank);
                    tokens.push(t.clone());
                }
                Err(parts) => {
                    let shown: Vec<String> = parts
                        .windows(2)
                        .map(|w| byte_level::encode_bytes(&bytes[w[0]..w[1]]))
                        .collect();
                    not_added.push(NotAdded {
                        source,
                        id: id as u32,
                        token: t.hf_string(),
                        reason: format!(
                            "not reachable by one merge: the tokens before it merge its bytes \
                             into {} parts {shown:?}, not 2",
                            shown.len()
                        ),
                    });
                }
            }
        }
    }
    let mut grown = finish(
        base.pattern(),
        tokens,
        merges,
        first_new,
        &config.special_tokens,
        dropped,
    )?;
    grown.not_added = not_added;
    grown.already_present = already_present;
    Ok(grown)
}

/// Tokens from id `from` on whose merge in `vocab` is not the one a tiktoken rank file of
/// `vocab` implies (see [`merge_of_rank`]): where this is empty, the rank file and
/// `tokenizer.json` encode alike. Multi-byte tokens without a merge count as well.
pub fn rank_file_disagreements(vocab: &Vocabulary, from: u32) -> Vec<u32> {
    let ranks = vocab.bytes_to_id();
    let mut made_by: FxHashMap<u32, (u32, u32)> = FxHashMap::default();
    for m in vocab.merges() {
        made_by.insert(m.result, (m.left, m.right));
    }
    vocab
        .tokens()
        .iter()
        .enumerate()
        .skip(from as usize)
        .filter_map(|(id, t)| match t {
            Token::Bytes(b) if b.len() >= 2 => {
                let implied = merge_of_rank(b, |x| ranks.get(x).copied(), id as u32).ok();
                (implied.is_none() || implied != made_by.get(&(id as u32)).copied())
                    .then_some(id as u32)
            }
            _ => None,
        })
        .collect()
}

/// Multi-byte tokens that no merge produces: BPE never reaches them (a rank file's tokens whose
/// bytes do not merge into exactly two lower-ranked tokens, see [`merge_of_rank`]).
pub fn tokens_without_merge(vocab: &Vocabulary) -> Vec<u32> {
    let mut made = vec![false; vocab.len()];
    for m in vocab.merges() {
        made[m.result as usize] = true;
    }
    vocab
        .tokens()
        .iter()
        .enumerate()
        .filter(|(id, t)| matches!(t, Token::Bytes(b) if b.len() >= 2) && !made[*id])
        .map(|(id, _)| id as u32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_vocab(extra: &[&[u8]]) -> Vocabulary {
        let mut tokens: Vec<Token> = (0..=255u8).map(|b| Token::Bytes(vec![b])).collect();
        let mut merges = vec![];
        for e in extra {
            // Only two-byte extras here: their merge is the two bytes.
            merges.push(Merge {
                left: e[0] as u32,
                right: e[1] as u32,
                result: tokens.len() as u32,
            });
            tokens.push(Token::Bytes(e.to_vec()));
        }
        Vocabulary::new("glm4".into(), tokens, merges).unwrap()
    }

    #[test]
    fn merge_appends_reachable_tokens_and_explains_the_rest() {
        let base = bytes_vocab(&[b"ab"]);
        let mut other_tokens: Vec<Token> = (0..=255u8).map(|b| Token::Bytes(vec![b])).collect();
        // "xyz" comes before "yz" in the other vocabulary, so it has no two-part split yet.
        for t in [&b"ab"[..], b"xyz", b"yz", b"abyz"] {
            other_tokens.push(Token::Bytes(t.to_vec()));
        }
        let other = Vocabulary::new("glm4".into(), other_tokens, vec![]).unwrap();
        let grown = merge_vocabularies(&base, &[other], &MergeConfig::default()).unwrap();
        let vocab = &grown.vocab;
        assert_eq!(vocab.token(256).unwrap().bytes(), b"ab");
        assert_eq!(vocab.token(257).unwrap().bytes(), b"yz");
        assert_eq!(vocab.token(258).unwrap().bytes(), b"abyz");
        assert_eq!(vocab.len(), 259);
        assert_eq!(grown.added, 2);
        assert_eq!(grown.already_present, 257);
        assert_eq!(grown.not_added.len(), 1);
        assert_eq!(grown.not_added[0].token, "xyz");
        assert!(grown.not_added[0].reason.contains("3 parts"));
        let last = vocab.merges().last().unwrap();
        assert_eq!((last.left, last.right, last.result), (256, 257, 258));
        assert!(rank_file_disagreements(vocab, 0).is_empty());
    }

    #[test]
    fn specials_after_the_ranks_are_refused_unless_dropped() {
        let mut tokens = bytes_vocab(&[]).tokens().to_vec();
        tokens.push(Token::Special("<|endoftext|>".into()));
        let base = Vocabulary::new("glm4".into(), tokens, vec![]).unwrap();
        let err = merge_vocabularies(&base, &[], &MergeConfig::default()).unwrap_err();
        assert!(
            err.to_string().contains("<|endoftext|>") && err.to_string().contains("256"),
            "{err}"
        );
        let config = MergeConfig {
            special_tokens: vec!["<|endoftext|>".into(), "<sop>".into()],
            drop_base_specials: true,
        };
        let grown = merge_vocabularies(&base, &[], &config).unwrap();
        assert_eq!(grown.dropped_base_specials, [("<|endoftext|>".into(), 256)]);
        assert_eq!(
            grown.specials_added,
            [("<|endoftext|>".into(), 256), ("<sop>".into(), 257)]
        );
    }
}
