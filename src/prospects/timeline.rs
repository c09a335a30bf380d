//! What happens to a prospect, one [`TimelineEvent`] per timeline entry.
//! An entry is stored as two text columns of `timeline_entries`: `kind`,
//! the event's tag (`form_submission`, `added`, `note`, `stage`,
//! `claimed`, `imported`, `deleted`, `restored`, `merged`,
//! `email_corrected`), and `data`, its payload as JSON. Events are
//! written through [`TimelineEvent::to_row`] and read through
//! [`TimelineEvent::from_row`] only; a row of a kind this build does not
//! know, or whose payload does not fit, reads back as
//! [`TimelineEvent::Unknown`] (shown as its kind), never as an error.
//!
//! Some queries count entries by their stored kind in SQL
//! (`t.kind = 'form_submission'`, `t.kind = 'stage' AND t.data LIKE
//! '%"to":"customer"%'`): the tests below pin those spellings.

use serde::{Deserialize, Serialize};

use crate::{
    intake::model::{Answers, FieldAnswer},
    prospects::Stage,
};

/// One entry of a prospect's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum TimelineEvent {
    /// A form's answers (the entry also keeps the form and the
    /// submission's key in columns of their own).
    FormSubmission(Submitted),
    /// Added by hand (quick add), by user `by` (an id).
    Added { by: i64 },
    /// A note, with its author's name.
    Note { note: String, by: String },
    /// A move from one stage to another, by a person named `by`.
    Stage { from: Stage, to: Stage, by: String },
    /// An unassigned prospect claimed by a person named `by`.
    Claimed { by: String },
    /// A row of a CSV import: the file's name and the row's line (1-based,
    /// the header being line 1).
    Imported { source: String, line: u64 },
    /// Moved to the trash by a person named `by`.
    Deleted { by: String },
    /// Brought back from the trash by a person named `by`.
    Restored { by: String },
    /// Another prospect (its email key and name then) merged into this one
    /// by a person named `by`; its timeline, tasks and tags moved here.
    Merged {
        email: String,
        name: String,
        by: String,
    },
    /// The email key changed `from` → `to` by a person named `by`.
    EmailCorrected {
        from: String,
        to: String,
        by: String,
    },
    /// A stored entry this build cannot read: its kind and data as stored.
    #[serde(skip)]
    Unknown { kind: String, data: String },
}

/// The answers of a form submission, as stored on its timeline entry. Rows
/// written before a field existed lack it (`None`); answers of fields this
/// build does not know are kept in `other`, in the order stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Submitted {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub interest: Option<String>,
    /// Whether the person agreed to be contacted.
    #[serde(default)]
    pub consent: Option<bool>,
    /// Every answer in the form's order with its label at the time (the
    /// form builder's); empty in entries written before it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldAnswer>,
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl From<&Answers> for Submitted {
    fn from(answers: &Answers) -> Self {
        Submitted {
            name: Some(answers.name.clone()),
            email: answers.email.as_ref().map(|e| e.as_str().to_string()),
            phone: answers.phone.as_ref().map(|p| p.as_str().to_string()),
            company: answers.company.clone(),
            interest: answers.interest.clone(),
            consent: Some(answers.consent),
            fields: answers.fields.clone(),
            other: serde_json::Map::new(),
        }
    }
}

impl Submitted {
    /// The answers to show: as stored with their labels at the time
    /// (`fields`, since the form builder); else each known field with its
    /// label, in the form's order, then the others as stored; empty answers
    /// are left out.
    pub fn labelled(&self) -> Vec<(String, String)> {
        if !self.fields.is_empty() {
            return self
                .fields
                .iter()
                .map(|f| (f.label.clone(), f.value.clone()))
                .collect();
        }
        let text = |label: &str, value: &Option<String>| {
            value.clone().map(|value| (label.to_string(), value))
        };
        let known = [
            text("Name", &self.name),
            text("Email", &self.email),
            text("Phone", &self.phone),
            text("Company", &self.company),
            text("Interest", &self.interest),
            self.consent
                .map(|yes| ("May contact".to_string(), yes_no(yes))),
        ];
        let other = self.other.iter().filter_map(|(key, value)| {
            let shown = match value {
                serde_json::Value::Null => return None,
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Bool(b) => yes_no(*b),
                other => other.to_string(),
            };
            Some((key.clone(), shown))
        });
        known.into_iter().flatten().chain(other).collect()
    }
}

fn yes_no(yes: bool) -> String {
    if yes { "yes" } else { "no" }.to_string()
}

impl TimelineEvent {
    /// The stored row: (`kind`, `data`), the event's tag and its payload as
    /// JSON text (an unknown entry as it was read).
    pub fn to_row(&self) -> (String, String) {
        if let TimelineEvent::Unknown { kind, data } = self {
            return (kind.clone(), data.clone());
        }
        // Adjacently tagged: `{"kind": tag, "data": payload}`. Every
        // payload is made of strings, numbers and string-keyed maps, which
        // serde_json always serializes.
        let serde_json::Value::Object(mut row) =
            serde_json::to_value(self).expect("a timeline event serializes")
        else {
            unreachable!("an adjacently tagged enum serializes to an object")
        };
        let kind = match row.remove("kind") {
            Some(serde_json::Value::String(kind)) => kind,
            _ => unreachable!("the tag is a string"),
        };
        let data = row.remove("data").unwrap_or_default().to_string();
        (kind, data)
    }

