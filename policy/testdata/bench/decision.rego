# A decision-shaped policy for BenchmarkEval: the shape of rego/README.md's
# spine.access decision, written independently of rego/access.
package bench.access

cfg := data.spine.config

actions := {"view", "amend"}

default decision := {"allow": false, "reason_codes": ["internal_error"], "obligations": []}

decision := {"allow": count(reasons) == 0, "reason_codes": sort(reasons), "obligations": obligations}

activities := {a | some a in input.subject.activities}

emergency if input.purpose == "emergency"

no_reason if trim_space(object.get(input, "reason", "")) == ""

required_activity := cfg.section_activities[input.resource.section][input.action]

reasons contains "unknown_action" if not input.action in actions

reasons contains "unknown_section" if not cfg.section_activities[input.resource.section]

reasons contains "activity_not_permitted" if {
	not required_activity in activities
}

reasons contains "activity_not_permitted" if {
	emergency
	not cfg.emergency.activity in activities
}

reasons contains "emergency_reason_required" if {
	emergency
	no_reason
}

reasons contains "no_legitimate_relationship" if {
	not emergency
	not current_relationship
	not expired_relationship
}

reasons contains "legitimate_relationship_expired" if {
	not emergency
	not current_relationship
	expired_relationship
}

current_relationship if {
	some r in input.relationships
	not r.expired
	matches(r)
}

expired_relationship if {
	some r in input.relationships
	r.expired
	matches(r)
}

matches(r) if {
	r.target_type == "user"
	r.target == input.subject.uid
}

matches(r) if {
	r.target_type == "organisation"
	r.target == input.subject.org
}

matches(r) if {
	r.target_type == "workgroup"
	r.target in input.subject.workgroups
}

dissent if input.consent.scr == "no"

dissent if {
	some c in input.consent.dissent_codes
	c in cfg.dissent_codes
}

dissent_overridden if {
	emergency
	cfg.emergency.override_dissent
}

reasons contains "patient_dissent" if {
	input.resource.section == "scr"
	dissent
	not dissent_overridden
}

reasons contains "seal_reason_required" if {
	input.resource.seal.state == "sealed"
	no_reason
}

reasons contains "not_found" if {
	input.resource.seal.state == "sealed_locked"
	not input.resource.seal.owner_workgroup in input.subject.workgroups
}

obligations := [o | some o in alerts]

alerts contains {"type": "alert", "alert_type": "emergency_access"} if {
	emergency
	count(reasons) == 0
}

alerts contains {"type": "alert", "alert_type": "seal_broken"} if {
	input.resource.seal.state == "sealed"
	count(reasons) == 0
}

alerts contains {"type": "alert", "alert_type": "self_claimed_relationship"} if {
	some r in input.relationships
	r.kind == "self_claimed"
	matches(r)
}
