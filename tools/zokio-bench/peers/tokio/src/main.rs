// zokio-bench-peer-tokio: the workloads of tools/zokio-bench/peers/PROTOCOL.md written the way a
// Tokio user writes them. One repetition of one workload per process; one JSON line on stdout.
//
//   zokio-bench-peer-tokio --version | --list
//   zokio-bench-peer-tokio --run WORKLOAD --size N [--workers W]
//   zokio-bench-peer-tokio --serve http --port P [--workers W]
//
// Exit codes: 0 done; 1 the workload's own check failed (one line on stderr); 2 usage.

mod http;
mod io;
mod runtime;

use std::process::exit;
use std::time::Duration;

/// What one repetition measured: `ops` done in `seconds` (the measured part only), and for the
/// latency workloads every sample in microseconds.
pub struct Measured {
    pub ops: u64,
    pub seconds: f64,
    pub latency_us: Option<Vec<f64>>,
    pub extra: Vec<(&'static str, String)>,
}

impl Measured {
    pub fn new(ops: u64, elapsed: Duration) -> Measured {
        Measured { ops, seconds: elapsed.as_secs_f64(), latency_us: None, extra: Vec::new() }
    }
    pub fn with_latency(mut self, samples: Vec<f64>) -> Measured {
        self.latency_us = Some(samples);
        self
    }
}

/// A workload's own check failed: the message goes to stderr, the exit code is 1.
pub type Checked<T> = Result<T, String>;

/// Fails the check with `what` unless `ok`.
pub fn check(ok: bool, what: impl FnOnce() -> String) -> Checked<()> {
    if ok {
        Ok(())
    } else {
        Err(what())
    }
}

/// Part `k` of `n` split into `parts` shares as even as can be (the remainder goes one each to the
/// first shares), so the shares add up to exactly `n`.
pub fn share(n: u64, parts: u64, k: u64) -> u64 {
    n / parts + u64::from(k < n % parts)
}

type WorkloadFn = fn(u64, usize) -> Checked<Measured>;

/// Every workload this peer implements, in PROTOCOL.md's order, with the function that runs it.
const WORKLOADS: &[(&str, WorkloadFn)] = &[
    ("spawn_many_local", runtime::spawn_many_local),
    ("spawn_many_remote", runtime::spawn_many_remote),
    ("spawn_join", runtime::spawn_join),
    ("yield_many", runtime::yield_many),
    ("chained_spawn", runtime::chained_spawn),
    ("ping_pong", runtime::ping_pong),
    ("mpsc_uncontended", runtime::mpsc_uncontended),
    ("mpsc_contended", runtime::mpsc_contended),
    ("mpsc_ping", runtime::mpsc_ping),
    ("semaphore_contended", runtime::semaphore_contended),
    ("timer_timeout", runtime::timer_timeout),
    ("timers_100k_1ms", runtime::timers_100k_1ms),
    ("park_memory", runtime::park_memory),
    ("multi_worker_spawn_many", runtime::multi_worker_spawn_many),
    ("multi_worker_mpsc", runtime::multi_worker_mpsc),
    ("tcp_ping_pong", io::tcp_ping_pong),
    ("tcp_echo_many", io::tcp_echo_many),
    ("tcp_stream", io::tcp_stream),
    ("fs_read", io::fs_read),
    ("timer_precision_1ms", io::timer_precision_1ms),
    ("timer_precision_10ms", io::timer_precision_10ms),
    ("timer_precision_1ms_loaded", io::timer_precision_1ms_loaded),
];

/// Workloads served by `--serve http` and run by the driver (listed, never `--run`).
const SERVED: &[&str] = &["http_plaintext", "http_connections"];

const USAGE: &str = "usage: zokio-bench-peer-tokio --version | --list | --run WORKLOAD --size N [--workers W] | --serve http --port P [--workers W]";

fn usage_error(what: &str) -> ! {
    eprintln!("zokio-bench-peer-tokio: {} ({})", what, USAGE);
    exit(2);
}

fn version() -> String {
    format!(
        "tokio {} (rustc {})",
        env!("ZOKIO_PEER_TOKIO_VERSION"),
        env!("ZOKIO_PEER_RUSTC_VERSION")
    )
}

fn parse_number(flag: &str, value: Option<String>) -> u64 {
    let value = value.unwrap_or_else(|| usage_error(&format!("{} needs a value", flag)));
    match value.parse::<u64>() {
        Ok(v) => v,
        Err(_) => usage_error(&format!("{} {}: not a non-negative integer", flag, value)),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut mode: Option<&'static str> = None;
    let mut workload: Option<String> = None;
    let mut serve: Option<String> = None;
    let mut size: Option<u64> = None;
    let mut workers: u64 = 1;
    let mut port: Option<u64> = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--version" => mode = Some("version"),
            "--list" => mode = Some("list"),
            "--help" | "-h" => {
                println!("{}", USAGE);
                exit(0);
            }
            "--run" => {
                mode = Some("run");
                workload = Some(args.next().unwrap_or_else(|| usage_error("--run needs a workload")));
            }
            "--serve" => {
                mode = Some("serve");
                serve = Some(args.next().unwrap_or_else(|| usage_error("--serve needs a protocol")));
            }
            "--size" => size = Some(parse_number("--size", args.next())),
            "--workers" => workers = parse_number("--workers", args.next()),
            "--port" => port = Some(parse_number("--port", args.next())),
            other => usage_error(&format!("unknown argument {}", other)),
        }
    }
    if workers == 0 || workers > 1024 {
        usage_error("--workers must be between 1 and 1024");
    }
    match mode {
        Some("version") => println!("{}", version()),
        Some("list") => {
            for (name, _) in WORKLOADS {
                println!("{}", name);
            }
            for name in SERVED {
                println!("{}", name);
            }
        }
        Some("run") => {
            let name = workload.unwrap();
            let run = match WORKLOADS.iter().find(|(n, _)| *n == name) {
                Some((_, f)) => *f,
                None => usage_error(&format!("unknown workload {}", name)),
            };
            let size = size.unwrap_or_else(|| usage_error("--run needs --size N"));
            if size == 0 {
                usage_error("--size must be at least 1");
            }
            match run(size, workers as usize) {
                Ok(m) => println!("{}", to_json(&name, &m)),
                Err(what) => {
                    eprintln!("zokio-bench-peer-tokio: {}: check failed: {}", name, what);
                    exit(1);
                }
            }
        }
        Some("serve") => {
            let proto = serve.unwrap();
            if proto != "http" {
                usage_error(&format!("--serve {}: only http is served", proto));
            }
            let port = port.unwrap_or_else(|| usage_error("--serve http needs --port P"));
            if port > 65535 {
                usage_error("--port must be between 0 and 65535");
            }
            match http::serve(port as u16, workers as usize) {
                Ok(()) => exit(0),
                Err(what) => {
                    eprintln!("zokio-bench-peer-tokio: --serve http: {}", what);
                    exit(1);
                }
            }
        }
        _ => usage_error("nothing to do"),
    }
}

