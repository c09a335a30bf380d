//! The home page (`/`, signed in): my follow-ups due today and overdue,
//! new leads since I last looked, leads assigned to me, the hottest
//! prospects (a placeholder rule until lead scoring: the most recent
//! engagement), and this week's counts (new, contacted, won, lost) against
//! last week's — for managers and above also their team's, for a
//! franchise HQ its locations'. Times and weeks are the viewer's zone's.

pub mod queries;
pub mod routes;
pub mod views;
