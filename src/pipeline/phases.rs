//! Pipelines with corpus-wide steps, run in phases.
//!
//! A document-local step decides about each document alone, so a pipeline of them runs in one
//! pass of the executor. A corpus-wide step ([`CorpusStep`]: fuzzy or line dedup) must see every
//! document that reaches it before it decides about any. Each corpus-wide step therefore starts
//! a new phase:
//!
//! ```text
//! steps     normalize langid c4 | dedup_fuzzy dedup_exact | dedup_lines
//! phase 0   normalize langid c4                  IN                       -> OUT/.work/phase-0/
//! phase 1   (dedup_fuzzy decisions) dedup_exact  OUT/.work/phase-1/input/ -> OUT/.work/phase-1/
//! phase 2   (dedup_lines decisions)              OUT/.work/phase-2/input/ -> OUT/
//! ```
//!
//! A phase's input is the kept output of the phase before it, one file per input file, named
//! like the input file (so outputs keep their names, and documents their order), or the
//! inputs themselves for the first phase. Before a phase runs, its corpus-wide step looks at
//! that input (its own files go to `OUT/.work/phase-N/<kind>/`) and returns the per-document
//! step that applies its decisions, which runs first in the phase. The last phase writes
//! `OUT/kept/`; documents rejected or quarantined by an earlier phase go to `OUT/rejected/`
//! and `OUT/quarantine/` as `STEM+phase-N-00000.EXT` (`+` never occurs in a stem). Each input
//! file's completion marker sums its phases, so `stats.json` adds up over the whole run. A
//! phase's input is deleted once the phase has run; the corpus-wide steps' files stay.
//!
//! A pipeline with a corpus-wide step runs as one task (no `--shard i/n` with n > 1) and redoes
//! every phase on every run: its decisions depend on the whole corpus, so there is nothing to
//! resume. Outputs depend only on the inputs and settings, like every executor run.

use super::executor::{self, PipelineError, Progress, RunOptions, RunSummary};
use super::output::{output_stems, Marker, OutputLayout, KEPT, QUARANTINE, REJECTED};
use super::{CorpusInput, CorpusStep, PipelineStep, Stats, Step};
use crate::corpus::{Format, InputFile, PartLimits};
use std::path::{Path, PathBuf};

/// The folder under the output directory where phases exchange documents.
pub const WORK_DIR: &str = ".work";

