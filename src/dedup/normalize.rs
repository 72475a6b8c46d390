//! Text normalization applied before hashing, so trivially different copies hash alike.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;
use unicode_normalization::char::canonical_combining_class;
use unicode_normalization::{is_nfc_quick, is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// How much of a text's surface is ignored when comparing it.
///
/// - `none`: the bytes as they are.
/// - `basic` (default): Unicode NFC, every run of whitespace made one space, ends trimmed.
///   Catches re-flowed copies (other line breaks or indentation).
/// - `aggressive`: Unicode NFKC, lowercase, punctuation and symbols dropped, then whitespace as
///   in `basic`. Catches copies that differ in case, full/half-width forms or punctuation
///   (CCNet normalizes lines the same way, digits aside).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Normalization {
    None,
    #[default]
    Basic,
    Aggressive,
}

impl FromStr for Normalization {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Normalization::None),
            "basic" => Ok(Normalization::Basic),
            "aggressive" => Ok(Normalization::Aggressive),
            other => Err(format!(
                "normalization `{other}`: expected none, basic or aggressive"
            )),
        }
    }
}

impl fmt::Display for Normalization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Normalization::None => "none",
            Normalization::Basic => "basic",
            Normalization::Aggressive => "aggressive",
        })
    }
}

impl Normalization {
    /// Writes the normalized form of `text` into `out` (cleared first) and returns it as bytes.
    /// `out` is reused across documents to avoid an allocation per document.
    pub fn apply<'a>(&self, text: &'a str, out: &'a mut String) -> &'a [u8] {
        out.clear();
        match self {
            Normalization::None => text.as_bytes(),
            Normalization::Basic => {
                if !collapse_whitespace_nfc_stable(text, out) {
                    out.clear();
                    basic_reference(text, out);
                }
                out.as_bytes()
            }
            Normalization::Aggressive => {
                let kept = |c: &char| c.is_alphanumeric() || c.is_whitespace();
                if text.is_ascii() {
                    let chars = text.chars().filter(kept).map(|c| c.to_ascii_lowercase());
                    collapse_whitespace(chars, out);
                } else {
                    let lower = nfkc(text).flat_map(char::to_lowercase);
                    collapse_whitespace(lower.filter(kept), out);
                }
                out.as_bytes()
            }
        }
    }
}

/// NFKC, skipping the work when the text is already in NFKC (most text is).
pub(crate) fn nfkc(text: &str) -> Box<dyn Iterator<Item = char> + '_> {
    if is_nfkc_quick(text.chars()) == IsNormalized::Yes {
        Box::new(text.chars())
    } else {
        Box::new(text.nfkc())
    }
}

/// `basic` as defined: NFC, then whitespace collapsed.
pub(crate) fn basic_reference(text: &str, out: &mut String) {
    if is_nfc_quick(text.chars()) == IsNormalized::Yes {
        collapse_whitespace(text.chars(), out);
    } else {
        collapse_whitespace(text.nfc(), out);
    }
}

/// `basic` in one pass over the bytes. Returns false (leaving `out` partial) when a character
/// may change under NFC, for the caller to redo the text with [`basic_reference`].
///
/// Written as a byte scan rather than with `char` iterators because this is the hot loop of
/// exact dedup: the text is cut into runs that normalization leaves as they are (non-space
/// characters and single ASCII spaces between them), each copied whole, and only the
/// whitespace between runs is rewritten.
fn collapse_whitespace_nfc_stable(text: &str, out: &mut String) -> bool {
    let bytes = text.as_bytes();
    // SAFETY: only whole runs of complete UTF-8 sequences of `text` (a `&str`) and the byte
    // b' ' are pushed below, so `out` holds UTF-8 whenever this function returns.
    let buf = unsafe { out.as_mut_vec() };
    buf.reserve(bytes.len());
    let plain = |b: u8| b < 0x80 && !matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let mut pending_space = false;
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let mut space_len = 0;
        while let Some(&b) = bytes.get(i) {
            if b < 0x80 {
                if let Some(step) = plain_ascii_word(bytes, i, i > start) {
                    i += step;
                } else if plain(b) {
                    i += 1;
                } else if b == b' ' && i > start && bytes.get(i + 1).is_some_and(|&c| plain(c)) {
                    i += 2;
                } else {
                    space_len = 1;
                    break;
                }
            } else {
                let (code, len) = decode_multibyte(bytes, i);
                match char_kind(code) {
                    CharKind::Plain => i += len,
                    CharKind::Space => {
                        space_len = len;
                        break;
                    }
                    CharKind::MayChange => return false,
                }
            }
        }
        if i > start {
            if pending_space && !buf.is_empty() {
                buf.push(b' ');
            }
            buf.extend_from_slice(&bytes[start..i]);
        }
        pending_space = space_len > 0;
        i += space_len;
    }
    true
}

