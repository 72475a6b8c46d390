//! A check's result and its three forms: a human summary (one line per rule), JSON, and JUnit
//! XML (one test case per rule) for CI systems.

use serde::Serialize;
use std::fmt::Write;

/// An offending record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Example {
    pub file: String,
    /// 1-based line (JSONL) or row (Parquet).
    pub line: u64,
    /// What is wrong with it.
    pub note: String,
}

/// One rule's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct RuleOutcome {
    pub rule: &'static str,
    pub passed: bool,
    /// What was measured, for people.
    pub measured: String,
    /// The contract's thresholds, for people.
    pub threshold: String,
    /// Each broken condition.
    pub failures: Vec<String>,
    /// The first offending records (all rules but perplexity, whose unit is a language).
    pub examples: Vec<Example>,
    /// Documents the rule looked at, when it looks at a sample.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampled: Option<u64>,
    /// The measures as numbers.
    pub values: serde_json::Value,
}

impl RuleOutcome {
    pub fn new(rule: &'static str, measured: String, threshold: String) -> RuleOutcome {
        RuleOutcome {
            rule,
            passed: true,
            measured,
            threshold,
            failures: Vec::new(),
            examples: Vec::new(),
            sampled: None,
            values: serde_json::Value::Null,
        }
    }

    /// Records a condition: the rule fails when one does not hold.
    pub fn check(&mut self, holds: bool, why: impl FnOnce() -> String) {
        if !holds {
            self.passed = false;
            self.failures.push(why());
        }
    }
}

/// Everything a check found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub passed: bool,
    pub files: usize,
    pub records: u64,
    pub documents: u64,
    pub text_bytes: u64,
    pub reference_documents: u64,
    pub rules: Vec<RuleOutcome>,
}

impl Report {
    pub fn new(rules: Vec<RuleOutcome>) -> Report {
        Report {
            passed: rules.iter().all(|r| r.passed),
            files: 0,
            records: 0,
            documents: 0,
            text_bytes: 0,
            reference_documents: 0,
            rules,
        }
    }

    /// One line per rule (`PASS`/`FAIL`, name, measured, threshold), each failure's broken
    /// conditions and first offending records under it, and a last line with the verdict.
    pub fn to_human(&self) -> String {
        let mut out = String::new();
        let width = self.rules.iter().map(|r| r.rule.len()).max().unwrap_or(0);
        for rule in &self.rules {
            let verdict = if rule.passed { "PASS" } else { "FAIL" };
            let _ = writeln!(
                out,
                "{verdict} {:width$}  {}  [{}]",
                rule.rule, rule.measured, rule.threshold
            );
            if !rule.passed {
                for why in &rule.failures {
                    let _ = writeln!(out, "     - {why}");
                }
                for e in &rule.examples {
                    let _ = writeln!(out, "       {}:{}: {}", e.file, e.line, e.note);
                }
            }
        }
        let failed = self.rules.iter().filter(|r| !r.passed).count();
        let _ = writeln!(
            out,
            "{}: {} of {} rules failed ({} files, {} records, {} documents)",
            if self.passed { "passed" } else { "FAILED" },
            failed,
            self.rules.len(),
            self.files,
            self.records,
            self.documents
        );
        out
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report serializes") + "\n"
    }

    /// JUnit XML: one `<testcase>` per rule, a `<failure>` in each failed one.
    pub fn to_junit(&self) -> String {
        let failures = self.rules.iter().filter(|r| !r.passed).count();
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuites name=\"glmkit check\" tests=\"{0}\" failures=\"{failures}\">\n  \
             <testsuite name=\"glmkit check\" tests=\"{0}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\">",
            self.rules.len()
        );
        for rule in &self.rules {
            let _ = write!(
                out,
                "    <testcase classname=\"glmkit.check\" name=\"{}\">",
                escape(rule.rule)
            );
            let summary = format!("{} [{}]", rule.measured, rule.threshold);
            if rule.passed {
                let _ = writeln!(
                    out,
                    "<system-out>{}</system-out></testcase>",
                    escape(&summary)
                );
                continue;
            }
            let mut body = summary.clone();
            for why in &rule.failures {
                let _ = write!(body, "\n- {why}");
            }
            for e in &rule.examples {
                let _ = write!(body, "\n{}:{}: {}", e.file, e.line, e.note);
            }
            let _ = writeln!(
                out,
                "\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                escape(&rule.failures.join("; ")),
                escape(rule.rule),
                escape(&body)
            );
        }
        out.push_str("  </testsuite>\n</testsuites>\n");
        out
    }
}

/// Escapes text for XML content and attributes; characters XML 1.0 cannot hold (most control
/// characters) become U+FFFD.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' | '\r' => {
                let _ = write!(out, "&#{};", c as u32);
            }
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_escapes_what_xml_cannot_hold() {
        assert_eq!(
            escape("a<b & \"c\"\u{1}"),
            "a&lt;b &amp; &quot;c&quot;\u{FFFD}"
        );
        let mut failed = RuleOutcome::new("schema", "1 of 2 <bad>".into(), "rate <= 0".into());
        failed.check(false, || "violation rate 0.5 > 0".into());
        let report = Report::new(vec![
            RuleOutcome::new("encoding", "0 of 2".into(), "bad records <= 0".into()),
            failed,
        ]);
        let xml = report.to_junit();
        assert!(xml.contains("tests=\"2\" failures=\"1\""), "{xml}");
        assert_eq!(xml.matches("<testcase ").count(), 2);
        assert_eq!(xml.matches("<failure ").count(), 1);
        assert!(!report.passed);
    }
}
