//! Folding the per-document measures into counts, in input order, and judging them against the
//! contract's thresholds.

use super::contract::{Contract, Rate};
use super::report::{Example, RuleOutcome};
use super::scan::Measured;
use super::tokenizer::Tokenized;
use crate::dedup::minhash::{estimated_jaccard, MinHashParams, MinHasher};
use crate::dedup::UnionFind;
use serde_json::json;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::Arc;

/// What was measured of one document (see `Probes::measure`).
pub struct DocFacts {
    pub line: u64,
    pub bytes: u64,
    pub chars: u64,
    /// The first way the record breaks the schema.
    pub schema: Option<String>,
    pub exact: Option<u128>,
    pub signature: Option<Vec<u32>>,
    /// The language, when the document is in the language rule's sample.
    pub lang: Option<&'static str>,
    /// In the quality rule's sample: `None` passed, `Some(why)` failed.
    pub quality: Option<Option<String>>,
    pub tokenized: Option<Tokenized>,
    /// Seeded hash of the text: draws the samples.
    pub sample_hash: u64,
    /// The text, kept for the perplexity sample.
    pub text: Option<String>,
}

/// A count of offending documents and the first few of them.
#[derive(Debug, Default)]
pub struct Offenders {
    pub count: u64,
    pub examples: Vec<Example>,
}

impl Offenders {
    fn add(&mut self, limit: usize, example: impl FnOnce() -> Example) {
        self.count += 1;
        if self.examples.len() < limit {
            self.examples.push(example());
        }
    }
}

/// A document of the perplexity sample (the `sample` documents of smallest hash).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SampledDoc {
    pub hash: u64,
    pub index: u64,
    pub file: Arc<str>,
    pub line: u64,
    pub text: String,
}

/// Documents of near-duplicate search: their signatures and LSH buckets, as `glmkit dedup
/// fuzzy` with its default settings (14 bands of 8 rows, verified by the share of equal lanes).
struct NearIndex {
    hasher: MinHasher,
    threshold: f64,
    /// Signatures, one after the other, by slot.
    signatures: Vec<u32>,
    /// Slot -> (document index, file, line).
    docs: Vec<(u64, u32, u64)>,
    /// Bucket -> its first members (slots), at most [`BUCKET_TRIES`].
    buckets: HashMap<u64, BucketMembers>,
    links: UnionFind,
}

/// Earlier members of a bucket a document is compared with (as dedup fuzzy).
const BUCKET_TRIES: usize = 32;

/// Most buckets have one member: kept inline, a list only beyond.
enum BucketMembers {
    One(u32),
    Many(Vec<u32>),
}

impl NearIndex {
    fn add(&mut self, index: u64, file: u32, line: u64, signature: &[u32]) {
        let slot = self.docs.len() as u32;
        let lanes = signature.len();
        for band in 0..self.hasher.params().bands {
            let bucket = self.hasher.band_bucket(signature, band);
            let members = self
                .buckets
                .entry(bucket)
                .or_insert(BucketMembers::Many(Vec::new()));
            let list: &[u32] = match members {
                BucketMembers::One(m) => std::slice::from_ref(m),
                BucketMembers::Many(list) => list,
            };
            let earlier = list.iter().find(|&&m| {
                let other = &self.signatures[m as usize * lanes..(m as usize + 1) * lanes];
                estimated_jaccard(signature, other) >= self.threshold
            });
            if let Some(&m) = earlier {
                self.links.union(index, self.docs[m as usize].0);
            }
            match members {
                BucketMembers::Many(list) if list.is_empty() => *members = BucketMembers::One(slot),
                BucketMembers::One(m) => *members = BucketMembers::Many(vec![*m, slot]),
                BucketMembers::Many(list) if list.len() < BUCKET_TRIES => list.push(slot),
                BucketMembers::Many(_) => {}
            }
        }
        self.signatures.extend_from_slice(signature);
        self.docs.push((index, file, line));
    }
}

