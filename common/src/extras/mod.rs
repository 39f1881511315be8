//! Helpers the Python needs none of: reading the flags, and printing addresses as Python
//! prints them and very long numbers shortened.

pub mod cli;
pub mod display;
