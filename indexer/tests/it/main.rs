//! The indexer against a real anvil, on SQLite and (when `OPENLEASE_TEST_POSTGRES_URL` is set)
//! PostgreSQL.

mod actions;
mod api;
mod console;
mod crash;
mod demands;
mod feed;
mod history;
mod ingest;
mod migrate;
mod schema;
mod signers;
mod store;
mod util;
