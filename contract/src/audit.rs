//! The kinds of audit log entries (contract "Audit log").

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A kind name that no [`AuditKind`] has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown audit kind `{0}`")]
pub struct UnknownAuditKind(pub String);

macro_rules! audit_kinds {
    ($($(#[$doc:meta])* $variant:ident => $wire:literal,)+) => {
        /// What an audit entry records. Serializes as its wire name; reading an unknown
        /// name is an error ([`UnknownAuditKind`]), never a silent fallback: the server
        /// writes only these, and the console that reads them ships with it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum AuditKind {
            $($(#[$doc])* $variant,)+
        }

        impl AuditKind {
            /// Every kind, in the contract's order.
            pub const ALL: &'static [AuditKind] = &[$(AuditKind::$variant,)+];

            /// The stable wire name, as stored and sent.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(AuditKind::$variant => $wire,)+
                }
            }
        }

        impl FromStr for AuditKind {
            type Err = UnknownAuditKind;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($wire => Ok(AuditKind::$variant),)+
                    other => Err(UnknownAuditKind(other.chars().take(64).collect())),
                }
            }
        }
    };
}

audit_kinds! {
    /// A successful sign-in.
    Login => "login",
    /// A refused sign-in (`detail.why`).
    LoginRefused => "login_refused",
    /// A sign-in throttle started (`detail.throttle`).
    LoginThrottled => "login_throttled",
    /// The user signed out (or a new sign-in replaced the session).
    Logout => "logout",
    /// A session ended (`detail.reason`).
    SessionEnded => "session_ended",
    /// The user answered the recording question (`detail.accepted`).
    Consent => "consent",
    /// A tab registered as a sub-session.
    TabRegistered => "tab_registered",
    /// A tab went away.
    TabClosed => "tab_closed",
    /// The demo accounts were created.
    Seeded => "seeded",
    /// The retention purge deleted old entries.
    AuditPurged => "audit_purged",
    /// An administrator ended one session.
    AdminSessionTerminated => "admin_session_terminated",
    /// An administrator ended one tab.
    AdminTabTerminated => "admin_tab_terminated",
    /// An administrator ended every session of a user.
    AdminUserSessionsTerminated => "admin_user_sessions_terminated",
    /// The emergency panel ended sessions.
    AdminSessionsTerminated => "admin_sessions_terminated",
    /// An administrator created a user.
    AdminUserCreated => "admin_user_created",
    /// An administrator suspended a user.
    AdminUserSuspended => "admin_user_suspended",
    /// An administrator lifted a suspension.
    AdminUserUnsuspended => "admin_user_unsuspended",
    /// An administrator created a role.
    AdminRoleCreated => "admin_role_created",
    /// An administrator deleted a role.
    AdminRoleDeleted => "admin_role_deleted",
    /// An administrator added a scope to a role.
    AdminRoleScopeAdded => "admin_role_scope_added",
    /// An administrator removed a scope from a role.
    AdminRoleScopeRemoved => "admin_role_scope_removed",
    /// An administrator assigned a role to a user.
    AdminUserRoleAssigned => "admin_user_role_assigned",
    /// An administrator unassigned a role from a user.
    AdminUserRoleUnassigned => "admin_user_role_unassigned",
    /// An administrator created a group.
    AdminGroupCreated => "admin_group_created",
    /// An administrator deleted a group.
    AdminGroupDeleted => "admin_group_deleted",
    /// An administrator added a user to a group.
    AdminGroupMemberAdded => "admin_group_member_added",
    /// An administrator removed a user from a group.
    AdminGroupMemberRemoved => "admin_group_member_removed",
    /// An administrator assigned a role to a group.
    AdminGroupRoleAssigned => "admin_group_role_assigned",
    /// An administrator unassigned a role from a group.
    AdminGroupRoleUnassigned => "admin_group_role_unassigned",
    /// An administrator opened one tab's recording (`detail.tab_id`).
    RecordingViewed => "recording_viewed",
    /// An administrator deleted one tab's recording (`detail.bytes`, `detail.chunks`).
    RecordingDeleted => "recording_deleted",
    /// The retention purge deleted one tab's recording (`detail.bytes`, `detail.chunks`).
    RecordingPurged => "recording_purged",
}

impl fmt::Display for AuditKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for AuditKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AuditKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wire names as `docs/CONTRACT.md` lists them; changing one breaks stored logs.
    const WIRE_NAMES: [&str; 32] = [
        "login",
        "login_refused",
        "login_throttled",
        "logout",
        "session_ended",
        "consent",
        "tab_registered",
        "tab_closed",
        "seeded",
        "audit_purged",
        "admin_session_terminated",
        "admin_tab_terminated",
        "admin_user_sessions_terminated",
        "admin_sessions_terminated",
        "admin_user_created",
        "admin_user_suspended",
        "admin_user_unsuspended",
        "admin_role_created",
        "admin_role_deleted",
        "admin_role_scope_added",
        "admin_role_scope_removed",
        "admin_user_role_assigned",
        "admin_user_role_unassigned",
        "admin_group_created",
        "admin_group_deleted",
        "admin_group_member_added",
        "admin_group_member_removed",
        "admin_group_role_assigned",
        "admin_group_role_unassigned",
        "recording_viewed",
        "recording_deleted",
        "recording_purged",
    ];

    #[test]
    fn every_kind_keeps_its_wire_name() {
        let names: Vec<&str> = AuditKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names, WIRE_NAMES);
        for &kind in AuditKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<AuditKind>(&json).unwrap(), kind);
            assert_eq!(kind.as_str().parse::<AuditKind>(), Ok(kind));
            assert_eq!(kind.to_string(), kind.as_str());
        }
    }

    #[test]
    fn unknown_kinds_are_rejected() {
        for unknown in [
            "",
            "Login",
            "login ",
            "admin_everything",
            "session_ended\u{0}",
        ] {
            assert!(unknown.parse::<AuditKind>().is_err(), "{unknown:?}");
            let json = serde_json::to_string(unknown).unwrap();
            assert!(
                serde_json::from_str::<AuditKind>(&json).is_err(),
                "{unknown:?}"
            );
        }
        assert_eq!(
            "admin_everything".parse::<AuditKind>(),
            Err(UnknownAuditKind("admin_everything".into()))
        );
    }
}
