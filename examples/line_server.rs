// line_server.rs: the same program as line_server.cpp, with Tokio 1.x and tokio-util, for
// comparison only (documentation: not built). Each line a client sends comes back upper-cased;
// a client silent for IDLE_MS is dropped; SIGINT or SIGTERM stops accepting, cancels the
// clients, waits for them, and exits.
//
//   line_server [PORT (0 = pick one; default 7008)] [IDLE_MS (default 10000)]

use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

async fn serve_client(s: TcpStream, idle: Duration) {
    let (r, mut w) = s.into_split();
    let mut lines = BufReader::new(r).lines();
    loop {
        let line = match tokio::time::timeout(idle, lines.next_line()).await {
            Ok(Ok(Some(line))) => line,
            _ => return, // idle too long, EOF, or the network failed
        };
        if w.write_all(format!("{}\n", line.to_uppercase()).as_bytes()).await.is_err() {
            return;
        }
    }
}

async fn accept_clients(l: &TcpListener, clients: &TaskTracker, stop: &CancellationToken, idle: Duration) {
    loop {
        if let Ok((s, _)) = l.accept().await {
            let stop = stop.clone();
            clients.spawn(async move {
                tokio::select! { _ = serve_client(s, idle) => {}, _ = stop.cancelled() => {} }
            });
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().map_or(7008, |p| p.parse().unwrap());
    let idle = Duration::from_millis(args.next().map_or(10000, |p| p.parse().unwrap()));
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let l = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on {}", l.local_addr()?);
    let clients = TaskTracker::new();
    let stop = CancellationToken::new();
    tokio::select! {
        _ = accept_clients(&l, &clients, &stop, idle) => {}
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    stop.cancel();
    clients.close();
    clients.wait().await;
    Ok(())
}
