//! Language identification: the script first, then the language within the script.
//!
//! 1. Letters are counted per script ([`ScriptCounts`]); a Han, kana or Hangul character counts
//!    as [`CJK_WEIGHT`] letters, since it carries about as much text as a short word. The
//!    script with the largest weight wins, so a Chinese or Japanese manual full of English
//!    option names is still Chinese or Japanese.
//! 2. A script used by one candidate language decides alone (Greek -> el, Hangul -> ko, Thai,
//!    Hebrew, Devanagari). Han and kana: Japanese when kana make at least
//!    [`KANA_SHARE_FOR_JAPANESE`] of them, Chinese otherwise. Latin, Cyrillic and Arabic script:
//!    whatlang's trigram model, limited to the candidate languages of that script and run on
//!    the words of that script only, checked against a second, independent vote: the share of
//!    each language's function words (the `stop_words` of `data/thresholds/`). When the two
//!    disagree, the more decisive one wins (whatlang's confidence against the function-word
//!    margin); a vote of at least [`DECISIVE_HITS`] hits and [`DECISIVE_MARGIN`] margin decides
//!    alone. Trigram profiles alone confuse Polish written without diacritics with
//!    Portuguese, or a Hungarian page full of configuration lines with English; function words
//!    settle those.
//!
//! The score is the share of the text's letter weight in the winning script, times whatlang's
//! confidence where it decided. It is in `[0, 1]`. whatlang reads the first
//! [`TRIGRAM_SAMPLE_BYTES`] of the in-script words (its cost grows with the text; its answer
//! settles long before); the script count and the function-word vote read the whole text.

use super::script::{script_of, Script, ScriptCounts};
use super::thresholds::Thresholds;
use crate::corpus::Document;
use crate::pipeline::{Rejection, Step, StepError, Verdict};
use serde::Deserialize;
use std::collections::HashMap;
use whatlang::{Detector, Lang};
use xxhash_rust::xxh3::Xxh3Builder;

/// Letters one Han, kana or Hangul character weighs against Latin-like letters.
pub const CJK_WEIGHT: usize = 3;
/// Least share of kana among Han + kana for Japanese (Japanese prose has 30-70 %).
pub const KANA_SHARE_FOR_JAPANESE: f64 = 0.05;

/// The languages glmkit identifies by default: the 24 of the shared corpus, th, hi, he, fa,
/// and Latin, so that placeholder text (lorem ipsum) is not mistaken for French or Italian.
pub const DEFAULT_LANGUAGES: &[&str] = &[
    "zh", "en", "de", "fr", "es", "it", "pt", "ru", "pl", "uk", "cs", "nl", "sv", "ja", "ko", "vi",
    "id", "el", "tr", "hu", "fi", "da", "ro", "ar", "th", "hi", "he", "fa", "la",
];

/// ISO 639-1 codes and the whatlang language and script of each language glmkit can name.
const LANGUAGES: &[(&str, Lang, Script)] = &[
    ("zh", Lang::Cmn, Script::Han),
    ("ja", Lang::Jpn, Script::Hiragana),
    ("ko", Lang::Kor, Script::Hangul),
    ("en", Lang::Eng, Script::Latin),
    ("de", Lang::Deu, Script::Latin),
    ("fr", Lang::Fra, Script::Latin),
    ("es", Lang::Spa, Script::Latin),
    ("it", Lang::Ita, Script::Latin),
    ("pt", Lang::Por, Script::Latin),
    ("pl", Lang::Pol, Script::Latin),
    ("cs", Lang::Ces, Script::Latin),
    ("sk", Lang::Slk, Script::Latin),
    ("nl", Lang::Nld, Script::Latin),
    ("sv", Lang::Swe, Script::Latin),
    ("da", Lang::Dan, Script::Latin),
    ("nb", Lang::Nob, Script::Latin),
    ("fi", Lang::Fin, Script::Latin),
    ("et", Lang::Est, Script::Latin),
    ("hu", Lang::Hun, Script::Latin),
    ("ro", Lang::Ron, Script::Latin),
    ("tr", Lang::Tur, Script::Latin),
    ("vi", Lang::Vie, Script::Latin),
    ("id", Lang::Ind, Script::Latin),
    ("ca", Lang::Cat, Script::Latin),
    ("hr", Lang::Hrv, Script::Latin),
    ("sl", Lang::Slv, Script::Latin),
    ("lt", Lang::Lit, Script::Latin),
    ("lv", Lang::Lav, Script::Latin),
    ("la", Lang::Lat, Script::Latin),
    ("ru", Lang::Rus, Script::Cyrillic),
    ("uk", Lang::Ukr, Script::Cyrillic),
    ("bg", Lang::Bul, Script::Cyrillic),
    ("be", Lang::Bel, Script::Cyrillic),
    ("sr", Lang::Srp, Script::Cyrillic),
    ("mk", Lang::Mkd, Script::Cyrillic),
    ("el", Lang::Ell, Script::Greek),
    ("ar", Lang::Ara, Script::Arabic),
    ("fa", Lang::Pes, Script::Arabic),
    ("ur", Lang::Urd, Script::Arabic),
    ("he", Lang::Heb, Script::Hebrew),
    ("hi", Lang::Hin, Script::Devanagari),
    ("th", Lang::Tha, Script::Thai),
];

