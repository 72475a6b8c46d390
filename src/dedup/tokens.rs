//! Tokens and shingles for MinHash.
//!
//! A token is a maximal run of letters/digits, or a single Han, Kana, Hangul or Thai character,
//! after NFKC and lowercasing. Scripts written without spaces thus need no segmenter: their
//! shingles are character n-grams, while spaced scripts get word n-grams, inside one document
//! too. A shingle is `n` consecutive tokens; it is represented by a 64-bit hash.

use super::normalize::nfkc;
use std::sync::OnceLock;
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

// What the fast path does with a character, packed in a `u32`: the class in bits 28..30 and,
// for `LETTER`, the UTF-8 bytes of its lowercase form in bits 0..24 with their count in bits
// 24..26.
/// Ends the current run.
const SEPARATOR: u32 = 0;
/// A token on its own ([`is_char_token`]).
const CHAR_TOKEN: u32 = 1 << 28;
/// Continues the run with its lowercase form (one character, itself a letter or digit).
const LETTER: u32 = 2 << 28;
/// Continues the run, which the reference path then resolves: NFKC may change the
/// character, join it with its neighbours (combining marks), or lowercasing is not one
/// letter for one letter (İ -> i + dot).
const NFKC: u32 = 3 << 28;
const CLASS: u32 = 3 << 28;

/// The class of `c` (see the constants above).
fn classify(c: char) -> u32 {
    if is_nfkc_quick(std::iter::once(c)) != IsNormalized::Yes {
        return NFKC;
    }
    if is_char_token(c) {
        return CHAR_TOKEN;
    }
    if is_alphanumeric(c) {
        let mut lower = c.to_lowercase();
        return match (lower.len(), lower.next()) {
            (1, Some(l)) if l.is_alphanumeric() && !is_char_token(l) && l.len_utf8() <= 3 => {
                let mut bytes = [0u8; 4];
                let n = l.encode_utf8(&mut bytes).len() as u32;
                LETTER | (n << 24) | u32::from_le_bytes(bytes)
            }
            _ => NFKC,
        };
    }
    if canonical_combining_class(c) != 0 {
        return NFKC;
    }
    SEPARATOR
}

/// [`classify`] of the Basic Multilingual Plane, by blocks of 256 characters, each computed on
/// first use (a text touches few blocks; the whole plane would take milliseconds to build).
static BMP_CLASSES: [OnceLock<Box<[u32; 256]>>; 256] = [const { OnceLock::new() }; 256];

#[inline]
fn class_of(cp: u32) -> u32 {
    if cp < 0x1_0000 {
        let block = BMP_CLASSES[(cp >> 8) as usize].get_or_init(|| {
            let mut classes = Box::new([SEPARATOR; 256]);
            for (low, class) in classes.iter_mut().enumerate() {
                // Surrogates are no chars (and never occur in a str).
                if let Some(c) = char::from_u32((cp & !0xFF) | low as u32) {
                    *class = classify(c);
                }
            }
            classes
        });
        block[(cp & 0xFF) as usize]
    } else {
        char::from_u32(cp).map_or(SEPARATOR, classify)
    }
}

/// ASCII bytes: 0 ends a run (also every byte of a multi-byte character, handled apart), 1 a
/// lowercase letter or digit, 2 an uppercase letter.
static ASCII_CLASSES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        t[b] = if c.is_ascii_uppercase() {
            2
        } else if c.is_ascii_alphanumeric() {
            1
        } else {
            0
        };
        b += 1;
    }
    t
};

const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// For eight bytes at once: bit 7 of each byte set where the byte is an ASCII letter or digit
/// (first mask), or an ASCII uppercase letter (second). Every other bit is clear.
#[inline(always)]
fn ascii_alnum_mask(bytes: u64) -> (u64, u64) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let ascii = !bytes & HIGH_BITS;
    // Seven bits per byte, so that the additions below never carry into the next byte.
    let low = bytes & !HIGH_BITS;
    let at_least = |lo: u8| low + ONES * (0x80 - lo as u64); // bit 7: byte >= lo
    let above = |hi: u8| low + ONES * (0x7F - hi as u64); // bit 7: byte > hi
    let digit = at_least(b'0') & !above(b'9');
    let upper = at_least(b'A') & !above(b'Z');
    let lower = at_least(b'a') & !above(b'z');
    ((digit | upper | lower) & ascii, upper & ascii)
}

