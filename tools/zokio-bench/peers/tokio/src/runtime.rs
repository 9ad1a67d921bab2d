// The `runtime` suite of PROTOCOL.md on Tokio, modelled on Tokio's own benches (tokio/benches:
// rt_current_thread.rs, rt_multi_threaded.rs, sync_mpsc.rs, sync_semaphore.rs, spawn.rs,
// time_timeout.rs). Every workload runs on a `current_thread` runtime except multi_worker_*,
// which run on a `multi_thread` runtime with --workers worker threads. The runtime is built before
// and dropped after the measured part; the work runs in a root task (`root`) and the clock runs
// inside it, around the work only.

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use tokio::runtime::{Builder, Runtime};
use tokio::sync::{mpsc, oneshot, Notify, Semaphore};
use tokio::task::{yield_now, JoinHandle};

use crate::{check, share, Checked, Measured};

/// The single-threaded runtime every workload but multi_worker_* runs on.
pub fn current_thread() -> Runtime {
    Builder::new_current_thread().enable_all().build().expect("build a current_thread runtime")
}

/// Runs `work` as the root task: spawned onto `rt` and awaited from block_on. On Tokio 1.24 every
/// wake-up of the future block_on itself polls writes the runtime's eventfd (the driver's unpark),
/// a system call per wake-up that makes a block_on-driven spawn_join about 10x slower than the
/// same loop in a task; a task is what Zokio's and the other peers' roots are too.
pub fn root<F>(rt: &Runtime, work: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    rt.block_on(async move { tokio::spawn(work).await.expect("the root task panicked") })
}

/// A work-stealing runtime with `workers` worker threads.
pub fn multi_thread(workers: usize) -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("build a multi_thread runtime")
}

/// Awaits every handle and returns the sum of what the tasks returned.
async fn join_all(handles: Vec<JoinHandle<u64>>) -> Checked<u64> {
    let mut sum = 0;
    for h in handles {
        sum += h.await.map_err(|e| format!("a task failed: {}", e))?;
    }
    Ok(sum)
}

/// N detached tasks that count down a shared counter; the last one wakes the spawner.
async fn spawn_and_count_down(n: u64) -> Checked<u64> {
    let remaining = Arc::new(AtomicU64::new(n));
    let ran = Arc::new(AtomicU64::new(0));
    let done = Arc::new(Notify::new());
    for _ in 0..n {
        let remaining = remaining.clone();
        let ran = ran.clone();
        let done = done.clone();
        tokio::spawn(async move {
            ran.fetch_add(1, Ordering::Relaxed);
            if remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
                done.notify_one();
            }
        });
    }
    done.notified().await;
    Ok(ran.load(Ordering::Acquire))
}

/// spawn_many_local: `tokio::spawn` N detached tasks from inside the runtime; the last to run
/// notifies the spawner through a `Notify`.
pub fn spawn_many_local(n: u64, _workers: usize) -> Checked<Measured> {
    let rt = current_thread();
    let (ran, elapsed) = root(&rt, async move {
        let start = Instant::now();
        let ran = spawn_and_count_down(n).await;
        (ran, start.elapsed())
    });
    let ran = ran?;
    check(ran == n, || format!("{} of {} tasks ran", ran, n))?;
    Ok(Measured::new(n, elapsed))
}

/// spawn_many_remote: a std::thread calls `Handle::spawn` N times while the runtime's own thread
/// waits in its root task for the last task's `Notify`.
pub fn spawn_many_remote(n: u64, _workers: usize) -> Checked<Measured> {
    let rt = current_thread();
    let handle = rt.handle().clone();
    let remaining = Arc::new(AtomicU64::new(n));
    let ran = Arc::new(AtomicU64::new(0));
    let done = Arc::new(Notify::new());
    let go = Arc::new(Barrier::new(2));
    let spawner = {
        let (remaining, ran, done, go) = (remaining.clone(), ran.clone(), done.clone(), go.clone());
        std::thread::spawn(move || {
            go.wait();
            for _ in 0..n {
                let remaining = remaining.clone();
                let ran = ran.clone();
                let done = done.clone();
                handle.spawn(async move {
                    ran.fetch_add(1, Ordering::Relaxed);
                    if remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
                        done.notify_one();
                    }
                });
            }
        })
    };
    let start = Instant::now();
    go.wait();
    root(&rt, async move { done.notified().await });
    let elapsed = start.elapsed();
    spawner.join().map_err(|_| "the spawning thread panicked".to_string())?;
    let ran = ran.load(Ordering::Acquire);
    check(ran == n, || format!("{} of {} tasks ran", ran, n))?;
    Ok(Measured::new(n, elapsed))
}