/// Runs a pipeline's steps over `inputs`: in one pass when every step is document-local (as
/// [`executor::run`], with its resume and sharding; files a previous run finished are redone
/// when a step remembers earlier files), else in phases (see the module doc).
pub fn run_pipeline(
    inputs: &[InputFile],
    steps: Vec<PipelineStep>,
    options: &RunOptions,
) -> Result<RunSummary, PipelineError> {
    if let Some(corpus) = steps.iter().find(|s| s.is_corpus_wide()) {
        if options.shard.count > 1 {
            return Err(PipelineError::Sharded {
                step: corpus.name().to_string(),
                shard: options.shard,
            });
        }
    } else {
        let steps: Vec<Box<dyn Step>> = steps
            .into_iter()
            .filter_map(|s| match s {
                PipelineStep::Document(step) => Some(step),
                PipelineStep::Corpus(_) => None,
            })
            .collect();
        let mut options = options.clone();
        options.force |= steps.iter().any(|s| s.remembers_earlier_files());
        return executor::run(inputs, &steps, &options);
    }

    let phases = split_phases(steps);
    let work = options.output.join(WORK_DIR);
    if work.exists() {
        std::fs::remove_dir_all(&work).map_err(|e| io(&work, e))?;
    }
    let layout = OutputLayout::create(&options.output).map_err(|e| io(&options.output, e))?;
    let stems = output_stems(inputs);
    for stem in &stems {
        layout
            .clear_outputs(stem)
            .map_err(|e| io(&layout.root, e))?;
        clear_phase_outputs(&layout, stem).map_err(|e| io(&layout.root, e))?;
    }

    // Per input file: the file holding its documents for the next phase (None: none are left),
    // the stats of each phase it went through, and the files it left in OUT.
    let mut current: Vec<Option<InputFile>> = inputs.iter().cloned().map(Some).collect();
    let mut phase_stats: Vec<Vec<Stats>> = vec![Vec::new(); inputs.len()];
    let mut moved: Vec<Vec<String>> = vec![Vec::new(); inputs.len()];
    let count = phases.len();
    for (k, (corpus, mut steps)) in phases.into_iter().enumerate() {
        let last = k + 1 == count;
        let phase_dir = work.join(format!("phase-{k}"));
        let files: Vec<InputFile> = current.iter().flatten().cloned().collect();
        if options.progress != Progress::Quiet {
            let names: Vec<&str> = corpus
                .iter()
                .map(|c| c.name())
                .chain(steps.iter().map(|s| s.name()))
                .collect();
            eprintln!(
                "phase-{k} ({}): {} input files",
                names.join(", "),
                files.len()
            );
        }
        if let Some(corpus) = corpus {
            let work_dir = phase_dir.join(corpus.name());
            std::fs::create_dir_all(&work_dir).map_err(|e| io(&work_dir, e))?;
            let decide = corpus
                .prepare(&CorpusInput {
                    files: &files,
                    read: &options.read,
                    work_dir: &work_dir,
                    threads: options.threads,
                })
                .map_err(|source| PipelineError::Step {
                    step: corpus.name().to_string(),
                    source,
                })?;
            steps.insert(0, decide);
        }
        let mut run = options.clone();
        run.force = true;
        if !last {
            // One kept file per input file, so that the next phase's files match the inputs.
            run.output = phase_dir.clone();
            run.limits = PartLimits {
                max_docs: u64::MAX,
                max_bytes: u64::MAX,
            };
        }
        executor::run(&files, &steps, &run)?;
        // This phase's copy of the documents is no longer needed (the stage files stay).
        let input_dir = phase_dir.join("input");
        if input_dir.exists() {
            std::fs::remove_dir_all(&input_dir).map_err(|e| io(&input_dir, e))?;
        }
        let phase = OutputLayout {
            root: run.output.clone(),
        };
        let next_input = work.join(format!("phase-{}", k + 1)).join("input");
        for (j, stem) in stems.iter().enumerate() {
            if current[j].is_none() {
                continue;
            }
            let marker = phase.read_marker(stem).ok_or_else(|| {
                io(
                    &phase.marker_path(stem),
                    std::io::Error::other("the phase left no completion marker"),
                )
            })?;
            phase_stats[j].push(marker.stats.clone());
            if last {
                moved[j].extend(marker.outputs);
                continue;
            }
            let (next, outputs) = hand_over(&phase, &marker, stem, k, &next_input, &layout)?;
            current[j] = next;
            moved[j].extend(outputs);
        }
    }

    let mut summary = RunSummary {
        shard: Stats::default(),
        total: Stats::default(),
        processed_files: inputs.len(),
        skipped_files: 0,
    };
    for (j, stem) in stems.iter().enumerate() {
        let marker = Marker {
            input: inputs[j].path.to_string_lossy().into_owned(),
            stats: chain(&phase_stats[j]),
            outputs: std::mem::take(&mut moved[j]),
        };
        layout
            .write_marker(stem, &marker)
            .map_err(|e| io(&layout.root, e))?;
        summary.shard.merge(&marker.stats);
    }
    summary.total = layout.total_stats().map_err(|e| io(&layout.root, e))?;
    layout
        .write_stats(&summary.total)
        .map_err(|e| io(&layout.root, e))?;
    Ok(summary)
}

