# Record access policy of the spine: may this session, in its selected role
# profile, do this action on this part of this patient's record?
#
# The input and output documents are specified in rego/README.md. authd's
# PDP queries data.spine.access.decision, which is always an object
# {"allow", "reason_codes", "obligations"}.
#
# Deny by default: every requirement below is written as "deny, with a
# reason code, unless the input proves the requirement is met", so a
# missing or malformed fact produces a denial, never an allow. allow is
# true only when no reason code was produced, which also guarantees that
# every denial carries at least one reason code.
#
# OPA gotcha this file is written around: `not f(x)` and `not x in s` are
# UNDEFINED (not true) when x is undefined, so a negated call would silently
# skip a denial exactly when a fact is missing. Negations here only ever
# apply to argument-less rules (`not holds_required_activity`), which are
# true when undefined, to `==`, or to a call whose argument the same body
# has just bound (`not current(rel)`).
package spine.access

# ---------------------------------------------------------------------------
# Decision
# ---------------------------------------------------------------------------

# A sealed-and-locked part of the record is invisible to anyone outside the
# owning workgroup: they get exactly the answer a missing part would get,
# whatever else about the request is wrong, so that no other reason code or
# obligation reveals that it exists.
decision := {"allow": false, "reason_codes": ["not_found"], "obligations": []} if {
	hidden
} else := {"allow": allow, "reason_codes": reason_codes, "obligations": obligations}

default allow := false

# The positive conditions repeat requirements that also produce reason
# codes (belt and braces): an allow always names a mapped action on a known
# section for a known purpose.
allow if {
	not hidden
	known_section
	action_mapped
	purpose_known
	count(deny_reasons) == 0
}

# Sorted and deduplicated (deny_reasons is a set).
reason_codes := sort(deny_reasons)

# Obligations apply to allowed decisions only; a set of alert types, so
# deduplicated, then sorted into a deterministic order.
default obligations := []

obligations := sort([{"type": "alert", "alert_type": t} | some t in alerts]) if allow

# ---------------------------------------------------------------------------
# Configuration (data.spine.config; defaults in config.json)
# ---------------------------------------------------------------------------

default section_activities := {}

section_activities := data.spine.config.section_activities if is_object(data.spine.config.section_activities)

default dissent_codes := ["93C3", "9Ndo"]

dissent_codes := data.spine.config.dissent_codes

known_purposes := {"direct_care", "emergency"}

# ---------------------------------------------------------------------------
# Action and section
# ---------------------------------------------------------------------------

known_section if is_object(section_activities[input.resource.section])

# Every action some section maps: used to tell whether the action is known
# at all when the section is not.
known_actions contains action if {
	some actions in section_activities
	is_object(actions)
	some action, _ in actions
}

action_mapped if {
	known_section
	some action, _ in section_activities[input.resource.section]
	action == input.action
}

# The activity the action on the section needs.
required_activity := section_activities[input.resource.section][input.action]

deny_reasons contains "unknown_section" if not known_section

# The section is known but does not map this action (e.g. view on
# relationship, self_claim on scr).
deny_reasons contains "unknown_action" if {
	known_section
	not action_mapped
}

action_known if input.action in known_actions

deny_reasons contains "unknown_action" if {
	not known_section
	not action_known
}

purpose_known if input.purpose in known_purposes

deny_reasons contains "unknown_purpose" if not purpose_known

# ---------------------------------------------------------------------------
# Activities (subject.activities is already the inclusion closure)
# ---------------------------------------------------------------------------

# Only ever called positively, inside the argument-less rules below.
holds(code) if {
	non_blank(code)
	some held in input.subject.activities
	held == code
}

holds_required_activity if holds(required_activity)

holds_emergency_activity if holds(data.spine.config.emergency.activity)

holds_self_claim_activity if holds(data.spine.config.self_claim_activity)

holds_seal_break_activity if holds(data.spine.config.seal.break_activity)

deny_reasons contains "activity_not_permitted" if {
	action_mapped
	not holds_required_activity
}

deny_reasons contains "activity_not_permitted" if {
	emergency
	not holds_emergency_activity
}

deny_reasons contains "activity_not_permitted" if {
	self_claim
	not holds_self_claim_activity
}

