// `--serve http`: the http suite's server on hyper 0.14 (HTTP/1.1 only, keep-alive), the way a
// hyper user writes it: Server::try_bind + make_service_fn/service_fn +
// with_graceful_shutdown on SIGTERM/SIGINT. One worker: a current_thread runtime; W > 1 workers:
// a multi_thread runtime with W worker threads.

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use hyper::service::{make_service_fn, service_fn};
use hyper::{header, Body, Method, Request, Response, Server, StatusCode};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

use crate::runtime::{current_thread, multi_thread};

const BODY: &str = "Hello, World!";

/// GET /plaintext → 200 text/plain "Hello, World!" (hyper adds Content-Length and Date);
/// anything else → 404.
async fn plaintext(req: Request<Body>) -> Result<Response<Body>, Infallible> {
    let response = if req.method() == Method::GET && req.uri().path() == "/plaintext" {
        Response::builder()
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Body::from(BODY))
    } else {
        Response::builder().status(StatusCode::NOT_FOUND).body(Body::empty())
    };
    Ok(response.expect("a valid response"))
}

/// Serves until SIGTERM or SIGINT, then shuts down gracefully and returns. hyper closes idle
/// keep-alive connections at once and lets in-flight requests finish, but waits for a connection
/// that never sent a request: after 2 s the runtime is dropped, which closes it.
pub fn serve(port: u16, workers: usize) -> Result<(), String> {
    let rt = if workers > 1 { multi_thread(workers) } else { current_thread() };
    rt.block_on(async move {
        let (stop_tx, stop_rx) = watch::channel(false);
        let stop_tx = std::sync::Arc::new(stop_tx);
        for kind in [SignalKind::terminate(), SignalKind::interrupt()] {
            let mut signals = signal(kind).map_err(|e| format!("install a signal handler: {}", e))?;
            let stop_tx = stop_tx.clone();
            tokio::spawn(async move {
                if signals.recv().await.is_some() {
                    let _ = stop_tx.send(true);
                }
            });
        }

        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let builder = Server::try_bind(&addr).map_err(|e| format!("bind {}: {}", addr, e))?;
        let make = make_service_fn(|_conn| async { Ok::<_, Infallible>(service_fn(plaintext)) });
        let server = builder
            .tcp_nodelay(true)
            .http1_only(true)
            .http1_keepalive(true)
            .serve(make);
        let listening = server.local_addr().port();

        let mut server_stop = stop_rx.clone();
        let graceful = server.with_graceful_shutdown(async move {
            let _ = server_stop.changed().await;
        });
        let running = tokio::spawn(graceful);

        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{{\"listening\":{}}}", listening)
                .and_then(|_| out.flush())
                .map_err(|e| format!("write the listening line: {}", e))?;
        }

        let mut stop = stop_rx;
        let _ = stop.changed().await;
        match tokio::time::timeout(Duration::from_secs(2), running).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(format!("server error: {}", e)),
            Ok(Err(e)) => Err(format!("server task failed: {}", e)),
            Err(_) => {
                eprintln!("zokio-bench-peer-tokio: connections still open 2 s after the signal; closing them");
                Ok(())
            }
        }
    })
}
