//! Openlease client SDK (work in progress).
