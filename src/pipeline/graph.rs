//! Pipelines as graphs of stages, each stage run as tasks `i` of `n`.
//!
//! A document-local step decides about each document alone; a corpus-wide step ([`CorpusStep`]:
//! exact, fuzzy or line dedup) must see every document that reaches it first. A pipeline is cut
//! into passes at each corpus-wide step, and compiles to this list of stages, run in order:
//!
//! ```text
//! steps      normalize langid quality | dedup_exact | dedup_fuzzy score
//! stage 0    pass 0: normalize, langid, quality      IN                 -> .work/pass-0/
//! stage 1    dedup_exact.hashes                       .work/pass-0/kept -> .work/pass-1/dedup_exact/
//! stage 2    dedup_exact.groups                                         -> .work/pass-1/dedup_exact/
//! stage 3    pass 1: dedup_exact                      .work/pass-0/kept -> .work/pass-1/
//! stage 4-6  dedup_fuzzy.signatures, .buckets, .cluster
//! stage 7    pass 2: dedup_fuzzy, score               .work/pass-1/kept -> .work/pass-2/
//! stage 8    finish: every file's outputs into OUT/kept, OUT/rejected, OUT/quarantine
//! ```
//!
//! Every stage shards: a pass's task `i` of `n` takes the input files at positions `k` with
//! `k % n == i` (the executor's `--shard`), a corpus-wide stage's task splits its own work (by
//! input file or hash partition), and the finish stage's task takes the files a pass task
//! would. A stage needs every task of the stages before it, nothing else: a cluster runs each
//! stage as an array job chained on the one before; one machine runs them in order.
//!
//! A pass writes one part per input file, named after the original input (`STEM-00000.EXT`),
//! so the next pass reads it under that name. The finish stage moves the last pass's parts
//! into `OUT/` under their names and the rejected and quarantined parts of earlier passes as
//! `STEM+pass-K-00000.EXT` (`+` never occurs in a stem), and writes each input file's marker
//! with its stats summed over the passes, so `stats.json` adds up over the whole run. A
//! pipeline of one pass (no corpus-wide step, or one first) writes `OUT/` directly and has no
//! finish stage.
//!
//! Resume and reruns: each task leaves a marker (`.work/graph/stage-KK/task-IIIII-of-NNNNN.json`)
//! once its outputs are in place, written under a temporary name and linked into place; copies
//! of one task take turns on a lock file beside it, so a second copy waits for the first and
//! then leaves its outputs as they are. A task whose marker
//! exists does nothing; a pass also skips the files it already finished (their markers), so a
//! killed task redoes only its unfinished files. The run's plan and inputs are recorded in
//! `.work/graph/plan.json`: a run over other inputs or settings starts afresh (the local
//! runner) or is refused (a single task). Outputs depend only on the inputs and settings: they
//! are byte-identical whatever the number of tasks per stage, the threads, or the
//! interruptions.

use super::executor::{self, PipelineError, Progress, RunOptions, RunSummary};
use super::output::{output_stems, Marker, OutputLayout, KEPT, QUARANTINE, REJECTED};
use super::{CorpusInput, CorpusStep, PipelineStep, Stats, Step};
use crate::corpus::{Format, InputFile, PartLimits, ShardSpec};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The folder under the output directory for the passes' documents and the graph's state.
pub const WORK_DIR: &str = ".work";
/// The graph's state under [`WORK_DIR`]: the plan and the task markers.
const GRAPH_DIR: &str = "graph";

/// What a stage does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StageKind {
    /// One stage of a corpus-wide step, over the documents that reach it.
    Corpus,
    /// A pass of the executor: the decisions of the corpus-wide step before it (if any), then
    /// the document-local steps after it.
    Pass,
    /// Moves every pass's outputs into the output directory and writes the markers.
    Finish,
}

/// One stage of a compiled pipeline, as `--plan` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagePlan {
    pub index: usize,
    pub name: String,
    pub kind: StageKind,
    /// The pass this stage belongs to (none for the finish stage).
    pub pass: Option<usize>,
    /// The steps it runs (a corpus-wide stage: the step it belongs to).
    pub steps: Vec<String>,
    /// Whether it can run as several tasks (`--shard i/n` with n > 1).
    pub shardable: bool,
    /// What it reads and writes, relative to the output directory (`IN`: the inputs).
    pub inputs: String,
    pub outputs: String,
}

/// One pass: the corpus-wide step that starts it (if any) and the document-local steps.
struct Pass {
    corpus: Option<Box<dyn CorpusStep>>,
    steps: Vec<Box<dyn Step>>,
}

/// A pipeline compiled to stages.
pub struct Graph {
    passes: Vec<Pass>,
    plan: Vec<StagePlan>,
    /// For each stage: its pass and, for a corpus-wide stage, its index in the step's stages.
    places: Vec<Place>,
}

#[derive(Debug, Clone, Copy)]
enum Place {
    Corpus { pass: usize, stage: usize },
    Pass(usize),
    Finish,
}

/// The marker a task leaves when it has finished.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TaskMarker {
    stage: usize,
    name: String,
    task: usize,
    tasks: usize,
    /// Wall time of the task, in seconds.
    seconds: f64,
}

