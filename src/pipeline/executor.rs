//! The sharded, order-preserving parallel executor.
//!
//! Each input file is a unit of work. For one file, three threads form a pipeline: a reader
//! walks the file and cuts it into bounded batches, the rayon pool decodes, runs the steps on
//! and encodes each batch in parallel, and a writer compresses and writes the outputs in input
//! order. Channels between them hold at most two batches, so memory is bounded by the batch
//! size, not the corpus. Outputs depend only on the input and the options, never on the
//! thread count: batches are cut by record count and bytes, parts by record count and bytes,
//! and every parallel map keeps its input order.

use super::output::{output_stems, Marker, OutputLayout, KEPT, QUARANTINE, REJECTED};
use super::{Rejection, Stats, Step, StepError, StepStats, Verdict};
use crate::corpus::ShardSpec;
use crate::corpus::{
    decode_json_line, parquet_column_types, read_id_text, ColumnTypes, CorpusError, CorpusReader,
    Document, Encoded, Format, InputFile, PartLimits, PartWriter, Raw, ReadOptions, Record, Source,
    ANNOTATION_KEY,
};
use rayon::prelude::*;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::mpsc::sync_channel;
use std::sync::Arc;

/// How to run steps over a corpus.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub output: PathBuf,
    /// Format of `kept/` and `rejected/` (quarantine is always JSONL).
    pub format: Format,
    pub read: ReadOptions,
    /// Worker threads; `None` uses every core.
    pub threads: Option<usize>,
    pub shard: ShardSpec,
    /// Redo files that already have a completion marker.
    pub force: bool,
    pub limits: PartLimits,
    /// Records per batch at most.
    pub batch_docs: usize,
    /// Input bytes per batch at most.
    pub batch_bytes: usize,
    /// Show a progress bar (on a terminal) or log a line per file.
    pub progress: Progress,
    /// Process at most this many of the files still to do, then stop with
    /// [`PipelineError::Interrupted`], as a killed run would (tests of resume set it).
    pub stop_after_files: Option<usize>,
    /// Run at most this many tasks of a pipeline's stages on this machine, then stop with
    /// [`PipelineError::Interrupted`] (tests of resume set it; see [`crate::pipeline::Graph`]).
    pub stop_after_tasks: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Quiet,
    Log,
    Bar,
}

