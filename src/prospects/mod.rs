//! Prospects: list, detail, quick add, edit, notes, CSV import and export;
//! the pipeline's stages, the board, the list's filters and saved views, and
//! bulk actions; the trash, merging and email correction (`lifecycle`).

pub mod bulk;
pub mod export;
pub mod filters;
pub mod import;
pub mod lifecycle;
pub mod list;
pub mod merge;
pub mod pipeline;
pub mod queries;
pub mod routes;
pub mod saved_views;
pub mod stage;
pub mod timeline;
pub mod trash;
pub mod upsert;
pub mod views;

pub use stage::Stage;
pub use timeline::TimelineEvent;
