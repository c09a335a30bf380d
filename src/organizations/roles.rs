//! Who may do what: the [`Role`] a person holds in an organization, the
//! [`Action`]s of Rally, and the one table ([`rule`]) of which role may do
//! which action where. Every route is mapped to its action in [`ROUTES`];
//! `http::routes` enforces that map for every request (403 when the role
//! is too low, 404 when the organization is not the kind the action is
//! for) before a handler runs. Rules about a particular person (who may
//! change whom) are [`Role::outranks`] and [`Role::may_grant`].
//!
//! Adding a route: add it to `http::route_table!` *and* to [`ROUTES`];
//! `tests/api/roles.rs` fails for a POST route without an entry here.

use crate::organizations::kind::OrganizationKind;

/// A person's role in one organization, ordered by power:
/// `Member < Manager < Admin < Owner`. Stored as text (`member`, `manager`,
/// `admin`, `owner`); parsed where it enters (database rows, forms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// A rep or ambassador: works their own prospects.
    Member,
    /// Leads a team: sees every prospect, runs events, edits forms,
    /// manages the people below them.
    Manager,
    /// Runs the organization with the owner.
    Admin,
    /// The one person who owns the organization.
    Owner,
}

impl Role {
    /// Every role, least powerful first.
    pub const ALL: [Role; 4] = [Role::Member, Role::Manager, Role::Admin, Role::Owner];

    /// The stored text of the role.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Manager => "manager",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// Whether this role ranks above `other` (a person may change, remove
    /// or withdraw invitations only for roles below their own).
    pub fn outranks(self, other: Role) -> bool {
        self > other
    }

    /// Whether this role may give `role` to someone (invite, change role):
    /// only roles below its own, and never ownership (that is a transfer).
    pub fn may_grant(self, role: Role) -> bool {
        role != Role::Owner && self.outranks(role)
    }

    /// The roles this role may give, least powerful first.
    pub fn grantable(self) -> Vec<Role> {
        Role::ALL
            .into_iter()
            .filter(|r| self.may_grant(*r))
            .collect()
    }
}

crate::stored_as_text!(Role, UnknownRole, "role");

impl maud::Render for Role {
    fn render_to(&self, buffer: &mut String) {
        buffer.push_str(self.as_str());
    }
}

/// Where an organization stands in a franchise (or outside one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A direct-sales team or a business: no franchise.
    Standalone,
    /// A franchise's head office: it has locations.
    Hq,
    /// A franchise location (its HQ is its parent).
    Location,
}

impl Place {
    /// From an organization's `kind` and `parent_id` columns.
    pub fn of(kind: OrganizationKind, parent_id: Option<i64>) -> Self {
        match (kind, parent_id) {
            (_, Some(_)) => Place::Location,
            (OrganizationKind::Franchise, None) => Place::Hq,
            _ => Place::Standalone,
        }
    }
}

/// Everything a signed-in person can do, by what it is (several routes may
/// be one action: the list of events and an event's summary are both
/// [`Action::ViewEvents`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Their own account: sign out (everywhere), resend the confirmation,
    /// switch organization, the account page, change the password or the
    /// email address, delete the account.
    UseAccount,
    /// Prospects in their scope (members: the ones they own): list, show,
    /// quick add, edit, notes, CSV export and import.
    WorkProspects,
    /// The list of people and pending invitations.
    ViewPeople,
    /// Invite, withdraw an invitation, change a role, remove someone: for
    /// people ranked below the actor ([`Role::outranks`]).
    ManagePeople,
    /// Hand the organization to another member.
    TransferOwnership,
    /// The organization's audit log.
    ReadAuditLog,
    /// The organization's forms and HQ's templates: the list.
    ViewForms,
    /// Create and edit the organization's forms.
    EditForms,
    /// Publish (or withdraw) a form as a template for the locations.
    PublishTemplate,
    /// Copy one of HQ's templates into the location.
    CopyTemplate,
    /// Choose who owns a prospect (members work only their own).
    AssignProspects,
    /// Delete prospects (in bulk, after a confirmation; audited).
    DeleteProspects,
    RestoreProspects,
    EraseProspects,
    /// The events list, a summary, the projector page and its stream.
    ViewEvents,
    /// Start and end live events.
    RunEvents,
    /// HQ's locations and their roll-ups.
    ViewLocations,
    /// Add a franchise location.
    AddLocation,
    /// The jobs dashboard: failed work, retry and discard.
    ManageJobs,
    /// The development mailbox: each person reads the messages sent to
    /// their own address.
    ReadMailbox,
    /// List, release and discard held submissions (what the public form
    /// kept because it looked automated).
    ReviewHeld,
    /// Follow-up tasks on prospects in their scope: add, done, snooze.
    FollowUp,
    /// The organization's settings (its time zone).
    ManageOrganization,
}

