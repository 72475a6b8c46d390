//! Words, lines and paragraphs as the quality rules count them.
//!
//! A word is a maximal run of non-space characters, except that every character of a script
//! written without spaces (Han, kana, Thai) is a word of its own. This is the character-class
//! segmentation the rules need for Chinese and Japanese: it needs no dictionary, is as fast as
//! splitting on spaces, and gives counts that per-language thresholds can be set against
//! (an average Chinese word is about 1.7 characters, so counts run about 1.7x a segmenter's).
//! A language's `segmenter = "jieba"` setting cuts Han text with jieba instead, for the
//! Gopher rules ([`Segmenter`]; docs/filter.md has the measured trade-off).

use super::script::{script_of, Script};
use serde::Deserialize;
use std::sync::OnceLock;

/// How the Gopher rules split text written without spaces into words (a language's
/// `segmenter` setting).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Segmenter {
    /// Every Han, kana and Thai character is a word (see the module docs).
    #[default]
    Characters,
    /// Runs of Han characters are cut into words by jieba's dictionary and HMM (the jieba-rs
    /// crate: the segmenter FineWeb-2's Chinese settings were measured with); kana and Thai
    /// stay one word a character.
    Jieba,
}

/// jieba's dictionary, loaded once per process on first use (about 0.15 s).
fn jieba() -> &'static jieba_rs::Jieba {
    static JIEBA: OnceLock<jieba_rs::Jieba> = OnceLock::new();
    JIEBA.get_or_init(jieba_rs::Jieba::new)
}

/// Splits text into words (see the module docs). Punctuation stays attached to a spaced word
/// (`end.`) as with a whitespace split; between unspaced characters it forms its own word.
pub fn words(text: &str) -> Vec<&str> {
    let mut out = Vec::with_capacity(text.len() / 5 + 1);
    for_each_word(text, |w| out.push(w));
    out
}

/// The number of words, without collecting them.
pub fn word_count(text: &str) -> usize {
    let mut n = 0;
    for_each_word(text, |_| n += 1);
    n
}

/// The number of words that are not punctuation or symbols only (`--`, `|`), as Gopher's
/// word count has them.
pub fn content_word_count(text: &str) -> usize {
    let mut n = 0;
    for_each_word(text, |w| n += usize::from(!is_symbol_only(w)));
    n
}

/// Calls `f` on each word, in order. One pass: bytes below U+0080 are tested as bytes, other
/// characters decoded once.
pub fn for_each_word<'a>(text: &'a str, f: impl FnMut(&'a str)) {
    for_each_word_segmented(text, Segmenter::Characters, f)
}

/// [`for_each_word`], with runs of Han characters split by `segmenter`.
pub fn for_each_word_segmented<'a>(
    text: &'a str,
    segmenter: Segmenter,
    mut f: impl FnMut(&'a str),
) {
    let bytes = text.as_bytes();
    // Start of the spaced word being read, if any.
    let mut start = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x80 {
            if is_ascii_space(b) {
                if let Some(s) = start.take() {
                    f(&text[s..i]);
                }
            } else if start.is_none() {
                start = Some(i);
            }
            i += 1;
            continue;
        }
        let c = text[i..].chars().next().expect("a character starts here");
        let len = c.len_utf8();
        // Every unspaced script starts at Thai (U+0E00): cheaper than a full lookup.
        let unspaced = c >= '\u{0E00}' && script_of(c).is_some_and(Script::is_unspaced);
        if unspaced || c.is_whitespace() {
            if let Some(s) = start.take() {
                f(&text[s..i]);
            }
            if unspaced && segmenter == Segmenter::Jieba && script_of(c) == Some(Script::Han) {
                let run = han_run(&text[i..]);
                for token in jieba().cut(run, true) {
                    f(token.word);
                }
                i += run.len();
                continue;
            }
            if unspaced {
                f(&text[i..i + len]);
            }
        } else if start.is_none() {
            start = Some(i);
        }
        i += len;
    }
    if let Some(s) = start {
        f(&text[s..]);
    }
}

/// Whether `word` is one character of a script written without spaces that the character
/// fallback made a word of its own (not a word a segmenter found): such words say nothing
/// about word length.
pub fn is_character_word(word: &str, segmenter: Segmenter) -> bool {
    let mut chars = word.chars();
    let (Some(c), None) = (chars.next(), chars.next()) else {
        return false;
    };
    match script_of(c) {
        Some(Script::Han) => segmenter == Segmenter::Characters,
        Some(script) => script.is_unspaced(),
        None => false,
    }
}

/// The run of Han characters that `text` starts with.
fn han_run(text: &str) -> &str {
    let end = text
        .char_indices()
        .find(|&(_, c)| script_of(c) != Some(Script::Han))
        .map_or(text.len(), |(i, _)| i);
    &text[..end]
}

/// The white space of `char::is_whitespace` below U+0080.
fn is_ascii_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t'..=b'\r')
}

/// Non-empty lines, without their line ending.
pub fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.trim().is_empty())
}

