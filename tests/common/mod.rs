//! Shared test support: the reference model and stream generators.
#![allow(unreachable_pub, dead_code)]

pub mod gen;
pub mod model;
