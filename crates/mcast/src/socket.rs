//! Opening the multicast sockets: the one place that knows socket options.
//!
//! A peer uses two UDP sockets. The *receiving* socket is bound to the group address itself
//! and, on Linux, has `IP_MULTICAST_ALL` off, so it hears only its own group and port even when
//! other programs on the host joined other groups on the same port. The *sending* socket has an
//! ephemeral port of its own, so the seed's receivers (which print only the payload) and obrol's
//! legacy path (which shows the source address) can tell senders apart, and so that a peer's
//! own plain-text datagrams can be recognised when they loop back.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};

use crate::McastError;

/// Where and how to send and listen.
#[derive(Debug, Clone)]
pub struct SocketConfig {
    /// The multicast group (IPv4 224.0.0.0/4 or IPv6 ff00::/8).
    pub group: IpAddr,
    /// The UDP port every peer of the group uses.
    pub port: u16,
    /// IPv4 TTL or IPv6 hop limit of sent datagrams.
    pub ttl: u32,
    /// Interface name or address to join on and send from; the routing table decides if `None`.
    pub iface: Option<String>,
    /// Whether this host's own receivers (including other peers on it) get our datagrams.
    pub loopback: bool,
    /// Source-specific multicast: hear only datagrams this address sends to the group
    /// (IGMPv3 / MLDv2 source filter). Same family as the group.
    pub source: Option<IpAddr>,
}

/// The interface a user named, resolved for both address families.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Interface {
    /// Kernel interface index (IPv6 joins and sends use it; IPv4 joins too, via `ip_mreqn`).
    index: u32,
    /// The interface's IPv4 address, needed by `IP_MULTICAST_IF`.
    v4: Option<Ipv4Addr>,
}

pub(crate) fn resolve_iface(spec: &str) -> Result<Interface, McastError> {
    let addrs = nix::ifaddrs::getifaddrs()
        .map_err(|e| McastError::Io(io::Error::from_raw_os_error(e as i32)))?
        .collect::<Vec<_>>();
    let v4_of = |name: &str| {
        addrs.iter().find_map(|a| {
            (a.interface_name == name)
                .then(|| a.address.as_ref()?.as_sockaddr_in().map(|s| s.ip()))
                .flatten()
        })
    };
    let index_of = |name: &str| nix::net::if_::if_nametoindex(name).ok();
    // An address names the interface that carries it.
    if let Ok(ip) = spec.parse::<IpAddr>() {
        let owner = addrs.iter().find(|a| {
            let Some(addr) = a.address.as_ref() else {
                return false;
            };
            match ip {
                IpAddr::V4(v4) => addr.as_sockaddr_in().is_some_and(|s| s.ip() == v4),
                IpAddr::V6(v6) => addr.as_sockaddr_in6().is_some_and(|s| s.ip() == v6),
            }
        });
        let owner = owner.ok_or_else(|| {
            McastError::Usage(format!("no interface on this host has address {ip}"))
        })?;
        let name = owner.interface_name.clone();
        let index = index_of(&name)
            .ok_or_else(|| McastError::Usage(format!("no such interface: {name}")))?;
        let v4 = match ip {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => v4_of(&name),
        };
        return Ok(Interface { index, v4 });
    }
    let index =
        index_of(spec).ok_or_else(|| McastError::Usage(format!("no such interface: {spec}")))?;
    Ok(Interface {
        index,
        v4: v4_of(spec),
    })
}

/// Turns the errno of a failed set-up step into the error a user can act on.
fn classify(err: io::Error, what: &str, cfg: &SocketConfig) -> McastError {
    match err.raw_os_error() {
        Some(libc_errno) if libc_errno == nix::libc::EADDRINUSE => McastError::Usage(format!(
            "port {} is in use by a program that does not share it",
            cfg.port
        )),
        Some(e) if e == nix::libc::ENODEV || e == nix::libc::ENETUNREACH => {
            McastError::Usage(format!(
                "no route for multicast group {} ({what}: {err}); add a multicast route or pass --iface",
                cfg.group
            ))
        }
        Some(e) if e == nix::libc::EADDRNOTAVAIL => McastError::Usage(format!(
            "cannot use group {} on this interface ({what}: {err})",
            cfg.group
        )),
        Some(e) if e == nix::libc::EACCES || e == nix::libc::EPERM => {
            McastError::Usage(format!("{what}: permission denied ({err})"))
        }
        _ => McastError::Io(io::Error::new(err.kind(), format!("{what}: {err}"))),
    }
}

fn domain(group: IpAddr) -> Domain {
    match group {
        IpAddr::V4(_) => Domain::IPV4,
        IpAddr::V6(_) => Domain::IPV6,
    }
}

