//! Async wrappers: each transaction runs on tokio's blocking pool, so an async caller never
//! blocks its executor on disk or network IO of the store.

use std::sync::Arc;

use crate::{Error, Store, Tx};

/// A [`Store`] for async code. Cloning shares the store.
#[derive(Clone, Debug)]
pub struct AsyncStore(pub Arc<Store>);

impl AsyncStore {
    /// Wraps a store.
    pub fn new(store: Store) -> AsyncStore {
        AsyncStore(Arc::new(store))
    }

    /// [`Store::transaction`] on `tokio::task::spawn_blocking`. A panic in `f` is resumed here.
    pub async fn transaction<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<Error> + Send + 'static,
        F: FnMut(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
    {
        let store = Arc::clone(&self.0);
        match tokio::task::spawn_blocking(move || store.transaction(f)).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(Error::Inner(format!("blocking task cancelled: {e}")).into()),
        }
    }
}