deny_reasons contains "activity_not_permitted" if {
	sealed
	seal_break_activity_configured
	not holds_seal_break_activity
}

# ---------------------------------------------------------------------------
# Reasons, emergency access and self-claimed relationships
# ---------------------------------------------------------------------------

has_reason if non_blank(input.reason)

emergency if input.purpose == "emergency"

emergency_with_reason if {
	emergency
	has_reason
}

deny_reasons contains "emergency_reason_required" if {
	emergency
	not has_reason
}

# Self-claiming a legitimate relationship creates one, so it cannot need one.
self_claim if {
	input.action == "self_claim"
	input.resource.section == "relationship"
}

deny_reasons contains "self_claim_reason_required" if {
	self_claim
	not has_reason
}

alerts contains "emergency_access" if emergency

alerts contains "self_claimed_relationship" if self_claim

# ---------------------------------------------------------------------------
# Legitimate relationship
# ---------------------------------------------------------------------------

lr_required if {
	not self_claim
	not emergency_with_reason
}

# A relationship that names this user, one of the role profile's workgroups
# or the role profile's organisation.
names_subject(rel) if {
	rel.target_type == "user"
	non_blank(rel.target)
	rel.target == input.subject.uid
}

names_subject(rel) if {
	rel.target_type == "workgroup"
	non_blank(rel.target)
	rel.target in input.subject.workgroups
}

names_subject(rel) if {
	rel.target_type == "organisation"
	non_blank(rel.target)
	rel.target == input.subject.org
}

# Current: not marked expired and, as a second line of defence behind the
# PDP's filtering, not past its expires_at (an expiry that cannot be
# compared with input.now does not count as current).
current(rel) if {
	not rel.expired == true
	unexpired_at_now(rel)
}

unexpired_at_now(rel) if object.get(rel, "expires_at", null) == null

unexpired_at_now(rel) if time.parse_rfc3339_ns(rel.expires_at) > time.parse_rfc3339_ns(input.now)

current_relationship if {
	some rel in input.relationships
	names_subject(rel)
	current(rel)
}

lapsed_relationship if {
	some rel in input.relationships
	names_subject(rel)
	not current(rel)
}

deny_reasons contains "no_legitimate_relationship" if {
	lr_required
	not current_relationship
	not lapsed_relationship
}

deny_reasons contains "legitimate_relationship_expired" if {
	lr_required
	not current_relationship
	lapsed_relationship
}

# ---------------------------------------------------------------------------
# Consent to the summary care record
# ---------------------------------------------------------------------------

# "ask", "unknown" (or no consent facts at all) do not block; see README.
dissent if lower(input.consent.scr) == "no"

dissent if {
	some code in dissent_codes
	code in input.consent.dissent_codes
}

dissent_overridden if {
	emergency_with_reason
	data.spine.config.emergency.override_dissent == true
}

scr_dissent if {
	input.resource.section == "scr"
	dissent
}

deny_reasons contains "patient_dissent" if {
	scr_dissent
	not dissent_overridden
}

alerts contains "dissent_override" if {
	scr_dissent
	dissent_overridden
}

# ---------------------------------------------------------------------------
# Sealed envelopes
# ---------------------------------------------------------------------------

# "none" when the resource has no seal (absent or null); otherwise what the
# seal says. A seal without a state is "invalid" (and so hidden, below).
default seal_state := "invalid"

seal_state := "none" if not has_seal

seal_state := input.resource.seal.state

has_seal if input.resource.seal != null

sealed if seal_state == "sealed"

seal_owner if {
	non_blank(input.resource.seal.owner_workgroup)
	input.resource.seal.owner_workgroup in input.subject.workgroups
}

# sealed_locked, and any seal state this policy does not know, hide the
# part from everyone but the owning workgroup.
seal_state_visible if seal_state in {"none", "sealed"}

hidden if {
	not seal_state_visible
	not seal_owner
}

# Breaking a seal needs an activity only when one is configured (anything
# but absent, null or ""; a misconfigured value is then never held).
seal_break_activity_configured if {
	activity := data.spine.config.seal.break_activity
	activity != null
	activity != ""
}

deny_reasons contains "seal_reason_required" if {
	sealed
	not has_reason
}

alerts contains "seal_broken" if sealed

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

non_blank(s) if {
	is_string(s)
	trim_space(s) != ""
}