/// How far a stage has come: tasks done of how many (the task count of its markers).
#[derive(Debug, Clone, PartialEq)]
pub struct StageProgress {
    pub done: Vec<usize>,
    /// The task count its markers were written with (None: no task has finished).
    pub tasks: Option<usize>,
    /// Wall seconds of the finished tasks (the longest, and the sum).
    pub slowest_seconds: f64,
    pub total_seconds: f64,
}

impl StageProgress {
    pub fn is_complete(&self) -> bool {
        self.tasks.is_some_and(|n| self.done.len() == n)
    }
}

impl Graph {
    /// Compiles a pipeline's steps: a pass starts at each corpus-wide step (an empty first
    /// pass is dropped).
    pub fn compile(steps: Vec<PipelineStep>) -> Graph {
        let mut passes = vec![Pass {
            corpus: None,
            steps: Vec::new(),
        }];
        for step in steps {
            match step {
                PipelineStep::Document(step) => {
                    passes.last_mut().expect("never empty").steps.push(step)
                }
                PipelineStep::Corpus(step) => passes.push(Pass {
                    corpus: Some(step),
                    steps: Vec::new(),
                }),
            }
        }
        if passes.len() > 1 && passes[0].steps.is_empty() {
            passes.remove(0);
        }
        let mut graph = Graph {
            passes,
            plan: Vec::new(),
            places: Vec::new(),
        };
        graph.plan_stages();
        graph
    }

    fn plan_stages(&mut self) {
        let single = self.passes.len() == 1;
        let add = |place: Place, plan: StagePlan, graph: &mut Vec<(Place, StagePlan)>| {
            let mut plan = plan;
            plan.index = graph.len();
            graph.push((place, plan));
        };
        let mut stages = Vec::new();
        for (k, pass) in self.passes.iter().enumerate() {
            let input = if k == 0 {
                "IN".to_string()
            } else {
                format!("{WORK_DIR}/pass-{}/{KEPT}/", k - 1)
            };
            let mut names: Vec<String> = Vec::new();
            if let Some(corpus) = &pass.corpus {
                for (s, stage) in corpus.stages().into_iter().enumerate() {
                    add(
                        Place::Corpus { pass: k, stage: s },
                        StagePlan {
                            index: 0,
                            name: format!("{}.{stage}", corpus.name()),
                            kind: StageKind::Corpus,
                            pass: Some(k),
                            steps: vec![corpus.name().to_string()],
                            shardable: true,
                            inputs: if s == 0 {
                                input.clone()
                            } else {
                                format!("{input} and the stages before")
                            },
                            outputs: format!("{WORK_DIR}/pass-{k}/{}/", corpus.name()),
                        },
                        &mut stages,
                    );
                }
                names.push(corpus.name().to_string());
            }
            names.extend(pass.steps.iter().map(|s| s.name().to_string()));
            let inputs = match &pass.corpus {
                Some(corpus) => format!("{input} and {WORK_DIR}/pass-{k}/{}/", corpus.name()),
                None => input,
            };
            add(
                Place::Pass(k),
                StagePlan {
                    index: 0,
                    name: format!("pass-{k}"),
                    kind: StageKind::Pass,
                    pass: Some(k),
                    steps: names,
                    shardable: !pass.steps.iter().any(|s| s.remembers_earlier_files()),
                    inputs,
                    outputs: if single {
                        "kept/ rejected/ quarantine/ .done/ stats.json".into()
                    } else {
                        format!("{WORK_DIR}/pass-{k}/")
                    },
                },
                &mut stages,
            );
        }
        if !single {
            add(
                Place::Finish,
                StagePlan {
                    index: 0,
                    name: "finish".into(),
                    kind: StageKind::Finish,
                    pass: None,
                    steps: Vec::new(),
                    shardable: true,
                    inputs: format!("{WORK_DIR}/pass-*/"),
                    outputs: "kept/ rejected/ quarantine/ .done/ stats.json".into(),
                },
                &mut stages,
            );
        }
        (self.places, self.plan) = stages.into_iter().unzip();
    }

    /// The stages, in the order they run.
    pub fn plan(&self) -> &[StagePlan] {
        &self.plan
    }

    /// The plan as `--plan --json` prints it: `{"stages": [...]}`.
    pub fn plan_json(&self) -> serde_json::Value {
        serde_json::json!({ "stages": self.plan })
    }

    /// Runs every stage in order on this machine, each as `tasks` tasks one after the other
    /// (a stage that cannot shard as one), resuming from the markers of an earlier run over the
    /// same inputs and settings (`fingerprint`) unless `options.force`; a run over other inputs
    /// or settings starts afresh.
    pub fn run_local(
        &self,
        inputs: &[InputFile],
        tasks: usize,
        fingerprint: &serde_json::Value,
        options: &RunOptions,
    ) -> Result<RunSummary, PipelineError> {
        self.prepare(inputs, fingerprint, &options.output, options.force)?;
        let state = State::new(&options.output);
        let mut started = 0usize;
        for (k, plan) in self.plan.iter().enumerate() {
            let progress = state.progress(k)?;
            if progress.is_complete() {
                continue;
            }
            // A stage begun with another task count goes on with it (its markers name it).
            let count = match progress.tasks {
                Some(n) => n,
                None if plan.shardable => tasks.max(1),
                None => 1,
            };
            for i in 0..count {
                if progress.done.contains(&i) {
                    continue;
                }
                if options.stop_after_tasks == Some(started) {
                    return Err(PipelineError::Interrupted(started));
                }
                let task = ShardSpec::new(i, count).map_err(|m| self.error(k, m))?;
                self.run_task_unchecked(inputs, k, task, options)?;
                started += 1;
            }
        }
        let layout = OutputLayout::create(&options.output).map_err(|e| io(&options.output, e))?;
        let total = layout.total_stats().map_err(|e| io(&layout.root, e))?;
        Ok(RunSummary {
            shard: total.clone(),
            total,
            processed_files: inputs.len(),
            skipped_files: 0,
        })
    }

