//! Accounts: sign-up, sign-in and out, sessions, email verification,
//! password reset, the account page and its settings (password, email,
//! deletion) and the development mailbox.

pub mod auth;
pub mod queries;
pub mod routes;
pub mod settings;
pub mod views;

pub use auth::CurrentUser;
