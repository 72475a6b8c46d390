//! A pipeline's stages on a Slurm cluster: one `sbatch --array` job per stage, each chained on
//! the jobs of the stage before with `--dependency=afterok:`. Slurm is the scheduler; glmkit
//! only writes the job scripts, submits them, and reads back what happened.
//!
//! Each array task runs `glmkit run PIPELINE.toml ... --stage K --shard i/n`, which checks that
//! the stages before it have finished, does its part and leaves a completion marker in the run
//! folder (see [`crate::pipeline::Graph`]). The run folder holds the scripts, one log per task
//! (`slurm/logs/stage-KK/task-I.log`, appended to by every attempt) and `slurm/run.json`, the
//! command and the jobs submitted, which `status` and `resume` read.
//!
//! Array indices must stay below the cluster's `MaxArraySize`, so a stage of more tasks is
//! submitted as several jobs, each covering a range of tasks from an offset. Job states come
//! from `sacct` where the cluster keeps accounting, else from `squeue --states=all` (which
//! forgets finished jobs after `MinJobAge`); a task that has no marker and is neither queued nor
//! running has failed or was cancelled.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The run folder's entries of a Slurm run.
pub const SLURM_DIR: &str = "slurm";
const RUN_FILE: &str = "run.json";

#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{command}` failed: {message}")]
    Command { command: String, message: String },
    #[error("{0}")]
    Run(String),
}

type Result<T> = std::result::Result<T, SlurmError>;

/// What every job asks of Slurm.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobOptions {
    pub partition: Option<String>,
    pub cpus_per_task: Option<u32>,
    pub mem: Option<String>,
    pub time: Option<String>,
}

/// One `sbatch` job: tasks `offset + i` for each array index `i` of `indices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Slurm's job id (empty in a dry run).
    pub id: String,
    pub offset: usize,
    pub indices: Vec<usize>,
}

impl Job {
    pub fn tasks(&self) -> impl Iterator<Item = usize> + '_ {
        self.indices.iter().map(|i| self.offset + i)
    }
}

/// A stage as submitted: its task count and every job submitted for it, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageJobs {
    pub index: usize,
    pub name: String,
    pub tasks: usize,
    pub jobs: Vec<Job>,
}

/// `slurm/run.json`: how to run a task, and what was submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    /// `glmkit run ...` without `--stage`, `--shard` and `--threads`, absolute paths.
    pub command: Vec<String>,
    pub options: JobOptions,
    pub max_array_size: usize,
    pub stages: Vec<StageJobs>,
}

impl Submission {
    /// Every job submitted for the run, oldest first.
    pub fn job_ids(&self) -> Vec<String> {
        self.stages
            .iter()
            .flat_map(|s| s.jobs.iter().map(|j| j.id.clone()))
            .collect()
    }
}

/// A job to submit: the script and the stage it runs.
#[derive(Debug, Clone)]
pub struct JobScript {
    pub stage: usize,
    pub job: Job,
    pub text: String,
}

/// Splits tasks into jobs whose array indices stay below `max_array_size`.
pub fn split_tasks(tasks: &[usize], max_array_size: usize) -> Vec<Job> {
    let size = max_array_size.max(1);
    let mut jobs: Vec<Job> = Vec::new();
    for &task in tasks {
        let offset = task / size * size;
        match jobs.last_mut() {
            Some(job) if job.offset == offset => job.indices.push(task - offset),
            _ => jobs.push(Job {
                id: String::new(),
                offset,
                indices: vec![task - offset],
            }),
        }
    }
    jobs
}

/// `--array` of a list of indices, runs compressed: `0-3,7,9-10`.
pub fn array_spec(indices: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < indices.len() {
        let mut j = i;
        while j + 1 < indices.len() && indices[j + 1] == indices[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            indices[i].to_string()
        } else {
            format!("{}-{}", indices[i], indices[j])
        });
        i = j + 1;
    }
    parts.join(",")
}

