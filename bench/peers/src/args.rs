//! Command line shared by the peer servers, and the runtime it selects.

use std::net::{Ipv4Addr, SocketAddr};

/// Largest message (and frame) the peers accept: the conformance suite's
/// chapter 9 goes up to 16 MiB.
pub const MAX_MESSAGE: usize = 16 << 20;

/// Parsed command line of a peer server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// Address to bind; loopback, port from `--port`.
    pub addr: SocketAddr,
    /// Runtime worker threads: 1 selects tokio's `current_thread` runtime.
    pub threads: usize,
}

impl Args {
    /// The largest message the peers accept (16 MiB).
    pub const MAX_MESSAGE: usize = MAX_MESSAGE;

    /// Parses `--port P` / `--threads N` (also `--port=P`), `--help`.
    pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Self, String> {
        let mut port: u16 = 9001;
        let mut threads: usize = 1;
        let mut it = args.into_iter();
        while let Some(arg) = it.next() {
            let (key, inline) = match arg.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (arg.clone(), None),
            };
            let mut value = |name: &str| {
                inline
                    .clone()
                    .or_else(|| it.next())
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            match key.as_str() {
                "--port" | "-p" => {
                    port = value("--port")?
                        .parse()
                        .map_err(|e| format!("--port: {e}"))?
                }
                "--threads" | "-t" => {
                    threads = value("--threads")?
                        .parse()
                        .map_err(|e| format!("--threads: {e}"))?;
                    if threads == 0 {
                        return Err("--threads must be at least 1".into());
                    }
                }
                "--help" | "-h" => {
                    return Err(
                        "usage: [--port P (9001)] [--threads N (1 = current_thread)]".into(),
                    )
                }
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(Args {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            threads,
        })
    }

    /// Parses the process's own arguments, exiting with a message on error.
    pub fn from_env() -> Self {
        match Self::parse(std::env::args().skip(1)) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(2)
            }
        }
    }
}

/// Builds the runtime `--threads` asks for: `current_thread` for 1 (one
/// core, no work stealing, like a thread-per-core server's single shard),
/// `multi_thread` with that many workers otherwise.
pub fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        type Row<'a> = (&'a [&'a str], Option<(u16, usize)>);
        let cases: &[Row] = &[
            (&[], Some((9001, 1))),
            (&["--port", "9100"], Some((9100, 1))),
            (&["--port=0", "--threads=4"], Some((0, 4))),
            (&["-t", "2"], Some((9001, 2))),
            (&["--threads", "0"], None),
            (&["--port"], None),
            (&["--bogus"], None),
        ];
        for (input, want) in cases {
            let got = Args::parse(s(input))
                .ok()
                .map(|a| (a.addr.port(), a.threads));
            assert_eq!(&got, want, "{input:?}");
        }
    }
}