    /// The event a stored row holds; [`TimelineEvent::Unknown`] when the
    /// kind is not known or the data does not fit it.
    pub fn from_row(kind: &str, data: &str) -> Self {
        let unknown = || TimelineEvent::Unknown {
            kind: kind.to_string(),
            data: data.to_string(),
        };
        let Ok(payload) = serde_json::from_str::<serde_json::Value>(data) else {
            return unknown();
        };
        serde_json::from_value(serde_json::json!({ "kind": kind, "data": payload }))
            .unwrap_or_else(|_| unknown())
    }
}

#[cfg(test)]
mod tests {
    use super::{Submitted, TimelineEvent};
    use crate::prospects::Stage;

    fn submitted() -> Submitted {
        Submitted {
            name: Some("Ana Lima".into()),
            email: Some("ana@example.com".into()),
            phone: None,
            company: Some("Lima & Co".into()),
            interest: Some("The live demo".into()),
            consent: Some(true),
            fields: Vec::new(),
            other: Default::default(),
        }
    }

    #[test]
    fn events_are_stored_as_before_and_read_back() {
        // The spellings of rows written before the enum (and matched by
        // SQL elsewhere): each event writes exactly these and reads them back.
        let cases = [
            (
                TimelineEvent::FormSubmission(submitted()),
                "form_submission",
                r#"{"name":"Ana Lima","email":"ana@example.com","phone":null,"company":"Lima & Co","interest":"The live demo","consent":true}"#,
            ),
            (TimelineEvent::Added { by: 7 }, "added", r#"{"by":7}"#),
            (
                TimelineEvent::Note {
                    note: "Called".into(),
                    by: "Demo Owner".into(),
                },
                "note",
                r#"{"note":"Called","by":"Demo Owner"}"#,
            ),
            (
                TimelineEvent::Stage {
                    from: Stage::New,
                    to: Stage::Customer,
                    by: "Demo Owner".into(),
                },
                "stage",
                r#"{"from":"new","to":"customer","by":"Demo Owner"}"#,
            ),
            (
                TimelineEvent::Claimed { by: "Bea".into() },
                "claimed",
                r#"{"by":"Bea"}"#,
            ),
            (
                TimelineEvent::Imported {
                    source: "leads.csv".into(),
                    line: 3,
                },
                "imported",
                r#"{"source":"leads.csv","line":3}"#,
            ),
        ];
        for (event, kind, data) in cases {
            let (k, d) = event.to_row();
            assert_eq!(k, kind);
            let written: serde_json::Value = serde_json::from_str(&d).unwrap();
            let expected: serde_json::Value = serde_json::from_str(data).unwrap();
            assert_eq!(written, expected, "{kind}");
            assert_eq!(TimelineEvent::from_row(kind, data), event, "{kind}");
        }
        // The home page counts stage moves with `LIKE '%"to":"customer"%'`.
        let (_, data) = TimelineEvent::Stage {
            from: Stage::Hot,
            to: Stage::Customer,
            by: "x".into(),
        }
        .to_row();
        assert!(data.contains(r#""to":"customer""#), "{data}");
    }

    #[test]
    fn older_json_key_orders_and_extra_answers_read_back() {
        // `json!` wrote keys sorted; answers from later form versions stay.
        let event = TimelineEvent::from_row(
            "form_submission",
            r#"{"company":null,"consent":false,"email":"a@b.c","favourite":"blue","name":"A"}"#,
        );
        let TimelineEvent::FormSubmission(answers) = &event else {
            panic!("{event:?}")
        };
        assert_eq!(
            answers.labelled(),
            [
                ("Name", "A"),
                ("Email", "a@b.c"),
                ("May contact", "no"),
                ("favourite", "blue")
            ]
            .map(|(l, v)| (l.to_string(), v.to_string()))
        );
        let (_, data) = event.to_row();
        assert!(data.contains(r#""favourite":"blue""#), "{data}");
    }

    #[test]
    fn unknown_kinds_and_broken_data_read_as_unknown() {
        for (kind, data) in [
            ("reward_paid", r#"{"amount":5}"#),
            ("note", "{}"),
            ("stage", r#"{"from":"new","to":"nowhere","by":"x"}"#),
            ("added", "not json"),
            ("unknown", r#"{"kind":"x","data":"y"}"#),
        ] {
            let event = TimelineEvent::from_row(kind, data);
            assert_eq!(
                event,
                TimelineEvent::Unknown {
                    kind: kind.into(),
                    data: data.into()
                }
            );
            assert_eq!(event.to_row(), (kind.to_string(), data.to_string()));
        }
    }
}