    /// Readies `out` for this run: an earlier run there over the same inputs and settings is
    /// left to resume unless `force`; otherwise what is there of these inputs is removed and
    /// the plan recorded afresh.
    pub fn prepare(
        &self,
        inputs: &[InputFile],
        fingerprint: &serde_json::Value,
        out: &Path,
        force: bool,
    ) -> Result<(), PipelineError> {
        let state = State::new(out);
        let record = self.record(inputs, fingerprint)?;
        if !force && state.read_plan()?.as_ref() == Some(&record) {
            return Ok(());
        }
        self.start_afresh(inputs, &state, &record)
    }

    /// Runs task `task` of stage `stage`, as one array task of a cluster job does: the stages
    /// before it must be complete, and the output directory must hold this run (or nothing).
    /// A task that has already finished does nothing (unless `options.force`).
    pub fn run_task(
        &self,
        inputs: &[InputFile],
        stage: usize,
        task: ShardSpec,
        fingerprint: &serde_json::Value,
        options: &RunOptions,
    ) -> Result<RunSummary, PipelineError> {
        let plan = self.plan.get(stage).ok_or_else(|| {
            PipelineError::Plan(format!(
                "there is no stage {stage}: this pipeline has stages 0 to {} (--plan lists them)",
                self.plan.len() - 1
            ))
        })?;
        if task.count > 1 && !plan.shardable {
            return Err(self.error(
                stage,
                format!("cannot run as task {task}: a step of it remembers earlier files"),
            ));
        }
        let state = State::new(&options.output);
        let record = self.record(inputs, fingerprint)?;
        match state.read_plan()? {
            Some(found) if found != record => {
                return Err(PipelineError::Plan(format!(
                    "{} holds a run of another pipeline or other inputs ({}); give another \
                     --output, or remove it",
                    options.output.display(),
                    state.plan_path().display()
                )))
            }
            Some(_) => {}
            None => state.create_plan(&record)?,
        }
        for before in 0..stage {
            let progress = state.progress(before)?;
            if !progress.is_complete() {
                return Err(self.error(
                    stage,
                    format!(
                        "stage {before} ({}) has not finished: {} of {} tasks done",
                        self.plan[before].name,
                        progress.done.len(),
                        progress.tasks.map_or("its".to_string(), |n| n.to_string())
                    ),
                ));
            }
        }
        // Copies of one task (a requeued array task, a rerun by hand) take turns: a second copy
        // waits for the first, then finds its marker and leaves the outputs as they are.
        let _turn = state.lock_task(stage, task)?;
        if !options.force && state.task_done(stage, task) {
            let layout = OutputLayout {
                root: options.output.clone(),
            };
            let total = layout.total_stats().unwrap_or_default();
            return Ok(RunSummary {
                total,
                ..RunSummary::default()
            });
        }
        self.run_task_unchecked(inputs, stage, task, options)
    }

    /// Runs one task and leaves its marker.
    fn run_task_unchecked(
        &self,
        inputs: &[InputFile],
        stage: usize,
        task: ShardSpec,
        options: &RunOptions,
    ) -> Result<RunSummary, PipelineError> {
        let started = Instant::now();
        let plan = &self.plan[stage];
        if options.progress != Progress::Quiet {
            eprintln!(
                "stage {stage} ({}), task {task}: {}",
                plan.name,
                plan.steps.join(", ")
            );
        }
        let summary = match self.places[stage] {
            Place::Corpus { pass, stage: s } => {
                let (files, _) = self.pass_inputs(inputs, pass, &options.output)?;
                let corpus = self.passes[pass].corpus.as_ref().expect("a corpus stage");
                let work_dir = corpus_dir(&options.output, pass, corpus.name());
                std::fs::create_dir_all(&work_dir).map_err(|e| io(&work_dir, e))?;
                let input = CorpusInput {
                    files: &files,
                    read: &options.read,
                    work_dir: &work_dir,
                    threads: options.threads,
                };
                corpus
                    .run_stage(s, &input, task)
                    .map_err(|source| PipelineError::Step {
                        step: plan.name.clone(),
                        source,
                    })?;
                None
            }
            Place::Pass(pass) => Some(self.run_pass(inputs, pass, task, options)?),
            Place::Finish => Some(self.finish(inputs, task, &options.output)?),
        };
        State::new(&options.output).mark_done(
            stage,
            task,
            &TaskMarker {
                stage,
                name: plan.name.clone(),
                task: task.index,
                tasks: task.count,
                seconds: started.elapsed().as_secs_f64(),
            },
        )?;
        Ok(summary.unwrap_or_default())
    }

