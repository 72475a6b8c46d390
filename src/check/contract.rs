//! The contract: which rules a check runs and their thresholds, read from TOML.
//!
//! Every table and key is optional except that a table, once present, takes only the keys
//! documented in `docs/ci.md`: an unknown key or a value of the wrong type or range is an error
//! naming the key and its line (the TOML parser's own report, since the range checks run inside
//! deserialization).

use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A contract file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// The parser's report: line, column, the line itself and what is wrong with which key.
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

/// A whole contract.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    /// The field holding the text (default `text`).
    #[serde(default = "default_text_field")]
    pub text_field: String,
    /// Seed of every sample the check draws (the perplexity sample and the `sample_rate` of
    /// the language, quality and tokenizer rules).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// How many offending records a failed rule names (default 5).
    #[serde(default = "default_examples")]
    pub examples: usize,
    pub schema: Option<SchemaRule>,
    /// The encoding rule always runs (records that do not parse are never passed silently);
    /// this table only changes its thresholds.
    #[serde(default)]
    pub encoding: EncodingRule,
    pub length: Option<LengthRule>,
    pub duplicates: Option<DuplicatesRule>,
    pub language: Option<LanguageRule>,
    pub quality: Option<QualityRule>,
    pub perplexity: Option<PerplexityRule>,
    pub tokenizer: Option<TokenizerRule>,
    /// The folder of the contract file, against which its relative paths are resolved.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

fn default_text_field() -> String {
    "text".into()
}
fn default_seed() -> u64 {
    1
}
fn default_examples() -> usize {
    5
}

/// A JSON type a field must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JsonType {
    String,
    /// Any JSON number.
    Number,
    /// A number without fraction or exponent.
    Integer,
    Boolean,
    Array,
    Object,
    Null,
    /// Any value (the field must only be present).
    Any,
}

