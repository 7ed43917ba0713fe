//! The tokio-tungstenite echo server: reads messages, echoes text and binary.
//!
//! Replies are `feed`ed into the sink and flushed once no more input is
//! ready, so a burst of small messages costs one write, as a tuned
//! tokio-tungstenite application would do. Pings are answered by tungstenite
//! itself (the pong goes out with the next flush); a close is answered by it too.

use crate::{runtime, Args};
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Error;

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
                if let Err(e) = serve(stream).await {
                    if std::env::var_os("PEER_VERBOSE").is_some() {
                        eprintln!("connection error: {e}");
                    }
                }
            });
        }
    })
}

async fn serve(stream: TcpStream) -> Result<(), Error> {
    let config = WebSocketConfig::default()
        .max_message_size(Some(Args::MAX_MESSAGE))
        .max_frame_size(Some(Args::MAX_MESSAGE));
    let mut ws = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await?;
    while let Some(first) = ws.next().await {
        let mut msg = Some(first?);
        // Echo everything that is already readable, then flush once.
        while let Some(m) = msg.take() {
            if m.is_text() || m.is_binary() {
                ws.feed(m).await?;
            }
            match ws.next().now_or_never() {
                Some(Some(next)) => msg = Some(next?),
                Some(None) => {
                    ws.flush().await?;
                    return Ok(());
                }
                None => {}
            }
        }
        ws.flush().await?;
    }
    Ok(())
}