    /// Task `task` of pass `pass`: the executor over the pass's input files that it owns.
    fn run_pass(
        &self,
        inputs: &[InputFile],
        pass: usize,
        task: ShardSpec,
        options: &RunOptions,
    ) -> Result<RunSummary, PipelineError> {
        let (files, stems) = self.pass_inputs(inputs, pass, &options.output)?;
        let this = &self.passes[pass];
        let decider = match &this.corpus {
            Some(corpus) => {
                let work_dir = corpus_dir(&options.output, pass, corpus.name());
                let input = CorpusInput {
                    files: &files,
                    read: &options.read,
                    work_dir: &work_dir,
                    threads: options.threads,
                };
                Some(
                    corpus
                        .decider(&input, task)
                        .map_err(|source| PipelineError::Step {
                            step: corpus.name().to_string(),
                            source,
                        })?,
                )
            }
            None => None,
        };
        let steps: Vec<&dyn Step> = decider
            .iter()
            .chain(&this.steps)
            .map(|s| s.as_ref())
            .collect();
        let mut run = options.clone();
        run.shard = task;
        run.force = options.force || this.steps.iter().any(|s| s.remembers_earlier_files());
        if self.passes.len() > 1 {
            run.output = pass_dir(&options.output, pass);
            if pass + 1 < self.passes.len() {
                // One part per input file: the next pass reads it as that file.
                run.limits = PartLimits {
                    max_docs: u64::MAX,
                    max_bytes: u64::MAX,
                };
            }
        }
        executor::run_named(&files, &stems, &steps, &run)
    }

    /// The input files of a pass and the stem each writes under: the inputs for the first
    /// pass; for a later one, each input file's kept part from the pass before (a file of
    /// which an earlier pass kept nothing is not in it).
    fn pass_inputs(
        &self,
        inputs: &[InputFile],
        pass: usize,
        out: &Path,
    ) -> Result<(Vec<InputFile>, Vec<String>), PipelineError> {
        let mut files: Vec<(InputFile, String)> =
            inputs.iter().cloned().zip(output_stems(inputs)).collect();
        for before in 0..pass {
            let layout = OutputLayout {
                root: pass_dir(out, before),
            };
            let mut next = Vec::with_capacity(files.len());
            for (file, stem) in files {
                let marker = layout.read_marker(&stem).ok_or_else(|| {
                    PipelineError::Plan(format!(
                        "{}: missing; pass {before} has not finished {}",
                        layout.marker_path(&stem).display(),
                        file.path.display()
                    ))
                })?;
                if let Some(kept) = kept_part(&marker) {
                    let path = layout.root.join(kept);
                    let format = Format::from_path(&path).ok_or_else(|| {
                        io(
                            &path,
                            std::io::Error::other("a kept part of unknown format"),
                        )
                    })?;
                    next.push((InputFile { path, format }, stem));
                }
            }
            files = next;
        }
        Ok(files.into_iter().unzip())
    }

    /// Task `task` of the finish stage: for each input file it owns, moves every pass's parts
    /// into the output directory and writes the file's marker; once every file has its
    /// marker, `stats.json`.
    fn finish(
        &self,
        inputs: &[InputFile],
        task: ShardSpec,
        out: &Path,
    ) -> Result<RunSummary, PipelineError> {
        let layout = OutputLayout::create(out).map_err(|e| io(out, e))?;
        let stems = output_stems(inputs);
        let last = self.passes.len() - 1;
        let mut summary = RunSummary::default();
        for (j, stem) in stems.iter().enumerate() {
            if !task.owns(j) {
                continue;
            }
            if let Some(marker) = layout.read_marker(stem) {
                summary.shard.merge(&marker.stats);
                summary.skipped_files += 1;
                continue;
            }
            let mut passes = Vec::new();
            let mut moved = Vec::new();
            let mut read_by_later = Vec::new();
            for pass in 0..self.passes.len() {
                let from = OutputLayout {
                    root: pass_dir(out, pass),
                };
                let marker = from.read_marker(stem).ok_or_else(|| {
                    PipelineError::Plan(format!(
                        "{}: missing; pass {pass} has not finished {}",
                        from.marker_path(stem).display(),
                        inputs[j].path.display()
                    ))
                })?;
                for output in &marker.outputs {
                    let relative = Path::new(output);
                    let dir = relative.parent().unwrap_or(Path::new(""));
                    if dir == Path::new(KEPT) && pass < last {
                        read_by_later.push(from.root.join(output)); // the next pass's input
                        continue;
                    }
                    let name = relative
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let to = if pass == last {
                        relative.to_path_buf()
                    } else {
                        // `STEM-00000.EXT` -> `STEM+pass-K-00000.EXT`
                        let rest = name.strip_prefix(stem.as_str()).unwrap_or(&name);
                        dir.join(format!("{stem}+pass-{pass}{rest}"))
                    };
                    move_once(&from.root.join(output), &out.join(&to))?;
                    moved.push(to.to_string_lossy().into_owned());
                }
                let reaches_next = kept_part(&marker).is_some();
                passes.push(marker.stats);
                if !reaches_next {
                    break;
                }
            }
            let marker = Marker {
                input: inputs[j].path.to_string_lossy().into_owned(),
                stats: chain(&passes),
                outputs: moved,
            };
            layout
                .write_marker(stem, &marker)
                .map_err(|e| io(&layout.root, e))?;
            // The copies of its documents that later passes read are no longer needed.
            for path in read_by_later {
                let _ = std::fs::remove_file(path);
            }
            summary.shard.merge(&marker.stats);
            summary.processed_files += 1;
        }
        // Written once every file is finished: each task writes its markers before it looks,
        // so the last task to finish sees them all.
        if stems.iter().all(|stem| layout.marker_path(stem).is_file()) {
            summary.total = layout.total_stats().map_err(|e| io(&layout.root, e))?;
            layout
                .write_stats(&summary.total)
                .map_err(|e| io(&layout.root, e))?;
        }
        Ok(summary)
    }

