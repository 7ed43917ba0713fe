//! `peer-tungstenite`: the tokio-tungstenite echo server (see `ringws_peers::tungstenite`).

use ringws_peers::Args;

fn main() -> std::io::Result<()> {
    let args = Args::from_env();
    let listener = std::net::TcpListener::bind(args.addr)?;
    println!(
        "listening on ws://{} (tokio-tungstenite, threads={})",
        listener.local_addr()?,
        args.threads
    );
    ringws_peers::tungstenite::run(listener, args.threads)
}
