//! The fastwebsockets echo server: hyper performs the upgrade, a
//! `FragmentCollector` reassembles messages (validating UTF-8 of text), and
//! each message goes back as one frame with one write.
//!
//! Auto-pong and auto-close are fastwebsockets' defaults: pings and closes are
//! answered inside `read_frame`.

use crate::{runtime, Args};
use bytes::Bytes;
use fastwebsockets::{upgrade, FragmentCollector, OpCode, WebSocketError};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Serves WebSocket echo on `listener` until accepting fails; blocks the
/// calling thread. `threads` selects the runtime as [`runtime`] does.
pub fn run(listener: std::net::TcpListener, threads: usize) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    runtime(threads)?.block_on(async move {
        let listener = TcpListener::from_std(listener)?;
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let conn = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(upgrade_request))
                    .with_upgrades();
                if let Err(e) = conn.await {
                    verbose(&format!("http error: {e}"));
                }
            });
        }
    })
}

async fn upgrade_request(
    mut req: Request<Incoming>,
) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    let (response, fut) = upgrade::upgrade(&mut req)?;
    tokio::spawn(async move {
        if let Err(e) = echo(fut).await {
            verbose(&format!("connection error: {e}"));
        }
    });
    Ok(response)
}

async fn echo(fut: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
    let mut ws = fut.await?;
    // fastwebsockets checks this limit per frame and rejects a payload equal
    // to it (`len >= max`): add one so a 16 MiB message fits, as in the others.
    ws.set_max_message_size(Args::MAX_MESSAGE + 1);
    let mut ws = FragmentCollector::new(ws);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => return Ok(()),
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
}

fn verbose(msg: &str) {
    if std::env::var_os("PEER_VERBOSE").is_some() {
        eprintln!("{msg}");
    }
}
