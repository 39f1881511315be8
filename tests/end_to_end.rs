//! The end-to-end tests, one module a file, in one test binary: cargo runs test binaries one
//! after another, and most of these tests wait on the programs they start, so the files run
//! side by side here (eight tests at a time: .cargo/config.toml).

mod browser;
mod support;

mod check;
mod check_students;
mod cli;
mod client;
mod demo;
mod faults;
mod lab;
mod lab_guide;
mod load;
mod multi_host;
mod output;
mod overload;
mod production;
mod python_answers;
mod python_interop;
mod readme;
mod registration;
mod registry;
mod room;
mod scaling;
mod side_by_side;
mod startup;
mod status;
mod stopping;
mod strategies;
mod structure;
mod students;
