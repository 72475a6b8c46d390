//! Encoding check: text decoded with the wrong codec (mojibake) or damaged in transit.
//!
//! None of the published rule sets looks for this, yet it is the commonest defect of scraped
//! multilingual text, and mojibake keeps enough of its words and punctuation to pass them. The
//! signs counted here are the fingerprints of the usual codec mix-ups:
//!
//! - replacement characters, C1 control characters (UTF-8 read as Latin-1) and private-use
//!   characters;
//! - a UTF-8 lead byte read as Latin-1/cp1252 (`Ã`, `â`, ...) followed by a continuation byte
//!   read the same way that is not a letter (`©`, `€`, `™`, `¤`): `Ã©`, `â€™`;
//! - box-drawing characters touching a non-ASCII letter or Latin-1 symbol (UTF-8 read as KOI8-R
//!   or cp437: `lц╘pe`, `Σ╕¡`; tables have them next to spaces, ASCII or Han), and half-width katakana touching a letter (UTF-8 read as Shift_JIS:
//!   `Espaﾃｱol`);
//! - a CJK character inside a word of a spaced script (`p艡ed`: UTF-8 read as GBK);
//! - Han characters outside the common sets of GB 2312, Big5 and JIS X 0208 level 1 (UTF-8
//!   Chinese read as GBK gives rare characters only): see `data/filter/common_han.txt`.

use super::{ratio, Failure, QualityRule};
use crate::filter::analysis::TextAnalysis;
use crate::filter::script::{script_of, Script};
use crate::filter::thresholds::Profile;
use serde::Deserialize;
use std::sync::LazyLock;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncodingConfig {
    /// Most suspicious characters (all signs but rare Han), as a share of non-space characters.
    pub max_suspicious_ratio: f64,
    /// Most Han characters outside the common sets, as a share of Han characters...
    pub max_rare_han_ratio: f64,
    /// ...counted only when the text has at least this many Han characters.
    pub min_han_chars: usize,
}

pub struct Encoding;

/// The common Han characters as a bitmap over U+3400..=U+9FFF (all of them lie there).
static COMMON_HAN: LazyLock<Vec<u64>> = LazyLock::new(|| {
    let mut bits = vec![0u64; (0xA000 - 0x3400) / 64];
    for c in include_str!("../../../data/filter/common_han.txt").chars() {
        if let Some(i) = (c as usize)
            .checked_sub(0x3400)
            .filter(|&i| i < 0xA000 - 0x3400)
        {
            bits[i / 64] |= 1 << (i % 64);
        }
    }
    bits
});

fn is_common_han(c: char) -> bool {
    (c as usize)
        .checked_sub(0x3400)
        .and_then(|i| COMMON_HAN.get(i / 64).map(|w| w & (1 << (i % 64)) != 0))
        .unwrap_or(false)
}

/// Letters of the alphabetic scripts.
fn is_alphabet_letter(c: char) -> bool {
    matches!(
        script_of(c),
        Some(Script::Latin | Script::Greek | Script::Cyrillic)
    )
}

/// What UTF-8 bytes decoded as Latin-1, cp437 or KOI8-R look like besides box drawing: Latin-1
/// symbols and letters, other non-ASCII Latin, Greek and Cyrillic letters.
fn is_decoded_char(c: char) -> bool {
    matches!(c as u32, 0xA1..=0xFF if c != '×') || (!c.is_ascii() && is_alphabet_letter(c))
}

/// Han, kana and Hangul: what UTF-8 read as GBK, Big5 or Shift_JIS puts inside Latin words.
/// (Latin letters inside Cyrillic words are homoglyph typos, not a codec mix-up.)
fn is_cjk(script: Script) -> bool {
    matches!(
        script,
        Script::Han | Script::Hiragana | Script::Katakana | Script::Hangul
    )
}

/// A continuation byte (0x80-0xBF) as cp1252 / Latin-1 shows it, when it is not a letter.
fn is_continuation_symbol(c: char) -> bool {
    matches!(c, '\u{80}'..='\u{BF}' if !matches!(c, 'ª' | 'µ' | 'º'))
        || matches!(
            c,
            '€' | '‚'
                | '„'
                | '…'
                | '†'
                | '‡'
                | 'ˆ'
                | '‰'
                | '‹'
                | '‘'
                | '’'
                | '“'
                | '”'
                | '•'
                | '–'
                | '—'
                | '˜'
                | '™'
                | '›'
        )
}

