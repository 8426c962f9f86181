//! The indexer against a real anvil, on SQLite and (when `OPENLEASE_TEST_POSTGRES_URL` is set)
//! PostgreSQL.

mod actions;
mod alerts;
mod api;
mod console;
mod crash;
mod demands;
mod feed;
mod history;
mod ingest;
mod metadata;
mod migrate;
mod schema;
mod signers;
mod store;
mod util;