/// spawn_join: N times `tokio::spawn(async move { i }).await`.
pub fn spawn_join(n: u64, _workers: usize) -> Checked<Measured> {
    let rt = current_thread();
    let (sum, elapsed) = root(&rt, async move {
        let start = Instant::now();
        let mut sum = 0u64;
        for i in 0..n {
            sum += tokio::spawn(async move { i }).await.map_err(|e| e.to_string())?;
        }
        Ok::<_, String>((sum, start.elapsed()))
    })?;
    check(sum == n * (n - 1) / 2, || format!("sum of results {} != {}", sum, n * (n - 1) / 2))?;
    Ok(Measured::new(n, elapsed))
}

/// yield_many: 200 spawned tasks, each `tokio::task::yield_now().await` N/200 times (the
/// remainder spread over the first tasks).
pub fn yield_many(n: u64, _workers: usize) -> Checked<Measured> {
    const TASKS: u64 = 200;
    let rt = current_thread();
    let (yields, elapsed) = root(&rt, async move {
        let start = Instant::now();
        let handles: Vec<JoinHandle<u64>> = (0..TASKS)
            .map(|k| {
                tokio::spawn(async move {
                    let mut yielded = 0;
                    for _ in 0..share(n, TASKS, k) {
                        yield_now().await;
                        yielded += 1;
                    }
                    yielded
                })
            })
            .collect();
        let yields = join_all(handles).await;
        (yields, start.elapsed())
    });
    let yields = yields?;
    check(yields == n, || format!("{} yields, not {}", yields, n))?;
    Ok(Measured::new(n, elapsed))
}

/// One link of chained_spawn: spawns the next link, or at depth 0 reports to the root.
fn chain(depth: u64, spawned: u64, done: oneshot::Sender<u64>) {
    if depth == 0 {
        let _ = done.send(spawned);
    } else {
        tokio::spawn(async move { chain(depth - 1, spawned + 1, done) });
    }
}

/// chained_spawn: each task `tokio::spawn`s the next, N deep; the last one answers the root's
/// oneshot with the chain's length.
pub fn chained_spawn(n: u64, _workers: usize) -> Checked<Measured> {
    let rt = current_thread();
    let (spawned, elapsed) = root(&rt, async move {
        let start = Instant::now();
        let (tx, rx) = oneshot::channel();
        chain(n, 0, tx);
        let spawned = rx.await.map_err(|_| "the chain broke".to_string());
        (spawned, start.elapsed())
    });
    let spawned = spawned?;
    check(spawned == n, || format!("the chain was {} deep, not {}", spawned, n))?;
    Ok(Measured::new(n, elapsed))
}

/// A ping of ping_pong: the value and the oneshot the pong goes back on.
struct Ping {
    value: u64,
    reply: oneshot::Sender<Pong>,
}

/// A pong of ping_pong: the value plus one and the oneshot the next ping comes on.
struct Pong {
    value: u64,
    next: oneshot::Sender<Ping>,
}

