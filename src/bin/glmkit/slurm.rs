//! `glmkit slurm submit|status|resume`: a pipeline's stages as chained Slurm array jobs.

use crate::common::parse_bytes;
use crate::filter::RunArgs;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use glmkit::corpus::ShardSpec;
use glmkit::pipeline::{stage_progress, StageProgress};
use glmkit::slurm::{self, JobOptions, QueueState, StageJobs, Submission, TaskState};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Run a pipeline on a Slurm cluster: one array job per stage, chained with afterok.
#[derive(Args, Debug)]
pub struct SlurmArgs {
    #[command(subcommand)]
    command: SlurmCommand,
}

#[derive(Subcommand, Debug)]
enum SlurmCommand {
    /// Submit every stage of a pipeline as `sbatch --array` jobs, each stage after the one
    /// before (the run folder must be on a filesystem every node sees).
    Submit(Box<SubmitArgs>),
    /// Tasks done, running and failed per stage, with the end of each failed task's log.
    Status(RunDirArgs),
    /// Resubmit what is not done (cancelling jobs left waiting on a failed stage).
    Resume(RunDirArgs),
}

#[derive(Args, Debug)]
struct SubmitArgs {
    /// The pipeline file.
    #[arg(value_name = "PIPELINE.toml")]
    pipeline: PathBuf,
    /// Input files, directories or globs (default: the pipeline's [input] paths).
    #[arg(value_name = "INPUT")]
    inputs: Vec<String>,
    /// The run folder: outputs, the stages' work files, scripts and logs (default: the
    /// pipeline's [output] dir).
    #[arg(short, long, value_name = "DIR")]
    output: Option<PathBuf>,
    /// Tasks per stage (array size); a stage that cannot shard runs as one.
    #[arg(long, value_name = "N")]
    tasks: usize,
    /// Slurm partition.
    #[arg(long, value_name = "P")]
    partition: Option<String>,
    /// CPUs per task (glmkit's worker threads).
    #[arg(long, value_name = "C")]
    cpus_per_task: Option<u32>,
    /// Memory per node, as sbatch takes it (e.g. 8G).
    #[arg(long, value_name = "M")]
    mem: Option<String>,
    /// Time limit per task, as sbatch takes it (e.g. 2:00:00).
    #[arg(long, value_name = "T")]
    time: Option<String>,
    /// Print the job scripts instead of submitting them.
    #[arg(long)]
    dry_run: bool,
    /// Submit afresh over a run folder that holds an earlier submission.
    #[arg(long)]
    force: bool,
    /// Field that holds the document text (default: the pipeline's, else `text`).
    #[arg(long, value_name = "FIELD")]
    text_field: Option<String>,
    /// Field that holds the document id (default: the pipeline's, else `id`).
    #[arg(long, value_name = "FIELD")]
    id_field: Option<String>,
    /// Output format of kept/ and rejected/.
    #[arg(long, default_value = "jsonl.zst", value_name = "FORMAT",
          value_parser = ["jsonl", "jsonl.zst", "jsonl.gz", "parquet"])]
    format: String,
    /// Records per output file at most.
    #[arg(long, default_value_t = 1_000_000, value_name = "N")]
    shard_docs: u64,
    /// Uncompressed bytes per output file at most (suffixes K, M, G).
    #[arg(long, default_value = "128M", value_name = "BYTES", value_parser = parse_bytes)]
    shard_bytes: u64,
    /// Tasks succeed even when an input file is truncated or corrupt.
    #[arg(long)]
    allow_partial: bool,
    /// Array indices per job at most (default: the cluster's MaxArraySize).
    #[arg(long, hide = true, value_name = "N")]
    max_array_size: Option<usize>,
}

#[derive(Args, Debug)]
struct RunDirArgs {
    /// The run folder given to `glmkit slurm submit`.
    #[arg(value_name = "RUN_DIR")]
    run_dir: PathBuf,
}

pub fn run(args: SlurmArgs) -> Result<()> {
    match args.command {
        SlurmCommand::Submit(args) => submit(*args),
        SlurmCommand::Status(args) => status(&args.run_dir),
        SlurmCommand::Resume(args) => resume(&args.run_dir),
    }
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))
}

