//! The few socket calls the client backends make, through `socket2` (which
//! owns the libc structs, the `sockaddr` conversion and errno handling), on
//! the raw fds the io_uring driver keeps in its slots.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{BorrowedFd, IntoRawFd, RawFd};
use std::time::Duration;

use socket2::{Domain, SockAddr, SockRef, Socket, Type};

/// Runs `f` on a borrowed socket view of `fd`; the caller keeps ownership.
fn with_fd<T>(fd: RawFd, f: impl FnOnce(SockRef<'_>) -> io::Result<T>) -> io::Result<T> {
    // SAFETY: the callers pass a socket fd they own and keep open for the
    // duration of this call; the borrow does not outlive it.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    f(SockRef::from(&fd))
}

/// `SO_LINGER` with a zero timeout: `close` resets the connection.
pub(crate) fn set_linger_zero(fd: RawFd) -> io::Result<()> {
    with_fd(fd, |s| s.set_linger(Some(Duration::ZERO)))
}

/// `TCP_NODELAY`: the bench corks by itself (one send per turn).
pub(crate) fn set_nodelay(fd: RawFd) -> io::Result<()> {
    with_fd(fd, |s| s.set_tcp_nodelay(true))
}

/// A blocking TCP socket for `addr`'s family (close-on-exec, as socket2
/// always sets it). Blocking is deliberate: io_uring's network ops never
/// block the thread whatever the file's flags (they arm a poll and retry),
/// like the engine's accepted sockets.
pub(crate) fn tcp_socket(addr: &SocketAddr) -> io::Result<RawFd> {
    Socket::new(Domain::for_address(*addr), Type::STREAM, None).map(IntoRawFd::into_raw_fd)
}

/// Closes `fd` (errors are of no use to the bench at this point).
pub(crate) fn close(fd: RawFd) {
    // SAFETY: the caller owns `fd` and never uses it again.
    unsafe { libc::close(fd) };
}

/// `addr` as a `sockaddr_storage` and its length, for io_uring's `connect`
/// (which keeps a pointer to it until the op completes, so the caller owns
/// the storage).
pub(crate) fn sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    let addr = SockAddr::from(*addr);
    let len = addr.len();
    let mut storage = addr.as_storage();
    // SAFETY: `SockAddrStorage` is a `repr(transparent)` wrapper of
    // `libc::sockaddr_storage` (`view_as` also asserts the size).
    (unsafe { *storage.view_as::<libc::sockaddr_storage>() }, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_matches_the_libc_layout() {
        let (s, len) = sockaddr(&"127.0.0.1:9001".parse().unwrap());
        assert_eq!(len as usize, std::mem::size_of::<libc::sockaddr_in>());
        // SAFETY: the family says the storage holds a `sockaddr_in`.
        let sin = unsafe { *(&s as *const _ as *const libc::sockaddr_in) };
        assert_eq!(sin.sin_family, libc::AF_INET as libc::sa_family_t);
        assert_eq!(u16::from_be(sin.sin_port), 9001);
        assert_eq!(u32::from_be(sin.sin_addr.s_addr), 0x7f00_0001);

        let (s, len) = sockaddr(&"[::1]:80".parse().unwrap());
        assert_eq!(len as usize, std::mem::size_of::<libc::sockaddr_in6>());
        // SAFETY: the family says the storage holds a `sockaddr_in6`.
        let sin6 = unsafe { *(&s as *const _ as *const libc::sockaddr_in6) };
        assert_eq!(sin6.sin6_family, libc::AF_INET6 as libc::sa_family_t);
        assert_eq!(u16::from_be(sin6.sin6_port), 80);
        assert_eq!(
            sin6.sin6_addr.s6_addr,
            std::net::Ipv6Addr::LOCALHOST.octets()
        );
    }

    #[test]
    fn options_apply_to_a_fresh_socket() {
        let fd = tcp_socket(&"127.0.0.1:1".parse().unwrap()).unwrap();
        set_nodelay(fd).unwrap();
        set_linger_zero(fd).unwrap();
        let got = with_fd(fd, |s| Ok((s.tcp_nodelay()?, s.linger()?))).unwrap();
        assert_eq!(got, (true, Some(Duration::ZERO)));
        close(fd);
    }
}