/// ping_pong: the root and a spawned task, N rounds; every message travels on a fresh
/// `tokio::sync::oneshot` that carries the sender of the next one.
pub fn ping_pong(n: u64, _workers: usize) -> Checked<Measured> {
    let rt = current_thread();
    let result = root(&rt, async move {
        let (first_tx, first_rx) = oneshot::channel::<Ping>();
        let ponger = tokio::spawn(async move {
            let mut rx = first_rx;
            let mut rounds = 0u64;
            // Ends when the root drops the last sender.
            while let Ok(ping) = rx.await {
                let (next_tx, next_rx) = oneshot::channel();
                if ping.reply.send(Pong { value: ping.value + 1, next: next_tx }).is_err() {
                    break;
                }
                rx = next_rx;
                rounds += 1;
            }
            rounds
        });
        let start = Instant::now();
        let mut tx = first_tx;
        let mut sum = 0u64;
        for i in 0..n {
            let (reply_tx, reply_rx) = oneshot::channel();
            tx.send(Ping { value: i, reply: reply_tx }).map_err(|_| "ponger gone".to_string())?;
            let pong = reply_rx.await.map_err(|_| "no pong".to_string())?;
            sum += pong.value;
            tx = pong.next;
        }
        let elapsed = start.elapsed();
        drop(tx);
        let rounds = ponger.await.map_err(|e| e.to_string())?;
        Ok::<_, String>((sum, rounds, elapsed))
    });
    let (sum, rounds, elapsed) = result?;
    check(rounds == n, || format!("{} rounds, not {}", rounds, n))?;
    check(sum == n * (n + 1) / 2, || format!("sum of pongs {} != {}", sum, n * (n + 1) / 2))?;
    Ok(Measured::new(n, elapsed))
}

/// mpsc_uncontended: one task sends N integers into `mpsc::unbounded_channel`, then receives
/// all N.
pub fn mpsc_uncontended(n: u64, _workers: usize) -> Checked<Measured> {
    let rt = current_thread();
    let result = root(&rt, async move {
        let (tx, mut rx) = mpsc::unbounded_channel::<u64>();
        let start = Instant::now();
        for i in 0..n {
            tx.send(i).map_err(|_| "receiver gone".to_string())?;
        }
        let mut sum = 0u64;
        let mut received = 0u64;
        for _ in 0..n {
            sum += rx.recv().await.ok_or_else(|| "channel closed early".to_string())?;
            received += 1;
        }
        Ok::<_, String>((received, sum, start.elapsed()))
    });
    let (received, sum, elapsed) = result?;
    check(received == n, || format!("received {} of {}", received, n))?;
    check(sum == n * (n - 1) / 2, || format!("sum {} != {}", sum, n * (n - 1) / 2))?;
    Ok(Measured::new(n, elapsed))
}

/// `producers` spawned tasks send the integers 0..n between them (a share each) into one
/// bounded(1024) `mpsc::channel`; the calling task receives until every sender is gone.
async fn contended(producers: u64, n: u64) -> Checked<(u64, u64)> {
    let (tx, mut rx) = mpsc::channel::<u64>(1024);
    let mut first = 0;
    for p in 0..producers {
        let tx = tx.clone();
        let values = first..first + share(n, producers, p);
        first = values.end;
        tokio::spawn(async move {
            for v in values {
                if tx.send(v).await.is_err() {
                    return;
                }
            }
        });
    }
    drop(tx);
    let mut received = 0u64;
    let mut sum = 0u64;
    while let Some(v) = rx.recv().await {
        received += 1;
        sum += v;
    }
    Ok((received, sum))
}

fn check_contended(received: u64, sum: u64, total: u64) -> Checked<()> {
    check(received == total, || format!("received {} of {}", received, total))?;
    check(sum == total * (total - 1) / 2, || format!("sum {} != {}", sum, total * (total - 1) / 2))
}

/// mpsc_contended: 4 spawned producers `send().await` N/4 each (0..N between them) into one bounded(1024)
/// `mpsc::channel`; the root task is the consumer.
pub fn mpsc_contended(n: u64, _workers: usize) -> Checked<Measured> {
    const PRODUCERS: u64 = 4;
    let rt = current_thread();
    let (result, elapsed) = root(&rt, async move {
        let start = Instant::now();
        let result = contended(PRODUCERS, n).await;
        (result, start.elapsed())
    });
    let (received, sum) = result?;
    check_contended(received, sum, n)?;
    Ok(Measured::new(n, elapsed))
}

