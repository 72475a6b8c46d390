//! One document's text with the pieces that several quality rules read (its words, its
//! character and newline counts), each worked out once, on first use, and shared by the rules
//! that check the document.

use super::words::for_each_word;
use std::cell::OnceCell;

/// A text and what the quality rules share about it. Made per document and thread; the rules
/// that check the document read it in turn.
pub struct TextAnalysis<'a> {
    text: &'a str,
    words: OnceCell<Vec<&'a str>>,
    chars: OnceCell<usize>,
    newlines: OnceCell<usize>,
}

impl<'a> TextAnalysis<'a> {
    pub fn new(text: &'a str) -> Self {
        TextAnalysis {
            text,
            words: OnceCell::new(),
            chars: OnceCell::new(),
            newlines: OnceCell::new(),
        }
    }

    pub fn text(&self) -> &'a str {
        self.text
    }

    /// The words, as [`super::words::words`] splits them.
    pub fn words(&self) -> &[&'a str] {
        self.words.get_or_init(|| {
            let mut out = Vec::with_capacity(self.text.len() / 5 + 1);
            for_each_word(self.text, |w| out.push(w));
            out
        })
    }

    /// Characters (Unicode scalar values) of the whole text.
    pub fn chars(&self) -> usize {
        *self.chars.get_or_init(|| self.text.chars().count())
    }

    /// `\n` characters.
    pub fn newlines(&self) -> usize {
        *self
            .newlines
            .get_or_init(|| self.text.bytes().filter(|&b| b == b'\n').count())
    }
}
