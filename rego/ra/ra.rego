# Registration authority rules: may this RA member, in the role profile
# selected in their session, do this RA action on this person or role
# profile?
#
# The input and output documents are specified in rego/README.md. authd's
# RA API queries data.spine.ra.decision, which is always an object
# {"allow", "reason_codes"}.
#
# Deny by default, as in spine.access: every requirement below adds a
# reason code unless the input proves it is met, and allow is true only
# when no reason code was produced. Negations apply only to argument-less
# rules or to calls whose argument the same body has just bound, so a
# missing fact denies rather than skips a rule.
package spine.ra

# ---------------------------------------------------------------------------
# Decision
# ---------------------------------------------------------------------------

decision := {"allow": allow, "reason_codes": sort(deny_reasons)}

default allow := false

allow if {
	action_known
	count(deny_reasons) == 0
}

# ---------------------------------------------------------------------------
# Roles (data.spine.config.ra.role_activities; defaults in config.json)
# ---------------------------------------------------------------------------
#
# A role is held when the selected role profile's activities (already the
# inclusion closure: B1610 includes B1611, B1612 and B1614) contain the
# role's activity:
#
#   ra_manager       B1610  manages the RA; grants any activity; reads the audit trail
#   registrar        B1611  registers people and edits their records (RA agent)
#   profile_manager  B1612  requests and ends role profiles (RA agent)
#   card_manager     B1614  issues, renews, cancels and unlocks cards (RA agent)
#   sponsor          B1300  approves role profile requests
#   smartcard_admin  B1615  local smartcard administrator: unlocks cards only
#   auditor          B0011  reads the audit trail

role_activities := data.spine.config.ra.role_activities

holds(code) if {
	non_blank(code)
	some held in input.actor.activities
	held == code
}

roles contains role if {
	some role, code in role_activities
	holds(code)
}

# Which roles may do each action. An action not listed here is unknown.
action_roles := {
	"register_person": {"registrar"},
	"update_person": {"registrar"},
	"view_person": {"registrar", "profile_manager", "card_manager", "sponsor", "smartcard_admin"},
	"find_people": {"registrar", "profile_manager", "card_manager", "sponsor", "smartcard_admin"},
	"person_history": {"registrar", "profile_manager", "card_manager", "sponsor", "ra_manager"},
	"request_role_profile": {"profile_manager"},
	"approve_role_profile": {"sponsor"},
	"end_role_profile": {"profile_manager"},
	"list_pending": {"profile_manager", "sponsor"},
	"issue_card": {"card_manager"},
	"renew_card": {"card_manager"},
	"cancel_card": {"card_manager"},
	"unlock_card": {"card_manager", "smartcard_admin"},
	"read_audit": {"ra_manager", "auditor"},
}

# How each action is scoped to the actor's organisation:
#   org     the organisation the action is about (input.target.org: the
#           role profile's, or the one a person is registered for) must be
#           the actor's;
#   person  the person acted on must belong to the actor's organisation
#           (input.target.orgs: where they were registered and where they
#           hold role profiles that have not ended);
#   none    lists and reports over the actor's own organisation, which
#           authd applies when it reads them.
action_scope := {
	"register_person": "org",
	"update_person": "person",
	"view_person": "person",
	"find_people": "none",
	"person_history": "person",
	"request_role_profile": "org",
	"approve_role_profile": "org",
	"end_role_profile": "org",
	"list_pending": "none",
	"issue_card": "person",
	"renew_card": "person",
	"cancel_card": "person",
	"unlock_card": "person",
	"read_audit": "none",
}

# Actions that grant or withdraw a role profile: nobody does them to
# themselves, and every activity involved must be one the actor may grant.
grant_actions := {"request_role_profile", "approve_role_profile", "end_role_profile"}

# Other actions nobody does to their own record or card.
no_self_actions := {"update_person", "issue_card", "renew_card", "cancel_card", "unlock_card"}

action_known if action_roles[input.action]

deny_reasons contains "unknown_action" if not action_known

# ---------------------------------------------------------------------------
# The actor
# ---------------------------------------------------------------------------

actor_known if {
	non_blank(input.actor.uid)
	non_blank(input.actor.org)
}

deny_reasons contains "actor_unknown" if not actor_known

# authd computes role_current from the stored profile at decision time; a
# profile that is pending, ended or outside its dates grants nothing.
role_current if input.actor.role_current == true

deny_reasons contains "role_not_current" if not role_current

may_do if {
	some role in action_roles[input.action]
	role in roles
}

deny_reasons contains "activity_not_permitted" if {
	action_known
	not may_do
}

# ---------------------------------------------------------------------------
# Organisation scope
# ---------------------------------------------------------------------------

in_org_scope if {
	action_scope[input.action] == "org"
	non_blank(input.target.org)
	input.target.org == input.actor.org
}

in_org_scope if {
	action_scope[input.action] == "person"
	non_blank(input.actor.org)
	some org in input.target.orgs
	org == input.actor.org
}

in_org_scope if action_scope[input.action] == "none"

deny_reasons contains "outside_organisation" if {
	action_known
	not in_org_scope
}

# ---------------------------------------------------------------------------
# Acting on oneself
# ---------------------------------------------------------------------------

# A missing target uid counts as oneself: the rule fails closed.
on_self if input.target.uid == input.actor.uid

on_self if not target_named

target_named if non_blank(input.target.uid)

deny_reasons contains "self_grant_forbidden" if {
	input.action in grant_actions
	on_self
}

deny_reasons contains "self_action_forbidden" if {
	input.action in no_self_actions
	on_self
}

# ---------------------------------------------------------------------------
# Granting activities
# ---------------------------------------------------------------------------

restricted := {a | some a in data.spine.config.ra.restricted_activities}

# The RA manager grants any activity; everyone else only those outside the
# restricted list (the RA's own activities, sponsorship and audit).
may_grant(code) if {
	"ra_manager" in roles
	non_blank(code)
}

may_grant(code) if {
	non_blank(code)
	not code in restricted
}

# The closure of the profile's activities, so that an included activity
# cannot be granted by the back door.
deny_reasons contains "activity_not_grantable" if {
	input.action in grant_actions
	some code in input.target.activities
	not may_grant(code)
}

deny_reasons contains "activity_not_grantable" if {
	input.action in grant_actions
	not activities_listed
}

activities_listed if is_array(input.target.activities)

# ---------------------------------------------------------------------------
# Two people for every new role profile
# ---------------------------------------------------------------------------

# The sponsor who approves must not be the one who requested it (nor the
# holder: self_grant_forbidden). An unknown requester fails closed.
deny_reasons contains "approval_by_requester" if {
	input.action == "approve_role_profile"
	input.target.requested_by == input.actor.uid
}

deny_reasons contains "requester_unknown" if {
	input.action == "approve_role_profile"
	not requester_named
}

requester_named if non_blank(input.target.requested_by)

non_blank(s) if {
	is_string(s)
	trim_space(s) != ""
}
