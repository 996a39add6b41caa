//! Reading a request's head before hyper sees it: bounded in size and
//! time, in a buffer that never grows (so no copy of the code is left
//! behind unwiped) and is wiped when dropped.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use zeroize::Zeroizing;

/// Why a request head was not read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HeadError {
    /// The client went away; nothing to answer.
    Closed,
    Slow,
    TooLarge,
}

impl HeadError {
    pub fn status(&self) -> u16 {
        match self {
            HeadError::Slow => 408,
            HeadError::TooLarge | HeadError::Closed => 431,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            HeadError::Slow => "Request Timeout",
            HeadError::TooLarge | HeadError::Closed => "Request Header Fields Too Large",
        }
    }
}

/// How much of a request head is read at a time.
const CHUNK: usize = 4096;

/// Reads up to and including the blank line that ends a request head.
pub(crate) async fn read_head(
    stream: &mut TcpStream,
    limit: usize,
    timeout: Duration,
) -> Result<Zeroizing<Vec<u8>>, HeadError> {
    // The head holds the code: sized once so that it never grows (a
    // grown `Vec` leaves its old memory unwiped), and wiped when dropped.
    let mut head = Zeroizing::new(Vec::with_capacity(limit + CHUNK));
    let read = async {
        let mut chunk = Zeroizing::new([0u8; CHUNK]);
        loop {
            let n = stream
                .read(chunk.as_mut())
                .await
                .map_err(|_| HeadError::Closed)?;
            if n == 0 {
                return Err(HeadError::Closed);
            }
            let searched_from = head.len().saturating_sub(3);
            head.extend_from_slice(&chunk[..n]);
            if head[searched_from..].windows(4).any(|w| w == b"\r\n\r\n") {
                return Ok(());
            }
            if head.len() > limit {
                return Err(HeadError::TooLarge);
            }
        }
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(Ok(())) => Ok(head),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(HeadError::Slow),
    }
}

/// A stream whose first bytes were already read: hyper reads them again
/// from `prefix`, then from the socket.
pub(crate) struct Prefixed {
    pub prefix: Zeroizing<Vec<u8>>,
    pub position: usize,
    pub inner: TcpStream,
}

impl AsyncRead for Prefixed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.position < self.prefix.len() {
            let rest = &self.prefix[self.position..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            self.position += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