/// Counts of the signs in a text.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct EncodingSigns {
    pub non_space: usize,
    pub suspicious: usize,
    pub han: usize,
    pub rare_han: usize,
}

pub fn encoding_signs(text: &str) -> EncodingSigns {
    let mut signs = EncodingSigns::default();
    let mut prev = ' ';
    let mut prev_script: Option<Script> = None;
    // Script of the letter before `prev`, to find a foreign letter sandwiched in a word.
    let mut before_prev_script: Option<Script> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let next = chars.peek().copied().unwrap_or(' ');
        let script = script_of(c);
        if !c.is_whitespace() {
            signs.non_space += 1;
        }
        let cp = c as u32;
        let suspicious = match cp {
            0xFFFD | 0x80..=0x9F | 0xE000..=0xF8FF => true,
            0xC2..=0xEF => is_continuation_symbol(next),
            // Box drawing beside what a codec makes of the other bytes of a character: a
            // non-ASCII letter or Latin-1 symbol (tables put it beside spaces, ASCII or Han).
            0x2500..=0x259F => is_decoded_char(prev) || is_decoded_char(next),
            // Half-width katakana beside a Latin, Greek or Cyrillic letter (`Espaﾃｱol`).
            0xFF61..=0xFF9F => is_alphabet_letter(prev) || is_alphabet_letter(next),
            _ => false,
        };
        // A CJK character between two letters of one spaced script: `p艡e`.
        let sandwiched = match (before_prev_script, prev_script, script) {
            (Some(a), Some(b), Some(c2)) => a == c2 && a != b && !a.is_unspaced() && is_cjk(b),
            _ => false,
        };
        if suspicious || sandwiched {
            signs.suspicious += 1;
        }
        if script == Some(Script::Han) {
            signs.han += 1;
            if !is_common_han(c) {
                signs.rare_han += 1;
            }
        }
        before_prev_script = prev_script;
        prev_script = script;
        prev = c;
    }
    signs
}

impl QualityRule for Encoding {
    fn name(&self) -> &'static str {
        "encoding"
    }

    fn check_analyzed(&self, analysis: &TextAnalysis, profile: &Profile) -> Result<(), Failure> {
        let cfg = &profile.encoding;
        let signs = encoding_signs(analysis.text());
        let value = ratio(signs.suspicious, signs.non_space);
        if value > cfg.max_suspicious_ratio {
            return Err(Failure::new(
                "mojibake_chars",
                value,
                cfg.max_suspicious_ratio,
            ));
        }
        if signs.han >= cfg.min_han_chars {
            let value = ratio(signs.rare_han, signs.han);
            if value > cfg.max_rare_han_ratio {
                return Err(Failure::new(
                    "rare_han_ratio",
                    value,
                    cfg.max_rare_han_ratio,
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_fingerprints_of_codec_mixups() {
        assert_eq!(encoding_signs("plain text, déjà vu").suspicious, 0);
        assert_eq!(encoding_signs("cafÃ© and itâ€™s").suspicious, 2);
        assert_eq!(encoding_signs("Je l茅pe b媒t").suspicious, 2);
        assert_eq!(encoding_signs("lц╘pe").suspicious, 1);
        assert_eq!(encoding_signs("│ 表 │ ─── │").suspicious, 0);
        assert_eq!(encoding_signs("│   │Int │").suspicious, 0);
        assert_eq!(encoding_signs("415│X 窗口│V:3").suspicious, 0);
        assert_eq!(encoding_signs("使用ls命令").suspicious, 0);
        // "这个命令用于显示文件的内容" encoded as UTF-8 and decoded as GBK.
        let signs = encoding_signs("杩欎釜鍛戒护鐢ㄤ簬鏄剧ず鏂囦欢鐨勫唴瀹");
        assert_eq!((signs.han, signs.rare_han), (17, 11));
        assert_eq!(encoding_signs("这个命令用于显示文件的内容").rare_han, 0);
    }
}
