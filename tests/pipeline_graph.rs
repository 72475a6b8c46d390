//! `glmkit run` as a graph of stages, and `glmkit slurm` around it: the plan, one task of one
//! stage at a time, the same output bytes for 1, 3 and 7 tasks per stage and after a kill in
//! every stage; Slurm's job scripts run by a stand-in for sbatch (the real Slurm is
//! scripts/slurm-test.sh, run by .ci/run).

mod common;

use common::*;
use std::path::{Path, PathBuf};

/// The near-duplicate fixture split over four files (clusters and repeated lines cross files),
/// one malformed record among them.
fn corpus(dir: &Path) -> PathBuf {
    let lines = neardup_slice_records();
    std::fs::create_dir_all(dir).unwrap();
    for (k, part) in lines.chunks(lines.len().div_ceil(4)).enumerate() {
        let mut body: Vec<u8> = part.join(&b'\n');
        body.push(b'\n');
        if k == 2 {
            body.extend_from_slice(b"{\"id\": \"broken\", \"text\": \n");
        }
        std::fs::write(dir.join(format!("part-{k}.jsonl")), body).unwrap();
    }
    dir.to_path_buf()
}

/// Every kind of stage: a pass, the stages of exact, fuzzy and line dedup, the finish.
const PIPELINE: &str = r#"
[[step]]
kind = "langid"
keep = ["en", "cs", "nl", "zh", "it", "hu", "uk", "de"]

[[step]]
kind = "dedup_exact"

[[step]]
kind = "dedup_fuzzy"

[[step]]
kind = "dedup_lines"
unit = "line"
"#;

const STAGES: usize = 12;

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

struct Setup {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    pipeline: String,
    input: String,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let input = corpus(&root.join("in"));
    let pipeline = root.join("p.toml");
    std::fs::write(&pipeline, PIPELINE).unwrap();
    Setup {
        _tmp: tmp,
        pipeline: s(&pipeline),
        input: s(&input),
        root,
    }
}

impl Setup {
    fn run(&self, out: &str, extra: &[&str]) -> std::process::Output {
        let out = s(&self.root.join(out));
        let mut args = vec!["run", &self.pipeline, &self.input, "-o", &out, "-q"];
        args.extend_from_slice(extra);
        glmkit(&args)
    }

    fn outputs(&self, out: &str) -> Vec<(String, Vec<u8>)> {
        tree_bytes(&self.root.join(out))
            .into_iter()
            .filter(|(path, _)| !path.starts_with("slurm/"))
            .collect()
    }
}

#[test]
fn the_plan_lists_every_stage_in_order() {
    let setup = setup();
    let out = glmkit(&["run", &setup.pipeline, "--plan", "--json"]);
    assert_ok(&out);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let stages = plan["stages"].as_array().unwrap();
    let names: Vec<&str> = stages.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "pass-0",
            "dedup_exact.hashes",
            "dedup_exact.groups",
            "pass-1",
            "dedup_fuzzy.signatures",
            "dedup_fuzzy.buckets",
            "dedup_fuzzy.cluster",
            "pass-2",
            "dedup_lines.counts",
            "dedup_lines.buckets",
            "pass-3",
            "finish",
        ]
    );
    for (k, stage) in stages.iter().enumerate() {
        assert_eq!(stage["index"], k);
        assert_eq!(stage["shardable"], true);
    }
    assert_eq!(stages[7]["steps"], serde_json::json!(["dedup_fuzzy"]));
    let text = glmkit(&["run", &setup.pipeline, "--plan"]);
    assert_ok(&text);
    assert!(String::from_utf8_lossy(&text.stdout).contains("stage 11  finish"));
}