#[derive(Debug, thiserror::Error)]
pub enum LangIdError {
    #[error("unknown language code `{0}` (known: {1})")]
    UnknownLanguage(String, String),
    #[error("no candidate languages")]
    Empty,
}

/// A language and how sure the identifier is.
#[derive(Debug, Clone, PartialEq)]
pub struct Identified {
    pub lang: &'static str,
    pub score: f64,
}

/// Identifies the language of a text among a set of candidates.
pub struct LanguageIdentifier {
    /// Candidates as (code, whatlang language, script).
    candidates: Vec<(&'static str, Lang, Script)>,
    latin: Option<Detector>,
    cyrillic: Option<Detector>,
    arabic: Option<Detector>,
    /// Function words of the candidates that have a list, as (code, words).
    function_langs: Vec<&'static str>,
    /// Function word -> bit `i` set when it belongs to `function_langs[i]` (at most 64).
    function_words: HashMap<String, u64, Xxh3Builder>,
}

/// Bytes of in-script words given to the trigram model.
pub const TRIGRAM_SAMPLE_BYTES: usize = 4096;

/// The largest char boundary of `s` at or below `at`.
fn floor_char_boundary(s: &str, at: usize) -> usize {
    if at >= s.len() {
        return s.len();
    }
    (0..=at).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0)
}

/// A function-word vote with at least this many hits and this margin over the runner-up
/// decides alone (whatlang is not consulted).
pub const DECISIVE_HITS: usize = 30;
pub const DECISIVE_MARGIN: f64 = 0.8;

/// Least number of function-word hits before that vote counts.
const MIN_FUNCTION_WORD_HITS: usize = 5;

impl LanguageIdentifier {
    pub fn new(codes: &[impl AsRef<str>]) -> Result<Self, LangIdError> {
        if codes.is_empty() {
            return Err(LangIdError::Empty);
        }
        let mut candidates = Vec::new();
        for code in codes {
            let code = code.as_ref();
            let entry = LANGUAGES
                .iter()
                .find(|(c, _, _)| *c == code)
                .ok_or_else(|| {
                    LangIdError::UnknownLanguage(
                        code.to_string(),
                        LANGUAGES.iter().map(|l| l.0).collect::<Vec<_>>().join(" "),
                    )
                })?;
            if !candidates.contains(entry) {
                candidates.push(*entry);
            }
        }
        let detector = |script: Script| {
            let langs: Vec<Lang> = candidates
                .iter()
                .filter(|c| c.2 == script)
                .map(|c| c.1)
                .collect();
            (langs.len() > 1).then(|| Detector::with_allowlist(langs))
        };
        let thresholds = Thresholds::built_in();
        let function_langs: Vec<&'static str> = candidates
            .iter()
            .map(|c| c.0)
            .filter(|code| thresholds.languages().any(|l| l == *code))
            .take(64)
            .collect();
        let mut function_words: HashMap<String, u64, Xxh3Builder> = HashMap::default();
        for (i, code) in function_langs.iter().enumerate() {
            for word in &thresholds.for_lang(Some(code)).stop_words {
                *function_words.entry(word.to_lowercase()).or_default() |= 1 << i;
            }
        }
        Ok(LanguageIdentifier {
            function_langs,
            function_words,
            latin: detector(Script::Latin),
            cyrillic: detector(Script::Cyrillic),
            arabic: detector(Script::Arabic),
            candidates,
        })
    }

