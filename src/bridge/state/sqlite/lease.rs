//! The lease of a file: its one bridge always leads, in epoch 1.

use async_trait::async_trait;

use super::super::{Epoch, LeaseStore, StateError};
use super::Store;

/// The only epoch of a SQLite state.
const EPOCH: Epoch = 1;

#[async_trait]
impl LeaseStore for Store {
    fn shared(&self) -> bool {
        false
    }

    async fn acquire_lease(
        &self,
        _holder: &str,
        _ttl_ms: i64,
    ) -> Result<Option<Epoch>, StateError> {
        Ok(Some(EPOCH))
    }

    async fn renew_lease(
        &self,
        _holder: &str,
        epoch: Epoch,
        _ttl_ms: i64,
    ) -> Result<bool, StateError> {
        Ok(epoch == EPOCH)
    }

    async fn release_lease(&self, _holder: &str, _epoch: Epoch) -> Result<(), StateError> {
        Ok(())
    }
}