#[test]
fn outputs_are_byte_identical_for_1_3_and_7_tasks_and_after_a_kill_in_every_stage() {
    let setup = setup();
    assert_ok(&setup.run("one", &[]));
    let expected = setup.outputs("one");
    assert!(expected.iter().any(|(p, _)| p == "stats.json"));
    assert!(expected
        .iter()
        .any(|(p, _)| p.starts_with("rejected/part-0+pass-1-")));

    assert_ok(&setup.run("three", &["--tasks", "3"]));
    assert_eq!(setup.outputs("three"), expected, "3 tasks per stage");

    // Seven tasks per stage, each task its own process, as array tasks are.
    for stage in 0..STAGES {
        for task in 0..7 {
            let (stage, shard) = (stage.to_string(), format!("{task}/7"));
            assert_ok(&setup.run("seven", &["--stage", &stage, "--shard", &shard]));
        }
    }
    assert_eq!(setup.outputs("seven"), expected, "7 tasks per stage");

    // Killed after the first of two tasks of each stage, then resumed.
    for stage in 0..STAGES {
        let name = format!("killed-{stage}");
        let stop = (2 * stage + 1).to_string();
        let out = setup.run(&name, &["--tasks", "2", "--stop-after-tasks", &stop]);
        assert!(!out.status.success(), "stage {stage}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("stopped after"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_ok(&setup.run(&name, &["--tasks", "2"]));
        assert_eq!(setup.outputs(&name), expected, "killed in stage {stage}");
    }
    // Killed inside the first pass, after one file; resumed with another task count.
    assert!(!setup
        .run("mid-file", &["--stop-after-files", "1"])
        .status
        .success());
    assert_ok(&setup.run("mid-file", &["--tasks", "3"]));
    assert_eq!(setup.outputs("mid-file"), expected);
}

#[test]
fn a_stage_waits_for_the_one_before_and_sharding_needs_a_stage() {
    let setup = setup();
    let out = setup.run("out", &["--stage", "1", "--shard", "0/2"]);
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("stage 1 (dedup_exact.hashes): stage 0 (pass-0) has not finished"),
        "{e}"
    );
    let e = setup.run("out", &["--shard", "0/2"]);
    assert!(String::from_utf8_lossy(&e.stderr).contains("compiles to 12 stages"));
    let e = setup.run("out", &["--stage", "12"]);
    assert!(String::from_utf8_lossy(&e.stderr).contains("there is no stage 12"));
}

/// A stand-in for Slurm's commands: `sbatch` records each script and prints a job id,
/// `squeue` knows no job, `sacct` has no accounting; the test runs the scripts itself.
fn fake_slurm(dir: &Path) -> PathBuf {
    let bin = dir.join("fake-slurm");
    std::fs::create_dir_all(&bin).unwrap();
    let scripts = [
        (
            "sbatch",
            "#!/bin/bash\nd=$(dirname \"$0\")\nn=$(cat \"$d/next\" 2>/dev/null || echo 100)\n\
             echo $((n + 1)) > \"$d/next\"\necho \"$n ${*: -1}\" >> \"$d/submitted\"\n\
             echo \"$n $*\" >> \"$d/arguments\"\necho \"$n\"\n",
        ),
        ("squeue", "#!/bin/bash\nexit 0\n"),
        (
            "sacct",
            "#!/bin/bash\necho 'accounting storage is disabled' >&2\nexit 1\n",
        ),
        ("scancel", "#!/bin/bash\nexit 0\n"),
    ];
    for (name, text) in scripts {
        let path = bin.join(name);
        std::fs::write(&path, text).unwrap();
        std::process::Command::new("chmod")
            .arg("+x")
            .arg(&path)
            .status()
            .unwrap();
    }
    bin
}

/// The jobs submitted so far: (job id, script).
fn submitted(bin: &Path) -> Vec<(String, PathBuf)> {
    std::fs::read_to_string(bin.join("submitted"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let (id, path) = l.split_once(' ').unwrap();
            (id.to_string(), PathBuf::from(path))
        })
        .collect()
}

/// Runs every array task of a job script, as Slurm would.
fn run_job(id: &str, script: &Path, path_var: &str) {
    let text = std::fs::read_to_string(script).unwrap();
    let spec = text
        .lines()
        .find_map(|l| l.strip_prefix("#SBATCH --array="))
        .unwrap();
    for part in spec.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        for index in a.parse::<usize>().unwrap()..=b.parse::<usize>().unwrap() {
            let status = std::process::Command::new("bash")
                .arg(script)
                .env("SLURM_ARRAY_TASK_ID", index.to_string())
                .env("SLURM_JOB_ID", id)
                .env("PATH", path_var)
                .status()
                .unwrap();
            assert!(status.success(), "{} task {index}", script.display());
        }
    }
}