impl RunOptions {
    pub fn new(output: impl Into<PathBuf>) -> RunOptions {
        RunOptions {
            output: output.into(),
            format: Format::JsonlZst,
            read: ReadOptions::default(),
            threads: None,
            shard: ShardSpec::default(),
            force: false,
            limits: PartLimits::default(),
            batch_docs: 4096,
            batch_bytes: 4 << 20,
            progress: Progress::Quiet,
            stop_after_files: None,
            stop_after_tasks: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Corpus(#[from] CorpusError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start {threads} worker threads: {message}")]
    Threads { threads: usize, message: String },
    #[error("stopped after {0} files or tasks, as asked")]
    Interrupted(usize),
    /// A stage of a pipeline cannot run (yet): an earlier stage has not finished, the output
    /// directory holds another run, no such stage.
    #[error("{0}")]
    Plan(String),
    /// A step could not do its work on a file (not a verdict about its documents): the file is
    /// not marked done and its outputs are removed, so a rerun does it again.
    #[error(
        "{file}: step `{step}` failed: {source} (the file is not marked done; a rerun retries it)"
    )]
    StepFailed {
        file: String,
        step: String,
        source: StepError,
    },
    /// A corpus-wide step could not look at the corpus.
    #[error("step `{step}`: {source}")]
    Step { step: String, source: StepError },
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    /// The files this shard owns, processed now or skipped as already done.
    pub shard: Stats,
    /// Everything finished in the output directory, all shards (as written to `stats.json`).
    pub total: Stats,
    pub processed_files: usize,
    pub skipped_files: usize,
}

/// Runs `steps` over the files of `inputs` that belong to this shard.
pub fn run(
    inputs: &[InputFile],
    steps: &[Box<dyn Step>],
    options: &RunOptions,
) -> Result<RunSummary, PipelineError> {
    let steps: Vec<&dyn Step> = steps.iter().map(|s| s.as_ref()).collect();
    run_named(inputs, &output_stems(inputs), &steps, options)
}

/// [`run`], with the output stem of each input file given (a pipeline's later passes read
/// files named after their pass, but write under the stems of the original inputs).
pub fn run_named(
    inputs: &[InputFile],
    stems: &[String],
    steps: &[&dyn Step],
    options: &RunOptions,
) -> Result<RunSummary, PipelineError> {
    assert_eq!(inputs.len(), stems.len(), "one stem per input file");
    let layout = OutputLayout::create(&options.output).map_err(|e| io(&options.output, e))?;
    let threads = options.threads.unwrap_or(0);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| PipelineError::Threads {
            threads,
            message: e.to_string(),
        })?;
    let mine: Vec<usize> = (0..inputs.len())
        .filter(|&k| options.shard.owns(k))
        .collect();
    let progress = ProgressReport::new(
        options.progress,
        &mine.iter().map(|&k| &inputs[k]).collect::<Vec<_>>(),
    );
    let mut summary = RunSummary {
        shard: Stats::default(),
        total: Stats::default(),
        processed_files: 0,
        skipped_files: 0,
    };
    let mut todo = Vec::new();
    for k in mine {
        let (input, stem) = (&inputs[k], &stems[k]);
        match layout.read_marker(stem).filter(|_| !options.force) {
            Some(marker) => {
                summary.shard.merge(&marker.stats);
                summary.skipped_files += 1;
                progress.file_done(input, &marker.stats, true);
            }
            None => todo.push((input, stem.as_str())),
        }
    }
    let interrupted = options.stop_after_files.filter(|&n| n < todo.len());
    if let Some(n) = interrupted {
        todo.truncate(n);
    }
    let done = pool.install(|| process_files(&todo, steps, options, &layout, &progress))?;
    for stats in &done {
        summary.shard.merge(stats);
        summary.processed_files += 1;
    }
    if let Some(n) = interrupted {
        return Err(PipelineError::Interrupted(n));
    }
    progress.finish();
    summary.total = layout.total_stats().map_err(|e| io(&layout.root, e))?;
    layout
        .write_stats(&summary.total)
        .map_err(|e| io(&layout.root, e))?;
    Ok(summary)
}

