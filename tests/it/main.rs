//! End-to-end tests of Openlease on anvil: one integration binary, a module per area.

mod client;
mod deploy;
mod journey;
mod lease_math;
mod tx;
mod util;