    pub fn default_languages() -> Self {
        Self::new(DEFAULT_LANGUAGES).expect("default languages are known")
    }

    /// The most likely candidate language, or `None` for a text without letters of a
    /// candidate's script.
    pub fn identify(&self, text: &str) -> Option<Identified> {
        let counts = ScriptCounts::of(text);
        let weight = |s: Script| match s {
            Script::Han | Script::Hiragana | Script::Katakana | Script::Hangul => {
                counts.get(s) * CJK_WEIGHT
            }
            _ => counts.get(s),
        };
        let total: usize = Script::ALL.iter().map(|&s| weight(s)).sum();
        if total == 0 {
            return None;
        }
        let has = |script: Script| self.candidates.iter().any(|c| c.2 == script);
        // Han and kana form one group: Japanese is written with both.
        let cjk = weight(Script::Han) + weight(Script::Hiragana) + weight(Script::Katakana);
        let mut groups: Vec<(Script, usize)> = vec![(Script::Han, cjk)];
        for s in [
            Script::Latin,
            Script::Cyrillic,
            Script::Greek,
            Script::Arabic,
            Script::Hebrew,
            Script::Devanagari,
            Script::Thai,
            Script::Hangul,
        ] {
            groups.push((s, weight(s)));
        }
        groups.retain(|&(s, w)| {
            w > 0
                && if s == Script::Han {
                    has(Script::Han) || has(Script::Hiragana)
                } else {
                    has(s)
                }
        });
        // Largest weight first; ties go to the earlier script in the list (stable sort).
        groups.sort_by_key(|g| std::cmp::Reverse(g.1));
        let &(script, script_weight) = groups.first()?;
        let share = script_weight as f64 / total as f64;
        let only = |script: Script| self.candidates.iter().find(|c| c.2 == script).map(|c| c.0);
        let (lang, confidence) = match script {
            Script::Han => {
                let kana = counts.get(Script::Hiragana) + counts.get(Script::Katakana);
                let han_kana = kana + counts.get(Script::Han);
                let kana_share = kana as f64 / han_kana.max(1) as f64;
                match (has(Script::Hiragana), has(Script::Han)) {
                    (true, true) if kana_share >= KANA_SHARE_FOR_JAPANESE => ("ja", 1.0),
                    (true, true) => ("zh", 1.0),
                    (true, false) => ("ja", 1.0),
                    _ => ("zh", 1.0),
                }
            }
            Script::Latin => self.within(&self.latin, script, text)?,
            Script::Cyrillic => self.within(&self.cyrillic, script, text)?,
            Script::Arabic => self.within(&self.arabic, script, text)?,
            other => (only(other)?, 1.0),
        };
        Some(Identified {
            lang,
            score: (share * confidence).clamp(0.0, 1.0),
        })
    }

    /// whatlang among the candidates of `script`, on the words written in it.
    fn within(
        &self,
        detector: &Option<Detector>,
        script: Script,
        text: &str,
    ) -> Option<(&'static str, f64)> {
        let Some(detector) = detector else {
            return self
                .candidates
                .iter()
                .find(|c| c.2 == script)
                .map(|c| (c.0, 1.0));
        };
        let mut words = String::with_capacity(text.len());
        for word in text.split_whitespace() {
            let mut in_script = 0usize;
            let mut letters = 0usize;
            for c in word.chars() {
                if let Some(s) = script_of(c) {
                    letters += 1;
                    if s == script {
                        in_script += 1;
                    }
                }
            }
            if letters > 0 && in_script * 2 > letters {
                words.push_str(word);
                words.push(' ');
            }
        }
        let vote = self.function_word_vote(script, &words);
        // A decisive function-word vote settles it without the (costlier) trigram model.
        if let Some((lang, margin, hits)) = vote {
            if hits >= DECISIVE_HITS && margin >= DECISIVE_MARGIN {
                return Some((lang, margin));
            }
        }
        let vote = vote.map(|(lang, margin, _)| (lang, margin));
        // Trigram statistics settle within a few hundred words.
        let sample = &words[..floor_char_boundary(&words, TRIGRAM_SAMPLE_BYTES)];
        let trigram = detector.detect(sample).and_then(|info| {
            Some((
                self.candidates.iter().find(|c| c.1 == info.lang())?.0,
                info.confidence(),
            ))
        });
        match (trigram, vote) {
            (Some((t, conf)), Some((v, margin))) if t == v => Some((t, conf.max(margin))),
            (Some((t, conf)), Some((v, margin))) => Some(if margin > conf {
                (v, margin)
            } else {
                (t, conf)
            }),
            (Some(t), None) => Some(t),
            (None, v) => v,
        }
    }

