// The `io` suite of PROTOCOL.md on Tokio: tokio::net over 127.0.0.1 (client and server in the
// same process on the one current_thread runtime), file reads through Tokio's blocking pool, and
// tokio::time sleeps. Connections are set up before the clock starts.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::runtime::{current_thread, root};
use crate::{check, share, Checked, Measured};

const MESSAGE: usize = 64;

fn io_error(what: &str) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{}: {}", what, e)
}

/// A listener on 127.0.0.1, port 0.
async fn listen() -> Checked<TcpListener> {
    TcpListener::bind("127.0.0.1:0").await.map_err(io_error("bind 127.0.0.1:0"))
}

/// A connected pair (client, server side) with TCP_NODELAY on both.
async fn connected_pair(listener: &TcpListener) -> Checked<(TcpStream, TcpStream)> {
    let addr = listener.local_addr().map_err(io_error("local_addr"))?;
    // connect completes once the kernel has queued the connection; accept then takes it.
    let client = TcpStream::connect(addr).await.map_err(io_error("connect"))?;
    let (server, _) = listener.accept().await.map_err(io_error("accept"))?;
    client.set_nodelay(true).map_err(io_error("TCP_NODELAY"))?;
    server.set_nodelay(true).map_err(io_error("TCP_NODELAY"))?;
    Ok((client, server))
}

/// The echo side every TCP workload uses: read what arrives, write it back, until EOF.
async fn echo(mut stream: TcpStream) -> u64 {
    let mut buf = [0u8; 4096];
    let mut echoed = 0u64;
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return echoed,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() {
                    return echoed;
                }
                echoed += n as u64;
            }
        }
    }
}

/// A 64-byte message whose bytes depend on `seed`, so a wrong echo is seen.
fn message(seed: u64) -> [u8; MESSAGE] {
    let mut m = [0u8; MESSAGE];
    for (k, chunk) in m.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ k as u64).to_le_bytes());
    }
    m
}

/// tcp_ping_pong: one TcpStream pair with TCP_NODELAY; the client `write_all`s 64 bytes and
/// `read_exact`s the echo, N round trips, each timed.
pub fn tcp_ping_pong(n: u64, _workers: usize) -> Checked<Measured> {
    let rt = current_thread();
    let result = root(&rt, async move {
        let listener = listen().await?;
        let (mut client, server) = connected_pair(&listener).await?;
        let server = tokio::spawn(echo(server));
        let mut samples = Vec::with_capacity(n as usize);
        let mut reply = [0u8; MESSAGE];
        let start = Instant::now();
        for i in 0..n {
            let sent = message(i);
            let t = Instant::now();
            client.write_all(&sent).await.map_err(io_error("write"))?;
            client.read_exact(&mut reply).await.map_err(io_error("read"))?;
            samples.push(t.elapsed().as_secs_f64() * 1e6);
            check(reply == sent, || format!("round trip {} came back changed", i))?;
        }
        let elapsed = start.elapsed();
        drop(client);
        let echoed = server.await.map_err(|e| e.to_string())?;
        Ok::<_, String>((samples, echoed, elapsed))
    });
    let (samples, echoed, elapsed) = result?;
    check(echoed == n * MESSAGE as u64, || format!("server echoed {} bytes, not {}", echoed, n * 64))?;
    Ok(Measured::new(n, elapsed).with_latency(samples))
}

/// tcp_echo_many: 64 TcpStream pairs; 64 spawned client tasks each send a 64-byte message and
/// await its echo N/64 times (the remainder spread over the first ones), all at once, against 64 spawned echo tasks.
pub fn tcp_echo_many(n: u64, _workers: usize) -> Checked<Measured> {
    const CONNECTIONS: u64 = 64;
    let rt = current_thread();
    let result = root(&rt, async move {
        let listener = listen().await?;
        let mut clients = Vec::new();
        let mut servers: Vec<JoinHandle<u64>> = Vec::new();
        for _ in 0..CONNECTIONS {
            let (client, server) = connected_pair(&listener).await?;
            clients.push(client);
            servers.push(tokio::spawn(echo(server)));
        }
        let start = Instant::now();
        let handles: Vec<JoinHandle<Checked<u64>>> = clients
            .into_iter()
            .enumerate()
            .map(|(c, mut client)| {
                tokio::spawn(async move {
                    let mut reply = [0u8; MESSAGE];
                    let messages = share(n, CONNECTIONS, c as u64);
                    for i in 0..messages {
                        let sent = message(c as u64 * n + i);
                        client.write_all(&sent).await.map_err(io_error("write"))?;
                        client.read_exact(&mut reply).await.map_err(io_error("read"))?;
                        check(reply == sent, || format!("connection {} message {} changed", c, i))?;
                    }
                    Ok(messages)
                })
            })
            .collect();
        let mut messages = 0u64;
        for h in handles {
            messages += h.await.map_err(|e| e.to_string())??;
        }
        let elapsed = start.elapsed();
        let mut echoed = 0u64;
        for s in servers {
            echoed += s.await.map_err(|e| e.to_string())?;
        }
        Ok::<_, String>((messages, echoed, elapsed))
    });
    let (messages, echoed, elapsed) = result?;
    let total = n;
    check(messages == total, || format!("{} messages, not {}", messages, total))?;
    check(echoed == total * MESSAGE as u64, || format!("echoed {} bytes, not {}", echoed, total * 64))?;
    Ok(Measured::new(4 * total, elapsed))
}