/// Opens the socket that joins the group and receives its datagrams.
pub(crate) fn open_receiver(
    cfg: &SocketConfig,
    iface: Option<Interface>,
) -> Result<std::net::UdpSocket, McastError> {
    let sock = Socket::new(domain(cfg.group), Type::DGRAM, Some(Protocol::UDP))
        .map_err(|e| classify(e, "socket", cfg))?;
    // Several peers (and the seed's receivers) on one host share the port.
    sock.set_reuse_address(true)
        .map_err(|e| classify(e, "SO_REUSEADDR", cfg))?;
    // Room for a burst while the peer is busy: the kernel caps this at net.core.rmem_max
    // (4 MiB here, 208 KiB on many systems); whatever it grants is better than the default.
    let _ = sock.set_recv_buffer_size(RECV_BUFFER);
    match cfg.group {
        IpAddr::V4(group) => {
            #[cfg(target_os = "linux")]
            sock.set_multicast_all_v4(false)
                .map_err(|e| classify(e, "IP_MULTICAST_ALL", cfg))?;
            sock.bind(&SocketAddr::new(cfg.group, cfg.port).into())
                .map_err(|e| classify(e, "bind", cfg))?;
            let how = match iface {
                Some(i) => InterfaceIndexOrAddress::Index(i.index),
                None => InterfaceIndexOrAddress::Address(Ipv4Addr::UNSPECIFIED),
            };
            match cfg.source {
                Some(IpAddr::V4(source)) => {
                    let on = iface.and_then(|i| i.v4).unwrap_or(Ipv4Addr::UNSPECIFIED);
                    sock.join_ssm_v4(&source, &group, &on)
                        .map_err(|e| classify(e, "join group for source", cfg))?;
                }
                Some(IpAddr::V6(_)) => {
                    return Err(McastError::Usage(
                        "--source must be an IPv4 address for an IPv4 group".into(),
                    ))
                }
                None => sock
                    .join_multicast_v4_n(&group, &how)
                    .map_err(|e| classify(e, "join group", cfg))?,
            }
        }
        IpAddr::V6(group) => {
            sock.set_only_v6(true)
                .map_err(|e| classify(e, "IPV6_V6ONLY", cfg))?;
            #[cfg(target_os = "linux")]
            sock.set_multicast_all_v6(false)
                .map_err(|e| classify(e, "IPV6_MULTICAST_ALL", cfg))?;
            let scope = iface.map_or(0, |i| i.index);
            let bind = std::net::SocketAddrV6::new(group, cfg.port, 0, scope);
            sock.bind(&SocketAddr::V6(bind).into())
                .map_err(|e| classify(e, "bind", cfg))?;
            match cfg.source {
                Some(IpAddr::V6(source)) => join_ssm_v6(&sock, group, source, scope)
                    .map_err(|e| classify(e, "join group for source", cfg))?,
                Some(IpAddr::V4(_)) => {
                    return Err(McastError::Usage(
                        "--source must be an IPv6 address for an IPv6 group".into(),
                    ))
                }
                None => sock
                    .join_multicast_v6(&group, scope)
                    .map_err(|e| classify(e, "join group", cfg))?,
            }
        }
    }
    sock.set_nonblocking(true)
        .map_err(|e| classify(e, "nonblocking", cfg))?;
    Ok(sock.into())
}

