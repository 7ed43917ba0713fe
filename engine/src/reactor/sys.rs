//! The raw libc calls the reactors and shards make, with errno read in one
//! place (the `syscall!` macro, as in mio).

use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;

/// Call a libc function and turn `-1` into `io::Error::last_os_error()`.
macro_rules! syscall {
    ($fn: ident ( $($arg: expr),* $(,)* ) ) => {{
        #[allow(unused_unsafe)]
        // SAFETY: every caller passes arguments that satisfy the libc function's
        // contract (valid fds, pointers to live memory of the stated length).
        let res = unsafe { libc::$fn($($arg, )*) };
        if res == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}
pub(crate) use syscall;

/// A TCP listener socket bound with `SO_REUSEPORT` (and `SO_REUSEADDR`), so
/// every worker can own its own listener on the same address and the kernel
/// spreads new connections across them.
pub(crate) fn reuseport_listener(
    addr: SocketAddr,
    backlog: i32,
    nonblocking: bool,
) -> io::Result<RawFd> {
    let domain = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    let mut ty = libc::SOCK_STREAM | libc::SOCK_CLOEXEC;
    if nonblocking {
        ty |= libc::SOCK_NONBLOCK;
    }
    let fd = syscall!(socket(domain, ty, 0))?;
    let guard = FdGuard(fd);
    set_int_opt(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    set_int_opt(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    // Accepted sockets inherit TCP_NODELAY from the listener on Linux, which
    // saves a `setsockopt` per connection (tested below).
    set_nodelay(fd)?;
    let (storage, len) = sockaddr(addr);
    syscall!(bind(fd, &storage as *const _ as *const libc::sockaddr, len))?;
    syscall!(listen(fd, backlog))?;
    std::mem::forget(guard);
    Ok(fd)
}

/// The address a socket is bound to (for `bind("127.0.0.1:0")`).
pub(crate) fn local_addr(fd: RawFd) -> io::Result<SocketAddr> {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    syscall!(getsockname(
        fd,
        &mut storage as *mut _ as *mut libc::sockaddr,
        &mut len
    ))?;
    match storage.ss_family as i32 {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in for an AF_INET socket.
            let sin: libc::sockaddr_in =
                unsafe { *(&storage as *const _ as *const libc::sockaddr_in) };
            let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Ok(SocketAddr::new(ip.into(), u16::from_be(sin.sin_port)))
        }
        libc::AF_INET6 => {
            // SAFETY: the kernel wrote a sockaddr_in6 for an AF_INET6 socket.
            let sin6: libc::sockaddr_in6 =
                unsafe { *(&storage as *const _ as *const libc::sockaddr_in6) };
            let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Ok(SocketAddr::new(ip.into(), u16::from_be(sin6.sin6_port)))
        }
        _ => Err(io::Error::other("unknown address family")),
    }
}

fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(*a.ip()).to_be(),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in, sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in6, sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

fn set_int_opt(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    syscall!(setsockopt(
        fd,
        level,
        name,
        &value as *const i32 as *const libc::c_void,
        std::mem::size_of::<i32>() as libc::socklen_t
    ))
    .map(drop)
}

/// Disable Nagle: the engine corks by batching a loop turn's frames into one
/// vectored send, so the kernel must not delay them further.
pub(crate) fn set_nodelay(fd: RawFd) -> io::Result<()> {
    set_int_opt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)
}

/// Accept one connection as a nonblocking, close-on-exec socket.
pub(crate) fn accept(listener: RawFd) -> io::Result<RawFd> {
    syscall!(accept4(
        listener,
        std::ptr::null_mut(),
        std::ptr::null_mut(),
        libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC
    ))
}

/// `recv(2)` into `buf`.
pub(crate) fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    syscall!(recv(
        fd,
        buf.as_mut_ptr() as *mut libc::c_void,
        buf.len(),
        0
    ))
    .map(|n| n as usize)
}

/// `sendmsg(2)` with `MSG_NOSIGNAL`, so a peer that went away yields `EPIPE`
/// instead of killing an embedding process with `SIGPIPE`.
///
/// # Safety
/// `msg` must point to a valid `msghdr` whose iovecs point to live memory.
pub(crate) unsafe fn sendmsg(fd: RawFd, msg: *const libc::msghdr) -> io::Result<usize> {
    syscall!(sendmsg(fd, msg, libc::MSG_NOSIGNAL)).map(|n| n as usize)
}

/// `shutdown(fd, SHUT_RDWR)`: ends any receive or send the kernel still has
/// in flight on the socket, so the ops complete and their memory can go.
pub(crate) fn shutdown(fd: RawFd) {
    let _ = syscall!(shutdown(fd, libc::SHUT_RDWR));
}

/// Close a descriptor, ignoring errors (nothing useful can be done with them).
pub(crate) fn close(fd: RawFd) {
    let _ = syscall!(close(fd));
}

/// A nonblocking eventfd used to wake a worker from another thread.
pub(crate) fn eventfd() -> io::Result<RawFd> {
    syscall!(eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC))
}