/// tcp_stream: one TcpStream pair; a spawned client task `write_all`s N bytes in 64 KiB writes
/// and shuts down; the root reads into a 64 KiB buffer until EOF and counts the bytes.
pub fn tcp_stream(n: u64, _workers: usize) -> Checked<Measured> {
    const CHUNK: usize = 64 * 1024;
    let rt = current_thread();
    let result = root(&rt, async move {
        let listener = listen().await?;
        let (mut client, mut server) = connected_pair(&listener).await?;
        let start = Instant::now();
        let writer = tokio::spawn(async move {
            let chunk = vec![0xA5u8; CHUNK];
            let mut left = n;
            while left > 0 {
                let len = left.min(CHUNK as u64) as usize;
                client.write_all(&chunk[..len]).await.map_err(io_error("write"))?;
                left -= len as u64;
            }
            client.shutdown().await.map_err(io_error("shutdown"))?;
            Ok::<_, String>(n)
        });
        let mut buf = vec![0u8; CHUNK];
        let mut received = 0u64;
        loop {
            let got = server.read(&mut buf).await.map_err(io_error("read"))?;
            if got == 0 {
                break;
            }
            received += got as u64;
        }
        let elapsed = start.elapsed();
        let written = writer.await.map_err(|e| e.to_string())??;
        Ok::<_, String>((written, received, elapsed))
    });
    let (written, received, elapsed) = result?;
    check(written == n && received == n, || format!("received {} of {} bytes", received, n))?;
    Ok(Measured::new(n, elapsed))
}

/// The temporary file of fs_read, removed when dropped.
struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// fs_read: a 1 MiB temporary file, N reads of 4 KiB at offsets (i × 7919 mod 256) × 4096,
/// 16 in flight: 16 spawned tasks each take every 16th read and `spawn_blocking` a positional
/// read (`FileExt::read_exact_at`, pread) on the shared `std::fs::File`, one trip to Tokio's
/// blocking pool per read, which is what tokio::fs does under the hood.
pub fn fs_read(n: u64, _workers: usize) -> Checked<Measured> {
    use std::os::unix::fs::FileExt;
    const BLOCK: usize = 4096;
    const BLOCKS: u64 = 256;
    const IN_FLIGHT: u64 = 16;

    let path = std::env::temp_dir()
        .join(format!("zokio-bench-peer-tokio-{}.tmp", std::process::id()));
    let temp = TempFile(path.clone());
    {
        let mut f = std::fs::File::create(&path).map_err(io_error("create the temporary file"))?;
        let mut data = Vec::with_capacity(BLOCK * BLOCKS as usize);
        for word in 0..(BLOCK as u64 * BLOCKS / 8) {
            data.extend_from_slice(&word.to_le_bytes());
        }
        f.write_all(&data).map_err(io_error("write the temporary file"))?;
        f.sync_all().map_err(io_error("sync the temporary file"))?;
    }
    let file = Arc::new(std::fs::File::open(&path).map_err(io_error("open the temporary file"))?);

    let rt = current_thread();
    let result = root(&rt, async move {
        let start = Instant::now();
        let handles: Vec<JoinHandle<Checked<(u64, u64)>>> = (0..IN_FLIGHT)
            .map(|lane| {
                let file = file.clone();
                tokio::spawn(async move {
                    let mut reads = 0u64;
                    let mut bytes = 0u64;
                    let mut buf = vec![0u8; BLOCK];
                    let mut i = lane;
                    while i < n {
                        let block = i * 7919 % BLOCKS;
                        let f = file.clone();
                        let r = tokio::task::spawn_blocking(move || {
                            let r = f.read_exact_at(&mut buf, block * BLOCK as u64);
                            (buf, r)
                        })
                        .await
                        .map_err(|e| e.to_string())?;
                        buf = r.0;
                        r.1.map_err(io_error("pread"))?;
                        // Word w of the file holds w: check the block's first and last words.
                        let first = u64::from_le_bytes(buf[..8].try_into().unwrap());
                        let last = u64::from_le_bytes(buf[BLOCK - 8..].try_into().unwrap());
                        let want = block * (BLOCK as u64 / 8);
                        check(first == want && last == want + BLOCK as u64 / 8 - 1, || {
                            format!("block {} read wrong data", block)
                        })?;
                        reads += 1;
                        bytes += BLOCK as u64;
                        i += IN_FLIGHT;
                    }
                    Ok((reads, bytes))
                })
            })
            .collect();
        let mut reads = 0u64;
        let mut bytes = 0u64;
        for h in handles {
            let (r, b) = h.await.map_err(|e| e.to_string())??;
            reads += r;
            bytes += b;
        }
        Ok::<_, String>((reads, bytes, start.elapsed()))
    });
    drop(rt);
    drop(temp);
    let (reads, bytes, elapsed) = result?;
    check(reads == n, || format!("{} reads, not {}", reads, n))?;
    check(bytes == n * BLOCK as u64, || format!("{} bytes read, not {}", bytes, n * 4096))?;
    Ok(Measured::new(n, elapsed))
}