/// mpsc_ping: the root and a spawned echo task pass one integer back and forth through two
/// bounded(1) `mpsc::channel`s, N rounds.
pub fn mpsc_ping(n: u64, _workers: usize) -> Checked<Measured> {
    let rt = current_thread();
    let result = root(&rt, async move {
        let (ping_tx, mut ping_rx) = mpsc::channel::<u64>(1);
        let (pong_tx, mut pong_rx) = mpsc::channel::<u64>(1);
        let echo = tokio::spawn(async move {
            let mut rounds = 0u64;
            while let Some(v) = ping_rx.recv().await {
                if pong_tx.send(v + 1).await.is_err() {
                    break;
                }
                rounds += 1;
            }
            rounds
        });
        let start = Instant::now();
        let mut value = 0u64;
        for _ in 0..n {
            ping_tx.send(value).await.map_err(|_| "echo task gone".to_string())?;
            value = pong_rx.recv().await.ok_or_else(|| "no answer".to_string())?;
        }
        let elapsed = start.elapsed();
        drop(ping_tx);
        let rounds = echo.await.map_err(|e| e.to_string())?;
        Ok::<_, String>((value, rounds, elapsed))
    });
    let (value, rounds, elapsed) = result?;
    check(rounds == n, || format!("{} rounds, not {}", rounds, n))?;
    check(value == n, || format!("the integer came back as {}, not {}", value, n))?;
    Ok(Measured::new(n, elapsed))
}

/// semaphore_contended: 64 spawned tasks share an `Arc<Semaphore>` of 8 permits; each loops
/// N/64 times (the remainder spread over the first tasks): `acquire().await`, `yield_now().await`, drop the permit.
pub fn semaphore_contended(n: u64, _workers: usize) -> Checked<Measured> {
    const TASKS: u64 = 64;
    const PERMITS: usize = 8;
    let rt = current_thread();
    let result = root(&rt, async move {
        let sem = Arc::new(Semaphore::new(PERMITS));
        let holders = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let handles: Vec<JoinHandle<u64>> = (0..TASKS)
            .map(|k| {
                let (sem, holders, most) = (sem.clone(), holders.clone(), most.clone());
                tokio::spawn(async move {
                    let mut done = 0;
                    for _ in 0..share(n, TASKS, k) {
                        let permit = sem.acquire().await.expect("semaphore closed");
                        let now = holders.fetch_add(1, Ordering::Relaxed) + 1;
                        most.fetch_max(now, Ordering::Relaxed);
                        yield_now().await;
                        holders.fetch_sub(1, Ordering::Relaxed);
                        drop(permit);
                        done += 1;
                    }
                    done
                })
            })
            .collect();
        let done = join_all(handles).await;
        let elapsed = start.elapsed();
        Ok::<_, String>((done?, most.load(Ordering::Relaxed), sem.available_permits(), elapsed))
    });
    let (done, most, available, elapsed) = result?;
    check(done == n, || format!("{} acquisitions, not {}", done, n))?;
    check(most <= PERMITS, || format!("{} tasks held a permit at once, more than {}", most, PERMITS))?;
    check(available == PERMITS, || format!("{} permits left, not {}", available, PERMITS))?;
    Ok(Measured::new(n, elapsed))
}

/// timer_timeout: N times `tokio::time::timeout(1 s, yield_now())`: the timer is armed, the
/// operation completes after one yield, the timer is cancelled when the Timeout is dropped.
pub fn timer_timeout(n: u64, _workers: usize) -> Checked<Measured> {
    let rt = current_thread();
    let result = root(&rt, async move {
        let start = Instant::now();
        let mut completed = 0u64;
        for _ in 0..n {
            if tokio::time::timeout(Duration::from_secs(1), yield_now()).await.is_ok() {
                completed += 1;
            }
        }
        (completed, start.elapsed())
    });
    let (completed, elapsed) = result;
    check(completed == n, || format!("{} of {} operations beat their timeout", completed, n))?;
    Ok(Measured::new(n, elapsed))
}