/// Quotes a word for bash.
fn quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The log of one task, relative to the run folder.
pub fn task_log(stage: usize, task: usize) -> PathBuf {
    Path::new(SLURM_DIR)
        .join("logs")
        .join(format!("stage-{stage:02}"))
        .join(format!("task-{task}.log"))
}

/// The job script of one job of a stage.
pub fn job_script(run_dir: &Path, submission: &Submission, stage: &StageJobs, job: &Job) -> String {
    let o = &submission.options;
    let mut lines = vec![
        "#!/bin/bash".to_string(),
        format!(
            "#SBATCH --job-name=glmkit-{:02}-{}",
            stage.index, stage.name
        ),
        format!("#SBATCH --array={}", array_spec(&job.indices)),
        // Slurm's own messages (a task killed for time or memory); the task writes its log.
        format!(
            "#SBATCH --output={}",
            quote(
                &run_dir
                    .join(SLURM_DIR)
                    .join("logs")
                    .join("slurm-%A_%a.out")
                    .display()
                    .to_string()
            )
        ),
    ];
    if let Some(p) = &o.partition {
        lines.push(format!("#SBATCH --partition={}", quote(p)));
    }
    if let Some(c) = o.cpus_per_task {
        lines.push(format!("#SBATCH --cpus-per-task={c}"));
    }
    if let Some(m) = &o.mem {
        lines.push(format!("#SBATCH --mem={}", quote(m)));
    }
    if let Some(t) = &o.time {
        lines.push(format!("#SBATCH --time={}", quote(t)));
    }
    let log_dir = run_dir
        .join(task_log(stage.index, 0))
        .parent()
        .expect("a folder")
        .to_path_buf();
    let command: Vec<String> = submission.command.iter().map(|w| quote(w)).collect();
    lines.extend([
        "set -euo pipefail".to_string(),
        format!("task=$(( {} + SLURM_ARRAY_TASK_ID ))", job.offset),
        format!("mkdir -p {}", quote(&log_dir.display().to_string())),
        format!(
            "exec >>{}/task-\"$task\".log 2>&1",
            quote(&log_dir.display().to_string())
        ),
        format!(
            "echo \"== $(date -u +%Y-%m-%dT%H:%M:%SZ) job ${{SLURM_JOB_ID}} on $(hostname): stage {} ({}) task $task of {}\"",
            stage.index, stage.name, stage.tasks
        ),
        format!(
            "exec {} --stage {} --shard \"$task/{}\" --threads \"${{SLURM_CPUS_PER_TASK:-1}}\"",
            command.join(" "),
            stage.index,
            stage.tasks
        ),
    ]);
    lines.join("\n") + "\n"
}

/// The cluster's `MaxArraySize` (Slurm's default, 1001, if `scontrol` does not say).
pub fn max_array_size() -> usize {
    let Ok(output) = Command::new("scontrol").args(["show", "config"]).output() else {
        return 1001;
    };
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| {
            let (key, value) = line.split_once('=')?;
            (key.trim() == "MaxArraySize").then(|| value.trim().parse().ok())?
        })
        .unwrap_or(1001)
}

