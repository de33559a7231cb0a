//! Crash faults: a worker process runs concurrent sagas on the durable
//! SQLite saga log and is killed with SIGKILL at random moments, over and
//! over; each new worker recovers what the last one left. At the end a last
//! worker only recovers, and the saga log is checked against a ledger that
//! every step and compensation wrote its effects to:
//!
//! 1. every saga ended completed, compensated or stuck;
//! 2. in a compensated saga, every compensatable step that completed was
//!    compensated exactly once, and no forward effect is left standing;
//! 3. no completed saga was compensated;
//! 4. the ledger holds effects of logged sagas only;
//! 5. no step or compensation was called more often than the log records
//!    it as started (the log is written ahead of every effect).
//!
//! The same binary is the harness and the worker (`SAGA_CRASH_ROLE=child`).
//! Settings, all optional:
//!
//! - `SAGA_CRASH_KILLS`: how many kills (default 200);
//! - `SAGA_CRASH_SEED`: the seed of the kill timing, the batch sizes and the
//!   failure plan (default: from the clock; printed, to replay a run);
//! - `SAGA_CRASH_DURABILITY`: `normal` (default; in WAL mode a commit
//!   survives a killed process) or `full`;
//! - `SAGA_CRASH_VERBOSE=1`: print every worker's report;
//! - `SAGA_CRASH_KEEP=1`: keep the saga log and the ledger of a run that
//!   passes (a failing run always keeps them).

mod check;
mod ledger;
mod plan;
mod worker;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use plan::Rng;

const ROLE: &str = "SAGA_CRASH_ROLE";
/// The share of workers that resume the unfinished sagas while their new
/// sagas run; the others recover first.
const CONCURRENT: f64 = 0.6;
/// The share of workers left to finish (clearing the sagas that wait out a
/// retry backoff), not killed.
const DRAIN: f64 = 0.05;
/// How long after its start a worker is killed, in milliseconds.
const KILL_AFTER_MS: (u64, u64) = (5, 80);
/// New sagas per worker.
const BATCH: (u64, u64) = (20, 50);
/// How long a worker that is not killed may take.
const DRAIN_WAIT: Duration = Duration::from_secs(60);
/// How long the last, recover-only worker may take.
const FINAL_WAIT: Duration = Duration::from_secs(300);

fn main() {
    if std::env::var_os(ROLE).is_some_and(|r| r == "child") {
        worker::main();
    }
    // libtest's arguments (filters, --nocapture, --include-ignored, ...) do
    // not apply to this single test.
    if std::env::args().any(|a| a == "--list") {
        println!("crash_kill: test");
        return;
    }
    if let Err(report) = harness() {
        eprintln!("\ncrash_kill FAILED\n{report}");
        std::process::exit(1);
    }
}

struct Config {
    kills: u64,
    seed: u64,
    durability: String,
    verbose: bool,
    keep: bool,
}

fn config() -> Result<Config, String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let number = |name: &str, default: u64| match var(name) {
        Some(v) => v.parse::<u64>().map_err(|e| format!("{name}={v}: {e}")),
        None => Ok(default),
    };
    let clock = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let durability = var("SAGA_CRASH_DURABILITY").unwrap_or_else(|| "normal".into());
    if durability != "normal" && durability != "full" {
        return Err(format!(
            "SAGA_CRASH_DURABILITY={durability}: use normal or full"
        ));
    }
    Ok(Config {
        kills: number("SAGA_CRASH_KILLS", 200)?,
        seed: number(
            "SAGA_CRASH_SEED",
            plan::mix(clock ^ u64::from(std::process::id())),
        )?,
        durability,
        verbose: var("SAGA_CRASH_VERBOSE").is_some_and(|v| v != "0"),
        keep: var("SAGA_CRASH_KEEP").is_some_and(|v| v != "0"),
    })
}

#[derive(Default)]
struct Tally {
    rounds: u64,
    kills: u64,
    drained: u64,
    finished_first: u64,
    concurrent: u64,
    killed_starting: u64,
    killed_recovering: u64,
    killed_with_new_sagas: u64,
    killed_after: u64,
    launched: u64,
    recovered: u64,
    recovered_completed: u64,
    recovered_compensated: u64,
    recovered_stuck: u64,
}