/// Add one to an eventfd's counter (wakes whoever waits on it).
pub(crate) fn eventfd_write(fd: RawFd) {
    let one: u64 = 1;
    let _ = syscall!(write(fd, &one as *const u64 as *const libc::c_void, 8));
}

/// Reset an eventfd's counter; `EAGAIN` (already zero) is fine.
pub(crate) fn eventfd_read(fd: RawFd) {
    let mut v: u64 = 0;
    let _ = syscall!(read(fd, &mut v as *mut u64 as *mut libc::c_void, 8));
}

/// Pin the calling thread to one CPU. Failure (a restricted cpuset) is
/// reported, not fatal: the worker still runs, just unpinned.
pub(crate) fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    // SAFETY: all-zero is an empty cpu_set_t; CPU_SET writes within it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET bounds-checks nothing, so check the index first.
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cpu index out of range",
        ));
    }
    // SAFETY: cpu < CPU_SETSIZE, checked above.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    syscall!(sched_setaffinity(
        0,
        std::mem::size_of::<libc::cpu_set_t>(),
        &set
    ))
    .map(drop)
}

/// The CPUs this process may run on, in order (for pinning workers).
pub(crate) fn allowed_cpus() -> Vec<usize> {
    // SAFETY: all-zero is an empty cpu_set_t.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if syscall!(sched_getaffinity(
        0,
        std::mem::size_of::<libc::cpu_set_t>(),
        &mut set
    ))
    .is_err()
    {
        return Vec::new();
    }
    // SAFETY: i < CPU_SETSIZE.
    (0..libc::CPU_SETSIZE as usize)
        .filter(|&i| unsafe { libc::CPU_ISSET(i, &set) })
        .collect()
}

/// Anonymous, page-aligned, zeroed memory (buffer rings must be page aligned).
pub(crate) struct Mmap {
    ptr: *mut u8,
    len: usize,
}

impl Mmap {
    /// Map `len` bytes of anonymous private memory.
    pub(crate) fn anon(len: usize) -> io::Result<Self> {
        // SAFETY: anonymous mapping, no fd, kernel chooses the address.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Self {
            ptr: ptr as *mut u8,
            len,
        })
    }

    /// Start of the mapping.
    pub(crate) fn ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// Give the mapping's pages back to the kernel (`MADV_DONTNEED`): the
    /// memory stays mapped and reads as zeros until written again.
    ///
    /// # Safety
    /// Nothing may be reading bytes of the mapping it expects to keep, and
    /// nothing may be writing to it concurrently (the kernel included).
    pub(crate) unsafe fn discard(&self) {
        // SAFETY: ptr/len describe our own private anonymous mapping; the
        // caller guarantees nobody needs its contents.
        unsafe { libc::madvise(self.ptr as *mut libc::c_void, self.len, libc::MADV_DONTNEED) };
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: ptr/len came from a successful mmap and are unmapped once.
        unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.len) };
    }
}

/// Closes a descriptor on early return.
pub(crate) struct FdGuard(pub(crate) RawFd);

impl Drop for FdGuard {
    fn drop(&mut self) {
        close(self.0);
    }
}

/// Whether `/proc/sys/kernel/io_uring_disabled` (Linux 6.6+) switches io_uring
/// off for this process: 2 = off for everyone, 1 = only for a privileged group.
pub(crate) fn io_uring_disabled_sysctl() -> Option<u8> {
    let s = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled").ok()?;
    s.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_sockets_inherit_nodelay_from_the_listener() {
        let l = reuseport_listener("127.0.0.1:0".parse().unwrap(), 8, false).unwrap();
        let _client = std::net::TcpStream::connect(local_addr(l).unwrap()).unwrap();
        let fd = accept(l).unwrap();
        let mut v: i32 = 0;
        let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
        syscall!(getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            &mut v as *mut i32 as *mut libc::c_void,
            &mut len
        ))
        .unwrap();
        assert_eq!(v, 1, "TCP_NODELAY not inherited by the accepted socket");
        close(fd);
        close(l);
    }
}
