//! `peer-fastwebsockets`: the fastwebsockets echo server (see `ringws_peers::fastws`).

use ringws_peers::Args;

fn main() -> std::io::Result<()> {
    let args = Args::from_env();
    let listener = std::net::TcpListener::bind(args.addr)?;
    println!(
        "listening on ws://{} (fastwebsockets, threads={})",
        listener.local_addr()?,
        args.threads
    );
    ringws_peers::fastws::run(listener, args.threads)
}