    /// What `plan.json` records: the plan, the inputs (paths, sizes, modification times) and
    /// the caller's settings.
    fn record(
        &self,
        inputs: &[InputFile],
        fingerprint: &serde_json::Value,
    ) -> Result<serde_json::Value, PipelineError> {
        let files = inputs
            .iter()
            .map(|input| input.identity().map_err(|e| io(&input.path, e)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(serde_json::json!({
            "stages": self.plan,
            "inputs": files,
            "settings": fingerprint,
        }))
    }

    /// Removes what an earlier run left (the work folder, and every output of these inputs),
    /// then records this run's plan.
    fn start_afresh(
        &self,
        inputs: &[InputFile],
        state: &State,
        record: &serde_json::Value,
    ) -> Result<(), PipelineError> {
        let work = state.out.join(WORK_DIR);
        if work.exists() {
            std::fs::remove_dir_all(&work).map_err(|e| io(&work, e))?;
        }
        let layout = OutputLayout::create(&state.out).map_err(|e| io(&state.out, e))?;
        for stem in output_stems(inputs) {
            layout
                .clear_outputs(&stem)
                .and_then(|_| clear_pass_outputs(&layout, &stem))
                .map_err(|e| io(&layout.root, e))?;
        }
        let stats = state.out.join("stats.json");
        if stats.exists() {
            std::fs::remove_file(&stats).map_err(|e| io(&stats, e))?;
        }
        state.create_plan(record)
    }

    /// How far each stage of the run in `out` has come.
    pub fn progress(&self, out: &Path) -> Result<Vec<StageProgress>, PipelineError> {
        (0..self.plan.len())
            .map(|k| stage_progress(out, k))
            .collect()
    }

    fn error(&self, stage: usize, message: impl Into<String>) -> PipelineError {
        PipelineError::Plan(format!(
            "stage {stage} ({}): {}",
            self.plan[stage].name,
            message.into()
        ))
    }
}

/// How far stage `stage` of the run in `out` has come (from its task markers).
pub fn stage_progress(out: &Path, stage: usize) -> Result<StageProgress, PipelineError> {
    State::new(out).progress(stage)
}

/// The graph's state in an output directory.
struct State {
    out: PathBuf,
}

impl State {
    fn new(out: &Path) -> State {
        State {
            out: out.to_path_buf(),
        }
    }

    fn dir(&self) -> PathBuf {
        self.out.join(WORK_DIR).join(GRAPH_DIR)
    }

    fn plan_path(&self) -> PathBuf {
        self.dir().join("plan.json")
    }

    fn read_plan(&self) -> Result<Option<serde_json::Value>, PipelineError> {
        let path = self.plan_path();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| io(&path, std::io::Error::other(e))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path, e)),
        }
    }

    /// Records the plan unless another task did first (then theirs must be the same).
    fn create_plan(&self, record: &serde_json::Value) -> Result<(), PipelineError> {
        let path = self.plan_path();
        let mut bytes = serde_json::to_vec_pretty(record).expect("plan serializes");
        bytes.push(b'\n');
        if !link_into_place(&path, &bytes)? && self.read_plan()?.as_ref() != Some(record) {
            return Err(PipelineError::Plan(format!(
                "{}: another run of another pipeline began in this output directory at the \
                 same time",
                path.display()
            )));
        }
        Ok(())
    }

    fn stage_dir(&self, stage: usize) -> PathBuf {
        self.dir().join(format!("stage-{stage:02}"))
    }

    fn task_path(&self, stage: usize, task: ShardSpec) -> PathBuf {
        self.stage_dir(stage)
            .join(format!("task-{:05}-of-{:05}.json", task.index, task.count))
    }

    /// Holds the task's lock file until the returned file is dropped (an advisory lock, which
    /// NFSv4 and Lustre with `flock` honour across nodes).
    fn lock_task(&self, stage: usize, task: ShardSpec) -> Result<std::fs::File, PipelineError> {
        let path = self.task_path(stage, task).with_extension("lock");
        let dir = self.stage_dir(stage);
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| io(&path, e))?;
        file.lock().map_err(|e| io(&path, e))?;
        Ok(file)
    }

    fn task_done(&self, stage: usize, task: ShardSpec) -> bool {
        self.task_path(stage, task).is_file()
    }

    /// Leaves a task's marker, unless a copy of the task left one first.
    fn mark_done(
        &self,
        stage: usize,
        task: ShardSpec,
        marker: &TaskMarker,
    ) -> Result<(), PipelineError> {
        let bytes = serde_json::to_vec_pretty(marker).expect("marker serializes");
        link_into_place(&self.task_path(stage, task), &bytes).map(|_| ())
    }

    /// The tasks of `stage` that have finished, with the task count they ran under (the
    /// largest count any marker names, when markers of several counts are there).
    fn progress(&self, stage: usize) -> Result<StageProgress, PipelineError> {
        let dir = self.stage_dir(stage);
        let mut markers: Vec<TaskMarker> = Vec::new();
        if dir.is_dir() {
            for entry in std::fs::read_dir(&dir).map_err(|e| io(&dir, e))? {
                let path = entry.map_err(|e| io(&dir, e))?.path();
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if !(name.starts_with("task-") && name.ends_with(".json")) {
                    continue;
                }
                let bytes = std::fs::read(&path).map_err(|e| io(&path, e))?;
                let marker = serde_json::from_slice(&bytes)
                    .map_err(|e| io(&path, std::io::Error::other(e)))?;
                markers.push(marker);
            }
        }
        // A complete set of one task count wins; otherwise the count with most markers.
        let mut counts: Vec<usize> = markers.iter().map(|m| m.tasks).collect();
        counts.sort_unstable();
        counts.dedup();
        let done_of = |n: usize| -> Vec<&TaskMarker> {
            let mut of: Vec<&TaskMarker> = markers.iter().filter(|m| m.tasks == n).collect();
            of.sort_by_key(|m| m.task);
            of
        };
        let tasks = counts
            .iter()
            .copied()
            .find(|&n| done_of(n).len() == n)
            .or_else(|| counts.iter().copied().max_by_key(|&n| done_of(n).len()));
        let of = tasks.map(done_of).unwrap_or_default();
        Ok(StageProgress {
            done: of.iter().map(|m| m.task).collect(),
            tasks,
            slowest_seconds: of.iter().map(|m| m.seconds).fold(0.0, f64::max),
            total_seconds: of.iter().map(|m| m.seconds).sum(),
        })
    }
}

