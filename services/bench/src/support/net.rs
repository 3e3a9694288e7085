//! Client sockets from many loopback source addresses.
//!
//! 10,000 clients to one server port use 10,000 ephemeral ports of their source
//! address, and closed ones sit in TIME_WAIT for 60 s (docs: design "Field notes"). So
//! each phase of a benchmark takes a fresh source address from 127.0.0.0/8 (loopback
//! accepts any of them) with [`fresh_source_addr`], and its clients bind to it before
//! connecting ([`connect_from`]): back-to-back 10k runs never meet their predecessors'
//! TIME_WAIT sockets.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::net::{TcpSocket, TcpStream};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A loopback address no earlier phase of this process used: `127.S.H.L`, with `S`
/// taken from the process id (64..=191, so a run right after another one starts
/// elsewhere) and `H.L` counting up from `0.1`.
pub fn fresh_source_addr() -> Ipv4Addr {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let second = 64 + (std::process::id() % 128) as u8;
    let (high, low) = ((n / 254) as u8, (n % 254 + 1) as u8);
    Ipv4Addr::new(127, second, high, low)
}

/// A TCP connection to `127.0.0.1:port` from `source` (an ephemeral port of it).
pub async fn connect_from(source: Ipv4Addr, port: u16) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::V4(SocketAddrV4::new(source, 0)))?;
    socket.set_nodelay(true)?;
    socket
        .connect(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_loopback_and_distinct() {
        let a = fresh_source_addr();
        let b = fresh_source_addr();
        assert!(a.is_loopback() && b.is_loopback());
        assert_ne!(a, b);
        assert_ne!(a.octets()[3], 0);
    }

    #[tokio::test]
    async fn connects_from_the_given_address() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let source = fresh_source_addr();
        let (client, accepted) = tokio::join!(connect_from(source, port), listener.accept());
        assert_eq!(client.unwrap().local_addr().unwrap().ip(), source);
        assert_eq!(accepted.unwrap().1.ip(), source);
    }
}