/// The code point of the multi-byte UTF-8 character at `bytes[i]` and its length.
#[inline(always)]
fn decode_multibyte(bytes: &[u8], i: usize) -> (u32, usize) {
    let b = bytes[i] as u32;
    let cont = |k: usize| (bytes[i + k] & 0x3F) as u32;
    if b < 0xE0 {
        (((b & 0x1F) << 6) | cont(1), 2)
    } else if b < 0xF0 {
        (((b & 0x0F) << 12) | (cont(1) << 6) | cont(2), 3)
    } else {
        (
            ((b & 0x07) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3),
            4,
        )
    }
}

/// Calls `emit` with the hash of each token of `text`, in order. `scratch` is reused.
///
/// Equivalent to [`token_hashes_reference`] (NFKC, lowercase, then split), but NFKC runs only
/// on the runs of text that hold a character NFKC may change: ASCII words are hashed straight
/// from the text when they are already lowercase, and every other character is classified by
/// a table ([`classify`]).
pub fn token_hashes(text: &str, scratch: &mut String, mut emit: impl FnMut(u64)) {
    // The current run of a token, lowercased. Only whole UTF-8 characters are pushed, so it
    // is valid UTF-8 whenever it is read as text.
    let mut run = std::mem::take(scratch).into_bytes();
    run.clear();
    // Whether the current run holds a character that NFKC may change.
    let mut needs_nfkc = false;
    #[inline(always)]
    fn flush<F: FnMut(u64)>(run: &mut Vec<u8>, needs_nfkc: &mut bool, emit: &mut F) {
        if *needs_nfkc {
            let text = std::str::from_utf8(run).expect("whole characters only");
            token_hashes_reference(text, &mut String::new(), emit);
            *needs_nfkc = false;
        } else if !run.is_empty() {
            emit(xxh3_64(run));
        }
        run.clear();
    }
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x80 {
            // A run of ASCII letters and digits: eight bytes at a time while they last.
            let start = i;
            let mut upper = false;
            while let Some(chunk) = bytes.get(i..i + 8) {
                let (alnum, up) = ascii_alnum_mask(u64::from_le_bytes(chunk.try_into().unwrap()));
                let stop = !alnum & HIGH_BITS;
                if stop == 0 {
                    upper |= up != 0;
                    i += 8;
                    continue;
                }
                // The bytes before the first that ends the run.
                let before = (stop & stop.wrapping_neg()) - 1;
                upper |= up & before != 0;
                i += stop.trailing_zeros() as usize / 8;
                break;
            }
            if bytes.len() - i < 8 {
                while i < bytes.len() {
                    let class = ASCII_CLASSES[bytes[i] as usize];
                    if class == 0 {
                        break;
                    }
                    upper |= class == 2;
                    i += 1;
                }
            }
            let word = &bytes[start..i];
            let continues = i < bytes.len() && bytes[i] >= 0x80;
            if run.is_empty() && !needs_nfkc && !continues && !upper {
                // A whole token, already lowercase: hash it where it lies.
                if !word.is_empty() {
                    emit(xxh3_64(word));
                }
            } else {
                run.extend(word.iter().map(u8::to_ascii_lowercase));
                if !continues {
                    flush(&mut run, &mut needs_nfkc, &mut emit);
                }
            }
            if !continues {
                // The ASCII separators up to the next letter, digit or non-ASCII character
                // (the run is flushed: they change nothing).
                while let Some(chunk) = bytes.get(i..i + 8) {
                    let chunk = u64::from_le_bytes(chunk.try_into().unwrap());
                    let (alnum, _) = ascii_alnum_mask(chunk);
                    let next = alnum | (chunk & HIGH_BITS);
                    if next != 0 {
                        i += next.trailing_zeros() as usize / 8;
                        break;
                    }
                    i += 8;
                }
                if bytes.len() - i < 8 {
                    while i < bytes.len()
                        && bytes[i] < 0x80
                        && ASCII_CLASSES[bytes[i] as usize] == 0
                    {
                        i += 1;
                    }
                }
            }
            continue;
        }
        let (cp, len) = decode_multibyte(bytes, i);
        let class = class_of(cp);
        match class & CLASS {
            LETTER => {
                // Four bytes copied and the extra cut off: cheaper than a copy of 1-3 bytes.
                let end = run.len() + ((class >> 24) & 3) as usize;
                run.extend_from_slice(&class.to_le_bytes());
                run.truncate(end);
            }
            CHAR_TOKEN => {
                flush(&mut run, &mut needs_nfkc, &mut emit);
                emit(xxh3_64(&bytes[i..i + len]));
            }
            NFKC => {
                run.extend_from_slice(&bytes[i..i + len]);
                needs_nfkc = true;
            }
            _ => flush(&mut run, &mut needs_nfkc, &mut emit),
        }
        i += len;
    }
    flush(&mut run, &mut needs_nfkc, &mut emit);
    // Hand the (empty) buffer back for its capacity.
    *scratch = String::from_utf8(run).unwrap_or_default();
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

    /// Every character (the whole BMP, and a sample of the other planes) alone, inside and
    /// after a word, next to a combining mark and between CJK characters: the table-driven
    /// fast path and the definition agree.
    #[test]
    fn fast_tokens_equal_the_reference_for_every_character() {
        let supplementary = (0x1_0000u32..0x11_0000).step_by(97);
        let chars: Vec<char> = (0u32..0x1_0000)
            .chain(supplementary)
            .filter_map(char::from_u32)
            .collect();
        let (mut fast, mut reference) = (vec![], vec![]);
        let mut scratch = String::new();
        for block in chars.chunks(64) {
            let mut text = String::new();
            for &c in block {
                text.extend([c, ' ', 'a', c, 'B', ' ', c, 'x', '\u{301}', c, '中', c, '.']);
            }
            fast.clear();
            reference.clear();
            token_hashes(&text, &mut scratch, |h| fast.push(h));
            token_hashes_reference(&text, &mut String::new(), &mut |h| reference.push(h));
            assert_eq!(fast, reference, "{:?}..", block[0]);
        }
    }

    #[test]
    fn eight_byte_masks_classify_every_byte() {
        for b in 0..=255u8 {
            for at in 0..8 {
                let mut chunk = [b'.'; 8];
                chunk[at] = b;
                let (alnum, upper) = ascii_alnum_mask(u64::from_le_bytes(chunk));
                let bit = 0x80u64 << (8 * at);
                assert_eq!(alnum == bit, b.is_ascii_alphanumeric(), "{b:#x} at {at}");
                assert_eq!(upper == bit, b.is_ascii_uppercase(), "{b:#x} at {at}");
                assert_eq!(alnum & !bit, 0);
            }
        }
    }

    /// Random texts over a small alphabet (words of every length, case, accents, CJK,
    /// combining marks, NFKC-changed forms): fast path and definition agree.
    #[test]
    fn fast_tokens_equal_the_reference_on_random_text() {
        let alphabet: Vec<char> = "aaaaeeeTTTZz0099   ,.\n-_éÉß中ｆ\u{301}İΣσ½"
            .chars()
            .collect();
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut scratch = String::new();
        for _ in 0..2000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 60) as usize;
            let text: String = (0..len)
                .map(|k| alphabet[((state >> (k % 50)) as usize + k * 7) % alphabet.len()])
                .collect();
            let (mut fast, mut reference) = (vec![], vec![]);
            token_hashes(&text, &mut scratch, |h| fast.push(h));
            token_hashes_reference(&text, &mut String::new(), &mut |h| reference.push(h));
            assert_eq!(fast, reference, "{text:?}");
        }
    }

    #[test]
    fn ascii_words_hash_as_their_lowercase() {
        let mut hashes = vec![];
        token_hashes("word Word WORD wORd", &mut String::new(), |h| {
            hashes.push(h)
        });
        assert_eq!(hashes, vec![xxh3_64(b"word"); 4]);
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
