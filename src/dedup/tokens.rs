//! Tokens and shingles for MinHash.
//!
//! A token is a maximal run of letters/digits, or a single Han, Kana, Hangul or Thai character,
//! after NFKC and lowercasing. Scripts written without spaces thus need no segmenter: their
//! shingles are character n-grams, while spaced scripts get word n-grams, inside one document
//! too. A shingle is `n` consecutive tokens; it is represented by a 64-bit hash.

use super::normalize::nfkc;
use unicode_normalization::char::canonical_combining_class;
use unicode_normalization::{is_nfkc_quick, IsNormalized};
use xxhash_rust::xxh3::xxh3_64;

/// Whether `c` is a token on its own (scripts written without spaces between words).
pub fn is_char_token(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3134F // Han
        | 0x3040..=0x30FF | 0x31F0..=0x31FF | 0xFF66..=0xFF9F                  // Kana
        | 0xAC00..=0xD7AF | 0x1100..=0x11FF | 0x3130..=0x318F                  // Hangul
        | 0x0E00..=0x0E7F) // Thai
}

/// `char::is_alphanumeric`, answering the most common letter blocks (Latin-1, Latin
/// Extended-A/B, Greek, Cyrillic) without the general table search.
#[inline]
fn is_alphanumeric(c: char) -> bool {
    match c as u32 {
        0xC0..=0xD6 | 0xD8..=0xF6 | 0xF8..=0x24F => true, // Latin-1 letters, Latin Extended-A/B
        0x388..=0x38A | 0x38C | 0x38E..=0x3A1 | 0x3A3..=0x3CE => true, // Greek
        0x400..=0x481 | 0x48A..=0x52F => true,            // Cyrillic letters
        _ => c.is_alphanumeric(),
    }
}

/// Calls `emit` with the hash of each token of `text`, in order. `scratch` is reused.
///
/// Equivalent to [`token_hashes_reference`] (NFKC, lowercase, then split), but NFKC runs only
/// on the runs of text that hold a character NFKC may change: ASCII goes byte by byte, and
/// most non-ASCII letters pass a one-character quick check.
pub fn token_hashes(text: &str, scratch: &mut String, mut emit: impl FnMut(u64)) {
    scratch.clear();
    // Whether the current run holds a character that NFKC may change.
    let mut needs_nfkc = false;
    #[inline(always)]
    fn flush<F: FnMut(u64)>(run: &mut String, needs_nfkc: &mut bool, emit: &mut F) {
        if *needs_nfkc {
            token_hashes_reference(run, &mut String::new(), emit);
            *needs_nfkc = false;
        } else if !run.is_empty() {
            emit(xxh3_64(run.as_bytes()));
        }
        run.clear();
    }
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x80 {
            if b.is_ascii_alphanumeric() {
                scratch.push(b.to_ascii_lowercase() as char);
            } else if !scratch.is_empty() || needs_nfkc {
                flush(scratch, &mut needs_nfkc, &mut emit);
            }
            i += 1;
            continue;
        }
        let c = text[i..].chars().next().expect("a char starts here");
        i += c.len_utf8();
        if is_nfkc_quick(std::iter::once(c)) != IsNormalized::Yes {
            // Resolved by the reference path with its whole run (NFKC may split or join).
            scratch.push(c);
            needs_nfkc = true;
        } else if is_char_token(c) {
            flush(scratch, &mut needs_nfkc, &mut emit);
            let mut buf = [0u8; 4];
            emit(xxh3_64(c.encode_utf8(&mut buf).as_bytes()));
        } else if is_alphanumeric(c) {
            let mut lower = c.to_lowercase();
            match (lower.len(), lower.next()) {
                (1, Some(l)) if l.is_alphanumeric() && !is_char_token(l) => scratch.push(l),
                // Lowercasing that yields several characters (İ -> i + dot): the reference
                // path classifies each.
                _ => {
                    scratch.push(c);
                    needs_nfkc = true;
                }
            }
        } else if canonical_combining_class(c) != 0 {
            // A combining mark: NFKC may compose it with the letter before.
            scratch.push(c);
            needs_nfkc = true;
        } else {
            flush(scratch, &mut needs_nfkc, &mut emit);
        }
    }
    flush(scratch, &mut needs_nfkc, &mut emit);
}

/// The definition of the tokens: NFKC, lowercase, then a token is a maximal run of letters or
/// digits or a single [`is_char_token`] character.
pub fn token_hashes_reference<F: FnMut(u64)>(text: &str, scratch: &mut String, emit: &mut F) {
    scratch.clear();
    let mut flush = |run: &mut String| {
        if !run.is_empty() {
            emit(xxh3_64(run.as_bytes()));
            run.clear();
        }
    };
    let mut char_buf = [0u8; 4];
    for c in nfkc(text).flat_map(char::to_lowercase) {
        if is_char_token(c) {
            flush(scratch);
            scratch.push(c);
            flush(scratch);
        } else if c.is_alphanumeric() {
            scratch.push_str(c.encode_utf8(&mut char_buf));
        } else {
            flush(scratch);
        }
    }
    flush(scratch);
}

