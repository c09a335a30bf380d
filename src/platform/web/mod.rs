//! The web's shared pieces.

pub mod assets;
pub mod csrf;
pub mod health;
pub mod input;
pub mod metrics;
pub mod ratelimit;