/// The nearest-rank percentile `p` (0 < p <= 1) of sorted `samples`.
fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn number(v: f64) -> String {
    if v.is_finite() {
        format!("{:.3}", v)
    } else {
        "null".to_string()
    }
}

/// The protocol's one JSON line, formatted by hand.
fn to_json(workload: &str, m: &Measured) -> String {
    let mut out = format!(
        "{{\"workload\":\"{}\",\"ops\":{},\"seconds\":{:.9}",
        workload, m.ops, m.seconds
    );
    if let Some(samples) = &m.latency_us {
        if !samples.is_empty() {
            let mut sorted = samples.clone();
            sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
            out += &format!(
                ",\"latency_us\":{{\"p50\":{},\"p99\":{}",
                number(nearest_rank(&sorted, 0.50)),
                number(nearest_rank(&sorted, 0.99))
            );
            if sorted.len() >= 1000 {
                out += &format!(",\"p999\":{}", number(nearest_rank(&sorted, 0.999)));
            }
            out += &format!(",\"max\":{}}}", number(*sorted.last().unwrap()));
        }
    }
    if !m.extra.is_empty() {
        let fields: Vec<String> =
            m.extra.iter().map(|(k, v)| format!("\"{}\":{}", k, v)).collect();
        out += &format!(",\"extra\":{{{}}}", fields.join(","));
    }
    out.push('}');
    out
}