fn io(path: &std::path::Path, source: std::io::Error) -> PipelineError {
    PipelineError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One batch's outputs, encoded, in input order.
#[derive(Default)]
struct EncodedBatch {
    kept: Vec<Encoded>,
    rejected: Vec<Encoded>,
    quarantine: Vec<Encoded>,
}

/// From the reader thread to the workers.
enum ToWorkers {
    /// The next file begins.
    Start(usize, Arc<str>),
    Batch(Vec<Raw>),
    /// The current file is read to its end (or to its break).
    End,
    Failed(CorpusError),
}

/// From the workers to the writer thread.
enum ToWriter {
    Start(usize),
    Batch(EncodedBatch),
    End(Stats),
}

/// Runs the steps over `files` (input, output stem) as one pipeline, so that one file's tail
/// overlaps the next file's head, and returns each file's stats once its outputs and marker
/// are written.
fn process_files(
    files: &[(&InputFile, &str)],
    steps: &[&dyn Step],
    options: &RunOptions,
    layout: &OutputLayout,
    progress: &ProgressReport,
) -> Result<Vec<Stats>, PipelineError> {
    let (batch_tx, batch_rx) = sync_channel::<ToWorkers>(2);
    let (out_tx, out_rx) = sync_channel::<ToWriter>(2);
    let (batch_docs, batch_bytes) = (options.batch_docs.max(1), options.batch_bytes.max(1));
    let pass_through = options.format.is_jsonl() && steps.iter().all(|step| step.only_decides());
    // The pool's size (this runs inside it); compression uses as many threads.
    let threads = rayon::current_num_threads();

    std::thread::scope(|scope| -> Result<Vec<Stats>, PipelineError> {
        scope.spawn(move || {
            for (position, (input, _)) in files.iter().enumerate() {
                let reader = match CorpusReader::open(input, &options.read) {
                    Ok(reader) => reader,
                    Err(error) => {
                        let _ = batch_tx.send(ToWorkers::Failed(error));
                        return;
                    }
                };
                if batch_tx
                    .send(ToWorkers::Start(position, reader.file().clone()))
                    .is_err()
                {
                    return; // the workers stopped on an error
                }
                let mut batch = Vec::new();
                let mut bytes = 0;
                for raw in reader {
                    bytes += raw.size();
                    batch.push(raw);
                    if batch.len() >= batch_docs || bytes >= batch_bytes {
                        bytes = 0;
                        if batch_tx
                            .send(ToWorkers::Batch(std::mem::take(&mut batch)))
                            .is_err()
                        {
                            return;
                        }
                    }
                }
                if !batch.is_empty() && batch_tx.send(ToWorkers::Batch(batch)).is_err() {
                    return;
                }
                if batch_tx.send(ToWorkers::End).is_err() {
                    return;
                }
            }
        });
        let writer_thread =
            scope.spawn(move || write_outputs(out_rx, files, options, layout, progress, threads));

        let mut failure: Option<PipelineError> = None;
        let mut current: Option<(Arc<str>, Stats)> = None;
        for message in batch_rx {
            let to_writer = match message {
                ToWorkers::Start(position, file) => {
                    current = Some((
                        file,
                        Stats {
                            files: 1,
                            ..Stats::default()
                        },
                    ));
                    ToWriter::Start(position)
                }
                ToWorkers::Batch(batch) => {
                    let (file, stats) = current
                        .as_mut()
                        .expect("a batch follows the start of its file");
                    let records: Vec<ReadRecord> = batch
                        .into_par_iter()
                        .map(|raw| ReadRecord::read(raw, file, &options.read, pass_through))
                        .collect();
                    match run_batch(records, steps, options, stats) {
                        Ok(encoded) => {
                            progress.batch_done(stats);
                            ToWriter::Batch(encoded)
                        }
                        Err((step, source)) => {
                            failure = Some(PipelineError::StepFailed {
                                file: file.to_string(),
                                step,
                                source,
                            });
                            break;
                        }
                    }
                }
                ToWorkers::End => {
                    ToWriter::End(current.take().expect("a file ends after it starts").1)
                }
                ToWorkers::Failed(error) => {
                    failure = Some(error.into());
                    break;
                }
            };
            if out_tx.send(to_writer).is_err() {
                break; // the writer failed; its error is returned below
            }
        }
        drop(out_tx);
        let done = writer_thread
            .join()
            .expect("the writer thread does not panic")?;
        match failure {
            Some(error) => Err(error),
            None => Ok(done),
        }
    })
}

/// The writer thread: writes each file's outputs in order, then its completion marker.
fn write_outputs(
    messages: std::sync::mpsc::Receiver<ToWriter>,
    files: &[(&InputFile, &str)],
    options: &RunOptions,
    layout: &OutputLayout,
    progress: &ProgressReport,
    zstd_workers: usize,
) -> Result<Vec<Stats>, PipelineError> {
    let mut done = Vec::new();
    let mut open: Option<(usize, [PartWriter; 3])> = None;
    for message in messages {
        match message {
            ToWriter::Start(position) => {
                let (input, stem) = files[position];
                layout
                    .clear_outputs(stem)
                    .map_err(|e| io(&layout.root, e))?;
                let column_types: Arc<ColumnTypes> =
                    Arc::new(match (input.format, options.format) {
                        (Format::Parquet, Format::Parquet) => parquet_column_types(&input.path)?,
                        _ => ColumnTypes::default(),
                    });
                let writer = |kind: &str, format| {
                    PartWriter::new(&layout.dir(kind), stem, format, options.limits).map(|w| {
                        w.with_column_types(column_types.clone())
                            .with_zstd_workers(zstd_workers)
                    })
                };
                let writers = [
                    writer(KEPT, options.format)?,
                    writer(REJECTED, options.format)?,
                    writer(QUARANTINE, Format::Jsonl)?,
                ];
                open = Some((position, writers));
            }
            ToWriter::Batch(batch) => {
                let (_, writers) = open
                    .as_mut()
                    .expect("a batch follows the start of its file");
                for (writer, records) in
                    writers
                        .iter_mut()
                        .zip([batch.kept, batch.rejected, batch.quarantine])
                {
                    for record in records {
                        writer.write(record)?;
                    }
                }
            }
            ToWriter::End(stats) => {
                let (position, writers) = open.take().expect("a file ends after it starts");
                let (input, stem) = files[position];
                let mut outputs = Vec::new();
                for writer in writers {
                    for path in writer.finish()? {
                        outputs.push(
                            path.strip_prefix(&layout.root)
                                .unwrap_or(&path)
                                .to_string_lossy()
                                .into_owned(),
                        );
                    }
                }
                let marker = Marker {
                    input: input.path.to_string_lossy().into_owned(),
                    stats,
                    outputs,
                };
                layout
                    .write_marker(stem, &marker)
                    .map_err(|e| io(&layout.root, e))?;
                progress.file_done(input, &marker.stats, false);
                done.push(marker.stats);
            }
        }
    }
    if let Some((position, writers)) = open {
        // The run stopped inside this file: no part of it may look finished.
        drop(writers);
        layout
            .clear_outputs(files[position].1)
            .map_err(|e| io(&layout.root, e))?;
    }
    Ok(done)
}

/// A record as read and, when it may be written back as read, the line it came from.
struct ReadRecord {
    record: Record,
    line: Option<ReadLine>,
}

/// A JSON line kept for writing back as read.
struct ReadLine {
    bytes: Vec<u8>,
    /// The record has a `glmkit` field already, so a rejection cannot simply be appended.
    annotated: bool,
}

impl ReadRecord {
    /// Decodes `raw`. With `pass_through` (every step only decides), a JSON line with an id is
    /// read for its id and text alone and keeps its bytes; anything else (a line the readers
    /// quarantine, or one without an id, which gets a generated id written into it) is decoded
    /// in full.
    fn read(raw: Raw, file: &Arc<str>, options: &ReadOptions, pass_through: bool) -> Self {
        if let (true, Raw::Line { line, bytes }) = (pass_through, &raw) {
            let fields = read_id_text(bytes, options);
            let fields = fields.and_then(|f| Some((f.id?.into_owned(), f.text, f.annotated)));
            if let Some((id, text, annotated)) = fields {
                let source = Source {
                    file: file.clone(),
                    line: *line,
                };
                let doc = Document::new(id, text.into_owned(), source);
                let Raw::Line { bytes, .. } = raw else {
                    unreachable!("matched above")
                };
                return ReadRecord {
                    record: Record::Doc(doc),
                    line: Some(ReadLine { bytes, annotated }),
                };
            }
        }
        ReadRecord {
            record: raw.decode(file, options),
            line: None,
        }
    }
}

/// Runs the steps over one batch and encodes what goes where; or the step that failed, and why.
fn run_batch(
    records: Vec<ReadRecord>,
    steps: &[&dyn Step],
    options: &RunOptions,
    stats: &mut Stats,
) -> Result<EncodedBatch, (String, StepError)> {
    let mut out = EncodedBatch::default();
    // (position in batch, document)
    let mut live: Vec<(usize, Document)> = Vec::with_capacity(records.len());
    // The lines of records read for pass-through, by position.
    let mut lines: Vec<Option<ReadLine>> = Vec::with_capacity(records.len());
    for (position, ReadRecord { record, line }) in records.into_iter().enumerate() {
        lines.push(line);
        match record {
            Record::Doc(doc) => {
                stats.read += 1;
                stats.text_bytes_read += doc.text.len() as u64;
                live.push((position, doc));
            }
            Record::Quarantined(q) => {
                stats.read += 1;
                stats.quarantined += 1;
                *stats
                    .quarantine_by_reason
                    .entry(q.reason.to_string())
                    .or_default() += 1;
                out.quarantine.push(json_line(&q));
            }
            Record::Break(b) => {
                out.quarantine.push(json_line(&serde_json::json!({
                    "source": b.file, "reason": "stream_break", "offset": b.offset, "error": b.error,
                })));
                stats.breaks.push(b);
            }
        }
    }
    let mut removed: Vec<(usize, Document, Rejection)> = Vec::new();
    for step in steps {
        let seen = live.len() as u64;
        let (positions, mut docs): (Vec<usize>, Vec<Document>) = live.into_iter().unzip();
        let failed = |source: StepError| (step.name().to_string(), source);
        let verdicts = step.apply_batch(&mut docs).map_err(failed)?;
        if verdicts.len() != docs.len() {
            let message = format!("{} verdicts for {} documents", verdicts.len(), docs.len());
            return Err(failed(message.into()));
        }
        let first_removed = removed.len();
        live = Vec::with_capacity(docs.len());
        for ((position, doc), verdict) in positions.into_iter().zip(docs).zip(verdicts) {
            match verdict {
                Verdict::Keep => live.push((position, doc)),
                Verdict::Reject(rejection) => removed.push((position, doc, rejection)),
            }
        }
        count_step(&mut stats.by_step, *step, seen, &removed[first_removed..]);
    }
    removed.sort_by_key(|(position, ..)| *position);
    stats.kept += live.len() as u64;
    stats.text_bytes_kept += live.iter().map(|(_, d)| d.text.len() as u64).sum::<u64>();
    stats.rejected += removed.len() as u64;
    for (_, _, rejection) in &removed {
        *stats.by_reason.entry(rejection.reason.clone()).or_default() += 1;
    }
    let text_field = options.read.text_field.as_str();
    let format = options.format;
    let kept: Vec<(Document, Option<ReadLine>)> = live
        .into_iter()
        .map(|(position, doc)| (doc, lines[position].take()))
        .collect();
    out.kept = kept
        .into_par_iter()
        .map(|(doc, line)| match line {
            Some(ReadLine { mut bytes, .. }) => {
                bytes.push(b'\n');
                Encoded::Line(bytes)
            }
            None => encode(&doc, text_field, format),
        })
        .collect();
    let removed: Vec<(Document, Option<ReadLine>, Rejection)> = removed
        .into_iter()
        .map(|(position, doc, rejection)| (doc, lines[position].take(), rejection))
        .collect();
    out.rejected = removed
        .into_par_iter()
        .map(|(doc, line, rejection)| {
            let line = match line {
                // Rejected records carry every field plus the rejection: a line read for
                // pass-through gets the rejection appended, unless it has a `glmkit` field
                // already (which the rejection must join), and is then decoded in full.
                Some(ReadLine { bytes, annotated }) if !annotated && ends_object(&bytes) => {
                    return Encoded::Line(with_rejection(bytes, rejection));
                }
                line => line,
            };
            let mut doc =
                match line.map(|l| decode_json_line(&l.bytes, doc.source.clone(), &options.read)) {
                    Some(Record::Doc(full)) => full,
                    _ => doc,
                };
            for (key, value) in annotation(rejection) {
                doc.annotate(&key, value);
            }
            encode(&doc, text_field, format)
        })
        .collect();
    Ok(out)
}

/// Adds one batch of a step to the run's counts: `seen` documents reached it and `removed`
/// are its rejections. A step counted under several parts ([`Step::counted_as`]) is counted
/// part by part, each rejection under the part it names, each part seeing what the parts
/// before it kept.
fn count_step(
    by_step: &mut std::collections::BTreeMap<String, StepStats>,
    step: &dyn Step,
    seen: u64,
    removed: &[(usize, Document, Rejection)],
) {
    let mut parts = step.counted_as();
    if parts.is_empty() {
        parts.push(step.name().to_string());
    }
    if let [only] = parts.as_slice() {
        let counts = by_step.entry(only.clone()).or_default();
        counts.seen += seen;
        counts.rejected += removed.len() as u64;
        return;
    }
    let mut remaining = seen;
    for part in &parts {
        let rejected = removed.iter().filter(|(_, _, r)| &r.step == part).count() as u64;
        let counts = by_step.entry(part.clone()).or_default();
        counts.seen += remaining;
        counts.rejected += rejected;
        remaining -= rejected;
    }
    let counted = seen - remaining;
    assert_eq!(
        counted,
        removed.len() as u64,
        "every rejection of step `{}` names one of its parts {parts:?}",
        step.name()
    );
}

/// A JSON object line as read (a record without a `glmkit` field), with the rejection added
/// as its last field: `"glmkit": {"step", "reason", "details"}`, as annotating the decoded
/// record would add it.
fn with_rejection(mut line: Vec<u8>, rejection: Rejection) -> Vec<u8> {
    line.truncate(line.iter().rposition(|&b| b == b'}').unwrap_or(line.len()));
    line.extend_from_slice(format!(",\"{ANNOTATION_KEY}\":").as_bytes());
    serde_json::to_writer(&mut line, &annotation(rejection))
        .expect("a JSON map serializes to memory");
    line.extend_from_slice(b"}\n");
    line
}

/// What a rejected record carries under `glmkit`: step, reason and (when there are any) details.
fn annotation(rejection: Rejection) -> serde_json::Map<String, Value> {
    let mut annotation = serde_json::Map::new();
    annotation.insert("step".into(), rejection.step.into());
    annotation.insert("reason".into(), rejection.reason.into());
    if !rejection.details.is_empty() {
        annotation.insert("details".into(), Value::Object(rejection.details));
    }
    annotation
}

/// Whether a line that parsed as a non-empty JSON object ends with its `}` (then maybe
/// whitespace), so that a field can be added before it.
fn ends_object(line: &[u8]) -> bool {
    line.iter().rev().find(|b| !b.is_ascii_whitespace()) == Some(&b'}')
}

fn encode(doc: &Document, text_field: &str, format: Format) -> Encoded {
    if format == Format::Parquet {
        Encoded::Fields(doc.to_record(text_field))
    } else {
        Encoded::Line(doc.to_json_line(text_field))
    }
}

fn json_line(value: &impl serde::Serialize) -> Encoded {
    let mut line = serde_json::to_vec(value).expect("quarantine records serialize");
    line.push(b'\n');
    Encoded::Line(line)
}

/// Progress on a terminal (a bar over input bytes) or as log lines.
struct ProgressReport {
    mode: Progress,
    bar: Option<indicatif::ProgressBar>,
}

impl ProgressReport {
    fn new(mode: Progress, files: &[&InputFile]) -> Self {
        let bar = (mode == Progress::Bar).then(|| {
            let total: u64 = files
                .iter()
                .filter_map(|f| std::fs::metadata(&f.path).ok())
                .map(|m| m.len())
                .sum();
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {bytes}/{total_bytes} {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        ProgressReport { mode, bar }
    }

    fn batch_done(&self, stats: &Stats) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{} read, {} kept", stats.read, stats.kept));
        }
    }

    fn file_done(&self, input: &InputFile, stats: &Stats, skipped: bool) {
        let size = std::fs::metadata(&input.path).map(|m| m.len()).unwrap_or(0);
        match (&self.bar, self.mode) {
            (Some(bar), _) => bar.inc(size),
            (None, Progress::Log) => eprintln!(
                "{} {}: read {} kept {} rejected {} quarantined {}{}",
                if skipped { "skipped (done)" } else { "done" },
                input.path.display(),
                stats.read,
                stats.kept,
                stats.rejected,
                stats.quarantined,
                if stats.breaks.is_empty() {
                    String::new()
                } else {
                    format!(" BROKEN: {}", stats.breaks[0].error)
                },
            ),
            _ => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