/// Submits the jobs of `stages` (tasks not given run all): each stage's jobs depend on
/// every job of the stage submitted before it (`after`: the jobs the first one waits for).
/// Writes the scripts to `slurm/` and records the jobs in `run.json`.
pub fn submit(
    run_dir: &Path,
    submission: &mut Submission,
    todo: &[(usize, Vec<usize>)],
    dry_run: bool,
) -> Result<Vec<JobScript>> {
    let slurm_dir = run_dir.join(SLURM_DIR);
    if !dry_run {
        std::fs::create_dir_all(slurm_dir.join("logs")).map_err(|e| io(&slurm_dir, e))?;
    }
    let mut scripts = Vec::new();
    let mut after: Vec<String> = Vec::new();
    for (stage, tasks) in todo {
        let jobs = split_tasks(tasks, submission.max_array_size);
        let mut ids = Vec::new();
        for mut job in jobs {
            let stage_jobs = &submission.stages[*stage];
            let text = job_script(run_dir, submission, stage_jobs, &job);
            let dependency = if after.is_empty() {
                None
            } else {
                Some(format!("afterok:{}", after.join(":")))
            };
            if dry_run {
                let shown = match &dependency {
                    Some(d) => text.replacen("\n", &format!("\n#SBATCH --dependency={d}\n"), 1),
                    None => text.clone(),
                };
                scripts.push(JobScript {
                    stage: *stage,
                    job,
                    text: shown,
                });
                continue;
            }
            // Numbered by the jobs the stage has had, so a resubmission keeps the old scripts.
            let number = submission.stages[*stage].jobs.len();
            let path = slurm_dir.join(format!("stage-{stage:02}-job-{number}.sh"));
            std::fs::write(&path, &text).map_err(|e| io(&path, e))?;
            let mut sbatch = Command::new("sbatch");
            sbatch.arg("--parsable");
            if let Some(d) = &dependency {
                sbatch.arg(format!("--dependency={d}"));
            }
            sbatch.arg(&path);
            let out = run(&mut sbatch)?;
            // `--parsable` prints `ID` or `ID;CLUSTER`.
            let id = out.trim().split(';').next().unwrap_or("").to_string();
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(SlurmError::Command {
                    command: "sbatch".into(),
                    message: format!("printed {out:?}, not a job id"),
                });
            }
            job.id = id.clone();
            ids.push(id);
            submission.stages[*stage].jobs.push(job.clone());
            // Recorded after every job, so a failed submission leaves what it did.
            save(run_dir, submission)?;
            scripts.push(JobScript {
                stage: *stage,
                job,
                text,
            });
        }
        after = if dry_run {
            vec!["<the jobs of the stage before>".into()]
        } else {
            ids
        };
    }
    Ok(scripts)
}

/// Reads `slurm/run.json`.
pub fn load(run_dir: &Path) -> Result<Submission> {
    let path = run_dir.join(SLURM_DIR).join(RUN_FILE);
    let bytes = std::fs::read(&path).map_err(|e| {
        SlurmError::Run(format!(
            "{}: {e}; is {} the folder of a `glmkit slurm submit`?",
            path.display(),
            run_dir.display()
        ))
    })?;
    serde_json::from_slice(&bytes).map_err(|e| io(&path, std::io::Error::other(e)))
}

pub fn save(run_dir: &Path, submission: &Submission) -> Result<()> {
    let path = run_dir.join(SLURM_DIR).join(RUN_FILE);
    let mut bytes = serde_json::to_vec_pretty(submission).expect("serializes");
    bytes.push(b'\n');
    crate::pipeline::write_atomic(&path, &bytes).map_err(|e| io(&path, e))
}

/// What Slurm says of one array task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueState {
    /// PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, OUT_OF_MEMORY, ...
    pub state: String,
    /// Why it is pending (squeue only), e.g. `Dependency`, `DependencyNeverSatisfied`.
    pub reason: String,
}

impl QueueState {
    /// Queued or running, and able to run.
    pub fn is_live(&self) -> bool {
        matches!(
            self.state.as_str(),
            "PENDING"
                | "RUNNING"
                | "CONFIGURING"
                | "COMPLETING"
                | "REQUEUED"
                | "RESIZING"
                | "SUSPENDED"
        ) && self.reason != "DependencyNeverSatisfied"
    }
}