/// Moves what an intermediate phase wrote for one input file: its kept part becomes the next
/// phase's input (returned), its rejected and quarantined parts go to the output directory
/// (their paths there returned).
fn hand_over(
    phase: &OutputLayout,
    marker: &Marker,
    stem: &str,
    k: usize,
    next_input: &Path,
    out: &OutputLayout,
) -> Result<(Option<InputFile>, Vec<String>), PipelineError> {
    let mut next = None;
    let mut moved = Vec::new();
    for output in &marker.outputs {
        let from = phase.root.join(output);
        let relative = Path::new(output);
        let dir = relative.parent().unwrap_or(Path::new(""));
        let name = relative
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if dir == Path::new(KEPT) {
            let format = Format::from_path(&from).ok_or_else(|| {
                io(
                    &from,
                    std::io::Error::other("a kept part of unknown format"),
                )
            })?;
            if next.is_some() {
                // Cannot happen: intermediate phases write one part per input file.
                return Err(io(&from, std::io::Error::other("a second kept part")));
            }
            std::fs::create_dir_all(next_input).map_err(|e| io(next_input, e))?;
            // Named like the input file, so that the next phase's outputs are too.
            let path = next_input.join(format!("{stem}.{}", format.name()));
            std::fs::rename(&from, &path).map_err(|e| io(&from, e))?;
            next = Some(InputFile { path, format });
        } else {
            // `STEM-00000.EXT` -> `STEM+phase-K-00000.EXT`
            let rest = name.strip_prefix(stem).unwrap_or(&name);
            let to = dir.join(format!("{stem}+phase-{k}{rest}"));
            std::fs::rename(&from, out.root.join(&to)).map_err(|e| io(&from, e))?;
            moved.push(to.to_string_lossy().into_owned());
        }
    }
    Ok((next, moved))
}

type Phase = (Option<Box<dyn CorpusStep>>, Vec<Box<dyn Step>>);

/// Cuts the steps before each corpus-wide step; a first phase without steps is dropped.
fn split_phases(steps: Vec<PipelineStep>) -> Vec<Phase> {
    let mut phases: Vec<Phase> = vec![(None, Vec::new())];
    for step in steps {
        match step {
            PipelineStep::Document(step) => phases.last_mut().expect("never empty").1.push(step),
            PipelineStep::Corpus(step) => phases.push((Some(step), Vec::new())),
        }
    }
    if phases[0].1.is_empty() {
        phases.remove(0);
    }
    phases
}

/// The stats of one input file over its phases: each phase reads what the one before kept, so
/// reads come from the first phase, kept documents from the last, and removals add up.
fn chain(phases: &[Stats]) -> Stats {
    let mut total = Stats::default();
    for stats in phases {
        total.merge(stats);
    }
    if let (Some(first), Some(last)) = (phases.first(), phases.last()) {
        total.read = first.read;
        total.text_bytes_read = first.text_bytes_read;
        total.files = first.files;
        total.kept = last.kept;
        total.text_bytes_kept = last.text_bytes_kept;
    }
    total
}

/// Removes the files an earlier phased run left in `OUT/rejected/` and `OUT/quarantine/` for
/// `stem` (named `STEM+phase-...`).
fn clear_phase_outputs(layout: &OutputLayout, stem: &str) -> std::io::Result<()> {
    let prefix = format!("{stem}+phase-");
    for kind in [REJECTED, QUARANTINE] {
        let dir = layout.dir(kind);
        for entry in std::fs::read_dir(&dir)? {
            let name = entry?.file_name();
            if name.to_string_lossy().starts_with(&prefix) {
                std::fs::remove_file(dir.join(name))?;
            }
        }
    }
    Ok(())
}

