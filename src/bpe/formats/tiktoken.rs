//! tiktoken rank files: one `<base64 of the token bytes> <rank>` line per token, rank = id, the
//! format of GLM-4's `tokenizer.model`. Special tokens are not in the file.
//!
//! Merges are not stored either; reading rebuilds them the way tiktoken's merging implies (as
//! transformers' tiktoken converter does): a token's merge is the last step of merging its own
//! bytes with the lower-ranked tokens.

use super::FormatError;
use crate::bpe::pattern::GLM4;
use crate::bpe::vocab::{Merge, Token, Vocabulary};
use base64::Engine;
use rustc_hash::FxHashMap;
use std::fmt::Write as _;
use std::path::Path;

/// GLM-4's special tokens, numbered after the last rank in this order (glm4-spec section 9).
pub const GLM4_SPECIAL_TOKENS: [&str; 14] = [
    "<|endoftext|>",
    "[MASK]",
    "[gMASK]",
    "[sMASK]",
    "<sop>",
    "<eop>",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|observation|>",
    "<|begin_of_image|>",
    "<|end_of_image|>",
    "<|begin_of_video|>",
    "<|end_of_video|>",
];

/// Name of the file next to a rank file that lists its special tokens (`{"content": id}`).
pub const SPECIALS_FILE: &str = "special_tokens.json";

