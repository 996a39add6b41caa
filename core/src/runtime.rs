//! What the crate needs of Tokio: its listener, HTTP client, timers and
//! store calls run on a Tokio runtime. A call made outside one fails
//! with [`Error::NoTokioRuntime`] instead of panicking in Tokio.

use crate::error::Error;

/// Fails unless the caller runs on a Tokio runtime.
pub(crate) fn require_tokio() -> Result<(), Error> {
    tokio::runtime::Handle::try_current()
        .map(|_| ())
        .map_err(|_| Error::NoTokioRuntime)
}

/// Runs a store call off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    require_tokio()?;
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|_| Error::storage("the storage task stopped unexpectedly"))?
}