fn io(path: &Path, source: std::io::Error) -> PipelineError {
    PipelineError::Io {
        path: PathBuf::from(path),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::{CorpusReader, Document, Record};
    use crate::pipeline::{Rejection, StepError, Verdict};
    use std::collections::HashMap;

    /// Rejects documents whose text starts with a prefix.
    struct Prefix(&'static str);

    impl Step for Prefix {
        fn name(&self) -> &str {
            self.0
        }

        fn apply(&self, doc: &mut Document) -> Result<Verdict, StepError> {
            Ok(if doc.text.starts_with(self.0) {
                Verdict::Reject(Rejection::new(self.0, "prefix"))
            } else {
                Verdict::Keep
            })
        }
    }

    /// Corpus-wide: rejects every document whose text occurs more than once in its input.
    struct Repeated;

    impl CorpusStep for Repeated {
        fn name(&self) -> &str {
            "repeated"
        }

        fn prepare(&self, input: &CorpusInput) -> Result<Box<dyn Step>, StepError> {
            let mut counts: HashMap<String, usize> = HashMap::new();
            for file in input.files {
                for doc in CorpusReader::open(file, input.read)?.records() {
                    if let Record::Doc(doc) = doc {
                        *counts.entry(doc.text).or_default() += 1;
                    }
                }
            }
            Ok(Box::new(Decide(counts)))
        }
    }

    struct Decide(HashMap<String, usize>);

    impl Step for Decide {
        fn name(&self) -> &str {
            "repeated"
        }

        fn apply(&self, doc: &mut Document) -> Result<Verdict, StepError> {
            Ok(match self.0.get(&doc.text) {
                Some(&n) if n > 1 => Verdict::Reject(Rejection::new("repeated", "repeated")),
                _ => Verdict::Keep,
            })
        }
    }

    fn ids(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].to_string())
            .collect()
    }

    #[test]
    fn corpus_wide_steps_split_the_pipeline_into_phases() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
        std::fs::write(
            &a,
            "{\"id\":1,\"text\":\"junk\"}\n{\"id\":2,\"text\":\"same\"}\n{\"id\":3,\"text\":\"x\"}\n",
        )
        .unwrap();
        std::fs::write(
            &b,
            "{\"id\":4,\"text\":\"same\"}\n{\"id\":5,\"text\":\"late\"}\n{bad\n",
        )
        .unwrap();
        let inputs = crate::corpus::expand_inputs(&[dir.path().to_str().unwrap()]).unwrap();
        let out = dir.path().join("out");
        let mut options = RunOptions::new(&out);
        options.format = Format::Jsonl;
        let steps = || {
            vec![
                PipelineStep::Document(Box::new(Prefix("junk"))),
                PipelineStep::Corpus(Box::new(Repeated)),
                PipelineStep::Document(Box::new(Prefix("late"))),
            ]
        };
        let summary = run_pipeline(&inputs, steps(), &options).unwrap();
        let total = &summary.total;
        assert!(total.adds_up(), "{total:?}");
        assert_eq!(
            (total.read, total.kept, total.rejected, total.quarantined),
            (6, 1, 4, 1)
        );
        let seen = |step: &str| (total.by_step[step].seen, total.by_step[step].rejected);
        assert_eq!(
            (seen("junk"), seen("repeated"), seen("late")),
            ((5, 1), (4, 2), (2, 1))
        );
        assert_eq!(ids(&out.join("kept/a-00000.jsonl")), ["3"]);
        assert_eq!(ids(&out.join("rejected/a+phase-0-00000.jsonl")), ["1"]);
        assert_eq!(ids(&out.join("rejected/a-00000.jsonl")), ["2"]);
        assert_eq!(ids(&out.join("rejected/b-00000.jsonl")), ["4", "5"]);
        assert!(out.join("quarantine/b+phase-0-00000.jsonl").is_file());
        assert!(!out.join(".work/phase-1/input").exists());

        // A rerun gives the same files, nothing stale; a sharded run is refused.
        let before = std::fs::read_dir(out.join("rejected")).unwrap().count();
        run_pipeline(&inputs, steps(), &options).unwrap();
        assert_eq!(
            std::fs::read_dir(out.join("rejected")).unwrap().count(),
            before
        );
        options.shard = crate::corpus::ShardSpec::new(0, 2).unwrap();
        assert!(matches!(
            run_pipeline(&inputs, steps(), &options),
            Err(PipelineError::Sharded { .. })
        ));
    }

    #[test]
    fn chained_stats_count_each_document_once() {
        let mut first = Stats {
            read: 10,
            kept: 6,
            rejected: 3,
            quarantined: 1,
            files: 1,
            text_bytes_read: 100,
            text_bytes_kept: 60,
            ..Stats::default()
        };
        first.by_reason.insert("short".into(), 3);
        first.quarantine_by_reason.insert("empty_text".into(), 1);
        let mut second = Stats {
            read: 6,
            kept: 4,
            rejected: 2,
            files: 1,
            text_bytes_read: 60,
            text_bytes_kept: 40,
            ..Stats::default()
        };
        second.by_reason.insert("dup_fuzzy".into(), 2);
        let total = chain(&[first, second]);
        assert!(total.adds_up(), "{total:?}");
        assert_eq!(
            (total.read, total.kept, total.rejected, total.files),
            (10, 4, 5, 1)
        );
        assert_eq!((total.text_bytes_read, total.text_bytes_kept), (100, 40));
    }
}

