//! The `shoal._shoal` extension module.
