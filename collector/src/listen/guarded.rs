//! A connection that closes itself when its peer goes quiet or its slot is taken.
//!
//! The idle clock restarts on every byte *received*: what the collector sends
//! proves nothing about the peer. hyper keeps a read pending on every
//! connection, so the clock and the slot are checked without a task of their
//! own. Closing is an error from `poll_read`, which makes hyper drop the
//! connection and its descriptor.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};
use tonic::transport::server::Connected;

use super::fd_limit::OpenConnection;
use super::slots::Slot;

#[derive(Debug)]
pub struct Guarded<IO> {
    inner: IO,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
    /// Held while the peer is not known to be an enrolled device.
    slot: Option<Slot>,
    _open: OpenConnection,
}

impl<IO> Guarded<IO> {
    pub fn new(inner: IO, idle: Duration, slot: Option<Slot>, open: OpenConnection) -> Self {
        Self {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
            slot,
            _open: open,
        }
    }

    pub fn get_ref(&self) -> &IO {
        &self.inner
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Guarded<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some(slot) = &mut this.slot
            && slot.poll_taken(cx).is_ready()
        {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "closed to make room for newer connections",
            )));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.deadline.as_mut().reset(Instant::now() + this.idle);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if this.deadline.as_mut().poll(cx).is_ready() => Poll::Ready(Err(
                io::Error::new(io::ErrorKind::TimedOut, "peer idle for too long"),
            )),
            other => other,
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Guarded<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// tonic reads the peer's certificates and address through this.
impl<IO: Connected> Connected for Guarded<IO> {
    type ConnectInfo = IO::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::super::fd_limit::FdBudget;
    use super::super::slots::SlotPool;
    use super::*;

    #[tokio::test]
    async fn a_quiet_peer_is_cut_after_the_idle_time_and_each_byte_restarts_the_clock() {
        let idle = Duration::from_millis(800);
        let (mut peer, ours) = tokio::io::duplex(64);
        let budget = FdBudget::new(None);
        let mut conn = Guarded::new(ours, idle, None, budget.open());
        let mut buf = [0u8; 8];
        let started = Instant::now();
        for byte in [b"x", b"y", b"z"] {
            tokio::time::sleep(idle / 2).await;
            peer.write_all(byte).await.unwrap();
            assert_eq!(conn.read(&mut buf).await.unwrap(), 1);
        }
        assert!(
            started.elapsed() > idle,
            "longer than the idle time, never quiet that long"
        );
        let quiet_from = Instant::now();
        let err = conn.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(quiet_from.elapsed() >= idle);
        assert_eq!(budget.open_connections(), 1);
        drop(conn);
        assert_eq!(budget.open_connections(), 0);
    }

    #[tokio::test]
    async fn a_connection_whose_slot_is_taken_ends_its_pending_read() {
        let (_peer, ours) = tokio::io::duplex(64);
        let pool = SlotPool::new("test", 1, 1);
        let slot = pool.admit(IpAddr::from([10, 0, 0, 1]));
        let budget = FdBudget::new(None);
        let mut conn = Guarded::new(ours, Duration::from_secs(3600), Some(slot), budget.open());
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 8];
            conn.read(&mut buf).await
        });
        tokio::task::yield_now().await;
        let _newer = pool.admit(IpAddr::from([10, 0, 0, 2]));
        let err = reader.await.unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted);
    }
}