/// Who may take an action: at least `least`, in an organization of the
/// kind `only_at` (any kind when `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub least: Role,
    pub only_at: Option<Place>,
}

/// The table: which role may take which action, and where.
pub fn rule(action: Action) -> Rule {
    use Action::*;
    let (least, only_at) = match action {
        UseAccount | WorkProspects | ViewPeople | ViewForms | ViewEvents | ReadMailbox
        | FollowUp => (Role::Member, None),
        ManagePeople | EditForms | RunEvents | AssignProspects | DeleteProspects => {
            (Role::Manager, None)
        }
        CopyTemplate => (Role::Manager, Some(Place::Location)),
        ViewLocations => (Role::Manager, Some(Place::Hq)),
        AddLocation | PublishTemplate => (Role::Admin, Some(Place::Hq)),
        ManageJobs | ReviewHeld | ManageOrganization | RestoreProspects => (Role::Admin, None),
        TransferOwnership | ReadAuditLog | EraseProspects => (Role::Owner, None),
    };
    Rule { least, only_at }
}

/// Why an action is refused, if it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The organization is not the kind the action is for (answered 404:
    /// there is nothing of the kind here).
    NotHere,
    /// The role ranks too low (answered 403).
    RoleTooLow(Role),
}

impl Refusal {
    /// What the person is told.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::NotHere => "There is nothing of this kind in your organization.",
            Refusal::RoleTooLow(Role::Member) | Refusal::RoleTooLow(Role::Manager) => {
                "Only managers, admins and the owner can do this."
            }
            Refusal::RoleTooLow(Role::Admin) => "Only admins and the owner can do this.",
            Refusal::RoleTooLow(Role::Owner) => "Only the owner can do this.",
        }
    }
}

/// Checks `action` for `role` in an organization at `place`.
pub fn check(role: Role, place: Place, action: Action) -> Result<(), Refusal> {
    let rule = rule(action);
    if rule.only_at.is_some_and(|p| p != place) {
        return Err(Refusal::NotHere);
    }
    if role < rule.least {
        return Err(Refusal::RoleTooLow(rule.least));
    }
    Ok(())
}