fn field(line: &str, name: &str) -> u64 {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

impl Tally {
    fn read(&mut self, stdout: &str) {
        for line in stdout.lines() {
            if line.starts_with("RECOVERED ") {
                self.recovered += field(line, "total");
                self.recovered_completed += field(line, "completed");
                self.recovered_compensated += field(line, "compensated");
                self.recovered_stuck += field(line, "stuck");
            }
        }
    }
}

fn harness() -> Result<(), String> {
    let cfg = config()?;
    let start = Instant::now();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("crash_kill")
        .join(format!("seed-{}-pid-{}", cfg.seed, std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    ledger::open(&dir.join("ledger.db")).map_err(|e| format!("create the ledger: {e}"))?;
    println!(
        "crash_kill: seed {} (replay with SAGA_CRASH_SEED={}), {} kills, durability {}, in {}",
        cfg.seed,
        cfg.seed,
        cfg.kills,
        cfg.durability,
        dir.display()
    );
    let failed = |what: String| {
        format!(
            "{what}\nseed {} (replay with SAGA_CRASH_SEED={}); the log and ledger are kept in {}",
            cfg.seed,
            cfg.seed,
            dir.display()
        )
    };

    let mut rng = Rng::new(cfg.seed);
    let mut tally = Tally::default();
    let max_rounds = cfg.kills * 4 + 100;
    while tally.kills < cfg.kills {
        if tally.rounds >= max_rounds {
            return Err(failed(format!(
                "only {} kills in {} rounds: the workers finish before the kill",
                tally.kills, tally.rounds
            )));
        }
        tally.rounds += 1;
        round(&cfg, &dir, &mut rng, &mut tally).map_err(&failed)?;
        if tally.rounds.is_multiple_of(100) {
            println!(
                "  {} rounds, {} kills, {:.1} s",
                tally.rounds,
                tally.kills,
                start.elapsed().as_secs_f64()
            );
        }
    }

    // The last worker recovers and starts nothing.
    let mut child = spawn(&cfg, &dir, tally.rounds + 1, 0, "recover-first")?;
    let reader = child.stdout.take().map(read_lines);
    let status = wait_for(&mut child, FINAL_WAIT)?;
    let out = reader
        .map(|r| r.join().unwrap_or_default())
        .unwrap_or_default();
    tally.read(&out);
    if !status.success() {
        return Err(failed(format!(
            "the recover-only worker ended with {status}\nstdout:\n{out}stderr:\n{}",
            stderr(&dir)
        )));
    }
    let final_line = out
        .lines()
        .find(|l| l.starts_with("RECOVERED"))
        .unwrap_or("");

    let totals = check::verify(&dir, cfg.seed).map_err(&failed)?;
    let elapsed = start.elapsed();
    println!(
        "crash_kill: {} kills in {} rounds ({} recover-first, {} concurrent; {} drained, {} finished before the kill)",
        tally.kills,
        tally.rounds,
        tally.rounds - tally.concurrent,
        tally.concurrent,
        tally.drained,
        tally.finished_first
    );
    println!(
        "  kills landed: {} while starting, {} while recovering, {} with new sagas running, {} after they ended",
        tally.killed_starting,
        tally.killed_recovering,
        tally.killed_with_new_sagas,
        tally.killed_after
    );
    println!(
        "  sagas: {} launched, {} in the log: {} completed, {} compensated, {} stuck",
        tally.launched, totals.sagas, totals.completed, totals.compensated, totals.stuck
    );
    println!(
        "  recovery: {} sagas driven on by recovering workers that were not killed first ({} completed, {} compensated, {} stuck); last worker: {}",
        tally.recovered,
        tally.recovered_completed,
        tally.recovered_compensated,
        tally.recovered_stuck,
        final_line
    );
    println!(
        "  interrupted attempts re-run by recovery: {} steps, {} compensations; {} ambiguous answers resolved by re-invocation",
        totals.interrupted_steps, totals.interrupted_compensations, totals.ambiguous_resolved
    );
    println!(
        "  log: {} events; ledger: {} rows, {} forward calls, {} compensation calls, {} repeated calls ({} found their effect applied)",
        totals.events,
        totals.ledger_rows,
        totals.forward_calls,
        totals.compensation_calls,
        totals.repeated_calls,
        totals.found_applied
    );
    if totals.stuck > 0 {
        let by: Vec<String> = totals
            .stuck_in
            .iter()
            .map(|(what, n)| format!("{n} in {what}"))
            .collect();
        println!(
            "  stuck sagas ({}; each after kills spent its retry budget):",
            by.join(", ")
        );
        for line in totals.stuck_sagas.iter().take(5) {
            println!("    {line}");
        }
    }
    println!(
        "crash_kill: ok, every invariant holds ({:.1} s, seed {})",
        elapsed.as_secs_f64(),
        cfg.seed
    );
    if cfg.keep {
        println!("  kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

fn spawn(cfg: &Config, dir: &Path, round: u64, sagas: u64, mode: &str) -> Result<Child, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let err = File::create(dir.join("worker.stderr")).map_err(|e| format!("stderr file: {e}"))?;
    Command::new(exe)
        .env(ROLE, "child")
        .env("SAGA_CRASH_DIR", dir)
        .env("SAGA_CRASH_ROUND", round.to_string())
        .env("SAGA_CRASH_SAGAS", sagas.to_string())
        .env("SAGA_CRASH_MODE", mode)
        .env("SAGA_CRASH_PLAN", cfg.seed.to_string())
        .env("SAGA_CRASH_DURABILITY", &cfg.durability)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(err))
        .spawn()
        .map_err(|e| format!("spawn the worker: {e}"))
}

fn stderr(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("worker.stderr")).unwrap_or_default()
}

/// Reads a worker's stdout on a thread of its own, to EOF.
fn read_lines(stdout: std::process::ChildStdout) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            all.push_str(&line);
            all.push('\n');
        }
        all
    })
}