    /// The candidate of `script` whose function words occur most often, and its margin over
    /// the runner-up (`(best - second) / best`), if it has at least [`MIN_FUNCTION_WORD_HITS`].
    fn function_word_vote(
        &self,
        script: Script,
        words: &str,
    ) -> Option<(&'static str, f64, usize)> {
        // Bits of the function-word languages that are candidates of this script.
        let mask = self
            .function_langs
            .iter()
            .enumerate()
            .fold(0u64, |m, (i, code)| {
                if self
                    .candidates
                    .iter()
                    .any(|c| c.0 == *code && c.2 == script)
                {
                    m | 1 << i
                } else {
                    m
                }
            });
        if mask.count_ones() < 2 {
            return None;
        }
        let mut hits = [0usize; 64];
        let mut lower = String::new();
        for word in words.split_whitespace() {
            let bare = word.trim_matches(|c: char| !c.is_alphanumeric());
            if bare.is_empty() || bare.len() > 24 {
                continue;
            }
            let key = if bare.chars().any(char::is_uppercase) {
                lower.clear();
                lower.extend(bare.chars().flat_map(char::to_lowercase));
                lower.as_str()
            } else {
                bare
            };
            let Some(&bits) = self.function_words.get(key) else {
                continue;
            };
            let mut bits = bits & mask;
            while bits != 0 {
                hits[bits.trailing_zeros() as usize] += 1;
                bits &= bits - 1;
            }
        }
        // Best and runner-up; ties go to the earlier language (candidate order).
        let (mut best, mut second) = (None::<usize>, 0usize);
        for i in (0..self.function_langs.len()).filter(|i| mask & (1 << i) != 0) {
            match best {
                Some(b) if hits[i] <= hits[b] => second = second.max(hits[i]),
                _ => {
                    if let Some(b) = best {
                        second = second.max(hits[b]);
                    }
                    best = Some(i);
                }
            }
        }
        let best = best?;
        if hits[best] < MIN_FUNCTION_WORD_HITS {
            return None;
        }
        let margin = (hits[best] - second) as f64 / hits[best] as f64;
        Some((self.function_langs[best], margin, hits[best]))
    }
}

/// Settings of the langid step.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LangIdConfig {
    /// Candidate languages (ISO 639-1).
    #[serde(default = "default_languages")]
    pub languages: Vec<String>,
    /// Keep only documents identified as one of these; empty keeps every language.
    #[serde(default)]
    pub keep: Vec<String>,
    /// Remove documents whose language is named with a score below this (a text in no
    /// candidate's script is `und` and is not judged by it; `keep` can remove it).
    #[serde(default = "default_min_score")]
    pub min_score: f64,
}

/// The default of `min_score` ([`DEFAULT_MIN_SCORE`]).
fn default_min_score() -> f64 {
    DEFAULT_MIN_SCORE
}

/// The default least score of an identified language. Measured on the shared corpus (1,639
/// clean prose documents in 23 languages, 107 gettext catalogs, 518 junk documents;
/// docs/filter.md): the lowest score of a clean document is 0.42 (a Dutch help page); 0.3
/// leaves a margin for data not seen and removes 106 of the junk documents (which the quality
/// rules remove too). FineWeb's 0.65 is on fastText's scale, not this one: here it would remove
/// 79 clean documents (4.8 %: Chinese, Japanese and Russian manuals full of English commands,
/// where the score is the winning script's share of the letters).
pub const DEFAULT_MIN_SCORE: f64 = 0.3;

fn default_languages() -> Vec<String> {
    DEFAULT_LANGUAGES.iter().map(|s| s.to_string()).collect()
}

impl Default for LangIdConfig {
    fn default() -> Self {
        LangIdConfig {
            languages: default_languages(),
            keep: Vec::new(),
            min_score: DEFAULT_MIN_SCORE,
        }
    }
}