impl JsonType {
    pub fn name(self) -> &'static str {
        match self {
            JsonType::String => "string",
            JsonType::Number => "number",
            JsonType::Integer => "integer",
            JsonType::Boolean => "boolean",
            JsonType::Array => "array",
            JsonType::Object => "object",
            JsonType::Null => "null",
            JsonType::Any => "any",
        }
    }

    pub fn matches(self, value: &serde_json::Value) -> bool {
        use serde_json::Value as V;
        match (self, value) {
            (JsonType::Any, _) => true,
            (JsonType::String, V::String(_)) => true,
            (JsonType::Number, V::Number(_)) => true,
            (JsonType::Integer, V::Number(n)) => n.is_i64() || n.is_u64(),
            (JsonType::Boolean, V::Bool(_)) => true,
            (JsonType::Array, V::Array(_)) => true,
            (JsonType::Object, V::Object(_)) => true,
            (JsonType::Null, V::Null) => true,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaRule {
    /// Fields every record must have, with their type.
    #[serde(default)]
    pub required: BTreeMap<String, JsonType>,
    /// Fields a record may have; when present they must have this type.
    #[serde(default)]
    pub optional: BTreeMap<String, JsonType>,
    /// Whether fields named in neither table are allowed (default true).
    #[serde(default = "yes")]
    pub extra_fields: bool,
    /// Largest share of records that may break the schema (default 0).
    #[serde(default)]
    pub max_violation_rate: Rate,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncodingRule {
    /// Largest number of records that may fail to parse. With neither limit set, none may.
    pub max_bad_records: Option<u64>,
    /// Largest share of records that may fail to parse. When both limits are set, both apply.
    pub max_bad_rate: Option<Rate>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LengthRule {
    /// Fewest characters (Unicode scalar values) a document's text may have.
    pub min_chars: Option<u64>,
    pub max_chars: Option<u64>,
    /// Bounds on the number of documents of all inputs together.
    pub min_documents: Option<u64>,
    pub max_documents: Option<u64>,
    /// Bounds on the text bytes (UTF-8) of all documents together.
    pub min_total_bytes: Option<u64>,
    pub max_total_bytes: Option<u64>,
    /// Largest share of documents outside `min_chars..=max_chars` (default 0).
    #[serde(default)]
    pub max_violation_rate: Rate,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DuplicatesRule {
    /// Largest share of documents whose normalized text (as `glmkit dedup exact --normalize
    /// basic`) equals an earlier document's.
    pub max_exact_rate: Option<Rate>,
    /// Largest share of documents that `glmkit dedup fuzzy` (default settings) would remove.
    pub max_near_rate: Option<Rate>,
    /// Earlier shards (files, folders or globs) the checked documents are compared with: a
    /// checked document that duplicates one of them counts as a duplicate.
    #[serde(default)]
    pub reference: Vec<String>,
    /// Share of equal MinHash lanes that makes two documents near duplicates (default 0.8).
    #[serde(default = "default_verify")]
    pub near_threshold: Rate,
}

fn default_verify() -> Rate {
    Rate(0.8)
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanguageRule {
    /// Languages documents may be in (`und`: no language found); empty allows every language.
    #[serde(default)]
    pub allowed: Vec<String>,
    /// Largest share of documents in a language not in `allowed` (default 0).
    #[serde(default)]
    pub max_other_rate: Rate,
    /// Least share of documents per language.
    #[serde(default)]
    pub min_share: BTreeMap<String, Rate>,
    /// Largest share of documents per language.
    #[serde(default)]
    pub max_share: BTreeMap<String, Rate>,
    /// Candidate languages of the identifier (default: glmkit's 29 defaults plus any named
    /// above).
    #[serde(default)]
    pub candidates: Vec<String>,
    /// Share of documents looked at, drawn by a seeded hash of the text (default 1: all).
    #[serde(default = "all")]
    pub sample_rate: Rate,
}

fn all() -> Rate {
    Rate(1.0)
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualityRule {
    /// Least share of documents passing every rule.
    pub min_pass_rate: Rate,
    /// Rules as `glmkit filter --rules` names them (default: the default rules).
    #[serde(default)]
    pub rules: Vec<String>,
    /// Thresholds files or presets laid over the built-in settings.
    #[serde(default)]
    pub thresholds: Vec<String>,
    #[serde(default = "all")]
    pub sample_rate: Rate,
}

/// Where the reference model comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// The reference model shipped with glmkit.
    Builtin,
    /// A checkpoint directory (relative to the contract file).
    Dir(PathBuf),
}

impl<'de> Deserialize<'de> for ModelSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        if name.is_empty() {
            return Err(serde::de::Error::custom(
                "model: expected \"builtin\" or a checkpoint directory",
            ));
        }
        Ok(match name.as_str() {
            "builtin" => ModelSource::Builtin,
            _ => ModelSource::Dir(name.into()),
        })
    }
}

fn builtin() -> ModelSource {
    ModelSource::Builtin
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerplexityRule {
    #[serde(default = "builtin")]
    pub model: ModelSource,
    /// tokenizer.json or a tiktoken rank file (default: the model's `tokenizer.json`).
    pub tokenizer: Option<String>,
    /// Documents scored: the seeded sample of this size (all documents when fewer).
    #[serde(default = "default_sample")]
    pub sample: usize,
    /// Largest median / 95th percentile perplexity of any language.
    pub max_median: Option<f64>,
    pub max_p95: Option<f64>,
    /// The same per language (these win over the global ones).
    #[serde(default)]
    pub max_median_by_lang: BTreeMap<String, f64>,
    #[serde(default)]
    pub max_p95_by_lang: BTreeMap<String, f64>,
    /// Largest relative change of a language's median against `--baseline` (0.2: 20 %).
    pub max_median_shift: Option<f64>,
    /// Scoring window (default 1024, or the model's context when shorter).
    pub max_tokens: Option<usize>,
    pub stride: Option<usize>,
    #[serde(default = "default_batch_tokens")]
    pub batch_tokens: usize,
    #[serde(default = "default_dtype")]
    pub dtype: String,
    #[serde(default = "default_device")]
    pub device: String,
}

fn default_sample() -> usize {
    200
}
fn default_batch_tokens() -> usize {
    8192
}
fn default_dtype() -> String {
    "f32".into()
}
fn default_device() -> String {
    "cpu".into()
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenizerRule {
    /// tokenizer.json or a tiktoken rank file (relative to the contract file).
    pub path: String,
    /// Most tokens a document may have.
    pub max_tokens: Option<u64>,
    /// Largest share of documents that fail (round trip or length); default 0.
    #[serde(default)]
    pub max_violation_rate: Rate,
    #[serde(default = "all")]
    pub sample_rate: Rate,
}

/// A share between 0 and 1.
#[derive(Debug, Clone, Copy, Default, PartialEq, PartialOrd, serde::Serialize)]
pub struct Rate(pub f64);

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = f64::deserialize(d)?;
        if !(0.0..=1.0).contains(&value) {
            return Err(serde::de::Error::custom(format!(
                "{value} is not a share between 0 and 1"
            )));
        }
        Ok(Rate(value))
    }
}

impl Contract {
    pub fn from_file(path: &Path) -> Result<Contract, ContractError> {
        let text = std::fs::read_to_string(path).map_err(|source| ContractError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut contract = Contract::parse(&text, &path.display().to_string())?;
        contract.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(contract)
    }

    /// Parses a contract's text; `name` names it in errors.
    pub fn parse(text: &str, name: &str) -> Result<Contract, ContractError> {
        let invalid = |message: String| ContractError::Invalid {
            path: name.to_string(),
            message,
        };
        // toml's report names the line and column and quotes the line; the message names the
        // key (unknown field `x`, or a bad value at `x = ...`).
        let contract: Contract = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        contract.validate().map_err(|(key, message)| {
            let line = key_line(text, &key);
            invalid(match line {
                Some(line) => format!("line {line}: key `{key}`: {message}"),
                None => format!("key `{key}`: {message}"),
            })
        })?;
        Ok(contract)
    }

    /// Checks what deserialization cannot: language codes, names of rules, paths. Returns the
    /// key at fault (dotted) and why.
    fn validate(&self) -> Result<(), (String, String)> {
        if let Some(language) = &self.language {
            let named = language
                .allowed
                .iter()
                .chain(language.min_share.keys())
                .chain(language.max_share.keys())
                .chain(&language.candidates);
            for code in named {
                if code != crate::filter::langid::UNDETERMINED
                    && crate::filter::LanguageIdentifier::new(&[code]).is_err()
                {
                    return Err((
                        language_key(language, code),
                        format!("unknown language code `{code}`"),
                    ));
                }
            }
        }
        if let Some(quality) = &self.quality {
            crate::filter::expand_rule_names(&quality.rules)
                .map_err(|e| ("quality.rules".to_string(), e.to_string()))?;
        }
        if let Some(p) = &self.perplexity {
            if p.sample == 0 {
                return Err(("perplexity.sample".into(), "must be at least 1".into()));
            }
            for (key, value) in [
                ("max_median", p.max_median),
                ("max_p95", p.max_p95),
                ("max_median_shift", p.max_median_shift),
            ] {
                if value.is_some_and(|v| v.is_nan() || v < 0.0) {
                    return Err((format!("perplexity.{key}"), "must be 0 or more".into()));
                }
            }
        }
        if self.examples == 0 {
            return Err(("examples".into(), "must be at least 1".into()));
        }
        Ok(())
    }

    /// A path of the contract, resolved against its folder.
    pub fn resolve(&self, path: &str) -> PathBuf {
        self.base_dir.join(path)
    }

    /// Names of the rules this contract runs, in report order.
    pub fn rule_names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.schema.is_some() {
            names.push("schema");
        }
        names.push("encoding");
        let optional = [
            ("length", self.length.is_some()),
            ("duplicates", self.duplicates.is_some()),
            ("language", self.language.is_some()),
            ("quality", self.quality.is_some()),
            ("perplexity", self.perplexity.is_some()),
            ("tokenizer", self.tokenizer.is_some()),
        ];
        names.extend(optional.iter().filter(|(_, on)| *on).map(|(n, _)| *n));
        names
    }
}

/// Which key of the language table names `code` (for the error message).
fn language_key(language: &LanguageRule, code: &str) -> String {
    let key = if language.allowed.iter().any(|c| c == code) {
        "allowed"
    } else if language.min_share.contains_key(code) {
        "min_share"
    } else if language.max_share.contains_key(code) {
        "max_share"
    } else {
        "candidates"
    };
    format!("language.{key}")
}

/// The line of a dotted key (`language.min_share`) in the contract's text.
fn key_line(text: &str, dotted: &str) -> Option<usize> {
    let (table, key) = dotted.rsplit_once('.').unwrap_or(("", dotted));
    crate::pipeline::key_line_in_table(text, table, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Contract, String> {
        Contract::parse(text, "c.toml").map_err(|e| e.to_string())
    }

    #[test]
    fn the_example_of_the_issue_parses() {
        let c = parse(
            r#"
[schema]
required = { id = "string", text = "string" }
extra_fields = true
[length]
min_chars = 1
max_chars = 2000000
[duplicates]
max_exact_rate = 0.0
max_near_rate = 0.02
[language]
allowed = ["zh", "en"]
min_share = { zh = 0.3 }
[quality]
min_pass_rate = 0.9
[perplexity]
model = "builtin"
sample = 200
max_median = 500.0
[tokenizer]
path = "tokenizer.json"
max_tokens = 100000
"#,
        )
        .unwrap();
        assert_eq!(c.schema.unwrap().required["id"], JsonType::String);
        assert_eq!(c.perplexity.unwrap().model, ModelSource::Builtin);
        assert_eq!(c.language.unwrap().min_share["zh"], Rate(0.3));
    }

    #[test]
    fn errors_name_the_key_and_line() {
        let e = parse("[length]\nmin_chars = 1\nmax_char = 5\n").unwrap_err();
        assert!(e.contains("max_char") && e.contains("line 3"), "{e}");
        let e = parse("[duplicates]\nmax_near_rate = 1.5\n").unwrap_err();
        assert!(e.contains("line 2") && e.contains("max_near_rate"), "{e}");
        let e = parse("[language]\nallowed = [\"zh\", \"xx\"]\n").unwrap_err();
        assert!(
            e.contains("language.allowed") && e.contains("xx") && e.contains("line 2"),
            "{e}"
        );
        let e = parse("[schema]\nrequired = { id = \"str\" }\n").unwrap_err();
        assert!(e.contains("str") && e.contains("line 2"), "{e}");
        let e = parse("[quality]\nmin_pass_rate = 0.9\nrules = [\"c5\"]\n").unwrap_err();
        assert!(e.contains("quality.rules") && e.contains("c5"), "{e}");
        let e = parse("surprise = 1\n").unwrap_err();
        assert!(e.contains("surprise"), "{e}");
    }
}