/// Writes `bytes` to `path` unless it exists: under a temporary name, then hard-linked into
/// place, which fails when another process put a file there first. Returns whether this call
/// wrote it.
fn link_into_place(path: &Path, bytes: &[u8]) -> Result<bool, PipelineError> {
    let dir = path.parent().expect("a file in a folder");
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Unique to this call: two writers in one process (threads) must not share it either.
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{}-{call}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| io(&tmp, e))?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(io(path, e)),
    }
}

/// Moves a finished part into the output directory; a part already moved (by an earlier,
/// interrupted copy of the task) is left where it is.
fn move_once(from: &Path, to: &Path) -> Result<(), PipelineError> {
    match std::fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && to.is_file() => Ok(()),
        Err(e) => Err(io(from, e)),
    }
}

/// The kept part a pass wrote for one input file (passes before the last write at most one).
fn kept_part(marker: &Marker) -> Option<&str> {
    marker
        .outputs
        .iter()
        .map(String::as_str)
        .find(|o| Path::new(o).parent() == Some(Path::new(KEPT)))
}

fn pass_dir(out: &Path, pass: usize) -> PathBuf {
    out.join(WORK_DIR).join(format!("pass-{pass}"))
}

fn corpus_dir(out: &Path, pass: usize, step: &str) -> PathBuf {
    pass_dir(out, pass).join(step)
}

/// The stats of one input file over its passes: each pass reads what the one before kept, so
/// reads come from the first pass, kept documents from the last, and removals add up.
fn chain(passes: &[Stats]) -> Stats {
    let mut total = Stats::default();
    for stats in passes {
        total.merge(stats);
    }
    if let (Some(first), Some(last)) = (passes.first(), passes.last()) {
        total.read = first.read;
        total.text_bytes_read = first.text_bytes_read;
        total.files = first.files;
        total.kept = last.kept;
        total.text_bytes_kept = last.text_bytes_kept;
    }
    total
}

