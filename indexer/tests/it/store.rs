//! The store writes what it is given: events of a backfill's batch (`COPY` on PostgreSQL) and of a
//! batch at the head (one statement) read back byte for byte.

use alloy::primitives::{Address, B256, Bytes, keccak256};
use openlease_indexer::{
    state::Market,
    store::{Batch, BlockRef, Cursor, Store, StoredEvent},
};

use crate::{
    both_backends,
    util::{Db, fresh_db},
};

both_backends!(events_read_back_as_written, events_read_back_as_written);

/// An event whose fields vary with `i`: no lease or one past 2^40, no topic to four, data of 0 to
/// 300 bytes with every byte value (tabs, newlines and backslashes included).
fn event(i: u64, seq: u64, first_block: u64) -> StoredEvent {
    let block = first_block + i / 7;
    StoredEvent {
        block,
        log_index: i % 7,
        seq,
        lease_id: match i % 3 {
            0 => None,
            1 => Some(i),
            _ => Some((1 << 40) + i),
        },
        block_hash: keccak256(block.to_be_bytes()),
        timestamp: 1_700_000_000 + block,
        tx_hash: keccak256(i.to_le_bytes()),
        topics: (0..i % 5).map(|t| keccak256([t as u8, i as u8])).collect(),
        data: Bytes::from((0..(i * 37) % 301).map(|b| (b * 7 + i) as u8).collect::<Vec<u8>>()),
    }
}

async fn events_read_back_as_written(db: Db, name: &str) {
    let Some((url, _guard)) = fresh_db(db, name).await else { return };
    let store = Store::connect(&url).await.unwrap();
    let (mut seq, mut written) = (0, Vec::new());
    for (first_block, count, below_window) in [(1, 2_500, true), (10_000, 3, false)] {
        let events: Vec<StoredEvent> = (0..count)
            .map(|i| {
                seq += 1;
                event(i, seq, first_block)
            })
            .collect();
        let last = events.last().unwrap().clone();
        let cursor = Cursor {
            chain_id: 31337,
            market: Address::repeat_byte(0x11),
            number: last.block,
            hash: last.block_hash,
            timestamp: last.timestamp,
            head: last.block,
            safe: 0,
            finalized: 0,
            seq,
        };
        let block = BlockRef { number: last.block, hash: last.block_hash, parent_hash: B256::ZERO };
        store
            .commit(Batch {
                events: &events,
                market: &mut Market::default(),
                blocks: &[block],
                window_floor: 0,
                cursor: &cursor,
                below_window,
            })
            .await
            .unwrap();
        written.extend(events);
        assert_eq!(store.cursor().await.unwrap(), Some(cursor));
    }
    assert_eq!(store.events_up_to(i64::MAX as u64).await.unwrap(), written);
    assert_eq!(Store::events_after(store.pool(), 2_000, 10).await.unwrap(), written[2_000..2_010]);
}