/// Joins IPv6 `group` for `source` only on interface `scope` (MCAST_JOIN_SOURCE_GROUP, RFC
/// 3678): socket2 has no call for it.
fn join_ssm_v6(
    sock: &Socket,
    group: std::net::Ipv6Addr,
    source: std::net::Ipv6Addr,
    scope: u32,
) -> std::io::Result<()> {
    use nix::libc;
    use std::os::fd::AsRawFd;
    let storage = |addr: std::net::Ipv6Addr| {
        let sa = SockAddr::from(SocketAddr::V6(std::net::SocketAddrV6::new(
            addr, 0, 0, scope,
        )));
        // SAFETY: `sockaddr_storage` is plain data, all zeroes is a valid value, and the copy
        // is no longer than either buffer.
        unsafe {
            let mut out: libc::sockaddr_storage = std::mem::zeroed();
            std::ptr::copy_nonoverlapping(
                sa.as_ptr().cast::<u8>(),
                (&mut out as *mut libc::sockaddr_storage).cast::<u8>(),
                (sa.len() as usize).min(std::mem::size_of::<libc::sockaddr_storage>()),
            );
            out
        }
    };
    let req = libc::group_source_req {
        gsr_interface: scope,
        gsr_group: storage(group),
        gsr_source: storage(source),
    };
    // SAFETY: a valid socket, and a `group_source_req` of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::MCAST_JOIN_SOURCE_GROUP,
            (&req as *const libc::group_source_req).cast(),
            std::mem::size_of::<libc::group_source_req>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Opens the socket that sends to the group, connected to it.
///
/// Connecting makes the kernel look up the route now, so "no route for multicast" is reported at
/// start rather than on the first message.
pub(crate) fn open_sender(
    cfg: &SocketConfig,
    iface: Option<Interface>,
) -> Result<std::net::UdpSocket, McastError> {
    let sock = Socket::new(domain(cfg.group), Type::DGRAM, Some(Protocol::UDP))
        .map_err(|e| classify(e, "socket", cfg))?;
    let target = match cfg.group {
        IpAddr::V4(_) => {
            sock.set_multicast_ttl_v4(cfg.ttl)
                .map_err(|e| classify(e, "IP_MULTICAST_TTL", cfg))?;
            sock.set_multicast_loop_v4(cfg.loopback)
                .map_err(|e| classify(e, "IP_MULTICAST_LOOP", cfg))?;
            if let Some(i) = iface {
                let addr = i.v4.ok_or_else(|| {
                    McastError::Usage(format!(
                        "interface {} has no IPv4 address to send from",
                        cfg.iface.as_deref().unwrap_or("?")
                    ))
                })?;
                sock.set_multicast_if_v4(&addr)
                    .map_err(|e| classify(e, "IP_MULTICAST_IF", cfg))?;
            }
            SocketAddr::new(cfg.group, cfg.port)
        }
        IpAddr::V6(group) => {
            sock.set_only_v6(true)
                .map_err(|e| classify(e, "IPV6_V6ONLY", cfg))?;
            sock.set_multicast_hops_v6(cfg.ttl)
                .map_err(|e| classify(e, "IPV6_MULTICAST_HOPS", cfg))?;
            sock.set_multicast_loop_v6(cfg.loopback)
                .map_err(|e| classify(e, "IPV6_MULTICAST_LOOP", cfg))?;
            let scope = iface.map_or(0, |i| i.index);
            if scope != 0 {
                sock.set_multicast_if_v6(scope)
                    .map_err(|e| classify(e, "IPV6_MULTICAST_IF", cfg))?;
            }
            SocketAddr::V6(std::net::SocketAddrV6::new(group, cfg.port, 0, scope))
        }
    };
    sock.connect(&target.into())
        .map_err(|e| classify(e, "route to group", cfg))?;
    sock.set_nonblocking(true)
        .map_err(|e| classify(e, "nonblocking", cfg))?;
    Ok(sock.into())
}

/// Checks that `group` is a multicast address, so a typo is a clear error, not a silent unicast.
pub fn check_group(group: IpAddr) -> Result<(), McastError> {
    if group.is_multicast() {
        Ok(())
    } else {
        Err(McastError::Usage(format!(
            "{group} is not a multicast group (IPv4 224.0.0.0/4, IPv6 ff00::/8)"
        )))
    }
}

/// Whether `ip` belongs to this host: binding to it succeeds only if it does.
pub(crate) fn is_local(ip: IpAddr) -> bool {
    if ip.is_loopback() {
        return true;
    }
    let unspecified = match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    ip != unspecified && std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

/// Receive buffer asked for (see `open_receiver`).
const RECV_BUFFER: usize = 1 << 20;

/// Most datagrams taken from the kernel in one `recvmmsg`, and the room for each: obrol's
/// frames are at most 1200 bytes; a longer datagram is cut to this (and flagged).
pub const RECV_BATCH: usize = 32;
pub const RECV_SLOT: usize = 4096;

/// Datagrams received in one batch: their bytes, lengths, senders and whether each was cut.
pub struct RecvBatch {
    buf: Vec<u8>,
    lens: [usize; RECV_BATCH],
    from: [Option<SocketAddr>; RECV_BATCH],
    truncated: [bool; RECV_BATCH],
    count: usize,
    /// The next datagram to hand out.
    next: usize,
}

impl Default for RecvBatch {
    fn default() -> Self {
        RecvBatch {
            buf: vec![0; RECV_BATCH * RECV_SLOT],
            lens: [0; RECV_BATCH],
            from: [None; RECV_BATCH],
            truncated: [false; RECV_BATCH],
            count: 0,
            next: 0,
        }
    }
}

impl RecvBatch {
    /// The next datagram not yet handed out: its bytes, sender, and whether it was cut.
    pub fn take_next(&mut self) -> Option<(&[u8], SocketAddr, bool)> {
        while self.next < self.count {
            let i = self.next;
            self.next += 1;
            if let Some(from) = self.from[i] {
                let start = i * RECV_SLOT;
                return Some((
                    &self.buf[start..start + self.lens[i]],
                    from,
                    self.truncated[i],
                ));
            }
        }
        None
    }

    /// Fills the batch with what `sock` has (at least one datagram), waiting for the first.
    pub async fn fill(&mut self, sock: &tokio::net::UdpSocket) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        self.count = 0;
        self.next = 0;
        let buf = &mut self.buf;
        let (lens, truncated, from) = (&mut self.lens, &mut self.truncated, &mut self.from);
        // Built inside the call (no raw pointers held across an await: the future stays
        // `Send`), which is cheap next to the system call.
        let n = sock
            .async_io(tokio::io::Interest::READABLE, || {
                let mut iov: Vec<libc::iovec> = buf
                    .chunks_mut(RECV_SLOT)
                    .map(|slot| libc::iovec {
                        iov_base: slot.as_mut_ptr() as *mut libc::c_void,
                        iov_len: slot.len(),
                    })
                    .collect();
                // SAFETY: all-zero `sockaddr_storage` and `mmsghdr` are valid values.
                let mut addrs: Vec<libc::sockaddr_storage> = (0..RECV_BATCH)
                    .map(|_| unsafe { std::mem::zeroed() })
                    .collect();
                let mut headers: Vec<libc::mmsghdr> = iov
                    .iter_mut()
                    .zip(addrs.iter_mut())
                    .map(|(v, a)| {
                        // SAFETY: as above.
                        let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
                        h.msg_hdr.msg_iov = v as *mut libc::iovec;
                        h.msg_hdr.msg_iovlen = 1;
                        h.msg_hdr.msg_name = a as *mut libc::sockaddr_storage as *mut libc::c_void;
                        h.msg_hdr.msg_namelen =
                            std::mem::size_of::<libc::sockaddr_storage>() as u32;
                        h
                    })
                    .collect();
                // SAFETY: every header points at a slot of `buf` and an address of `addrs`,
                // both alive and unaliased for the call; the count matches.
                let n = unsafe {
                    libc::recvmmsg(
                        sock.as_raw_fd(),
                        headers.as_mut_ptr(),
                        headers.len() as libc::c_uint,
                        libc::MSG_DONTWAIT,
                        std::ptr::null_mut(),
                    )
                };
                if n < 0 {
                    return Err(io::Error::last_os_error());
                }
                let n = n as usize;
                for (i, h) in headers.iter().take(n).enumerate() {
                    lens[i] = (h.msg_len as usize).min(RECV_SLOT);
                    truncated[i] = h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
                    // SAFETY: the kernel wrote a socket address of `msg_namelen` bytes.
                    from[i] = unsafe {
                        socket2::SockAddr::new(
                            std::ptr::read(&addrs[i]),
                            h.msg_hdr.msg_namelen as libc::socklen_t,
                        )
                    }
                    .as_socket();
                }
                Ok(n)
            })
            .await?;
        self.count = n;
        Ok(())
    }
}

/// Most datagrams handed to the kernel in one `sendmmsg`.
pub const SEND_BATCH: usize = 64;

/// Sends every datagram of `datagrams`, in order, on the connected socket `sock`: up to
/// [`SEND_BATCH`] per system call (`sendmmsg`). Besides the calls, a batch saves the receivers'
/// wake-ups: on one host (or veth pairs) the sender's call delivers into their sockets, and
/// waking a receiver that sleeps costs more than the datagram (measured: bench/RESULTS.md); in a
/// batch only the first datagram finds it asleep.
pub async fn send_all(sock: &tokio::net::UdpSocket, datagrams: &[bytes::Bytes]) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut rest = datagrams;
    while !rest.is_empty() {
        let batch = &rest[..rest.len().min(SEND_BATCH)];
        let sent = sock
            .async_io(tokio::io::Interest::WRITABLE, || {
                // Built inside the call: no raw pointers held across an await.
                let mut iov: Vec<libc::iovec> = batch
                    .iter()
                    .map(|d| libc::iovec {
                        iov_base: d.as_ptr() as *mut libc::c_void,
                        iov_len: d.len(),
                    })
                    .collect();
                // SAFETY: zeroed `mmsghdr`s are valid (no address: the socket is connected;
                // no control data); each points at one iovec of `iov`.
                let mut headers: Vec<libc::mmsghdr> = iov
                    .iter_mut()
                    .map(|v| {
                        let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
                        h.msg_hdr.msg_iov = v as *mut libc::iovec;
                        h.msg_hdr.msg_iovlen = 1;
                        h
                    })
                    .collect();
                // SAFETY: `headers` holds `headers.len()` initialised entries whose buffers
                // (`batch`, borrowed) stay alive and unchanged during the call.
                let n = unsafe {
                    libc::sendmmsg(
                        sock.as_raw_fd(),
                        headers.as_mut_ptr(),
                        headers.len() as libc::c_uint,
                        0,
                    )
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            })
            .await?;
        if sent == 0 {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "sendmmsg sent nothing",
            ));
        }
        rest = &rest[sent..];
    }
    Ok(())
}