#[test]
fn slurm_job_scripts_run_the_stages_and_resume_finishes_a_broken_run() {
    let setup = setup();
    assert_ok(&setup.run("local", &[]));
    let bin = fake_slurm(&setup.root);
    let path_var = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let env = [("PATH", path_var.as_str())];
    let run_dir = setup.root.join("cluster");
    let submit = |extra: &[&str]| {
        let mut args = vec![
            "slurm",
            "submit",
            &setup.pipeline,
            &setup.input,
            "-o",
            run_dir.to_str().unwrap(),
            "--tasks",
            "3",
            "--max-array-size",
            "2",
            "--cpus-per-task",
            "1",
        ];
        args.extend_from_slice(extra);
        glmkit_env(&args, &env)
    };

    let dry = submit(&["--dry-run"]);
    assert_ok(&dry);
    let text = String::from_utf8_lossy(&dry.stdout);
    // Three tasks over arrays of at most two: two jobs per stage.
    assert_eq!(text.matches("#!/bin/bash").count(), 2 * STAGES);
    assert!(
        text.contains("#SBATCH --array=0-1")
            && text.contains("task=$(( 2 + SLURM_ARRAY_TASK_ID ))")
    );
    assert!(text.contains("--dependency=afterok:<the jobs of the stage before>"));
    assert!(submitted(&bin).is_empty(), "a dry run submits nothing");

    assert_ok(&submit(&[]));
    let jobs = submitted(&bin);
    assert_eq!(jobs.len(), 2 * STAGES);
    let first = std::fs::read_to_string(&jobs[0].1).unwrap();
    assert!(!first.contains("--dependency"));
    let refused = submit(&[]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("holds an earlier submission"));

    // Stages 0-4 run; of stage 5 only its first job (tasks 0 and 1); the rest never runs,
    // as after a cancelled task.
    for (id, script) in &jobs[..11] {
        run_job(id, script, &path_var);
    }
    let status = glmkit_env(&["slurm", "status", run_dir.to_str().unwrap()], &env);
    assert_ok(&status);
    let report = String::from_utf8_lossy(&status.stdout);
    assert!(
        report.contains("dedup_fuzzy.buckets        2/3 done, 0 running, 0 waiting, 1 failed"),
        "{report}"
    );
    assert!(
        report.contains("    task 2: no longer queued; log"),
        "{report}"
    );
    assert!(!report.contains("every task has finished"));

    assert_ok(&glmkit_env(
        &["slurm", "resume", run_dir.to_str().unwrap()],
        &env,
    ));
    let again = submitted(&bin);
    // Stage 5's missing task, then every task of stages 6 to 11.
    assert_eq!(again.len() - jobs.len(), 1 + 2 * 6);
    let arguments = std::fs::read_to_string(bin.join("arguments")).unwrap();
    let second = arguments.lines().nth(jobs.len() + 1).unwrap();
    assert!(
        second.contains(&format!("--dependency=afterok:{} ", again[jobs.len()].0)),
        "{second}"
    );
    assert!(!arguments
        .lines()
        .nth(jobs.len())
        .unwrap()
        .contains("--dependency"));
    for (id, script) in &again[jobs.len()..] {
        run_job(id, script, &path_var);
    }
    let status = glmkit_env(&["slurm", "status", run_dir.to_str().unwrap()], &env);
    assert!(String::from_utf8_lossy(&status.stdout).contains("every task has finished"));
    assert_eq!(setup.outputs("cluster"), setup.outputs("local"));
    let log = run_dir.join("slurm/logs/stage-05/task-2.log");
    assert!(std::fs::read_to_string(log)
        .unwrap()
        .contains("stage 5 (dedup_fuzzy.buckets) task 2 of 3"));
}