/// Hash of one shingle from its tokens' hashes (order-sensitive).
#[inline]
fn shingle_hash<'a>(tokens: impl Iterator<Item = &'a u64>) -> u64 {
    let mut h = 0x243F_6A88_85A3_08D3u64;
    for &t in tokens {
        h = (h.rotate_left(23) ^ t).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    h ^ (h >> 29)
}

/// Calls `emit` with the hash of every `n`-token shingle of `text`. A text with fewer than `n`
/// tokens (but at least one) is one shingle of all its tokens, so short texts still compare;
/// a text with no token has no shingle.
pub fn shingle_hashes(text: &str, n: usize, scratch: &mut String, mut emit: impl FnMut(u64)) {
    let mut shingles = Vec::new();
    shingle_hashes_into(text, n, scratch, &mut shingles);
    shingles.into_iter().for_each(&mut emit);
}

/// [`shingle_hashes`] into `out` (cleared first), reusing its memory.
pub fn shingle_hashes_into(text: &str, n: usize, scratch: &mut String, out: &mut Vec<u64>) {
    let n = n.max(1);
    out.clear();
    token_hashes(text, scratch, |t| out.push(t));
    if out.is_empty() {
        return;
    }
    if out.len() < n {
        let one = shingle_hash(out.iter());
        out.clear();
        out.push(one);
        return;
    }
    // In place: window i reads tokens i..i+n and overwrites token i, which no later window
    // reads.
    let windows = out.len() - n + 1;
    for i in 0..windows {
        out[i] = shingle_hash(out[i..i + n].iter());
    }
    out.truncate(windows);
}

/// The set of shingle hashes of `text`, sorted and deduplicated (for exact Jaccard).
pub fn shingle_set(text: &str, n: usize) -> Vec<u64> {
    let mut scratch = String::new();
    let mut set = Vec::new();
    shingle_hashes(text, n, &mut scratch, |h| set.push(h));
    set.sort_unstable();
    set.dedup();
    set
}

/// Exact Jaccard similarity of two sorted, deduplicated sets. Two empty sets have similarity 0.
pub fn jaccard(a: &[u64], b: &[u64]) -> f64 {
    let (mut i, mut j, mut both) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                both += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - both;
    if union == 0 {
        0.0
    } else {
        both as f64 / union as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> usize {
        let mut n = 0;
        token_hashes(text, &mut String::new(), |_| n += 1);
        n
    }

    #[test]
    fn tokenizes_words_and_cjk_characters() {
        assert_eq!(tokens("Hello, World! 42x"), 3);
        assert_eq!(tokens("中文文本"), 4);
        assert_eq!(tokens("日本語のテキスト abc"), 9);
        assert_eq!(tokens("한국어"), 3);
        assert_eq!(tokens("  ...  "), 0);
        // Case and full-width forms do not matter.
        let mut a = vec![];
        let mut b = vec![];
        token_hashes("ABC def", &mut String::new(), |h| a.push(h));
        token_hashes("ａｂｃ DEF", &mut String::new(), |h| b.push(h));
        assert_eq!(a, b);
    }

    #[test]
    fn alphanumeric_fast_ranges_agree_with_std() {
        for c in (0x80u32..0x600).filter_map(char::from_u32) {
            assert_eq!(
                is_alphanumeric(c),
                c.is_alphanumeric(),
                "{c:?} U+{:04X}",
                c as u32
            );
        }
    }

    #[test]
    fn fast_tokens_equal_the_reference() {
        let cases = [
            "Hello, World! 42x",
            "Cafe\u{301} ｆｕｌｌ ﬁne ½ ① ㎏ ™ x\u{a0}y",
            "日本語のテキスト ｶﾞｷﾞ 漢字",
            "İstanbul ΣΊΣΥΦΟΣ straße",
            "한국어 텍스트 ภาษาไทย",
            "a\u{300}\u{301}b \u{301}start",
        ];
        for text in cases {
            let (mut fast, mut reference) = (vec![], vec![]);
            token_hashes(text, &mut String::new(), |h| fast.push(h));
            token_hashes_reference(text, &mut String::new(), &mut |h| reference.push(h));
            assert_eq!(fast, reference, "{text}");
        }
    }

    #[test]
    fn shingles_and_jaccard() {
        assert_eq!(shingle_set("a b c d e f", 5).len(), 2);
        assert_eq!(shingle_set("a b", 5).len(), 1);
        assert!(shingle_set("", 5).is_empty());
        let a = shingle_set("one two three four five six seven", 5);
        let b = shingle_set("one two three four five six eight", 5);
        assert!((jaccard(&a, &b) - 2.0 / 4.0).abs() < 1e-9);
        assert_eq!(jaccard(&a, &a), 1.0);
    }
}