/// Eight bytes at once: `Some(8)` when `bytes[i..i + 8]` can be copied as it is (ASCII, no
/// control character, spaces only single and between non-spaces; a leading space only when
/// the run has begun), so the scan above touches ASCII text a word, not a byte, at a time.
fn plain_ascii_word(bytes: &[u8], i: usize, in_run: bool) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let word = u64::from_le_bytes(bytes.get(i..i + 8)?.try_into().ok()?);
    // Any byte >= 0x80, or < 0x20 (the classic "has less than" test, exact for ASCII).
    if word & HIGH != 0 || word.wrapping_sub(0x20 * ONES) & !word & HIGH != 0 {
        return None;
    }
    // The high bit of each byte that is a space, exactly.
    let diff = word ^ (0x20 * ONES);
    let spaces = !(((diff & !HIGH) + !HIGH) | diff | !HIGH);
    let first_is_space = spaces & 0x80 != 0;
    let last_is_space = spaces & (0x80 << 56) != 0;
    let next_plain = bytes.get(i + 8).is_some_and(|&c| c > b' ' && c < 0x80);
    let ok = spaces & (spaces >> 8) == 0
        && (in_run || !first_is_space)
        && (!last_is_space || next_plain);
    ok.then_some(8)
}

/// The code point and length of the multi-byte UTF-8 sequence at `bytes[i]` (a valid str).
fn decode_multibyte(bytes: &[u8], i: usize) -> (u32, usize) {
    let b = bytes[i] as u32;
    let tail = |k: usize| bytes[i + k] as u32 & 0x3f;
    if b < 0xe0 {
        (((b & 0x1f) << 6) | tail(1), 2)
    } else if b < 0xf0 {
        (((b & 0x0f) << 12) | (tail(1) << 6) | tail(2), 3)
    } else {
        (
            ((b & 0x07) << 18) | (tail(1) << 12) | (tail(2) << 6) | tail(3),
            4,
        )
    }
}

/// What `basic` does with a character: copies it as it is, reads it as whitespace, or (NFC
/// may change it) hands the text to the reference path.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum CharKind {
    Plain,
    Space,
    MayChange,
}

/// The kind of the character `code` (a scalar value decoded from a str).
///
/// NFC leaves a character alone whatever surrounds it when its NFC quick check is Yes and its
/// canonical combining class is 0: it neither composes with a neighbour nor takes part in
/// reordering, and a text made only of such characters is in NFC. (A mark with another class
/// can need reordering even when its own quick check is Yes, as U+0315 before U+0316.)
fn char_kind(code: u32) -> CharKind {
    // The answers for the Basic Multilingual Plane, two bits per character, computed once:
    // the table lookups behind them cost more than the rest of the normalization.
    static BMP: OnceLock<Vec<u8>> = OnceLock::new();
    let classify = |code: u32| {
        let Some(c) = char::from_u32(code) else {
            return CharKind::MayChange; // a surrogate: never decoded from a str
        };
        if canonical_combining_class(c) != 0
            || is_nfc_quick(std::iter::once(c)) != IsNormalized::Yes
        {
            CharKind::MayChange
        } else if c.is_whitespace() {
            CharKind::Space
        } else {
            CharKind::Plain
        }
    };
    if code >= 0x10000 {
        return classify(code);
    }
    let kinds = BMP.get_or_init(|| (0..0x10000).map(|code| classify(code) as u8).collect());
    match kinds[code as usize] {
        0 => CharKind::Plain,
        1 => CharKind::Space,
        _ => CharKind::MayChange,
    }
}