/// Everything counted so far.
pub struct Tally {
    contract: Contract,
    files: Vec<Arc<str>>,
    /// Documents of the reference shards (they come first and are only hashed).
    pub reference_documents: u64,
    pub records: u64,
    pub documents: u64,
    pub text_bytes: u64,
    bad: Offenders,
    bad_by_reason: BTreeMap<&'static str, u64>,
    schema: Offenders,
    length: Offenders,
    shortest: Option<u64>,
    longest: u64,
    exact_seen: HashMap<u128, (u32, u64)>,
    exact: Offenders,
    near: Option<NearIndex>,
    language_sampled: u64,
    languages: BTreeMap<&'static str, u64>,
    other_language: Offenders,
    quality_sampled: u64,
    quality: Offenders,
    quality_by_rule: BTreeMap<String, u64>,
    tokenizer_sampled: u64,
    tokenizer: Offenders,
    round_trip_failures: u64,
    most_tokens: u64,
    perplexity_sample: BinaryHeap<SampledDoc>,
}

impl Tally {
    pub fn new(contract: &Contract) -> Tally {
        let near = contract
            .duplicates
            .as_ref()
            .filter(|d| d.max_near_rate.is_some())
            .map(|d| NearIndex {
                hasher: MinHasher::new(MinHashParams::default()),
                threshold: d.near_threshold.0,
                signatures: Vec::new(),
                docs: Vec::new(),
                buckets: HashMap::new(),
                links: UnionFind::new(),
            });
        Tally {
            contract: contract.clone(),
            files: Vec::new(),
            reference_documents: 0,
            records: 0,
            documents: 0,
            text_bytes: 0,
            bad: Offenders::default(),
            bad_by_reason: BTreeMap::new(),
            schema: Offenders::default(),
            length: Offenders::default(),
            shortest: None,
            longest: 0,
            exact_seen: HashMap::new(),
            exact: Offenders::default(),
            near,
            language_sampled: 0,
            languages: BTreeMap::new(),
            other_language: Offenders::default(),
            quality_sampled: 0,
            quality: Offenders::default(),
            quality_by_rule: BTreeMap::new(),
            tokenizer_sampled: 0,
            tokenizer: Offenders::default(),
            round_trip_failures: 0,
            most_tokens: 0,
            perplexity_sample: BinaryHeap::new(),
        }
    }

    /// A new input file; returns its number. Files of the reference set come before the
    /// checked ones.
    pub fn add_file(&mut self, name: Arc<str>) -> u32 {
        self.files.push(name);
        (self.files.len() - 1) as u32
    }

    fn example(&self, file: u32, line: u64, note: String) -> Example {
        Example {
            file: self.files[file as usize].to_string(),
            line,
            note,
        }
    }

    /// Counts a reference document: only its duplicate hashes are kept.
    pub fn add_reference(&mut self, file: u32, item: Measured) {
        let Measured::Doc(facts) = item else {
            return; // a reference record that does not parse cannot be duplicated
        };
        let index = self.reference_documents;
        self.reference_documents += 1;
        if let Some(hash) = facts.exact {
            self.exact_seen.entry(hash).or_insert((file, facts.line));
        }
        if let (Some(near), Some(signature)) = (&mut self.near, &facts.signature) {
            near.add(index, file, facts.line, signature);
        }
    }

