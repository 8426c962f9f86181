//! The market's status enums, which the JSON-ABI bindings read as plain `u8`s: name them here, in
//! step with `IOpenleaseTypes.LeaseStatus` and `IOpenleaseTypes.DisputeStatus`.

/// `IOpenleaseTypes.LeaseStatus`: `Lease::status`.
pub mod lease {
    /// `LeaseStatus.None`: no such lease.
    pub const NONE: u8 = 0;
    /// `LeaseStatus.Open`: running, or ended and not yet finalized.
    pub const OPEN: u8 = 1;
    /// `LeaseStatus.Finalized`: the rest of the escrow refunded, the bond released.
    pub const FINALIZED: u8 = 2;
}

/// `IOpenleaseTypes.DisputeStatus`: `Dispute::status`.
pub mod dispute {
    /// `DisputeStatus.None`: never disputed.
    pub const NONE: u8 = 0;
    /// `DisputeStatus.Open`: awaiting the arbiter's ruling.
    pub const OPEN: u8 = 1;
    /// `DisputeStatus.Upheld`: the arbiter slashed the lease's bond.
    pub const UPHELD: u8 = 2;
    /// `DisputeStatus.Rejected`: the tenant's dispute bond went to the provider.
    pub const REJECTED: u8 = 3;
    /// `DisputeStatus.Expired`: no ruling by the deadline; the tenant's bond returned.
    pub const EXPIRED: u8 = 4;
}
