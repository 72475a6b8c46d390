//! Filtering: text normalization, language identification and quality rules.
//!
//! - [`normalize`]: Unicode normal form, control characters, whitespace, line endings.
//! - [`langid`]: script + trigram language identification (`glmkit.lang`, `glmkit.lang_score`).
//! - [`rules`]: Gopher quality and repetition, C4, FineWeb and an encoding check, with
//!   per-language settings from [`thresholds`].
//!
//! Every step implements [`crate::pipeline::Step`]; [`build_step`] makes one from its name and
//! settings, as pipeline files and the `filter` command do.

pub mod analysis;
pub mod langid;
pub mod normalize;
pub mod rules;
pub mod script;
pub mod thresholds;
pub mod words;

pub use analysis::TextAnalysis;
pub use langid::{Identified, LangIdConfig, LangIdStep, LanguageIdentifier, DEFAULT_LANGUAGES};
pub use normalize::{normalize, normalize_counting, NormalizeConfig, NormalizeStep};
pub use rules::{QualityRule, RuleStep, RULE_NAMES};
pub use thresholds::{Thresholds, ThresholdsError};

/// The rules `glmkit filter` runs by default, in order: cheap and decisive first.
pub const DEFAULT_RULES: &[&str] = &[
    "encoding",
    "gopher_repetition",
    "gopher_quality",
    "c4",
    "fineweb",
];

use crate::pipeline::{settings, SettingsError, Step};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What the filter's pipeline steps share: the quality-rule settings of a pipeline file (the
/// built-in ones with the file's top-level `thresholds` files laid over them).
pub struct FilterContext {
    base_dir: PathBuf,
    files: Vec<PathBuf>,
    thresholds: Arc<Thresholds>,
}

impl FilterContext {
    /// `files` as the pipeline names them (paths relative to `base_dir`, or preset names).
    pub fn new(base_dir: &Path, files: &[String]) -> Result<Self, SettingsError> {
        let files: Vec<PathBuf> = files
            .iter()
            .map(|f| thresholds::resolve_file(base_dir, f))
            .collect();
        let thresholds =
            Thresholds::with_files(&files).map_err(|e| SettingsError::at("thresholds", e))?;
        Ok(FilterContext {
            base_dir: base_dir.to_path_buf(),
            files,
            thresholds: Arc::new(thresholds),
        })
    }

    /// The pipeline's thresholds, with a step's own files laid over them.
    fn with_step_files(&self, files: &[String]) -> Result<Arc<Thresholds>, SettingsError> {
        if files.is_empty() {
            return Ok(self.thresholds.clone());
        }
        let mut all = self.files.clone();
        all.extend(
            files
                .iter()
                .map(|f| thresholds::resolve_file(&self.base_dir, f)),
        );
        let thresholds =
            Thresholds::with_files(&all).map_err(|e| SettingsError::at("thresholds", e))?;
        Ok(Arc::new(thresholds))
    }
}

/// A `normalize` step from its pipeline settings.
pub fn normalize_step(table: toml::Table) -> Result<Box<dyn Step>, SettingsError> {
    Ok(Box::new(NormalizeStep::new(settings(table)?)))
}

/// A `langid` step from its pipeline settings.
pub fn langid_step(table: toml::Table) -> Result<Box<dyn Step>, SettingsError> {
    let config: LangIdConfig = settings(table)?;
    let step = LangIdStep::new(&config).map_err(|e| {
        // The code at fault is in `keep` or in `languages`.
        let in_keep = matches!(&e, langid::LangIdError::UnknownLanguage(code, _)
            if config.keep.contains(code));
        SettingsError::at(if in_keep { "keep" } else { "languages" }, e)
    })?;
    Ok(Box::new(step))
}

/// Settings of a quality-rule step in a pipeline file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleStepSettings {
    /// Thresholds files for this step only, laid over the pipeline's.
    #[serde(default)]
    thresholds: Vec<String>,
}

/// A step of one quality rule (`name` is one of [`RULE_NAMES`]) from its pipeline settings.
pub fn rule_step(
    name: &str,
    table: toml::Table,
    context: &FilterContext,
) -> Result<Box<dyn Step>, SettingsError> {
    let step: RuleStepSettings = settings(table)?;
    let thresholds = context.with_step_files(&step.thresholds)?;
    let rule = rules::rule_by_name(name)
        .ok_or_else(|| SettingsError::new(FilterError::UnknownRule(name.to_string())))?;
    Ok(Box::new(RuleStep::new(rule, thresholds)))
}

/// Settings of a `quality` step: several rules run together on one analysis of each document.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct QualityStepSettings {
    /// Rule names as `--rules` takes them (`all`, `gopher`, ...); default: all, in the
    /// default order.
    #[serde(default)]
    rules: Vec<String>,
    /// Thresholds files for this step only, laid over the pipeline's.
    #[serde(default)]
    thresholds: Vec<String>,
}

