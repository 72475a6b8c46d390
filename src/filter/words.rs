//! Words, lines and paragraphs as the quality rules count them.
//!
//! A word is a maximal run of non-space characters, except that every character of a script
//! written without spaces (Han, kana, Thai) is a word of its own. This is the character-class
//! segmentation the rules need for Chinese and Japanese: it needs no dictionary, is as fast as
//! splitting on spaces, and gives counts that per-language thresholds can be set against
//! (an average Chinese word is about 1.7 characters, so counts run about 1.7x a segmenter's).

use super::script::{script_of, Script};

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

/// Calls `f` on each word, in order.
pub fn for_each_word<'a>(text: &'a str, mut f: impl FnMut(&'a str)) {
    for chunk in text.split_whitespace() {
        if chunk.is_ascii() {
            f(chunk);
            continue;
        }
        let mut start = None;
        for (i, c) in chunk.char_indices() {
            // Every unspaced script starts at Thai (U+0E00): cheaper than a full lookup.
            let unspaced = c >= '\u{0E00}' && script_of(c).is_some_and(Script::is_unspaced);
            if unspaced {
                if let Some(s) = start.take() {
                    f(&chunk[s..i]);
                }
                f(&chunk[i..i + c.len_utf8()]);
            } else if start.is_none() {
                start = Some(i);
            }
        }
        if let Some(s) = start {
            f(&chunk[s..]);
        }
    }
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
    word.chars().any(char::is_alphabetic)
}

/// True when a word is punctuation or symbols only (`-`, `|`, `...`).
pub fn is_symbol_only(word: &str) -> bool {
    !word.chars().any(char::is_alphanumeric)
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
    fn cjk_characters_are_words() {
        assert_eq!(words("使用ls命令。"), ["使", "用", "ls", "命", "令", "。"]);
        assert_eq!(
            words("ファイルを削除"),
            ["フ", "ァ", "イ", "ル", "を", "削", "除"]
        );
    }

    #[test]
    fn finds_paragraphs() {
        assert_eq!(paragraphs("a b\nc\n\n\n  \nd\n"), ["a b\nc", "d"]);
        assert_eq!(paragraphs(""), Vec::<&str>::new());
    }

    #[test]
    fn lines_skip_blank_ones() {
        assert_eq!(lines("a\r\n\n b \n").collect::<Vec<_>>(), ["a", " b "]);
    }
}
