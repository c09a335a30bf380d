//! Prospects as a feature: the pipeline's stages, the board, the list's
//! filters and saved views, and bulk actions.

pub mod bulk;
pub mod filters;
pub mod list;
pub mod pipeline;
pub mod saved_views;
pub mod stage;

pub use stage::Stage;
