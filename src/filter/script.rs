//! Writing systems of characters, by Unicode block. Language id and the quality rules both
//! need to know which script a letter belongs to: CJK text has no spaces between words,
//! mojibake mixes scripts inside words, and the script narrows down the language.

/// The scripts glmkit tells apart. Letters of other scripts are `Other`; everything that is not
/// a letter (digits, punctuation, symbols, spaces) is `None` in [`script_of`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Script {
    Latin,
    Greek,
    Cyrillic,
    Hebrew,
    Arabic,
    Devanagari,
    Thai,
    Hangul,
    Hiragana,
    Katakana,
    Han,
    Other,
}

impl Script {
    pub const ALL: [Script; 12] = [
        Script::Latin,
        Script::Greek,
        Script::Cyrillic,
        Script::Hebrew,
        Script::Arabic,
        Script::Devanagari,
        Script::Thai,
        Script::Hangul,
        Script::Hiragana,
        Script::Katakana,
        Script::Han,
        Script::Other,
    ];

    /// Scripts written without spaces between words: each character counts as one word.
    pub fn is_unspaced(self) -> bool {
        matches!(
            self,
            Script::Han | Script::Hiragana | Script::Katakana | Script::Thai
        )
    }

    /// Scripts whose sentences end without punctuation: Thai ends a sentence with a space and a
    /// paragraph with a line break, so a line ending in a Thai letter ends a sentence.
    pub fn ends_sentences_unmarked(self) -> bool {
        matches!(self, Script::Thai)
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// The script of a letter (or a CJK ideograph / kana), `None` for anything else.
pub fn script_of(c: char) -> Option<Script> {
    let cp = c as u32;
    if c.is_ascii() {
        return c.is_ascii_alphabetic().then_some(Script::Latin);
    }
    let script = match cp {
        0x00C0..=0x024F if cp != 0xD7 && cp != 0xF7 => Script::Latin,
        0x1E00..=0x1EFF | 0x2C60..=0x2C7F | 0xA720..=0xA7FF | 0xFF21..=0xFF3A | 0xFF41..=0xFF5A => {
            Script::Latin
        }
        0x0370..=0x03FF | 0x1F00..=0x1FFF => Script::Greek,
        0x0400..=0x052F | 0x2DE0..=0x2DFF | 0xA640..=0xA69F => Script::Cyrillic,
        0x0590..=0x05FF | 0xFB1D..=0xFB4F => Script::Hebrew,
        0x0600..=0x06FF | 0x0750..=0x077F | 0x08A0..=0x08FF | 0xFB50..=0xFDFF | 0xFE70..=0xFEFF => {
            Script::Arabic
        }
        0x0900..=0x097F | 0xA8E0..=0xA8FF => Script::Devanagari,
        0x0E00..=0x0E7F => Script::Thai,
        0x1100..=0x11FF | 0x3130..=0x318F | 0xA960..=0xA97F | 0xAC00..=0xD7AF | 0xD7B0..=0xD7FF => {
            Script::Hangul
        }
        0x3040..=0x309F => Script::Hiragana,
        0x30A0..=0x30FF | 0x31F0..=0x31FF | 0xFF66..=0xFF9F => Script::Katakana,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3134F => Script::Han,
        _ => {
            if !c.is_alphabetic() {
                return None;
            }
            Script::Other
        }
    };
    // Combining marks and other non-letters inside these blocks (Thai vowel signs, Devanagari
    // matras, Arabic harakat) still belong to the script: they are part of its words.
    Some(script)
}

/// Letters per script in a text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptCounts {
    counts: [usize; 12],
}

impl ScriptCounts {
    pub fn of(text: &str) -> Self {
        let mut counts = [0usize; 12];
        for c in text.chars() {
            if let Some(script) = script_of(c) {
                counts[script.index()] += 1;
            }
        }
        ScriptCounts { counts }
    }

    pub fn get(&self, script: Script) -> usize {
        self.counts[script.index()]
    }

    pub fn letters(&self) -> usize {
        self.counts.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_common_scripts() {
        assert_eq!(script_of('a'), Some(Script::Latin));
        assert_eq!(script_of('ř'), Some(Script::Latin));
        assert_eq!(script_of('ệ'), Some(Script::Latin));
        assert_eq!(script_of('ж'), Some(Script::Cyrillic));
        assert_eq!(script_of('ї'), Some(Script::Cyrillic));
        assert_eq!(script_of('λ'), Some(Script::Greek));
        assert_eq!(script_of('ש'), Some(Script::Hebrew));
        assert_eq!(script_of('پ'), Some(Script::Arabic));
        assert_eq!(script_of('ह'), Some(Script::Devanagari));
        assert_eq!(script_of('ก'), Some(Script::Thai));
        assert_eq!(script_of('한'), Some(Script::Hangul));
        assert_eq!(script_of('の'), Some(Script::Hiragana));
        assert_eq!(script_of('カ'), Some(Script::Katakana));
        assert_eq!(script_of('中'), Some(Script::Han));
        assert_eq!(script_of('1'), None);
        assert_eq!(script_of('。'), None);
        assert_eq!(script_of('×'), None);
    }

    #[test]
    fn counts_letters_per_script() {
        let counts = ScriptCounts::of("ls 命令の説明 2024");
        assert_eq!(counts.get(Script::Latin), 2);
        assert_eq!(counts.get(Script::Han), 4);
        assert_eq!(counts.get(Script::Hiragana), 1);
        assert_eq!(counts.letters(), 7);
    }
}
