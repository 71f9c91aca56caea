//! `processes` (off by default): processes and threads by state, from
//! `/proc/<pid>/stat` and `/proc/<pid>/task/<tid>/stat`, with the kernel's
//! limits: `node_processes_{pids,threads,max_processes,max_threads}`,
//! `node_processes_state{state}` and `node_processes_threads_state{thread_state}`.
//!
//! Decisions: as node_exporter, a process or thread that vanishes while it
//! is read (no such file, `ESRCH`) is skipped, and a process's own main
//! thread is counted in the process's state. `stat` files are read with a
//! plain `read` into one buffer reused for the scrape: process ids come
//! and go, so they are not kept open (`openfiles.rs` would fill its table
//! with dead ones). A `stat` line that does not parse, or an unreadable
//! `pid_max` / `threads-max`, fails the collector, naming the file.

use std::io::Read;
use std::path::Path;

use crate::exporter::collector::{read, CollectError, Collector, Paths};
use crate::exporter::metrics::Metrics;

/// What one `stat` line says: the state letter and the thread count.
#[derive(Debug, PartialEq)]
pub struct Stat<'a> {
    pub state: &'a str,
    pub threads: f64,
}

/// Parses `/proc/<pid>/stat` (`pid (comm) S ppid ...`); the command may
/// hold spaces and parentheses, so fields are counted after the last `)`.
pub fn parse_stat(text: &str) -> Option<Stat<'_>> {
    let (_, rest) = text.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?;
    // num_threads is the 20th field; the state is the 3rd.
    let threads = fields.nth(16)?.parse::<i64>().ok()? as f64;
    Some(Stat { state, threads })
}

/// Counts per state letter, in first-seen order (a handful of letters).
#[derive(Debug, Default)]
struct Tally(Vec<(String, f64)>);

impl Tally {
    fn add(&mut self, state: &str) {
        match self.0.iter_mut().find(|(s, _)| s == state) {
            Some((_, n)) => *n += 1.0,
            None => self.0.push((state.to_owned(), 1.0)),
        }
    }
}

/// Whether a read failed because the process is gone.
fn vanished(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(3 /* ESRCH */)
}

/// Reads `path` into `buf`; `Ok(false)` when the process is gone.
fn read_into(path: &Path, buf: &mut String) -> Result<bool, CollectError> {
    buf.clear();
    let result = std::fs::File::open(path).and_then(|mut f| f.read_to_string(buf));
    match result {
        Ok(_) => Ok(true),
        Err(e) if vanished(&e) => Ok(false),
        Err(source) => Err(CollectError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// The numeric entries of `dir` (process or thread ids).
fn ids(dir: &Path) -> Result<Vec<u32>, CollectError> {
    let list = match std::fs::read_dir(dir) {
        Ok(list) => list,
        Err(e) if vanished(&e) => return Ok(Vec::new()),
        Err(source) => {
            return Err(CollectError::Read {
                path: dir.to_owned(),
                source,
            })
        }
    };
    Ok(list
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect())
}

fn bad_stat(path: &Path) -> CollectError {
    CollectError::parse(
        path.display().to_string(),
        "not a `pid (comm) state ...` line",
    )
}

fn read_limit(path: &Path) -> Result<f64, CollectError> {
    read(path)?
        .trim()
        .parse::<u64>()
        .map(|v| v as f64)
        .map_err(|_| CollectError::parse(path.display().to_string(), "not a number"))
}

pub struct Processes {
    paths: Paths,
}

impl Processes {
    pub fn new(paths: Paths) -> Self {
        Processes { paths }
    }
}

impl Collector for Processes {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let proc = &self.paths.procfs;
        let (mut pids, mut threads) = (0.0, 0.0);
        let (mut states, mut thread_states) = (Tally::default(), Tally::default());
        let mut buf = String::with_capacity(512);
        let mut path = proc.to_path_buf();
        for pid in ids(proc)? {
            path.clear();
            path.push(proc);
            path.push(pid.to_string());
            path.push("stat");
            if !read_into(&path, &mut buf)? {
                continue;
            }
            let stat = parse_stat(&buf).ok_or_else(|| bad_stat(&path))?;
            pids += 1.0;
            threads += stat.threads;
            states.add(stat.state);
            let state = stat.state.to_owned();
            path.pop();
            path.push("task");
            let tasks = path.clone();
            for tid in ids(&tasks)? {
                if tid == pid {
                    thread_states.add(&state);
                    continue;
                }
                path.clear();
                path.push(&tasks);
                path.push(tid.to_string());
                path.push("stat");
                if !read_into(&path, &mut buf)? {
                    continue;
                }
                let stat = parse_stat(&buf).ok_or_else(|| bad_stat(&path))?;
                thread_states.add(stat.state);
            }
        }
        let max_threads = read_limit(&self.paths.proc("sys/kernel/threads-max"))?;
        let max_pids = read_limit(&self.paths.proc("sys/kernel/pid_max"))?;

        out.gauge("node_processes_threads", "Allocated threads in system")
            .add(&[], threads);
        out.gauge(
            "node_processes_max_threads",
            "Limit of threads in the system",
        )
        .add(&[], max_threads);
        let f = out.gauge("node_processes_state", "Number of processes in each state.");
        for (state, n) in &states.0 {
            f.add(&[("state", state)], *n);
        }
        let f = out.gauge(
            "node_processes_threads_state",
            "Number of threads in each state.",
        );
        for (state, n) in &thread_states.0 {
            f.add(&[("thread_state", state)], *n);
        }
        out.gauge("node_processes_pids", "Number of PIDs")
            .add(&[], pids);
        out.gauge("node_processes_max_processes", "Number of max PIDs limit")
            .add(&[], max_pids);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_and_threads_after_the_command() {
        let line = "412 (my worker (x)) S 1 412 412 0 -1 4194560 1523 0 12 0 41 17 0 0 20 0 3 0 1412 23556096\n";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                state: "S",
                threads: 3.0
            })
        );
    }

    #[test]
    fn short_or_garbled_lines_do_not_parse() {
        assert_eq!(parse_stat("412 (x) S 1 2 3"), None);
        assert_eq!(parse_stat("malformed line"), None);
        assert_eq!(
            parse_stat("1 (x) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 many 0"),
            None
        );
    }
}