/// Writes the rank file, and `special_tokens.json` next to it when the vocabulary has specials.
pub fn write_tiktoken(vocab: &Vocabulary, path: &Path) -> Result<(), FormatError> {
    let io = |source| FormatError::Io {
        path: path.to_path_buf(),
        source,
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = String::new();
    for (id, t) in vocab.tokens().iter().enumerate() {
        if let Token::Bytes(bytes) = t {
            writeln!(out, "{} {id}", b64.encode(bytes)).expect("writing to a String");
        }
    }
    std::fs::write(path, out).map_err(io)?;
    let specials = vocab.specials();
    if !specials.is_empty() {
        let map: serde_json::Map<String, serde_json::Value> =
            specials.into_iter().map(|(s, id)| (s, id.into())).collect();
        let side = path.with_file_name(SPECIALS_FILE);
        std::fs::write(
            &side,
            serde_json::to_string_pretty(&map).expect("JSON serializes"),
        )
        .map_err(|source| FormatError::Io { path: side, source })?;
    }
    Ok(())
}

/// Reads a rank file with the given specials, or (when `None`) those of `special_tokens.json`
/// next to it, or else GLM-4's. The pattern is GLM-4's.
pub fn read_tiktoken(
    path: &Path,
    specials: Option<Vec<(String, u32)>>,
) -> Result<Vocabulary, FormatError> {
    let io = |source| FormatError::Io {
        path: path.to_path_buf(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(io)?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut ranked: Vec<(u32, Vec<u8>)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let bad = |what: &str| FormatError::invalid(path, format!("line {}: {what}", n + 1));
        let (token, rank) = line
            .split_once(' ')
            .ok_or_else(|| bad("expected `<base64> <rank>`"))?;
        let bytes = b64
            .decode(token)
            .map_err(|e| bad(&format!("bad base64: {e}")))?;
        let rank: u32 = rank
            .trim()
            .parse()
            .map_err(|_| bad("rank is not an integer"))?;
        ranked.push((rank, bytes));
    }
    check_ranks(&ranked, path)?;
    let max_rank = ranked.iter().map(|(r, _)| *r).max();
    let specials = match specials {
        Some(s) => s,
        None => {
            let side = path.with_file_name(SPECIALS_FILE);
            if side.exists() {
                let text = std::fs::read_to_string(&side).map_err(|source| FormatError::Io {
                    path: side.clone(),
                    source,
                })?;
                let map: FxHashMap<String, u32> =
                    serde_json::from_str(&text).map_err(|source| FormatError::Json {
                        path: side.clone(),
                        source,
                    })?;
                map.into_iter().collect()
            } else {
                let first = max_rank.map_or(0, |r| r + 1);
                GLM4_SPECIAL_TOKENS
                    .iter()
                    .enumerate()
                    .map(|(k, s)| (s.to_string(), first + k as u32))
                    .collect()
            }
        }
    };
    let size = ranked.len() + specials.len();
    let mut used = vec![false; size];
    for id in ranked
        .iter()
        .map(|(r, _)| *r)
        .chain(specials.iter().map(|(_, id)| *id))
    {
        if let Some(u) = used.get_mut(id as usize) {
            *u = true;
        }
    }
    if let Some(hole) = used.iter().position(|u| !u) {
        return Err(FormatError::invalid(
            path,
            format!(
                "rank {hole} is missing: the {} ranks and {} special tokens must take ids \
                 0..{size} without holes",
                ranked.len(),
                specials.len()
            ),
        ));
    }
    let mut by_id: Vec<Option<Token>> = vec![None; size];
    let mut place = |id: u32, t: Token| -> Result<(), FormatError> {
        let slot = by_id.get_mut(id as usize).ok_or_else(|| {
            FormatError::invalid(
                path,
                format!("id {id} is outside 0..{size}: ranks and specials must be contiguous"),
            )
        })?;
        if slot.is_some() {
            return Err(FormatError::invalid(path, format!("id {id} is used twice")));
        }
        *slot = Some(t);
        Ok(())
    };
    for (rank, bytes) in &ranked {
        place(*rank, Token::Bytes(bytes.clone()))?;
    }
    for (s, id) in &specials {
        place(*id, Token::Special(s.clone()))?;
    }
    let tokens: Vec<Token> = by_id
        .into_iter()
        .map(|t| t.expect("all slots filled: sizes add up"))
        .collect();
    let merges = merges_from_ranks(&ranked);
    Vocabulary::new(GLM4.to_string(), tokens, merges).map_err(|source| FormatError::Vocab {
        path: path.to_path_buf(),
        source,
    })
}

/// No two lines may hold the same rank or the same bytes (tiktoken keys its table by bytes, so
/// a duplicate would silently lose one of them).
fn check_ranks(ranked: &[(u32, Vec<u8>)], path: &Path) -> Result<(), FormatError> {
    let mut ranks: FxHashMap<u32, ()> = FxHashMap::default();
    let mut seen: FxHashMap<&[u8], u32> = FxHashMap::default();
    for (rank, bytes) in ranked {
        if let Some(first) = seen.insert(bytes.as_slice(), *rank) {
            return Err(FormatError::invalid(
                path,
                format!("ranks {first} and {rank} hold the same token {bytes:?}: duplicate tokens"),
            ));
        }
        if ranks.insert(*rank, ()).is_some() {
            return Err(FormatError::invalid(
                path,
                format!("rank {rank} is used twice"),
            ));
        }
    }
    Ok(())
}

/// Rebuilds merges from ranks: in rank order, each multi-byte token whose bytes merge (using only
/// lower ranks) into exactly two tokens gets that pair as its merge.
fn merges_from_ranks(ranked: &[(u32, Vec<u8>)]) -> Vec<Merge> {
    let ranks: FxHashMap<&[u8], u32> = ranked.iter().map(|(r, b)| (b.as_slice(), *r)).collect();
    let mut order: Vec<&(u32, Vec<u8>)> = ranked.iter().filter(|(_, b)| b.len() >= 2).collect();
    order.sort_by_key(|(r, _)| *r);
    order
        .into_iter()
        .filter_map(|(rank, bytes)| {
            let (left, right) = merge_of_rank(bytes, |b| ranks.get(b).copied(), *rank).ok()?;
            Some(Merge {
                left,
                right,
                result: *rank,
            })
        })
        .collect()
}

/// The merge a rank file implies for the token `bytes` at `rank` (tiktoken's and transformers'
/// reading): its bytes merged by tiktoken's rule with the tokens ranked below it must end as
/// exactly two tokens, whose ids it returns. Otherwise the boundaries of the parts they end as
/// (the token is then unreachable by merges).
pub fn merge_of_rank(
    bytes: &[u8],
    rank_of: impl Fn(&[u8]) -> Option<u32>,
    rank: u32,
) -> Result<(u32, u32), Vec<usize>> {
    let parts = merge_by_rank(bytes, &rank_of, rank);
    if parts.len() != 3 {
        return Err(parts);
    }
    match (
        rank_of(&bytes[parts[0]..parts[1]]),
        rank_of(&bytes[parts[1]..parts[2]]),
    ) {
        (Some(l), Some(r)) => Ok((l, r)),
        _ => Err(parts),
    }
}

/// tiktoken's merging of `bytes` with ranks below `below`: the boundaries of the final parts.
fn merge_by_rank(bytes: &[u8], rank_of: impl Fn(&[u8]) -> Option<u32>, below: u32) -> Vec<usize> {
    let mut bounds: Vec<usize> = (0..=bytes.len()).collect();
    loop {
        let best = (0..bounds.len().saturating_sub(2))
            .filter_map(|i| {
                rank_of(&bytes[bounds[i]..bounds[i + 2]])
                    .filter(|&r| r < below)
                    .map(|r| (r, i))
            })
            .min();
        match best {
            Some((_, i)) => {
                bounds.remove(i + 1);
            }
            None => return bounds,
        }
    }
}