/// N sequential `tokio::time::sleep(period)`s; the samples are the lateness (woke − asked) in µs.
async fn sleep_lateness(n: u64, period: Duration) -> Checked<(Vec<f64>, Duration)> {
    let mut lateness = Vec::with_capacity(n as usize);
    let start = Instant::now();
    for i in 0..n {
        let asked = Instant::now();
        tokio::time::sleep(period).await;
        let slept = asked.elapsed();
        check(slept >= period, || format!("sleep {} woke {:?} early", i, period - slept))?;
        lateness.push((slept - period).as_secs_f64() * 1e6);
    }
    Ok((lateness, start.elapsed()))
}

fn timer_precision(n: u64, period: Duration, loaders: usize) -> Checked<Measured> {
    let rt = current_thread();
    let result = root(&rt, async move {
        let stop = Arc::new(AtomicBool::new(false));
        let load: Vec<JoinHandle<u64>> = (0..loaders)
            .map(|_| {
                let stop = stop.clone();
                tokio::spawn(async move {
                    let mut yields = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        tokio::task::yield_now().await;
                        yields += 1;
                    }
                    yields
                })
            })
            .collect();
        // Let every loader start spinning before the first sleep.
        tokio::task::yield_now().await;
        let measured = sleep_lateness(n, period).await;
        stop.store(true, Ordering::Relaxed);
        let mut yields = 0u64;
        for h in load {
            yields += h.await.map_err(|e| e.to_string())?;
        }
        Ok::<_, String>((measured?, yields))
    });
    let ((samples, elapsed), yields) = result?;
    check(samples.len() as u64 == n, || format!("{} sleeps, not {}", samples.len(), n))?;
    check(loaders == 0 || yields > 0, || "the loader tasks never ran".to_string())?;
    let mut m = Measured::new(n, elapsed).with_latency(samples);
    if loaders > 0 {
        m.extra.push(("load_yields", yields.to_string()));
    }
    Ok(m)
}

/// timer_precision_1ms: N sequential `tokio::time::sleep(1 ms)`; latency_us is the lateness.
pub fn timer_precision_1ms(n: u64, _workers: usize) -> Checked<Measured> {
    timer_precision(n, Duration::from_millis(1), 0)
}

/// timer_precision_10ms: N sequential `tokio::time::sleep(10 ms)`; latency_us is the lateness.
pub fn timer_precision_10ms(n: u64, _workers: usize) -> Checked<Measured> {
    timer_precision(n, Duration::from_millis(10), 0)
}

/// timer_precision_1ms_loaded: timer_precision_1ms while 64 spawned tasks loop on
/// `yield_now().await` on the same current_thread runtime.
pub fn timer_precision_1ms_loaded(n: u64, _workers: usize) -> Checked<Measured> {
    timer_precision(n, Duration::from_millis(1), 64)
}
