//! What every feature shares and no feature owns: configuration,
//! security, logging, errors, the database, the web's pieces, page layout,
//! mail and the text rules. Nothing here names a feature.

/// Typed settings from the environment.
pub mod config;
/// The data layer: pools, migrations, the two-dialect query macros.
pub mod db;
/// The single error type of the HTTP layer.
pub mod error;
/// Transactional email: transport, the EmailSend job, Mailgun and the
/// development mailbox.
pub mod mail;
/// Money: integer minor units and an ISO 4217 currency.
pub mod money;
/// Tokens, signatures and password hashing.
pub mod security;
/// Logging set-up.
pub mod telemetry;
/// Text parsed at the edge: emails, phones, slugs, the field rules.
pub mod text;
/// Time zones of people and organizations (IANA names, chrono-tz).
pub mod time_zones;
/// Page layout and components shared by every page.
pub mod ui;
/// The web's shared pieces: CSRF, the input screen, rate limits, metrics,
/// assets, health.
pub mod web;
