//! A prospect's place in the pipeline: one of six stages, stored as text
//! (`new`, `contacted`, …) and parsed where it enters (forms, queries,
//! database rows). Each stage has its label and its badge colour
//! (`.stage-<name>` in `assets/app.css`).

/// Where a prospect stands, in pipeline order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
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

crate::stored_as_text!(Stage, UnknownStage, "stage");

#[cfg(test)]
mod tests {
    use super::Stage;

    #[test]
    fn stages_round_trip_and_refuse_anything_else() {
        for stage in Stage::ALL {
            assert_eq!(stage.as_str().parse::<Stage>().unwrap(), stage);
            // In JSON (a timeline entry's move) as in its column.
            let json = serde_json::to_string(&stage).unwrap();
            assert_eq!(json, format!("\"{}\"", stage.as_str()));
            assert_eq!(serde_json::from_str::<Stage>(&json).unwrap(), stage);
        }
        for bad in ["", "Hot", "nope", "hot ", "new\0"] {
            assert!(bad.parse::<Stage>().is_err(), "{bad:?}");
        }
        let classes: std::collections::HashSet<_> =
            Stage::ALL.iter().map(|s| s.badge_class()).collect();
        assert_eq!(classes.len(), Stage::ALL.len(), "a colour each");
    }

    /// Each stage's badge rule in the style sheet: its own background and
    /// text colour, the text readable on it (WCAG AA: contrast ≥ 4.5).
    #[test]
    fn badges_have_distinct_readable_colours() {
        let css = include_str!("../../assets/app.css");
        let luminance = |hex: &str| {
            let channel = |i: usize| {
                let v = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap()) / 255.0;
                if v <= 0.03928 {
                    v / 12.92
                } else {
                    ((v + 0.055) / 1.055).powf(2.4)
                }
            };
            0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5)
        };
        let mut seen = std::collections::HashSet::new();
        for stage in Stage::ALL {
            let selector = format!(".stage-{} {{", stage.as_str());
            let rule = css[css
                .find(&selector)
                .unwrap_or_else(|| panic!("no {selector}"))..]
                .split('}')
                .next()
                .unwrap();
            let colour_of = |property: &str| {
                let at = rule
                    .find(&format!(" {property}: #"))
                    .unwrap_or_else(|| panic!("{selector} has no {property}"));
                rule[at + property.len() + 3..at + property.len() + 10].to_string()
            };
            let (background, text) = (colour_of("background"), colour_of("color"));
            let (light, dark) = (luminance(&background), luminance(&text));
            let contrast = (light.max(dark) + 0.05) / (light.min(dark) + 0.05);
            assert!(contrast >= 4.5, "{selector} contrast {contrast:.2}");
            assert!(
                seen.insert(background.clone()),
                "{selector} shares {background}"
            );
            assert!(seen.insert(text.clone()), "{selector} shares {text}");
        }
    }
}