    /// Counts one record of a checked file.
    pub fn add(&mut self, file: u32, item: Measured) {
        self.records += 1;
        let limit = self.contract.examples;
        let facts = match item {
            Measured::Bad(q) => {
                *self.bad_by_reason.entry(q.reason).or_default() += 1;
                let note = format!("{}: {}", q.reason, q.error);
                let example = self.example(file, q.line, note);
                self.bad.add(limit, || example);
                return;
            }
            Measured::Doc(facts) => facts,
        };
        let index = self.reference_documents + self.documents;
        self.documents += 1;
        self.text_bytes += facts.bytes;
        let line = facts.line;
        if let Some(why) = facts.schema {
            let example = self.example(file, line, why);
            self.schema.add(limit, || example);
        }
        if let Some(rule) = &self.contract.length {
            let chars = facts.chars;
            self.shortest = Some(self.shortest.map_or(chars, |s| s.min(chars)));
            self.longest = self.longest.max(chars);
            let short = rule.min_chars.is_some_and(|min| chars < min);
            let long = rule.max_chars.is_some_and(|max| chars > max);
            if short || long {
                let example = self.example(file, line, format!("{chars} characters"));
                self.length.add(limit, || example);
            }
        }
        if let Some(hash) = facts.exact {
            match self.exact_seen.get(&hash) {
                Some(&(first_file, first_line)) => {
                    let first = &self.files[first_file as usize];
                    let note = format!("same text as {first}:{first_line}");
                    let example = self.example(file, line, note);
                    self.exact.add(limit, || example);
                }
                None => {
                    self.exact_seen.insert(hash, (file, line));
                }
            }
        }
        if let (Some(near), Some(signature)) = (&mut self.near, &facts.signature) {
            near.add(index, file, line, signature);
        }
        if let Some(lang) = facts.lang {
            self.language_sampled += 1;
            *self.languages.entry(lang).or_default() += 1;
            let allowed = self.contract.language.as_ref().map(|l| &l.allowed);
            if allowed.is_some_and(|a| !a.is_empty() && !a.iter().any(|c| c == lang)) {
                let example = self.example(file, line, format!("language `{lang}`"));
                self.other_language.add(limit, || example);
            }
        }
        if let Some(result) = facts.quality {
            self.quality_sampled += 1;
            if let Some(why) = result {
                let rule = why.split(':').next().unwrap_or_default().to_string();
                *self.quality_by_rule.entry(rule).or_default() += 1;
                let example = self.example(file, line, why);
                self.quality.add(limit, || example);
            }
        }
        if let Some(tokenized) = facts.tokenized {
            self.tokenizer_sampled += 1;
            self.most_tokens = self.most_tokens.max(tokenized.tokens);
            let max = self.contract.tokenizer.as_ref().and_then(|t| t.max_tokens);
            let too_long = max.is_some_and(|max| tokenized.tokens > max);
            if !tokenized.round_trip {
                self.round_trip_failures += 1;
            }
            if too_long || !tokenized.round_trip {
                let note = match (tokenized.round_trip, too_long) {
                    (false, true) => {
                        format!("decode(encode(text)) != text; {} tokens", tokenized.tokens)
                    }
                    (false, false) => "decode(encode(text)) != text".to_string(),
                    _ => format!("{} tokens", tokenized.tokens),
                };
                let example = self.example(file, line, note);
                self.tokenizer.add(limit, || example);
            }
        }
        if let (Some(rule), Some(text)) = (&self.contract.perplexity, facts.text) {
            let candidate = SampledDoc {
                hash: facts.sample_hash,
                index,
                file: self.files[file as usize].clone(),
                line,
                text,
            };
            let full = self.perplexity_sample.len() >= rule.sample;
            if !full {
                self.perplexity_sample.push(candidate);
            } else if self
                .perplexity_sample
                .peek()
                .is_some_and(|top| candidate < *top)
            {
                self.perplexity_sample.pop();
                self.perplexity_sample.push(candidate);
            }
        }
    }

    /// The perplexity sample, by hash (a seeded uniform sample without replacement).
    pub fn take_perplexity_sample(&mut self) -> Vec<SampledDoc> {
        std::mem::take(&mut self.perplexity_sample).into_sorted_vec()
    }

