//! One document's text with the pieces that several quality rules read (its words, its
//! character and newline counts), each worked out once, on first use, and shared by the rules
//! that check the document.

use super::thresholds::Profile;
use super::words::{for_each_word_segmented, Segmenter};
use std::cell::OnceCell;

/// A text and what the quality rules share about it. Made per document and thread; the rules
/// that check the document read it in turn.
pub struct TextAnalysis<'a> {
    text: &'a str,
    segmenter: Segmenter,
    words: OnceCell<Vec<&'a str>>,
    pieces: OnceCell<Vec<&'a str>>,
    chars: OnceCell<usize>,
    newlines: OnceCell<usize>,
}

impl<'a> TextAnalysis<'a> {
    /// The analysis with words split a character a word in Han text.
    pub fn new(text: &'a str) -> Self {
        Self::with_segmenter(text, Segmenter::Characters)
    }

    /// The analysis with words split as the language's settings say.
    pub fn for_profile(text: &'a str, profile: &Profile) -> Self {
        Self::with_segmenter(text, profile.segmenter)
    }

    pub fn with_segmenter(text: &'a str, segmenter: Segmenter) -> Self {
        TextAnalysis {
            text,
            segmenter,
            words: OnceCell::new(),
            pieces: OnceCell::new(),
            chars: OnceCell::new(),
            newlines: OnceCell::new(),
        }
    }

    pub fn text(&self) -> &'a str {
        self.text
    }

    /// The words, as [`super::words::words`] splits them, Han text split by the segmenter.
    pub fn words(&self) -> &[&'a str] {
        self.words.get_or_init(|| {
            let mut out = Vec::with_capacity(self.text.len() / 5 + 1);
            for_each_word_segmented(self.text, self.segmenter, |w| out.push(w));
            out
        })
    }

    /// The text split at every `\n` (`str::split('\n')`: empty pieces included).
    pub fn pieces(&self) -> &[&'a str] {
        self.pieces.get_or_init(|| self.text.split('\n').collect())
    }

    /// The lines as `str::lines` gives them: a final empty piece dropped, `\r` before a `\n`
    /// removed.
    pub fn lines(&self) -> impl Iterator<Item = &'a str> + '_ {
        let pieces = self.pieces();
        let last = pieces.len() - 1;
        // The last piece is not followed by a `\n`: it keeps a final `\r`, and is no line
        // when empty.
        let n = if pieces[last].is_empty() {
            last
        } else {
            pieces.len()
        };
        pieces[..n].iter().enumerate().map(move |(i, l)| {
            if i < last {
                l.strip_suffix('\r').unwrap_or(l)
            } else {
                l
            }
        })
    }

    /// Characters (Unicode scalar values) of the whole text.
    pub fn chars(&self) -> usize {
        *self.chars.get_or_init(|| self.text.chars().count())
    }

    /// `\n` characters.
    pub fn newlines(&self) -> usize {
        *self.newlines.get_or_init(|| self.pieces().len() - 1)
    }
}

/// Hashes a string key in one call to xxh3 (the standard `Hash` of `str` writes its bytes and
/// then a marker byte, which xxh3's streaming state makes slow). Keys are still compared in
/// full.
#[derive(Default)]
pub(crate) struct OneShotHasher(u64);

impl std::hash::Hasher for OneShotHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.0);
    }
    fn write_u8(&mut self, byte: u8) {
        self.0 = self.0.rotate_left(8) ^ u64::from(byte);
    }
}

/// Builds [`OneShotHasher`]s, for sets of lines and paragraphs.
pub(crate) type StrHashBuilder = std::hash::BuildHasherDefault<OneShotHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_pieces_are_those_of_the_standard_library() {
        for text in [
            "",
            "\n",
            "a",
            "a\n",
            "a\r\nb\r\n\n",
            "a\n\nb",
            "\r\n\r",
            "a\rb\n",
        ] {
            let analysis = TextAnalysis::new(text);
            assert_eq!(
                analysis.lines().collect::<Vec<_>>(),
                text.lines().collect::<Vec<_>>(),
                "{text:?}"
            );
            assert_eq!(analysis.pieces(), text.split('\n').collect::<Vec<_>>());
            assert_eq!(analysis.newlines(), text.matches('\n').count());
        }
    }
}