fn collapse_whitespace(chars: impl Iterator<Item = char>, out: &mut String) {
    let mut pending_space = false;
    for c in chars {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
        } else {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(mode: Normalization, text: &str) -> String {
        let mut buf = String::new();
        String::from_utf8(mode.apply(text, &mut buf).to_vec()).unwrap()
    }

    #[test]
    fn basic_fast_path_equals_reference() {
        for text in [
            "  a  b\t\nc ",
            "Caf\u{0065}\u{0301} x",
            "e\u{301}\u{300}",
            "\u{3000}全角\u{3000}空白\u{a0}nbsp\u{2028}end\u{85}",
            "",
            " \n ",
            "日本語 テキスト",
            "\u{301}leading mark",
            "a\u{315}\u{316} marks out of canonical order",
            "한국어 \u{1100}\u{1161} jamo",
            "emoji 😀 and 𠀀 outside the BMP",
        ] {
            let mut reference = String::new();
            basic_reference(text, &mut reference);
            assert_eq!(norm(Normalization::Basic, text), reference, "{text:?}");
        }
    }

    #[test]
    fn basic_fast_path_equals_reference_on_mixed_pieces() {
        let pieces = [
            " ",
            "  ",
            "\n",
            "\t",
            "\r\n",
            "a",
            "bc",
            "é",
            "e\u{301}",
            "\u{3000}",
            "\u{a0}",
            "日本",
            "\u{85}",
            "x y",
            "\u{1}",
            "😀",
            "\u{315}",
            "hello world ",
            "abcdefgh",
            "a b c d e f",
        ];
        let mut state = 12345u64;
        for _ in 0..5000 {
            let mut text = String::new();
            for _ in 0..(state % 40) {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                text.push_str(pieces[(state >> 33) as usize % pieces.len()]);
            }
            let mut reference = String::new();
            basic_reference(&text, &mut reference);
            assert_eq!(norm(Normalization::Basic, &text), reference, "{text:?}");
        }
    }

    #[test]
    fn basic_fast_path_equals_reference_on_real_text() {
        let file = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/corpus/sample.jsonl.zst"
        );
        let inputs = crate::dedup::input::InputSet::expand(&[file], "text", "id").unwrap();
        let mut seen = 0;
        inputs
            .for_each_batch(Default::default(), 1 << 20, |batch| {
                for record in &batch {
                    let Some(fields) = inputs.fields(record) else {
                        continue;
                    };
                    let mut reference = String::new();
                    basic_reference(&fields.text, &mut reference);
                    assert_eq!(
                        norm(Normalization::Basic, &fields.text),
                        reference,
                        "{}",
                        fields.id
                    );
                    seen += 1;
                }
                Ok(())
            })
            .unwrap();
        assert!(seen > 80);
    }

    #[test]
    fn modes() {
        let text = "  Caf\u{0065}\u{0301}\n\tBAR,  ｆｕｌｌ!  ";
        assert_eq!(norm(Normalization::None, text), text);
        assert_eq!(norm(Normalization::Basic, text), "Café BAR, ｆｕｌｌ!");
        assert_eq!(norm(Normalization::Aggressive, text), "café bar full");
        assert_eq!(norm(Normalization::Basic, " \n "), "");
        assert_eq!(
            norm(Normalization::Basic, "a\r\nb  c"),
            norm(Normalization::Basic, "a b\nc")
        );
    }
}
