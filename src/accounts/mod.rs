//! Accounts: sign-up, sign-in and out, sessions, email verification,
//! password reset, the account page and the development mailbox.

pub mod auth;
pub mod queries;
pub mod routes;
pub mod views;

pub use auth::CurrentUser;