/// The state of each array task of `job_ids`, keyed by (job id, array index): from `sacct`
/// where accounting is kept, else from `squeue --states=all`.
pub fn queue_states(job_ids: &[String]) -> Result<BTreeMap<(String, usize), QueueState>> {
    if job_ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let list = job_ids.join(",");
    let sacct = Command::new("sacct")
        .args(["-n", "-P", "-X", "-o", "JobID,State", "-j", &list])
        .output();
    if let Ok(out) = &sacct {
        if out.status.success() {
            return Ok(parse_states(&String::from_utf8_lossy(&out.stdout), false));
        }
    }
    let out = run(Command::new("squeue").args([
        "-h",
        "-r",
        "--states=all",
        "-o",
        "%i|%T|%r",
        "-j",
        &list,
    ]))
    .or_else(|e| match e {
        // squeue refuses ids it has forgotten (older than MinJobAge): nothing is queued.
        SlurmError::Command { message, .. } if message.contains("Invalid job id") => {
            Ok(String::new())
        }
        e => Err(e),
    })?;
    Ok(parse_states(&out, true))
}

/// Parses `ID_INDEX|STATE[|REASON]` lines (sacct's states may read `CANCELLED by 0`; a line
/// of a whole pending array, `ID_[0-3]`, stands for each of its indices).
pub fn parse_states(text: &str, with_reason: bool) -> BTreeMap<(String, usize), QueueState> {
    let mut states = BTreeMap::new();
    for line in text.lines() {
        let mut fields = line.split('|');
        let (Some(id), Some(state)) = (fields.next(), fields.next()) else {
            continue;
        };
        let reason = if with_reason {
            fields.next().unwrap_or("").trim().to_string()
        } else {
            String::new()
        };
        let state = state.split_whitespace().next().unwrap_or("").to_string();
        let Some((job, index)) = id.trim().split_once('_') else {
            continue;
        };
        let indices: Vec<usize> = match index.strip_prefix('[') {
            Some(list) => expand_spec(list.trim_end_matches(']').split('%').next().unwrap_or("")),
            None => index.parse().into_iter().collect(),
        };
        for i in indices {
            states.insert(
                (job.to_string(), i),
                QueueState {
                    state: state.clone(),
                    reason: reason.clone(),
                },
            );
        }
    }
    states
}

/// `0-3,7` -> [0, 1, 2, 3, 7].
fn expand_spec(spec: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for part in spec.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(part.parse::<usize>().ok()),
        }
    }
    out
}

/// Where one task stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskState {
    Done,
    /// Queued or running: Slurm's state.
    Live(String),
    /// Not done and not queued: Slurm's last word (`FAILED`, `CANCELLED`, ...) or none.
    Failed(Option<String>),
    /// Never submitted.
    NotSubmitted,
}

/// Every task's state in one stage: done from the markers, the rest from the queue (the
/// newest job that holds the task).
pub fn task_states(
    stage: &StageJobs,
    done: &[usize],
    queue: &BTreeMap<(String, usize), QueueState>,
) -> Vec<TaskState> {
    (0..stage.tasks)
        .map(|task| {
            if done.contains(&task) {
                return TaskState::Done;
            }
            let Some(job) = stage
                .jobs
                .iter()
                .rev()
                .find(|j| j.tasks().any(|t| t == task))
            else {
                return TaskState::NotSubmitted;
            };
            match queue.get(&(job.id.clone(), task - job.offset)) {
                Some(q) if q.is_live() => TaskState::Live(q.state.clone()),
                Some(q) => TaskState::Failed(Some(q.state.clone())),
                None => TaskState::Failed(None),
            }
        })
        .collect()
}

/// Cancels array tasks (`JOB_INDEX`).
pub fn cancel(tasks: &[String]) -> Result<()> {
    if tasks.is_empty() {
        return Ok(());
    }
    run(Command::new("scancel").args(tasks)).map(|_| ())
}

/// The last `n` lines of a file (empty if it cannot be read).
pub fn tail(path: &Path, n: usize) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