/// timers_100k_1ms: N spawned tasks each `tokio::time::sleep(1 ms).await`, all at once; the last
/// to wake notifies the root.
pub fn timers_100k_1ms(n: u64, _workers: usize) -> Checked<Measured> {
    let rt = current_thread();
    let (woke, early, elapsed) = root(&rt, async move {
        let remaining = Arc::new(AtomicU64::new(n));
        let early = Arc::new(AtomicU64::new(0));
        let done = Arc::new(Notify::new());
        let start = Instant::now();
        for _ in 0..n {
            let (remaining, early, done) = (remaining.clone(), early.clone(), done.clone());
            tokio::spawn(async move {
                let asked = Instant::now();
                tokio::time::sleep(Duration::from_millis(1)).await;
                if asked.elapsed() < Duration::from_millis(1) {
                    early.fetch_add(1, Ordering::Relaxed);
                }
                if remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
                    done.notify_one();
                }
            });
        }
        done.notified().await;
        let elapsed = start.elapsed();
        (n - remaining.load(Ordering::Acquire), early.load(Ordering::Relaxed), elapsed)
    });
    check(woke == n, || format!("{} of {} sleepers woke", woke, n))?;
    check(early == 0, || format!("{} sleepers woke before 1 ms", early))?;
    Ok(Measured::new(n, elapsed))
}

/// This process's resident set in bytes (VmRSS of /proc/self/status), 0 where it cannot be read.
fn rss_bytes() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                l.split_whitespace().nth(1).and_then(|kib| kib.parse::<f64>().ok())
            })
        })
        .map_or(0.0, |kib| kib * 1024.0)
}

/// What the parked tasks share: one `Arc` per task, as the Zokio peer's tasks hold one pointer
/// per shared object.
struct Parking {
    go: Notify,
    parked: AtomicU64,
    remaining: AtomicU64,
    done: Notify,
}

/// park_memory: N detached tasks each park on one `Notify` (`notified().await`); the figure is the
/// process's RSS growth while all N are parked, per task. Then `notify_waiters` releases them and
/// the root waits until every one has finished.
pub fn park_memory(n: u64, _workers: usize) -> Checked<Measured> {
    let rt = current_thread();
    let (left, elapsed, rss0, rss1) = root(&rt, async move {
        let p = Arc::new(Parking {
            go: Notify::new(),
            parked: AtomicU64::new(0),
            remaining: AtomicU64::new(n),
            done: Notify::new(),
        });
        let rss0 = rss_bytes();
        let start = Instant::now();
        for _ in 0..n {
            let p = p.clone();
            tokio::spawn(async move {
                let go = p.go.notified();
                p.parked.fetch_add(1, Ordering::Relaxed);
                go.await;
                if p.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
                    p.done.notify_one();
                }
            });
        }
        while p.parked.load(Ordering::Relaxed) != n {
            yield_now().await; // each spawned task runs to its wait
        }
        let elapsed = start.elapsed();
        let rss1 = rss_bytes();
        p.go.notify_waiters();
        p.done.notified().await;
        (p.remaining.load(Ordering::Acquire), elapsed, rss0, rss1)
    });
    check(left == 0, || format!("{} of {} parked tasks never finished", left, n))?;
    check(rss0 > 0.0 && rss1 > 0.0, || "cannot read VmRSS from /proc/self/status".to_string())?;
    let mut m = Measured::new(n, elapsed);
    m.extra.push(("rss_growth_bytes", format!("{}", rss1 - rss0)));
    Ok(m)
}

/// multi_worker_spawn_many: spawn_many_local on a multi_thread runtime: the spawner is the root
/// task, on a worker, so its spawns land in that worker's queue and the others steal them.
pub fn multi_worker_spawn_many(n: u64, workers: usize) -> Checked<Measured> {
    let rt = multi_thread(workers);
    let (ran, elapsed) = root(&rt, async move {
        let start = Instant::now();
        let ran = spawn_and_count_down(n).await;
        (ran, start.elapsed())
    });
    let ran = ran?;
    check(ran == n, || format!("{} of {} tasks ran", ran, n))?;
    Ok(Measured::new(n, elapsed))
}

/// multi_worker_mpsc: W spawned producers (Tokio places tasks, it cannot pin one per worker; the
/// work-stealing scheduler spreads them) send N/W each into one bounded(1024) `mpsc::channel`; a
/// consumer task receives them all.
pub fn multi_worker_mpsc(n: u64, workers: usize) -> Checked<Measured> {
    let producers = workers as u64;
    let rt = multi_thread(workers);
    let (result, elapsed) = root(&rt, async move {
        let start = Instant::now();
        let result = contended(producers, n).await;
        (result, start.elapsed())
    });
    let (received, sum) = result?;
    check_contended(received, sum, n)?;
    Ok(Measured::new(n, elapsed))
}