    /// Judges every rule but perplexity, in report order.
    pub fn outcomes(&mut self) -> Vec<RuleOutcome> {
        let mut out = Vec::new();
        let c = self.contract.clone();
        if let Some(rule) = &c.schema {
            let rate = ratio(self.schema.count, self.documents);
            let mut o = RuleOutcome::new(
                "schema",
                format!(
                    "{} of {} documents break the schema (rate {})",
                    self.schema.count,
                    self.documents,
                    fmt_rate(rate)
                ),
                format!("rate <= {}", rule.max_violation_rate.0),
            );
            o.check(rate <= rule.max_violation_rate.0, || {
                format!(
                    "violation rate {} > {}",
                    fmt_rate(rate),
                    rule.max_violation_rate.0
                )
            });
            o.values =
                json!({"violations": self.schema.count, "documents": self.documents, "rate": rate});
            o.examples = std::mem::take(&mut self.schema.examples);
            out.push(o);
        }
        {
            let rule = &c.encoding;
            let rate = ratio(self.bad.count, self.records);
            let max_count = match (rule.max_bad_records, rule.max_bad_rate) {
                (None, None) => Some(0),
                (count, _) => count,
            };
            let threshold = [
                max_count.map(|m| format!("bad records <= {m}")),
                rule.max_bad_rate.map(|r| format!("rate <= {}", r.0)),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ");
            let reasons: Vec<String> = self
                .bad_by_reason
                .iter()
                .map(|(r, n)| format!("{r} {n}"))
                .collect();
            let measured = if reasons.is_empty() {
                format!("0 of {} records fail to parse", self.records)
            } else {
                format!(
                    "{} of {} records fail to parse ({})",
                    self.bad.count,
                    self.records,
                    reasons.join(", ")
                )
            };
            let mut o = RuleOutcome::new("encoding", measured, threshold);
            if let Some(max) = max_count {
                o.check(self.bad.count <= max, || {
                    format!("{} bad records > {max}", self.bad.count)
                });
            }
            if let Some(max) = rule.max_bad_rate {
                o.check(rate <= max.0, || {
                    format!("bad record rate {} > {}", fmt_rate(rate), max.0)
                });
            }
            o.values = json!({"bad_records": self.bad.count, "records": self.records, "rate": rate, "by_reason": self.bad_by_reason});
            o.examples = std::mem::take(&mut self.bad.examples);
            out.push(o);
        }
        if let Some(rule) = &c.length {
            let rate = ratio(self.length.count, self.documents);
            let chars = match self.shortest {
                Some(s) => format!("{s}..{} characters", self.longest),
                None => "no document".into(),
            };
            let measured = format!(
                "{} documents, {} text bytes, {chars}; {} out of range",
                self.documents, self.text_bytes, self.length.count
            );
            let bounds = |name: &str, min: Option<u64>, max: Option<u64>| match (min, max) {
                (None, None) => None,
                (min, max) => Some(format!(
                    "{name} {}..{}",
                    min.map_or(String::new(), |m| m.to_string()),
                    max.map_or(String::new(), |m| m.to_string())
                )),
            };
            let threshold = [
                bounds("chars", rule.min_chars, rule.max_chars),
                bounds("documents", rule.min_documents, rule.max_documents),
                bounds("total bytes", rule.min_total_bytes, rule.max_total_bytes),
                Some(format!(
                    "out-of-range rate <= {}",
                    rule.max_violation_rate.0
                )),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ");
            let mut o = RuleOutcome::new("length", measured, threshold);
            o.check(rate <= rule.max_violation_rate.0, || {
                format!(
                    "out-of-range rate {} > {}",
                    fmt_rate(rate),
                    rule.max_violation_rate.0
                )
            });
            for (what, value, min, max) in [
                (
                    "documents",
                    self.documents,
                    rule.min_documents,
                    rule.max_documents,
                ),
                (
                    "total text bytes",
                    self.text_bytes,
                    rule.min_total_bytes,
                    rule.max_total_bytes,
                ),
            ] {
                if let Some(min) = min {
                    o.check(value >= min, || format!("{what} {value} < {min}"));
                }
                if let Some(max) = max {
                    o.check(value <= max, || format!("{what} {value} > {max}"));
                }
            }
            o.values = json!({"documents": self.documents, "text_bytes": self.text_bytes, "shortest": self.shortest, "longest": self.longest, "out_of_range": self.length.count, "rate": rate});
            o.examples = std::mem::take(&mut self.length.examples);
            out.push(o);
        }
        if let Some(rule) = &c.duplicates {
            let mut measured = Vec::new();
            let mut threshold = Vec::new();
            let mut values = serde_json::Map::new();
            let mut checks: Vec<(bool, String)> = Vec::new();
            let mut examples = Vec::new();
            if let Some(max) = rule.max_exact_rate {
                let rate = ratio(self.exact.count, self.documents);
                measured.push(format!(
                    "exact {} ({} documents)",
                    fmt_rate(rate),
                    self.exact.count
                ));
                threshold.push(format!("exact <= {}", max.0));
                checks.push((
                    rate <= max.0,
                    format!("exact duplicate rate {} > {}", fmt_rate(rate), max.0),
                ));
                values.insert(
                    "exact".into(),
                    json!({"duplicates": self.exact.count, "rate": rate}),
                );
                examples.append(&mut self.exact.examples);
            }
            if let Some(max) = rule.max_near_rate {
                let (count, mut near_examples) = self.near_duplicates();
                let rate = ratio(count, self.documents);
                measured.push(format!("near {} ({count} documents)", fmt_rate(rate)));
                threshold.push(format!("near <= {}", max.0));
                checks.push((
                    rate <= max.0,
                    format!("near duplicate rate {} > {}", fmt_rate(rate), max.0),
                ));
                values.insert("near".into(), json!({"duplicates": count, "rate": rate}));
                examples.append(&mut near_examples);
            }
            if self.reference_documents > 0 {
                measured.push(format!(
                    "against {} reference documents",
                    self.reference_documents
                ));
            }
            values.insert("documents".into(), json!(self.documents));
            values.insert(
                "reference_documents".into(),
                json!(self.reference_documents),
            );
            let mut o = RuleOutcome::new("duplicates", measured.join(", "), threshold.join(", "));
            for (ok, why) in checks {
                o.check(ok, || why);
            }
            o.values = serde_json::Value::Object(values);
            // Up to `examples` of each kind: exact copies first, then near ones.
            o.examples = examples;
            out.push(o);
        }
        if let Some(rule) = &c.language {
            let n = self.language_sampled;
            let share = |lang: &str| ratio(self.languages.get(lang).copied().unwrap_or(0), n);
            let mut by_share: Vec<(&str, u64)> =
                self.languages.iter().map(|(l, c)| (*l, *c)).collect();
            by_share.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            let top: Vec<String> = by_share
                .iter()
                .take(6)
                .map(|(l, c)| format!("{l} {}", fmt_rate(ratio(*c, n))))
                .collect();
            let mut measured = format!(
                "{} ({})",
                if top.is_empty() {
                    "no document".to_string()
                } else {
                    top.join(", ")
                },
                sample_note(n, self.documents, rule.sample_rate)
            );
            let other_rate = ratio(self.other_language.count, n);
            let mut threshold = Vec::new();
            let mut o_checks: Vec<(bool, String)> = Vec::new();
            if !rule.allowed.is_empty() {
                measured.push_str(&format!("; other languages {}", fmt_rate(other_rate)));
                threshold.push(format!(
                    "allowed {}, other <= {}",
                    rule.allowed.join(","),
                    rule.max_other_rate.0
                ));
                o_checks.push((
                    other_rate <= rule.max_other_rate.0,
                    format!(
                        "share of other languages {} > {}",
                        fmt_rate(other_rate),
                        rule.max_other_rate.0
                    ),
                ));
            }
            for (lang, min) in &rule.min_share {
                threshold.push(format!("{lang} >= {}", min.0));
                let s = share(lang);
                o_checks.push((
                    s >= min.0,
                    format!("{lang} share {} < {}", fmt_rate(s), min.0),
                ));
            }
            for (lang, max) in &rule.max_share {
                threshold.push(format!("{lang} <= {}", max.0));
                let s = share(lang);
                o_checks.push((
                    s <= max.0,
                    format!("{lang} share {} > {}", fmt_rate(s), max.0),
                ));
            }
            if threshold.is_empty() {
                threshold.push("no limit".into());
            }
            let mut o = RuleOutcome::new("language", measured, threshold.join(", "));
            for (ok, why) in o_checks {
                o.check(ok, || why);
            }
            let shares: BTreeMap<&str, f64> =
                self.languages.keys().map(|l| (*l, share(l))).collect();
            o.values = json!({"sampled": n, "documents": self.documents, "counts": self.languages, "shares": shares, "other_rate": other_rate});
            o.sampled = Some(n);
            o.examples = std::mem::take(&mut self.other_language.examples);
            out.push(o);
        }
        if let Some(rule) = &c.quality {
            let n = self.quality_sampled;
            let passed = n - self.quality.count;
            let rate = if n == 0 { 1.0 } else { ratio(passed, n) };
            let measured = format!(
                "pass rate {} ({passed} of {n} documents{})",
                fmt_rate(rate),
                sampled_suffix(n, self.documents, rule.sample_rate)
            );
            let mut o = RuleOutcome::new(
                "quality",
                measured,
                format!("pass rate >= {}", rule.min_pass_rate.0),
            );
            o.check(rate >= rule.min_pass_rate.0, || {
                format!("pass rate {} < {}", fmt_rate(rate), rule.min_pass_rate.0)
            });
            o.values = json!({"sampled": n, "documents": self.documents, "passed": passed, "pass_rate": rate, "failed_by_rule": self.quality_by_rule});
            o.sampled = Some(n);
            o.examples = std::mem::take(&mut self.quality.examples);
            out.push(o);
        }
        if let Some(rule) = &c.tokenizer {
            let n = self.tokenizer_sampled;
            let rate = ratio(self.tokenizer.count, n);
            let measured = format!(
                "{} round-trip failures, {} documents failing of {n}{}, most tokens {}",
                self.round_trip_failures,
                self.tokenizer.count,
                sampled_suffix(n, self.documents, rule.sample_rate),
                self.most_tokens
            );
            let mut threshold = vec!["decode(encode(text)) == text".to_string()];
            if let Some(max) = rule.max_tokens {
                threshold.push(format!("tokens <= {max}"));
            }
            threshold.push(format!("failing rate <= {}", rule.max_violation_rate.0));
            let mut o = RuleOutcome::new("tokenizer", measured, threshold.join(", "));
            o.check(rate <= rule.max_violation_rate.0, || {
                format!(
                    "failing rate {} > {}",
                    fmt_rate(rate),
                    rule.max_violation_rate.0
                )
            });
            o.values = json!({"sampled": n, "documents": self.documents, "round_trip_failures": self.round_trip_failures, "failing": self.tokenizer.count, "rate": rate, "most_tokens": self.most_tokens});
            o.sampled = Some(n);
            o.examples = std::mem::take(&mut self.tokenizer.examples);
            out.push(o);
        }
        out
    }

    /// Checked documents that dedup fuzzy would remove (not the first of their cluster, in
    /// input order with the reference documents first), and the first of them.
    fn near_duplicates(&mut self) -> (u64, Vec<Example>) {
        let Some(near) = &mut self.near else {
            return (0, Vec::new());
        };
        let first = self.reference_documents;
        let slot_of: HashMap<u64, usize> = near
            .docs
            .iter()
            .enumerate()
            .map(|(s, d)| (d.0, s))
            .collect();
        let mut count = 0;
        let mut examples = Vec::new();
        for &(index, file, line) in near.docs.iter().filter(|d| d.0 >= first) {
            let root = near.links.find(index);
            if root != index {
                count += 1;
                if examples.len() < self.contract.examples {
                    let (_, root_file, root_line) = near.docs[slot_of[&root]];
                    examples.push(Example {
                        file: self.files[file as usize].to_string(),
                        line,
                        note: format!(
                            "near duplicate of {}:{root_line}",
                            self.files[root_file as usize]
                        ),
                    });
                }
            }
        }
        (count, examples)
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// A share with enough digits to compare with thresholds such as 0.02.
pub fn fmt_rate(rate: f64) -> String {
    let s = format!("{rate:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() {
        "0".into()
    } else {
        s.to_string()
    }
}

fn sample_note(n: u64, documents: u64, rate: Rate) -> String {
    if rate.0 >= 1.0 {
        format!("{n} documents")
    } else {
        format!("sample of {n} of {documents} documents, rate {}", rate.0)
    }
}

fn sampled_suffix(n: u64, documents: u64, rate: Rate) -> String {
    if rate.0 >= 1.0 || n == documents {
        String::new()
    } else {
        format!(" sampled of {documents}, rate {}", rate.0)
    }
}
