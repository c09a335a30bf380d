//! A prospect's place in the pipeline: one of six stages, stored as text
//! (`new`, `contacted`, …) and parsed where it enters (forms, queries,
//! database rows). Each stage has its label and its badge colour
//! (`.stage-<name>` in `assets/app.css`).

use std::{fmt, str::FromStr};

/// Where a prospect stands, in pipeline order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    New,
    Contacted,
    Engaged,
    Hot,
    Customer,
    Lost,
}

impl Stage {
    /// Every stage, in the pipeline's order (the board's columns).
    pub const ALL: [Stage; 6] = [
        Stage::New,
        Stage::Contacted,
        Stage::Engaged,
        Stage::Hot,
        Stage::Customer,
        Stage::Lost,
    ];

    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::New => "new",
            Stage::Contacted => "contacted",
            Stage::Engaged => "engaged",
            Stage::Hot => "hot",
            Stage::Customer => "customer",
            Stage::Lost => "lost",
        }
    }

    /// What people read.
    pub fn label(self) -> &'static str {
        match self {
            Stage::New => "New",
            Stage::Contacted => "Contacted",
            Stage::Engaged => "Engaged",
            Stage::Hot => "Hot",
            Stage::Customer => "Customer",
            Stage::Lost => "Lost",
        }
    }

    /// The badge's class: `stage stage-hot`, each stage its own colour.
    pub fn badge_class(self) -> &'static str {
        match self {
            Stage::New => "stage stage-new",
            Stage::Contacted => "stage stage-contacted",
            Stage::Engaged => "stage stage-engaged",
            Stage::Hot => "stage stage-hot",
            Stage::Customer => "stage stage-customer",
            Stage::Lost => "stage stage-lost",
        }
    }

    /// The badge: `<span class="stage stage-hot">Hot</span>`.
    pub fn badge(self) -> maud::Markup {
        maud::html! { span class=(self.badge_class()) { (self.label()) } }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Text that is not one of the stages.
#[derive(Debug, Clone, thiserror::Error)]
#[error("not a stage: {0:?}")]
pub struct UnknownStage(pub String);

impl FromStr for Stage {
    type Err = UnknownStage;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Stage::ALL
            .into_iter()
            .find(|stage| stage.as_str() == s)
            .ok_or_else(|| UnknownStage(s.chars().take(40).collect()))
    }
}

impl<DB: sqlx::Database> sqlx::Type<DB> for Stage
where
    String: sqlx::Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <String as sqlx::Type<DB>>::type_info()
    }

    fn compatible(ty: &DB::TypeInfo) -> bool {
        <String as sqlx::Type<DB>>::compatible(ty)
    }
}

impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for Stage
where
    &'r str: sqlx::Decode<'r, DB>,
{
    fn decode(value: DB::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        let text = <&'r str as sqlx::Decode<'r, DB>>::decode(value)?;
        Ok(text.parse()?)
    }
}

impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for Stage
where
    &'static str: sqlx::Encode<'q, DB>,
{
    fn encode_by_ref(
        &self,
        buf: &mut <DB as sqlx::Database>::ArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        self.as_str().encode_by_ref(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::Stage;

    #[test]
    fn stages_round_trip_and_refuse_anything_else() {
        for stage in Stage::ALL {
            assert_eq!(stage.as_str().parse::<Stage>().unwrap(), stage);
        }
        for bad in ["", "Hot", "nope", "hot ", "new\0"] {
            assert!(bad.parse::<Stage>().is_err(), "{bad:?}");
        }
        let classes: std::collections::HashSet<_> =
            Stage::ALL.iter().map(|s| s.badge_class()).collect();
        assert_eq!(classes.len(), Stage::ALL.len(), "a colour each");
    }
}
