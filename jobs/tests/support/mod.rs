// Each test binary takes what it needs of these.
#![allow(dead_code)]

pub mod kinds;
pub mod store;