/// The langid pipeline step: annotates `glmkit.lang` and `glmkit.lang_score` (`"und"` and 0
/// for a text without letters), then applies `keep` and `min_score`.
pub struct LangIdStep {
    identifier: LanguageIdentifier,
    keep: Vec<String>,
    min_score: f64,
}

impl LangIdStep {
    pub fn new(config: &LangIdConfig) -> Result<Self, LangIdError> {
        // Kept languages must be identifiable, so they join the candidates.
        let mut languages = config.languages.clone();
        for lang in &config.keep {
            if !languages.contains(lang) {
                languages.push(lang.clone());
            }
        }
        Ok(LangIdStep {
            identifier: LanguageIdentifier::new(&languages)?,
            keep: config.keep.clone(),
            min_score: config.min_score,
        })
    }
}

/// The code written for a text in which no candidate language was found.
pub const UNDETERMINED: &str = "und";

impl Step for LangIdStep {
    fn name(&self) -> &str {
        "langid"
    }

    fn apply(&self, doc: &mut Document) -> Result<Verdict, StepError> {
        let found = self.identifier.identify(&doc.text);
        let (lang, score) = found
            .map(|f| (f.lang, f.score))
            .unwrap_or((UNDETERMINED, 0.0));
        let score = (score * 1e4).round() / 1e4;
        doc.annotate("lang", lang);
        doc.annotate("lang_score", score);
        if !self.keep.is_empty() && !self.keep.iter().any(|k| k == lang) {
            return Ok(Verdict::Reject(
                Rejection::new("langid", "language")
                    .with("value", lang)
                    .with("keep", self.keep.join(",")),
            ));
        }
        if lang != UNDETERMINED && score < self.min_score {
            return Ok(Verdict::Reject(
                Rejection::new("langid", "lang_score")
                    .with("value", score)
                    .with("threshold", self.min_score),
            ));
        }
        Ok(Verdict::Keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifies_by_script_and_trigrams() {
        let id = LanguageIdentifier::default_languages();
        let lang = |t: &str| id.identify(t).map(|i| i.lang);
        assert_eq!(
            lang("ls 命令用于列出目录的内容，它是最常用的命令之一。"),
            Some("zh")
        );
        assert_eq!(
            lang("ls コマンドはディレクトリの内容を一覧表示します。"),
            Some("ja")
        );
        assert_eq!(lang("이 명령은 디렉터리의 내용을 나열합니다."), Some("ko"));
        assert_eq!(
            lang("Der Befehl listet den Inhalt eines Verzeichnisses auf und ist sehr nützlich."),
            Some("de")
        );
        assert_eq!(
            lang("Эта команда выводит содержимое каталога и очень полезна."),
            Some("ru")
        );
        assert_eq!(
            lang("Ця команда виводить вміст каталогу і є дуже корисною."),
            Some("uk")
        );
        assert_eq!(
            lang("Αυτή η εντολή εμφανίζει τα περιεχόμενα ενός καταλόγου."),
            Some("el")
        );
        assert_eq!(lang("12345 ---"), None);
        // Languages the shared corpus lacks: script alone, or trigrams within Arabic script.
        assert_eq!(lang("ภาษาไทยเป็นภาษาราชการของประเทศไทย"), Some("th"));
        assert_eq!(
            lang("हिन्दी भारत की राजभाषा है और यह देवनागरी लिपि में लिखी जाती है।"),
            Some("hi")
        );
        assert_eq!(
            lang("עברית היא שפה שמית ממשפחת השפות האפרו-אסייתיות."),
            Some("he")
        );
        assert_eq!(
            lang("زبان فارسی یکی از زبان‌های هندواروپایی است که در ایران، افغانستان و تاجیکستان به آن سخن می‌گویند."),
            Some("fa")
        );
        assert_eq!(
            lang("اللغة العربية هي إحدى أكثر اللغات انتشاراً في العالم، ويتحدث بها أكثر من أربعمائة مليون نسمة."),
            Some("ar")
        );
    }

    #[test]
    fn rejects_unknown_codes() {
        assert!(matches!(
            LanguageIdentifier::new(&["xx"]),
            Err(LangIdError::UnknownLanguage(..))
        ));
    }
}
