# Benchmark wrapper (scripts/pdpbench): authd's PDP front end in Rego, so
# that `opa run --server` can answer the same AuthZEN questions with the
# same policy (rego/access, data.spine.access.decision) over the same
# facts (data.pdpbench, written by `pdpbench setup`; see facts.go).
#
# It does in Rego what authd/pdp/pdp.go does in Go before and around the
# policy: check the request, look up the session, its role profile and the
# patient's facts, build exactly the input document of rego/README.md and
# return data.spine.access.decision. Like authd it denies by default, with
# the same reason codes and in the same order: malformed_request,
# session_unknown (token not of the token shape), nhs_number_invalid,
# malformed_request (context or properties of the wrong type),
# session_unknown (no such session), no_role_selected,
# role_profile_not_current. What it does not do: store alerts (it returns
# the policy's obligations without alert IDs), write a decision log, or
# refuse unknown JSON fields (authd's decoder does).
#
# POST /v1/data/spine/authzen/decision     {"input": <AuthZEN request>}
# POST /v1/data/spine/authzen/evaluations  {"input": {"evaluations": [...]}}
#
# Not product code: production decisions are authd's.
package spine.authzen

facts := data.pdpbench

# One evaluation: input is the AuthZEN request.
decision := evaluate(input)

# A batch, answered in order; the top-level subject, action, resource and
# context are defaults for the evaluations that leave them out. authd
# answers an empty batch, or one of more than 100, with one
# malformed_request.
evaluations := [evaluate(with_defaults(e)) | some e in input.evaluations] if {
	valid_batch
} else := [deny("malformed_request")]

valid_batch if {
	is_array(input.evaluations)
	count(input.evaluations) > 0
	count(input.evaluations) <= 100
}

with_defaults(e) := {k: v |
	some k in ["subject", "action", "resource", "context"]
	v := part(e, k)
}

part(e, k) := e[k] if {
	e[k] != null
} else := input[k]

deny(code) := {"allow": false, "reason_codes": [code], "obligations": []}

# ---------------------------------------------------------------------------
# The checks before the policy, in authd's order
# ---------------------------------------------------------------------------

evaluate(req) := deny("malformed_request") if {
	not well_formed(req)
} else := deny("session_unknown") if {
	not token_shaped(req.subject)
} else := deny("nhs_number_invalid") if {
	not valid_nhs(object.get(req.resource, "id", ""))
} else := deny("malformed_request") if {
	not properties_ok(req)
} else := deny("session_unknown") if {
	not facts.sessions[req.subject.id]
} else := deny("no_role_selected") if {
	facts.sessions[req.subject.id].role_profile_id == ""
} else := deny("role_profile_not_current") if {
	not profile_current(facts.sessions[req.subject.id])
} else := d if {
	pin := policy_input(req)
	d := data.spine.access.decision with input as pin
}

well_formed(req) if {
	is_object(req.subject)
	is_object(req.action)
	is_object(req.resource)
	req.subject.type == "session"
	req.resource.type == "patient_record"
	is_string(object.get(req.subject, "id", ""))
	is_string(object.get(req.resource, "id", ""))
	name := req.action.name
	is_string(name)
	count(name) > 0
	count(name) <= 64
}

# A session token is 32 bytes in unpadded base64url: 43 characters, the
# last of which carries 4 bits and two zero bits (sessions.ParseToken).
token_shaped(subject) if regex.match(`^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$`, subject.id)

# 10 digits; the last is the modulus 11 check digit of the first nine
# (weights 10 down to 2; 11 means 0; 10 means no valid number).
valid_nhs(s) if {
	regex.match(`^[0-9]{10}$`, s)
	d := [to_number(c) | some c in split(s, "")]
	total := sum([w | some i in numbers.range(0, 8); w := d[i] * (10 - i)])
	check := 11 - (total % 11)
	check != 10
	d[9] == check % 11
}

properties_ok(req) if {
	null_or_object(object.get(req, "context", null))
	null_or_object(object.get(req.resource, "properties", null))
	string_prop(context_of(req), "purpose", "direct_care")
	count(string_prop(context_of(req), "reason", "")) <= 500
	count(section_of(req)) <= 64
}

null_or_object(x) if x == null

null_or_object(x) if is_object(x)

object_or_empty(x) := x if is_object(x) else := {}

context_of(req) := object_or_empty(object.get(req, "context", null))

section_of(req) := string_prop(object_or_empty(object.get(req.resource, "properties", null)), "section", "")

# An optional string property, trimmed; undefined when present but not a
# string (authd: malformed_request).
string_prop(obj, key, def) := def if {
	object.get(obj, key, null) == null
} else := trim_space(obj[key]) if {
	is_string(obj[key])
}

now_us := time.now_ns() / 1000

profile_current(s) if {
	p := facts.role_profiles[s.role_profile_id]
	p.uid == s.uid
	p.status == "active"
	p.start_us <= now_us
	not_ended(p)
}

not_ended(p) if p.end_us == null

not_ended(p) if now_us < p.end_us

# ---------------------------------------------------------------------------
# The policy input (rego/README.md), as authd/pdp/pdp.go builds it
# ---------------------------------------------------------------------------

policy_input(req) := {
	"now": time.format([time.now_ns(), "UTC", "2006-01-02T15:04:05Z07:00"]),
	"action": req.action.name,
	"resource": {
		"type": "patient_record",
		"nhs_number": nhs,
		"section": section,
		"seal": seal(pt, section),
	},
	"purpose": string_prop(context_of(req), "purpose", "direct_care"),
	"reason": string_prop(context_of(req), "reason", ""),
	"subject": {
		"uid": s.uid,
		"role_profile_id": s.role_profile_id,
		"org": p.org,
		"job_role": p.job_role,
		"activities": p.activities,
		"workgroups": p.workgroups,
	},
	"relationships": relationships(pt),
	"consent": consent(pt),
} if {
	s := facts.sessions[req.subject.id]
	p := facts.role_profiles[s.role_profile_id]
	nhs := req.resource.id
	pt := patient(nhs)
	section := section_of(req)
}

# A patient nobody recorded anything about has no facts.
patient(nhs) := facts.patients[nhs] if {
	facts.patients[nhs]
} else := {"relationships": [], "seals": {}}

# Ended relationships are left out; the others are marked expired unless
# current (created at or before now, not yet at expires_at).
relationships(pt) := [r |
	some x in pt.relationships
	not ended(x)
	r := {
		"kind": x.kind,
		"target_type": x.target_type,
		"target": x.target,
		"expires_at": x.expires_at,
		"expired": expired(x),
	}
]

ended(x) if {
	x.ended_us != null
	x.ended_us <= now_us
}

expired(x) := false if {
	x.created_us <= now_us
	unexpired(x)
} else := true

unexpired(x) if x.expires_us == null

unexpired(x) if now_us < x.expires_us

consent(pt) := {"scr": pt.consent.scr, "dissent_codes": pt.consent.dissent_codes} if {
	pt.consent
} else := {"scr": "unknown", "dissent_codes": []}

seal(pt, section) := {"state": s.state, "owner_workgroup": s.owner_workgroup} if {
	s := pt.seals[section]
} else := {"state": "none"}