fn submit(args: SubmitArgs) -> Result<()> {
    if args.tasks == 0 {
        bail!("--tasks must be at least 1");
    }
    // Every task runs from its own working directory: paths go into the scripts absolute.
    let pipeline_path = absolute(&args.pipeline)?;
    let inputs = args
        .inputs
        .iter()
        .map(|i| absolute(Path::new(i)).map(|p| p.display().to_string()))
        .collect::<Result<Vec<_>>>()?;
    let output = args.output.as_deref().map(absolute).transpose()?;
    let run_args = RunArgs {
        pipeline: Some(pipeline_path.clone()),
        print_default: false,
        use_default: false,
        inputs: inputs.clone(),
        output,
        text_field: args.text_field.clone(),
        id_field: args.id_field.clone(),
        format: args.format.clone(),
        threads: None,
        plan: false,
        json: false,
        stage: None,
        shard: Some(ShardSpec::default()),
        tasks: args.tasks,
        force: false,
        allow_partial: args.allow_partial,
        shard_docs: args.shard_docs,
        shard_bytes: args.shard_bytes,
        quiet: true,
        stop_after_files: None,
        stop_after_tasks: None,
    };
    let run = run_args.load(&pipeline_path)?;
    let run_dir = absolute(&run.output.output)?;
    if !args.dry_run && slurm::load(&run_dir).is_ok() && !args.force {
        bail!(
            "{} holds an earlier submission: `glmkit slurm status {0}` shows it, `glmkit slurm \
             resume {0}` finishes it, --force submits afresh",
            run_dir.display()
        );
    }

    let exe = std::env::current_exe().context("finding the glmkit binary")?;
    let mut command = vec![
        exe.display().to_string(),
        "run".into(),
        pipeline_path.display().to_string(),
    ];
    command.extend(inputs);
    command.extend([
        "--output".into(),
        run_dir.display().to_string(),
        "--format".into(),
        args.format.clone(),
        "--shard-docs".into(),
        args.shard_docs.to_string(),
        "--shard-bytes".into(),
        args.shard_bytes.to_string(),
    ]);
    for (flag, value) in [
        ("--text-field", &args.text_field),
        ("--id-field", &args.id_field),
    ] {
        if let Some(value) = value {
            command.extend([flag.to_string(), value.clone()]);
        }
    }
    if args.allow_partial {
        command.push("--allow-partial".into());
    }
    let stages: Vec<StageJobs> = run
        .graph
        .plan()
        .iter()
        .map(|stage| StageJobs {
            index: stage.index,
            name: stage.name.clone(),
            tasks: if stage.shardable { args.tasks } else { 1 },
            jobs: Vec::new(),
        })
        .collect();
    let mut submission = Submission {
        command,
        options: JobOptions {
            partition: args.partition,
            cpus_per_task: args.cpus_per_task,
            mem: args.mem,
            time: args.time,
        },
        max_array_size: args.max_array_size.unwrap_or_else(slurm::max_array_size),
        stages,
    };
    let todo: Vec<(usize, Vec<usize>)> = submission
        .stages
        .iter()
        .map(|s| (s.index, (0..s.tasks).collect()))
        .collect();
    if args.dry_run {
        for script in slurm::submit(&run_dir, &mut submission, &todo, true)? {
            println!(
                "# stage {} ({}), tasks {}",
                script.stage,
                submission.stages[script.stage].name,
                slurm::array_spec(&script.job.tasks().collect::<Vec<_>>())
            );
            println!("{}", script.text);
        }
        return Ok(());
    }
    // A fresh run: what an earlier run left in the folder goes, and the plan is recorded
    // before any task starts.
    run.graph
        .prepare(&run.files, &run.fingerprint, &run_dir, true)
        .with_context(|| format!("preparing {}", run_dir.display()))?;
    std::fs::create_dir_all(run_dir.join(slurm::SLURM_DIR))?;
    slurm::save(&run_dir, &submission)?;
    let scripts = slurm::submit(&run_dir, &mut submission, &todo, false)?;
    report_submitted(&run_dir, &submission, &scripts);
    Ok(())
}

fn report_submitted(run_dir: &Path, submission: &Submission, scripts: &[slurm::JobScript]) {
    for script in scripts {
        eprintln!(
            "stage {} ({}): job {}, tasks {}",
            script.stage,
            submission.stages[script.stage].name,
            script.job.id,
            slurm::array_spec(&script.job.tasks().collect::<Vec<_>>())
        );
    }
    eprintln!(
        "{} jobs submitted; follow with `glmkit slurm status {}`",
        scripts.len(),
        run_dir.display()
    );
}

/// Where a submitted run stands: each stage's markers, Slurm's word on every array task of the
/// run, and from both every task's state, per stage. Read once per command.
struct RunState {
    progress: Vec<StageProgress>,
    queue: BTreeMap<(String, usize), QueueState>,
    tasks: Vec<Vec<TaskState>>,
}