fn wait_for(child: &mut Child, limit: Duration) -> Result<ExitStatus, String> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("wait: {e}"))? {
            return Ok(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("the worker did not end within {limit:?}"));
        }
        thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(unix)]
fn killed_by_us(status: &ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    status.signal() == Some(9)
}

#[cfg(not(unix))]
fn killed_by_us(status: &ExitStatus) -> bool {
    !status.success()
}

/// One worker: start it, kill it at a random moment (or, now and then,
/// let it finish), and classify the end.
fn round(cfg: &Config, dir: &Path, rng: &mut Rng, tally: &mut Tally) -> Result<(), String> {
    let sagas = rng.range(BATCH.0, BATCH.1);
    let concurrent = rng.chance(CONCURRENT);
    let drain = rng.chance(DRAIN);
    let mode = if concurrent {
        "concurrent"
    } else {
        "recover-first"
    };
    let spawned = Instant::now();
    let mut child = spawn(cfg, dir, tally.rounds, sagas, mode)?;
    let reader = read_lines(child.stdout.take().ok_or("no worker stdout")?);
    let status = if drain {
        wait_for(&mut child, DRAIN_WAIT)?
    } else {
        thread::sleep(Duration::from_millis(
            rng.range(KILL_AFTER_MS.0, KILL_AFTER_MS.1),
        ));
        // SIGKILL on Unix. A worker that has ended already is not signalled.
        let _ = child.kill();
        child.wait().map_err(|e| format!("wait: {e}"))?
    };
    let out = reader.join().unwrap_or_default();
    if cfg.verbose {
        print!(
            "round {} ({mode}, {sagas} sagas, {status}, {} ms):\n{out}",
            tally.rounds,
            spawned.elapsed().as_millis()
        );
    }
    let errors = stderr(dir);
    if !errors.trim().is_empty() {
        return Err(format!(
            "worker {} ({mode}, {status}) reported errors before it ended\nstdout:\n{out}stderr:\n{errors}",
            tally.rounds
        ));
    }
    tally.read(&out);
    tally.concurrent += u64::from(concurrent);
    let line = |prefix: &str| out.lines().any(|l| l.starts_with(prefix));
    if line("STARTED") {
        tally.launched += sagas;
    }
    if killed_by_us(&status) {
        tally.kills += 1;
        if !line("READY") {
            tally.killed_starting += 1;
        } else if !line("RECOVERED") {
            tally.killed_recovering += 1;
        }
        if line("STARTED") && !line("DONE") {
            tally.killed_with_new_sagas += 1;
        }
        if line("DONE") {
            tally.killed_after += 1;
        }
        Ok(())
    } else if status.success() {
        if drain {
            tally.drained += 1;
        } else {
            tally.finished_first += 1;
        }
        Ok(())
    } else {
        Err(format!(
            "worker {} ({mode}) ended with {status} on its own\nstdout:\n{out}stderr:\n{}",
            tally.rounds,
            stderr(dir)
        ))
    }
}