/// Paragraphs: blocks separated by one or more blank lines.
pub fn paragraphs(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut end = 0;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.trim().is_empty() {
            if let Some(s) = start.take() {
                out.push(&text[s..end]);
            }
        } else {
            if start.is_none() {
                start = Some(offset);
            }
            end = offset + line.trim_end().len();
        }
        offset += line.len();
    }
    if let Some(s) = start {
        out.push(&text[s..end]);
    }
    out
}

/// True when a word has at least one letter (any script).
pub fn has_letter(word: &str) -> bool {
    word.chars().any(is_alphabetic)
}

/// True when a word is punctuation or symbols only (`-`, `|`, `...`).
pub fn is_symbol_only(word: &str) -> bool {
    !word.chars().any(is_alphanumeric)
}

/// Letters of the largest blocks that hold letters only (Cyrillic, Hiragana, Katakana, CJK
/// ideographs, Hangul syllables): answered without the Unicode tables, which the per-word
/// tests of the rules would otherwise consult for every character of such text.
fn in_letter_block(c: char) -> bool {
    matches!(c as u32, 0x0410..=0x044F | 0x3041..=0x3096 | 0x30A1..=0x30FA | 0x4E00..=0x9FFF | 0xAC00..=0xD7A3)
}

/// Letters of scripts without case (kana, CJK ideographs, Hangul syllables), by block.
pub(crate) fn is_caseless_letter(c: char) -> bool {
    matches!(c as u32, 0x3041..=0x3096 | 0x30A1..=0x30FA | 0x4E00..=0x9FFF | 0xAC00..=0xD7A3)
}

/// `char::is_alphabetic`, quicker on ASCII and the blocks of [`in_letter_block`].
pub fn is_alphabetic(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphabetic()
    } else {
        in_letter_block(c) || c.is_alphabetic()
    }
}

/// `char::is_alphanumeric`, quicker on ASCII and the blocks of [`in_letter_block`].
pub fn is_alphanumeric(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric()
    } else {
        in_letter_block(c) || c.is_alphanumeric()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_spaced_text_on_whitespace() {
        assert_eq!(
            words("The cat, the hat.\nEnd"),
            ["The", "cat,", "the", "hat.", "End"]
        );
    }

    #[test]
    fn splits_on_white_space_as_the_standard_library_does() {
        let text =
            "a\u{3000}b\u{a0}c\td\u{2028}e  \u{85}f\u{1f600}g\u{200b}h\x0bi\x0c\rj é\u{2003}ü";
        let expected: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(words(text), expected);
    }

    #[test]
    fn cjk_characters_are_words() {
        assert_eq!(words("使用ls命令。"), ["使", "用", "ls", "命", "令", "。"]);
        assert_eq!(
            words("ファイルを削除"),
            ["フ", "ァ", "イ", "ル", "を", "削", "除"]
        );
    }

    fn jieba_words(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        for_each_word_segmented(text, Segmenter::Jieba, |w| out.push(w));
        out
    }

    #[test]
    fn jieba_cuts_han_runs_into_words_and_leaves_the_rest_alone() {
        let text = "大多数传统的 X 客户端程序，例如 xterm(1)，可以用一组标准的命令行选项来启动。";
        let cut = jieba_words(text);
        // Words of two and more characters, each a slice of the text.
        for w in ["大多数", "传统", "客户端程序", "命令行", "选项", "启动"] {
            assert!(cut.contains(&w), "{w} not in {cut:?}");
        }
        assert!(cut.contains(&"X") && cut.contains(&"xterm(1)，"), "{cut:?}");
        let base = text.as_ptr() as usize;
        for w in &cut {
            let at = w.as_ptr() as usize - base;
            assert_eq!(&text[at..at + w.len()], *w);
        }
        // In order, covering every character that is not white space.
        let joined: String = cut.concat();
        assert_eq!(joined, text.split_whitespace().collect::<String>());
        // Kana, Thai and spaced text are split as without a segmenter (Han characters among
        // kana are cut by jieba too: the setting is meant for Chinese only).
        for other in [
            "ファイルをけす",
            "สวัสดี",
            "The cat, the hat.",
            "Ελληνικά κείμενα",
        ] {
            assert_eq!(jieba_words(other), words(other), "{other}");
        }
        assert!(jieba_words("").is_empty());
    }

    #[test]
    fn finds_paragraphs() {
        assert_eq!(paragraphs("a b\nc\n\n\n  \nd\n"), ["a b\nc", "d"]);
        assert_eq!(paragraphs(""), Vec::<&str>::new());
    }

    #[test]
    fn quick_letter_tests_agree_with_the_unicode_tables() {
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            assert_eq!(is_alphabetic(c), c.is_alphabetic(), "{c:?}");
            assert_eq!(is_alphanumeric(c), c.is_alphanumeric(), "{c:?}");
            if is_caseless_letter(c) {
                assert!(c.is_alphabetic() && !c.is_uppercase(), "{c:?}");
            }
        }
    }

    #[test]
    fn lines_skip_blank_ones() {
        assert_eq!(lines("a\r\n\n b \n").collect::<Vec<_>>(), ["a", " b "]);
    }
}