fn run(command: &mut Command) -> Result<String> {
    let shown = format!("{command:?}").replace('"', "");
    let out = command.output().map_err(|e| SlurmError::Command {
        command: shown.clone(),
        message: format!("{e} (is Slurm installed, and its commands on PATH?)"),
    })?;
    if !out.status.success() {
        return Err(SlurmError::Command {
            command: shown,
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn io(path: &Path, source: std::io::Error) -> SlurmError {
    SlurmError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_stages_are_split_below_the_array_limit() {
        let tasks: Vec<usize> = (0..2500).collect();
        let jobs = split_tasks(&tasks, 1001);
        let shape: Vec<(usize, usize, usize)> = jobs
            .iter()
            .map(|j| (j.offset, j.indices[0], *j.indices.last().unwrap()))
            .collect();
        assert_eq!(shape, [(0, 0, 1000), (1001, 0, 1000), (2002, 0, 497)]);
        assert_eq!(
            jobs.iter().flat_map(|j| j.tasks()).collect::<Vec<_>>(),
            tasks
        );
        // A resubmission of a few tasks keeps their numbers.
        let jobs = split_tasks(&[3, 4, 5, 9, 1002], 1001);
        assert_eq!(array_spec(&jobs[0].indices), "3-5,9");
        assert_eq!(
            (jobs[1].offset, array_spec(&jobs[1].indices)),
            (1001, "1".into())
        );
    }

    #[test]
    fn queue_lines_are_read_per_array_task() {
        let squeue = "12_3|RUNNING|None\n12_[4-5,7%2]|PENDING|Dependency\n13_0|PENDING|DependencyNeverSatisfied\n";
        let states = parse_states(squeue, true);
        assert_eq!(states.len(), 5);
        assert!(states[&("12".into(), 3)].is_live());
        assert_eq!(states[&("12".into(), 7)].reason, "Dependency");
        assert!(!states[&("13".into(), 0)].is_live());
        let sacct = parse_states("12_3|CANCELLED by 0\n12_4|COMPLETED\n", false);
        assert_eq!(sacct[&("12".into(), 3)].state, "CANCELLED");

        let stage = StageJobs {
            index: 1,
            name: "x".into(),
            tasks: 4,
            jobs: vec![
                Job {
                    id: "12".into(),
                    offset: 0,
                    indices: vec![0, 1, 2, 3],
                },
                Job {
                    id: "20".into(),
                    offset: 0,
                    indices: vec![1],
                },
            ],
        };
        let queue = parse_states(
            "12_2|CANCELLED|None\n12_3|RUNNING|None\n20_1|PENDING|Priority\n",
            true,
        );
        assert_eq!(
            task_states(&stage, &[0], &queue),
            [
                TaskState::Done,
                TaskState::Live("PENDING".into()),
                TaskState::Failed(Some("CANCELLED".into())),
                TaskState::Live("RUNNING".into()),
            ]
        );
    }

    #[test]
    fn scripts_run_their_stage_task_and_log_it() {
        let submission = Submission {
            command: vec![
                "/opt/glmkit".into(),
                "run".into(),
                "/p/my pipeline.toml".into(),
            ],
            options: JobOptions {
                partition: Some("cpu".into()),
                cpus_per_task: Some(4),
                mem: Some("8G".into()),
                time: None,
            },
            max_array_size: 1001,
            stages: vec![StageJobs {
                index: 0,
                name: "pass-0".into(),
                tasks: 2000,
                jobs: vec![],
            }],
        };
        let job = &split_tasks(&(0..2000).collect::<Vec<_>>(), 1001)[1];
        let text = job_script(
            Path::new("/runs/a"),
            &submission,
            &submission.stages[0],
            job,
        );
        for line in [
            "#SBATCH --array=0-998",
            "#SBATCH --partition=cpu",
            "#SBATCH --cpus-per-task=4",
            "#SBATCH --mem=8G",
            "task=$(( 1001 + SLURM_ARRAY_TASK_ID ))",
            "exec >>/runs/a/slurm/logs/stage-00/task-\"$task\".log 2>&1",
            "exec /opt/glmkit run '/p/my pipeline.toml' --stage 0 --shard \"$task/2000\" --threads \"${SLURM_CPUS_PER_TASK:-1}\"",
        ] {
            assert!(text.lines().any(|l| l == line), "{line}\n{text}");
        }
        assert!(!text.contains("--time"));
    }
}
