//! Openlease indexer (work in progress).