/// A `quality` step (several rules on one analysis of each document) from its settings.
pub fn quality_step(
    table: toml::Table,
    context: &FilterContext,
) -> Result<Box<dyn Step>, SettingsError> {
    let step: QualityStepSettings = settings(table)?;
    let names = if step.rules.is_empty() {
        DEFAULT_RULES.iter().map(|s| s.to_string()).collect()
    } else {
        expand_rule_names(&step.rules).map_err(|e| SettingsError::at("rules", e))?
    };
    let rules = names
        .iter()
        .map(|n| rules::rule_by_name(n).expect("expanded rule names are known"))
        .collect();
    Ok(Box::new(rules::RuleSetStep::new(
        rules,
        context.with_step_files(&step.thresholds)?,
    )))
}

/// What `glmkit filter` runs: optional normalization, language id, then quality rules.
#[derive(Debug, Clone)]
pub struct FilterOptions {
    pub normalize: Option<NormalizeConfig>,
    pub langid: LangIdConfig,
    /// Rule names (see [`RULE_NAMES`]); empty runs none (language id only).
    pub rules: Vec<String>,
    pub threshold_files: Vec<PathBuf>,
}

impl Default for FilterOptions {
    fn default() -> Self {
        FilterOptions {
            normalize: None,
            langid: LangIdConfig::default(),
            rules: DEFAULT_RULES.iter().map(|s| s.to_string()).collect(),
            threshold_files: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error(transparent)]
    LangId(#[from] langid::LangIdError),
    #[error(transparent)]
    Thresholds(#[from] ThresholdsError),
    #[error("unknown rule `{0}` (known: {known})", known = RULE_NAMES.join(", "))]
    UnknownRule(String),
}

/// Expands rule names as `--rules` takes them: `gopher` is both Gopher rules, `all` every rule.
pub fn expand_rule_names(names: &[impl AsRef<str>]) -> Result<Vec<String>, FilterError> {
    let mut out: Vec<String> = Vec::new();
    for name in names {
        let name = name.as_ref().trim();
        let expanded: Vec<&str> = match name {
            "none" | "" => vec![],
            "all" => DEFAULT_RULES.to_vec(),
            "gopher" => vec!["gopher_repetition", "gopher_quality"],
            other if RULE_NAMES.contains(&other) => vec![other],
            other => return Err(FilterError::UnknownRule(other.to_string())),
        };
        for rule in expanded {
            if !out.iter().any(|r| r == rule) {
                out.push(rule.to_string());
            }
        }
    }
    Ok(out)
}

/// The steps of `glmkit filter`.
pub fn filter_steps(options: &FilterOptions) -> Result<Vec<Box<dyn Step>>, FilterError> {
    let mut steps: Vec<Box<dyn Step>> = Vec::new();
    if let Some(config) = &options.normalize {
        steps.push(Box::new(NormalizeStep::new(config.clone())));
    }
    steps.push(Box::new(LangIdStep::new(&options.langid)?));
    if !options.rules.is_empty() {
        let thresholds = Arc::new(Thresholds::with_files(&options.threshold_files)?);
        let rules = options
            .rules
            .iter()
            .map(|name| {
                rules::rule_by_name(name).ok_or_else(|| FilterError::UnknownRule(name.clone()))
            })
            .collect::<Result<_, _>>()?;
        // One step for all the rules: they share one analysis of each document, and the run
        // still counts each rule as a step of its own.
        steps.push(Box::new(rules::RuleSetStep::new(rules, thresholds)));
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_published_preset_sets_the_published_values() {
        let built_in = super::Thresholds::built_in();
        let published = super::Thresholds::with_files(&["published"]).unwrap();
        let (ours, theirs) = (
            built_in.for_lang(Some("en")),
            published.for_lang(Some("en")),
        );
        assert_eq!(ours.gopher_quality.min_doc_words, 10);
        assert_eq!(theirs.gopher_quality.min_doc_words, 50);
        assert_eq!(theirs.c4.min_num_sentences, 5);
        assert!(!theirs.gopher_repetition.n_grams_skip_repeated_lines);
        assert_eq!(theirs.gopher_repetition.top_n_grams_min_count, 1);
        assert_eq!(theirs.fineweb.char_duplicates_ratio, 0.01);
        // Chinese counts characters: the published 50 words are 85 of them.
        let zh = published.for_lang(Some("zh"));
        assert_eq!(zh.gopher_quality.min_doc_words, 85);
        // What the published rules leave to each language stays the language's own.
        assert_eq!(zh.stop_words, built_in.for_lang(Some("zh")).stop_words);
    }

    #[test]
    fn the_jieba_preset_segments_chinese_only() {
        use super::words::Segmenter;
        let built_in = super::Thresholds::built_in();
        let jieba = super::Thresholds::with_files(&["zh-jieba"]).unwrap();
        assert_eq!(
            built_in.for_lang(Some("zh")).segmenter,
            Segmenter::Characters
        );
        assert_eq!(jieba.for_lang(Some("zh")).segmenter, Segmenter::Jieba);
        assert_eq!(jieba.for_lang(Some("ja")).segmenter, Segmenter::Characters);
        let text = "系统默认的资源保存在配置文件中，应用程序启动时读取这些资源。";
        let words = |t: &super::Thresholds| {
            super::TextAnalysis::for_profile(text, t.for_lang(Some("zh")))
                .words()
                .len()
        };
        // A character a word, against jieba's words of about two characters.
        assert!(
            words(&jieba) * 3 < words(&built_in) * 2,
            "{} {}",
            words(&jieba),
            words(&built_in)
        );
    }
}

/// Languages glmkit identifies (or not) but has no settings for.
#[cfg(test)]
mod unconfigured_languages {
    use super::*;
    use crate::corpus::{Document, Source};
    use crate::pipeline::Verdict;

    /// Short prose of a few sentences, as a clean document in each language would be.
    const TEXTS: &[(&str, &str)] = &[
        ("th", "ประเทศไทยมีประวัติศาสตร์ยาวนานและวัฒนธรรมที่หลากหลาย กรุงเทพมหานครเป็นเมืองหลวงและศูนย์กลางทางเศรษฐกิจของประเทศ ผู้คนจำนวนมากเดินทางมาท่องเที่ยวเพื่อชมวัดวาอารามและชิมอาหารไทยที่มีชื่อเสียงไปทั่วโลก\nในช่วงฤดูฝนอากาศจะชื้นและมีฝนตกเกือบทุกวัน ส่วนฤดูหนาวเป็นช่วงเวลาที่เหมาะสำหรับการท่องเที่ยวมากที่สุด\n"),
        ("hi", "भारत एक विशाल देश है जिसकी संस्कृति बहुत पुरानी और विविध है। यहाँ अनेक भाषाएँ बोली जाती हैं और हर क्षेत्र के अपने त्योहार हैं। दिल्ली देश की राजधानी है, जबकि मुंबई व्यापार का सबसे बड़ा केंद्र माना जाता है।\nगर्मियों में कई हिस्सों में तापमान बहुत बढ़ जाता है, इसलिए लोग पहाड़ों की ओर यात्रा करते हैं।\n"),
        ("he", "ירושלים היא אחת הערים העתיקות בעולם, ויש בה אתרים קדושים לשלוש דתות. בכל שנה מגיעים אליה מיליוני מבקרים מכל רחבי העולם.\nהעיר העתיקה מוקפת חומה, ובתוכה סמטאות צרות, שווקים צבעוניים ובתי כנסת עתיקים. בערב האוויר מתקרר, והרחובות מתמלאים באנשים שיוצאים לאכול ולבלות.\n"),
        ("fa", "ایران کشوری با تاریخ و فرهنگ کهن است و شاعران بزرگی مانند حافظ و سعدی در آن زندگی کرده‌اند. تهران پایتخت این کشور است و جمعیت زیادی دارد.\nدر فصل بهار مردم نوروز را جشن می‌گیرند و به دیدار خانواده و دوستان خود می‌روند. غذاهای ایرانی معمولاً با برنج و سبزی‌های تازه سرو می‌شوند.\n"),
        ("ta", "தமிழ் மொழி உலகின் மிகப் பழமையான மொழிகளில் ஒன்றாகும். இது இந்தியாவின் தமிழ்நாடு மாநிலத்திலும் இலங்கையிலும் பரவலாகப் பேசப்படுகிறது.\nசென்னை நகரம் கலை, இசை மற்றும் திரைப்படத் துறைக்குப் புகழ்பெற்றது. பொங்கல் பண்டிகையின் போது மக்கள் புதிய அரிசியைச் சமைத்து சூரியனுக்கு நன்றி செலுத்துகிறார்கள்.\n"),
        ("ka", "საქართველო მდებარეობს კავკასიის რეგიონში, შავი ზღვის აღმოსავლეთ სანაპიროზე. მისი დედაქალაქი თბილისია, რომელიც ცნობილია თავისი ძველი უბნებითა და გოგირდის აბანოებით.\nქართველები ამაყობენ თავიანთი ანბანით, ღვინით და სტუმართმოყვარეობით. ზაფხულში ბევრი ადამიანი მთებში ან ზღვის სანაპიროზე ისვენებს.\n"),
    ];

    #[test]
    fn clean_prose_is_not_rejected_for_its_language() {
        let steps = filter_steps(&FilterOptions::default()).unwrap();
        let mut failures = Vec::new();
        for (code, text) in TEXTS {
            let source = Source {
                file: "t".into(),
                line: 1,
            };
            let mut doc = Document::new(*code, *text, source);
            for step in &steps {
                if let Verdict::Reject(r) = step.apply(&mut doc).unwrap() {
                    let lang = doc.annotation("lang").cloned();
                    failures.push(format!("{code} (identified {lang:?}): {r:?}"));
                    break;
                }
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
    }
}