#[cfg(test)]
mod failure_tests {
    use super::*;
    use crate::corpus::Document;
    use crate::pipeline::{StepError, Verdict};

    /// Fails (as a device would) on a document whose text is `FAIL`, while `armed`.
    struct Fragile {
        armed: bool,
    }

    impl Step for Fragile {
        fn name(&self) -> &str {
            "fragile"
        }

        fn apply(&self, doc: &mut Document) -> Result<Verdict, StepError> {
            if self.armed && doc.text == "FAIL" {
                return Err("device lost".into());
            }
            Ok(Verdict::Keep)
        }
    }

    #[test]
    fn a_failing_step_fails_the_run_and_its_file_is_redone() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.jsonl"), "{\"id\":1,\"text\":\"x\"}\n").unwrap();
        std::fs::write(
            dir.path().join("b.jsonl"),
            "{\"id\":2,\"text\":\"y\"}\n{\"id\":3,\"text\":\"z\"}\n{\"id\":4,\"text\":\"FAIL\"}\n",
        )
        .unwrap();
        let inputs = crate::corpus::expand_inputs(&[dir.path().to_str().unwrap()]).unwrap();
        let out = dir.path().join("out");
        let mut options = RunOptions::new(&out);
        options.format = Format::Jsonl;
        // One document a batch and a part: b's first parts are finished before the failure.
        options.batch_docs = 1;
        options.limits = PartLimits {
            max_docs: 1,
            max_bytes: 1 << 20,
        };
        let steps = |armed| vec![PipelineStep::Document(Box::new(Fragile { armed }))];

        let error = run_pipeline(&inputs, steps(true), &options).unwrap_err();
        match &error {
            PipelineError::StepFailed { file, step, source } => {
                assert!(file.ends_with("b.jsonl"), "{error}");
                assert_eq!(
                    (step.as_str(), source.to_string()),
                    ("fragile", "device lost".into())
                );
            }
            other => panic!("{other}"),
        }
        assert!(out.join(".done/a.json").is_file());
        assert!(!out.join(".done/b.json").exists());
        let names = |kind: &str| -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(out.join(kind))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        // Nothing of b is left to look finished (or half written).
        assert_eq!(names(KEPT), ["a-00000.jsonl"]);
        assert!(names(REJECTED).is_empty() && names(QUARANTINE).is_empty());

        let summary = run_pipeline(&inputs, steps(false), &options).unwrap();
        assert_eq!((summary.processed_files, summary.skipped_files), (1, 1));
        assert_eq!((summary.total.read, summary.total.kept), (4, 4));
        assert_eq!(names(KEPT).len(), 4);
    }
}
