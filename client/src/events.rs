//! Reading a transaction's outcome from the events it emitted.

use alloy::{rpc::types::TransactionReceipt, sol_types::SolEvent};

use crate::{Error, Result};

/// The first `E` the transaction emitted.
pub(crate) fn find<E: SolEvent>(receipt: &TransactionReceipt) -> Result<E> {
    receipt
        .decoded_log::<E>()
        .map(|log| log.data)
        .ok_or(Error::MissingEvent { event: E::SIGNATURE, tx: receipt.transaction_hash })
}
