//! SQLite: the thread that runs the store's batches of writes.
//!
//! SQLite has one writer at a time, so whatever holds the write lock sets the pace of
//! every write: any moment it waits to be scheduled is lost to all of them. A batch of
//! new requests is about ten statements, each handed to the connection's own thread
//! and answered back; on the server's runtime each answer woke the batch's task behind
//! every ready HTTP task of its worker thread (64 connections' worth under load), and
//! the write lock sat idle meanwhile. So the batch writers of new requests and of
//! health reports, and the outbox's claim and finish, run here instead: a
//! single-threaded runtime on a thread of their own, with nothing else to do when an
//! answer arrives. Measured with the per-batch timings
//! (`RUST_LOG=clients_persistence::batches=debug`): a batch of ~30 new requests held
//! the lock 12.3 ms instead of 16.1 ms (`docs/performance.md`, round 8).

use tokio::sync::oneshot;

/// A runtime on a dedicated thread; stops when dropped.
#[derive(Debug)]
pub(crate) struct WriterThread {
    handle: tokio::runtime::Handle,
    stop: Option<oneshot::Sender<()>>,
}

impl WriterThread {
    pub(crate) fn start() -> std::io::Result<Self> {
        let (started, handle) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new().name("sqlite-writer".into()).spawn(move || {
            match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => {
                    let _sent = started.send(Ok(rt.handle().clone()));
                    rt.block_on(async move {
                        let _stopped = stopped.await;
                    });
                }
                Err(e) => {
                    let _sent = started.send(Err(e));
                }
            }
        })?;
        let handle = handle.recv().map_err(std::io::Error::other)??;
        Ok(Self { handle, stop: Some(stop) })
    }

    pub(crate) fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }
}

impl Drop for WriterThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _gone = stop.send(());
        }
    }
}