fn run_state(run_dir: &Path, submission: &Submission) -> Result<RunState> {
    let queue = slurm::queue_states(&submission.job_ids())?;
    let progress = submission
        .stages
        .iter()
        .map(|stage| stage_progress(run_dir, stage.index))
        .collect::<Result<Vec<_>, _>>()?;
    let tasks = submission
        .stages
        .iter()
        .zip(&progress)
        .map(|(stage, progress)| {
            // Markers of another task count (a stage begun by hand) do not count here.
            let done: &[usize] = if progress.tasks == Some(stage.tasks) {
                &progress.done
            } else {
                &[]
            };
            slurm::task_states(stage, done, &queue)
        })
        .collect();
    Ok(RunState {
        progress,
        queue,
        tasks,
    })
}

fn status(run_dir: &Path) -> Result<()> {
    let submission = slurm::load(run_dir)?;
    let state = run_state(run_dir, &submission)?;
    let mut unfinished = 0;
    for ((stage, tasks), progress) in submission
        .stages
        .iter()
        .zip(&state.tasks)
        .zip(&state.progress)
    {
        let count = |f: &dyn Fn(&TaskState) -> bool| tasks.iter().filter(|t| f(t)).count();
        let done = count(&|t| *t == TaskState::Done);
        let running = count(&|t| matches!(t, TaskState::Live(s) if s == "RUNNING"));
        let waiting = count(&|t| matches!(t, TaskState::Live(s) if s != "RUNNING"));
        let failed = count(&|t| matches!(t, TaskState::Failed(_) | TaskState::NotSubmitted));
        let time = if done > 0 {
            format!(", slowest task {:.1} s", progress.slowest_seconds)
        } else {
            String::new()
        };
        println!(
            "stage {:<3} {:<26} {done}/{} done, {running} running, {waiting} waiting, {failed} failed{time}",
            stage.index, stage.name, stage.tasks
        );
        unfinished += stage.tasks - done;
        for (task, state) in tasks.iter().enumerate() {
            let why = match state {
                TaskState::Failed(Some(s)) => s.clone(),
                TaskState::Failed(None) => "no longer queued".into(),
                TaskState::NotSubmitted => "not submitted".into(),
                _ => continue,
            };
            let log = run_dir.join(slurm::task_log(stage.index, task));
            println!("    task {task}: {why}; log {}", log.display());
            for line in slurm::tail(&log, 5) {
                println!("      | {line}");
            }
        }
    }
    if unfinished == 0 {
        println!("every task has finished; outputs in {}", run_dir.display());
    }
    Ok(())
}

fn resume(run_dir: &Path) -> Result<()> {
    let mut submission = slurm::load(run_dir)?;
    let state = run_state(run_dir, &submission)?;
    let live: Vec<String> = submission
        .stages
        .iter()
        .zip(&state.tasks)
        .flat_map(|(stage, tasks)| {
            tasks
                .iter()
                .enumerate()
                .filter_map(move |(task, state)| match state {
                    TaskState::Live(s) => Some(format!("stage {} task {task} ({s})", stage.index)),
                    _ => None,
                })
        })
        .collect();
    if !live.is_empty() {
        bail!(
            "{} tasks are still queued or running ({}{}): wait for them, or scancel them, then \
             resume",
            live.len(),
            live[..live.len().min(3)].join(", "),
            if live.len() > 3 { ", ..." } else { "" }
        );
    }
    // Jobs left waiting on a dependency that can never be met would never run: cancel them.
    let stuck: Vec<String> = state
        .queue
        .into_iter()
        .filter(|(_, q)| q.state == "PENDING" && q.reason == "DependencyNeverSatisfied")
        .map(|((job, index), _)| format!("{job}_{index}"))
        .collect();
    slurm::cancel(&stuck)?;

    let todo: Vec<(usize, Vec<usize>)> = submission
        .stages
        .iter()
        .zip(&state.tasks)
        .map(|(stage, tasks)| {
            let missing: Vec<usize> = (0..stage.tasks)
                .filter(|&t| tasks[t] != TaskState::Done)
                .collect();
            (stage.index, missing)
        })
        .filter(|(_, missing)| !missing.is_empty())
        .collect();
    if todo.is_empty() {
        eprintln!("every task has finished; nothing to resubmit");
        return Ok(());
    }
    let scripts = slurm::submit(run_dir, &mut submission, &todo, false)?;
    report_submitted(run_dir, &submission, &scripts);
    Ok(())
}