/// Removes the files an earlier run left in `OUT/rejected/` and `OUT/quarantine/` for
/// `stem` from passes before its last (named `STEM+pass-...`).
fn clear_pass_outputs(layout: &OutputLayout, stem: &str) -> std::io::Result<()> {
    let prefix = format!("{stem}+pass-");
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
    use std::collections::{BTreeMap, HashMap};

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

    /// Corpus-wide: rejects every document whose text occurs more than once in its input. Its
    /// one stage counts the texts of each input file a task owns into a file of its own.
    struct Repeated;

    impl CorpusStep for Repeated {
        fn name(&self) -> &str {
            "repeated"
        }

        fn stages(&self) -> Vec<&'static str> {
            vec!["count"]
        }

        fn run_stage(
            &self,
            _stage: usize,
            input: &CorpusInput,
            task: ShardSpec,
        ) -> Result<(), StepError> {
            for (k, file) in input.files.iter().enumerate() {
                if !task.owns(k) {
                    continue;
                }
                let mut counts: BTreeMap<String, usize> = BTreeMap::new();
                for doc in CorpusReader::open(file, input.read)?.records() {
                    if let Record::Doc(doc) = doc {
                        *counts.entry(doc.text).or_default() += 1;
                    }
                }
                let path = input.work_dir.join(format!("count-{k}.json"));
                std::fs::write(path, serde_json::to_vec(&counts)?)?;
            }
            Ok(())
        }

        fn decider(
            &self,
            input: &CorpusInput,
            _task: ShardSpec,
        ) -> Result<Box<dyn Step>, StepError> {
            let mut counts: HashMap<String, usize> = HashMap::new();
            for k in 0..input.files.len() {
                let path = input.work_dir.join(format!("count-{k}.json"));
                let file: BTreeMap<String, usize> = serde_json::from_slice(&std::fs::read(path)?)?;
                for (text, n) in file {
                    *counts.entry(text).or_default() += n;
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

    fn graph() -> Graph {
        Graph::compile(vec![
            PipelineStep::Document(Box::new(Prefix("junk"))),
            PipelineStep::Corpus(Box::new(Repeated)),
            PipelineStep::Document(Box::new(Prefix("late"))),
        ])
    }

    fn ids(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].to_string())
            .collect()
    }

    /// Every file under `out` but the work folder, with its bytes.
    fn snapshot(out: &Path) -> BTreeMap<String, Vec<u8>> {
        let mut files = BTreeMap::new();
        let mut todo = vec![out.to_path_buf()];
        while let Some(dir) = todo.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let relative = path
                    .strip_prefix(out)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                if relative == WORK_DIR {
                    continue;
                }
                if path.is_dir() {
                    todo.push(path);
                } else {
                    files.insert(relative, std::fs::read(&path).unwrap());
                }
            }
        }
        files
    }

    fn two_files(dir: &Path) -> Vec<InputFile> {
        std::fs::write(
            dir.join("a.jsonl"),
            "{\"id\":1,\"text\":\"junk\"}\n{\"id\":2,\"text\":\"same\"}\n{\"id\":3,\"text\":\"x\"}\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("b.jsonl"),
            "{\"id\":4,\"text\":\"same\"}\n{\"id\":5,\"text\":\"late\"}\n{bad\n",
        )
        .unwrap();
        crate::corpus::expand_inputs(&[dir.to_str().unwrap()]).unwrap()
    }

    fn options(out: &Path) -> RunOptions {
        let mut options = RunOptions::new(out);
        options.format = Format::Jsonl;
        options
    }

    #[test]
    fn corpus_wide_steps_split_the_pipeline_into_passes() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = two_files(&dir.path().join("in").tap_mkdir());
        let out = dir.path().join("out");
        let graph = graph();
        let names: Vec<&str> = graph.plan().iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["pass-0", "repeated.count", "pass-1", "finish"]);
        assert!(graph.plan().iter().all(|s| s.shardable));
        let json = graph.plan_json();
        assert_eq!(json["stages"][1]["kind"], "corpus");
        assert_eq!(
            json["stages"][2]["steps"],
            serde_json::json!(["repeated", "late"])
        );

        let summary = graph
            .run_local(&inputs, 1, &serde_json::json!({}), &options(&out))
            .unwrap();
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
        assert_eq!(ids(&out.join("rejected/a+pass-0-00000.jsonl")), ["1"]);
        assert_eq!(ids(&out.join("rejected/a-00000.jsonl")), ["2"]);
        assert_eq!(ids(&out.join("rejected/b-00000.jsonl")), ["4", "5"]);
        assert!(out.join("quarantine/b+pass-0-00000.jsonl").is_file());
        // The copies the second pass read are gone; the corpus-wide step's files stay.
        assert!(!out.join(".work/pass-0/kept/a-00000.jsonl").exists());
        assert!(out.join(".work/pass-1/repeated/count-0.json").is_file());
        let progress = graph.progress(&out).unwrap();
        assert!(progress.iter().all(|p| p.is_complete()), "{progress:?}");
    }

    #[test]
    fn outputs_are_the_same_for_any_task_count_and_any_interruption() {
        let dir = tempfile::tempdir().unwrap();
        let input_dir = dir.path().join("in").tap_mkdir();
        two_files(&input_dir);
        // Three more files, one whose documents an early step removes entirely.
        std::fs::write(
            input_dir.join("c.jsonl"),
            "{\"id\":6,\"text\":\"x\"}\n{\"id\":7,\"text\":\"y\"}\n",
        )
        .unwrap();
        std::fs::write(
            input_dir.join("d.jsonl"),
            "{\"id\":8,\"text\":\"junk too\"}\n",
        )
        .unwrap();
        std::fs::write(input_dir.join("e.jsonl"), "{\"id\":9,\"text\":\"z\"}\n").unwrap();
        let inputs = crate::corpus::expand_inputs(&[input_dir.to_str().unwrap()]).unwrap();
        let graph = graph();
        let settings = serde_json::json!({});
        let run = |name: &str, tasks: usize, stop: Option<usize>| {
            let out = dir.path().join(name);
            let mut options = options(&out);
            options.stop_after_tasks = stop;
            (graph.run_local(&inputs, tasks, &settings, &options), out)
        };
        let (result, out) = run("one", 1, None);
        result.unwrap();
        let expected = snapshot(&out);
        assert!(expected.contains_key("kept/c-00000.jsonl"));
        assert!(expected.contains_key("rejected/d+pass-0-00000.jsonl"));
        assert!(expected.contains_key(".done/d.json") && expected.contains_key("stats.json"));
        for tasks in [3, 7] {
            let (result, out) = run(&format!("tasks-{tasks}"), tasks, None);
            result.unwrap();
            assert_eq!(snapshot(&out), expected, "{tasks} tasks per stage");
        }
        // Killed after each task of a 3-task run (4 stages of 3 tasks), then resumed.
        for stop in 0..12 {
            let name = format!("stop-{stop}");
            let (result, _) = run(&name, 3, Some(stop));
            assert!(
                matches!(result, Err(PipelineError::Interrupted(_))),
                "{stop}"
            );
            let (result, out) = run(&name, 3, None);
            result.unwrap();
            assert_eq!(snapshot(&out), expected, "killed after {stop} tasks");
        }
        // Killed inside a pass, after its first file; resumed with another task count.
        let out = dir.path().join("mid-pass");
        let mut options = options(&out);
        options.stop_after_files = Some(1);
        assert!(graph.run_local(&inputs, 1, &settings, &options).is_err());
        options.stop_after_files = None;
        graph.run_local(&inputs, 2, &settings, &options).unwrap();
        assert_eq!(snapshot(&out), expected);
    }

    #[test]
    fn a_task_checks_the_stages_before_it_and_the_run_it_joins() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = two_files(&dir.path().join("in").tap_mkdir());
        let out = dir.path().join("out");
        let graph = graph();
        let settings = serde_json::json!({"pipeline": 1});
        let task = |stage: usize, i: usize, n: usize| {
            graph.run_task(
                &inputs,
                stage,
                ShardSpec::new(i, n).unwrap(),
                &settings,
                &options(&out),
            )
        };
        let error = task(1, 0, 2).unwrap_err().to_string();
        assert!(
            error.contains("stage 0 (pass-0) has not finished: 0 of"),
            "{error}"
        );
        task(0, 0, 2).unwrap();
        let error = task(1, 0, 2).unwrap_err().to_string();
        assert!(error.contains("1 of 2 tasks done"), "{error}");
        task(0, 1, 2).unwrap();
        task(1, 0, 1).unwrap();
        // A finished task run again leaves its marker (and outputs) as they were.
        let marker = out.join(".work/graph/stage-01/task-00000-of-00001.json");
        let before = std::fs::read(&marker).unwrap();
        task(1, 0, 1).unwrap();
        assert_eq!(std::fs::read(&marker).unwrap(), before);
        let error = task(9, 0, 1).unwrap_err().to_string();
        assert!(
            error.contains("no stage 9") && error.contains("0 to 3"),
            "{error}"
        );
        // Other settings in the same folder: refused, naming the folder.
        let other = serde_json::json!({"pipeline": 2});
        let error = graph
            .run_task(&inputs, 2, ShardSpec::default(), &other, &options(&out))
            .unwrap_err()
            .to_string();
        assert!(error.contains("holds a run of another pipeline"), "{error}");
        task(2, 0, 1).unwrap();
        task(3, 0, 1).unwrap();
        assert_eq!(ids(&out.join("kept/a-00000.jsonl")), ["3"]);
    }

    #[test]
    fn two_copies_of_a_task_at_once_take_turns() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = two_files(&dir.path().join("in").tap_mkdir());
        let graph = graph();
        let settings = serde_json::json!({});
        let expected = dir.path().join("expected");
        graph
            .run_local(&inputs, 1, &settings, &options(&expected))
            .unwrap();
        let out = dir.path().join("out");
        for stage in 0..graph.plan().len() {
            std::thread::scope(|scope| {
                for _ in 0..2 {
                    scope.spawn(|| {
                        graph
                            .run_task(
                                &inputs,
                                stage,
                                ShardSpec::default(),
                                &settings,
                                &options(&out),
                            )
                            .unwrap()
                    });
                }
            });
        }
        assert_eq!(snapshot(&out), snapshot(&expected));
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

    /// Creates a folder and hands it back (tests build their inputs in a few lines).
    trait TapMkdir {
        fn tap_mkdir(self) -> PathBuf;
    }

    impl TapMkdir for PathBuf {
        fn tap_mkdir(self) -> PathBuf {
            std::fs::create_dir_all(&self).unwrap();
            self
        }
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
        let graph =
            |armed| Graph::compile(vec![PipelineStep::Document(Box::new(Fragile { armed }))]);
        let settings = serde_json::json!({});

        let error = graph(true)
            .run_local(&inputs, 1, &settings, &options)
            .unwrap_err();
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

        // The fixed step resumes: a is not redone.
        let summary = graph(false)
            .run_local(&inputs, 1, &settings, &options)
            .unwrap();
        assert_eq!((summary.total.read, summary.total.kept), (4, 4));
        assert_eq!(names(KEPT).len(), 4);
    }
}
