//! What an organization is: a direct-sales team, a business with brand
//! ambassadors, a franchise's head office, or one of its locations. Stored
//! as text in `organizations.kind` (`direct_sales`, `business`,
//! `franchise`, `location`) and parsed where it enters (the sign-up form,
//! database rows). Where it stands in a franchise is
//! [`crate::organizations::roles::Place`], from the kind and the parent.

/// The kind of an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrganizationKind {
    /// A direct-sales team (the default, and the demo's).
    DirectSales,
    /// A business whose employees are its brand ambassadors.
    Business,
    /// A franchise's head office (it has locations).
    Franchise,
    /// A franchise location: made by its HQ, never at sign-up.
    Location,
}

impl OrganizationKind {
    /// Every kind.
    pub const ALL: [OrganizationKind; 4] = [
        OrganizationKind::DirectSales,
        OrganizationKind::Business,
        OrganizationKind::Franchise,
        OrganizationKind::Location,
    ];

    /// The kinds a person may choose when signing up, in the form's order
    /// (a location is added by its HQ).
    pub const AT_SIGN_UP: [OrganizationKind; 3] = [
        OrganizationKind::DirectSales,
        OrganizationKind::Business,
        OrganizationKind::Franchise,
    ];

    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            OrganizationKind::DirectSales => "direct_sales",
            OrganizationKind::Business => "business",
            OrganizationKind::Franchise => "franchise",
            OrganizationKind::Location => "location",
        }
    }

    /// What people read (the sign-up form's choices).
    pub fn label(self) -> &'static str {
        match self {
            OrganizationKind::DirectSales => "Direct sales team",
            OrganizationKind::Business => "Business with brand ambassadors",
            OrganizationKind::Franchise => "Franchise (HQ and locations)",
            OrganizationKind::Location => "Franchise location",
        }
    }

    /// The kind chosen on the sign-up form: one of [`Self::AT_SIGN_UP`],
    /// else the message shown beside the choice.
    pub fn at_sign_up(text: &str) -> Result<Self, &'static str> {
        text.parse::<OrganizationKind>()
            .ok()
            .filter(|kind| Self::AT_SIGN_UP.contains(kind))
            .ok_or("Please choose what kind of organization it is.")
    }
}

crate::stored_as_text!(OrganizationKind, UnknownKind, "kind of organization");

#[cfg(test)]
mod tests {
    use super::OrganizationKind;

    #[test]
    fn kinds_round_trip_and_refuse_anything_else() {
        for kind in OrganizationKind::ALL {
            assert_eq!(kind.as_str().parse::<OrganizationKind>().unwrap(), kind);
            assert_eq!(kind.to_string(), kind.as_str());
        }
        for bad in ["", "Franchise", "hq", "franchise ", "business\0"] {
            assert!(bad.parse::<OrganizationKind>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sign_up_offers_every_kind_but_a_location() {
        for kind in OrganizationKind::AT_SIGN_UP {
            assert_eq!(OrganizationKind::at_sign_up(kind.as_str()), Ok(kind));
        }
        assert!(OrganizationKind::at_sign_up("location").is_err());
        assert!(OrganizationKind::at_sign_up("nope").is_err());
    }
}