/// Whether `role` at `place` may take `action`.
pub fn allows(role: Role, place: Place, action: Action) -> bool {
    check(role, place, action).is_ok()
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not (the public form, sign-in, sign-up,
    /// password reset, accepting an invitation, health, assets, metrics
    /// with its own token).
    Public,
    /// A signed-in person whose role allows the action.
    SignedIn(Action),
    /// One of the deployment's operators (`RALLY_OPERATORS` or
    /// `rally operators add`), whatever their role: the deployment-wide
    /// jobs dashboard. The route's guard checks the operator list and
    /// answers 404 to anyone else (before the CSRF token), so the page's
    /// existence is not shown.
    Operator,
}

/// Every route and method (as in `http::route_table!`) with its access.
pub const ROUTES: &[(&str, &str, Access)] = {
    use Access::*;
    use Action::*;
    &[
        ("get", "/", SignedIn(WorkProspects)),
        ("post", "/home/checklist", SignedIn(WorkProspects)),
        ("get", "/f/:slug", Public),
        ("post", "/f/:slug", Public),
        ("get", "/f/:slug/thanks", Public),
        ("get", "/signin", Public),
        ("post", "/signin", Public),
        ("post", "/signout", SignedIn(UseAccount)),
        ("post", "/signout/everywhere", SignedIn(UseAccount)),
        ("get", "/signup", Public),
        ("post", "/signup", Public),
        ("get", "/verify", Public),
        ("get", "/account", SignedIn(UseAccount)),
        ("post", "/account/verify", SignedIn(UseAccount)),
        ("post", "/account/organization", SignedIn(UseAccount)),
        ("post", "/account/preferences", SignedIn(UseAccount)),
        ("post", "/account/password", SignedIn(UseAccount)),
        ("post", "/account/email", SignedIn(UseAccount)),
        ("get", "/account/email/confirm", Public),
        ("post", "/account/email/confirm", Public),
        ("post", "/account/delete", SignedIn(UseAccount)),
        ("get", "/notifications", SignedIn(UseAccount)),
        ("post", "/notifications/read", SignedIn(UseAccount)),
        ("get", "/password/forgot", Public),
        ("post", "/password/forgot", Public),
        ("get", "/password/reset", Public),
        ("post", "/password/reset", Public),
        ("get", "/dev/mailbox", SignedIn(ReadMailbox)),
        ("get", "/forms", SignedIn(ViewForms)),
        ("post", "/forms", SignedIn(EditForms)),
        ("get", "/forms/:id/edit", SignedIn(EditForms)),
        ("post", "/forms/:id/edit", SignedIn(EditForms)),
        ("post", "/forms/:id/fields", SignedIn(EditForms)),
        ("get", "/forms/branding", SignedIn(EditForms)),
        ("post", "/forms/branding", SignedIn(EditForms)),
        ("post", "/forms/branding/logo", SignedIn(EditForms)),
        ("post", "/forms/:id/template", SignedIn(PublishTemplate)),
        ("post", "/forms/templates/:id/copy", SignedIn(CopyTemplate)),
        ("get", "/locations", SignedIn(ViewLocations)),
        ("post", "/locations", SignedIn(AddLocation)),
        ("get", "/locations/:id", SignedIn(ViewLocations)),
        ("get", "/people", SignedIn(ViewPeople)),
        ("post", "/people/invite", SignedIn(ManagePeople)),
        (
            "post",
            "/people/invitations/:id/revoke",
            SignedIn(ManagePeople),
        ),
        ("post", "/people/:id/role", SignedIn(ManagePeople)),
        ("post", "/people/:id/remove", SignedIn(ManagePeople)),
        ("post", "/people/transfer", SignedIn(TransferOwnership)),
        ("get", "/people/audit", SignedIn(ReadAuditLog)),
        ("get", "/invitations/accept", Public),
        ("post", "/invitations/accept", Public),
        ("get", "/prospects", SignedIn(WorkProspects)),
        ("post", "/prospects", SignedIn(WorkProspects)),
        ("get", "/prospects/export.csv", SignedIn(WorkProspects)),
        ("get", "/prospects/import", SignedIn(WorkProspects)),
        ("post", "/prospects/import", SignedIn(WorkProspects)),
        ("get", "/prospects/import/:id", SignedIn(WorkProspects)),
        (
            "post",
            "/prospects/import/:id/confirm",
            SignedIn(WorkProspects),
        ),
        ("get", "/prospects/trash", SignedIn(RestoreProspects)),
        (
            "post",
            "/prospects/trash/:id/restore",
            SignedIn(RestoreProspects),
        ),
        (
            "post",
            "/prospects/trash/:id/erase",
            SignedIn(EraseProspects),
        ),
        ("get", "/prospects/:id/merge", SignedIn(DeleteProspects)),
        ("post", "/prospects/:id/merge", SignedIn(DeleteProspects)),
        ("get", "/prospects/:id", SignedIn(WorkProspects)),
        ("get", "/prospects/:id/edit", SignedIn(WorkProspects)),
        ("post", "/prospects/:id/edit", SignedIn(WorkProspects)),
        ("post", "/prospects/:id/notes", SignedIn(WorkProspects)),
        ("post", "/prospects/:id/tasks", SignedIn(FollowUp)),
        ("post", "/tasks/:id/done", SignedIn(FollowUp)),
        ("post", "/tasks/:id/snooze", SignedIn(FollowUp)),
        ("post", "/prospects/:id/stage", SignedIn(WorkProspects)),
        ("post", "/prospects/:id/claim", SignedIn(WorkProspects)),
        ("post", "/prospects/bulk", SignedIn(WorkProspects)),
        ("post", "/prospects/views", SignedIn(WorkProspects)),
        (
            "post",
            "/prospects/views/:id/delete",
            SignedIn(WorkProspects),
        ),
        ("get", "/pipeline", SignedIn(WorkProspects)),
        ("get", "/events", SignedIn(ViewEvents)),
        ("post", "/events", SignedIn(RunEvents)),
        ("get", "/events/:id", SignedIn(ViewEvents)),
        ("get", "/events/:id/live", SignedIn(ViewEvents)),
        ("get", "/events/:id/present", SignedIn(ViewEvents)),
        ("get", "/events/:id/stream", SignedIn(ViewEvents)),
        ("post", "/events/:id/end", SignedIn(RunEvents)),
        ("get", "/jobs", SignedIn(ManageJobs)),
        ("post", "/jobs/retry", SignedIn(ManageJobs)),
        ("post", "/jobs/kept/:id/retry", SignedIn(ManageJobs)),
        ("get", "/ops/jobs", Operator),
        ("post", "/ops/jobs/retry", Operator),
        ("get", "/ops/jobs/discard", Operator),
        ("post", "/ops/jobs/discard", Operator),
        ("get", "/held", SignedIn(ReviewHeld)),
        ("post", "/held/:id/release", SignedIn(ReviewHeld)),
        ("get", "/held/:id/discard", SignedIn(ReviewHeld)),
        ("post", "/held/:id/discard", SignedIn(ReviewHeld)),
        ("get", "/healthz", Public),
        ("get", "/readyz", Public),
        ("get", "/assets/:name", Public),
        ("get", "/metrics", Public),
    ]
};

/// The access of `method` (lower case, as in the route table) on the route
/// `path` (its pattern), if the table has it.
pub fn access(method: &str, path: &str) -> Option<Access> {
    ROUTES
        .iter()
        .find(|(m, p, _)| *m == method && *p == path)
        .map(|(_, _, access)| *access)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_round_trip_as_text() {
        assert!(Role::Member < Role::Manager && Role::Manager < Role::Admin);
        assert!(Role::Admin < Role::Owner);
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("Owner".parse::<Role>().is_err());
        assert!("".parse::<Role>().is_err());
    }

    #[test]
    fn nobody_grants_ownership_or_their_own_rank() {
        assert_eq!(
            Role::Owner.grantable(),
            [Role::Member, Role::Manager, Role::Admin]
        );
        assert_eq!(Role::Manager.grantable(), [Role::Member]);
        assert!(Role::Member.grantable().is_empty());
        assert!(!Role::Admin.may_grant(Role::Admin));
    }

    #[test]
    fn the_table_answers_the_faults_found() {
        // A member neither starts nor ends events.
        assert_eq!(
            check(Role::Member, Place::Standalone, Action::RunEvents),
            Err(Refusal::RoleTooLow(Role::Manager))
        );
        assert!(allows(Role::Manager, Place::Standalone, Action::RunEvents));
        // Locations exist only at an HQ; templates are copied at a location.
        assert_eq!(
            check(Role::Owner, Place::Standalone, Action::AddLocation),
            Err(Refusal::NotHere)
        );
        assert!(allows(Role::Manager, Place::Location, Action::CopyTemplate));
        assert!(!allows(Role::Owner, Place::Hq, Action::CopyTemplate));
    }

    #[test]
    fn every_route_has_one_entry() {
        let mut seen = std::collections::HashSet::new();
        for (method, path, _) in ROUTES {
            assert!(seen.insert((method, path)), "{method} {path} twice");
        }
    }
}
