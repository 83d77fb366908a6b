# Unit tests of data.spine.access.decision against the shipped
# configuration (config.json, loaded as data.spine.config).
package spine.access_test

import data.spine.access

# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------

# Clinical Practitioner Access Role, activities with inclusions applied.
clinician := {
	"uid": "555000000011",
	"role_profile_id": "555000001101",
	"org": "Y12345",
	"job_role": "S8000:G8000:R8000",
	"activities": ["B0020", "B0082", "B0168", "B0264", "B0370", "B0820", "B0825", "B8028"],
	"workgroups": ["riverside-gp-team"],
}

org_lr := {"kind": "registered", "target_type": "organisation", "target": "Y12345", "expires_at": null}

# An allowed direct-care view of the SCR; each test patches what it needs.
base := {
	"now": "2026-11-22T10:00:00Z",
	"action": "view",
	"resource": {
		"type": "patient_record",
		"nhs_number": "9990001235",
		"section": "scr",
		"seal": {"state": "none"},
	},
	"purpose": "direct_care",
	"reason": "",
	"subject": clinician,
	"relationships": [org_lr],
	"consent": {"scr": "yes", "dissent_codes": []},
}

# base with patch merged in (objects merge recursively, arrays are replaced).
req(patch) := object.union(base, patch)

# base with one top-level key replaced outright (to drop nested keys).
replaced(key, value) := object.union(object.remove(base, {key}), {key: value})

decide(patch) := d if {
	d := access.decision with input as req(patch)
}

allowed := {"allow": true, "reason_codes": [], "obligations": []}

denied(codes) := {"allow": false, "reason_codes": codes, "obligations": []}

allowed_with(alert_types) := {
	"allow": true,
	"reason_codes": [],
	"obligations": [{"type": "alert", "alert_type": t} | some t in alert_types],
}

not_found := {"allow": false, "reason_codes": ["not_found"], "obligations": []}

no_lr := {"relationships": []}

emergency(reason) := {"purpose": "emergency", "reason": reason}

sealed_by(wg) := {"resource": {"seal": {"state": "sealed_locked", "owner_workgroup": wg}}}

with_activities(codes) := {"subject": {"activities": codes}}

# ---------------------------------------------------------------------------
# Shape and configuration
# ---------------------------------------------------------------------------

shape_ok(d) if {
	object.keys(d) == {"allow", "reason_codes", "obligations"}
	is_boolean(d.allow)
	is_array(d.reason_codes)
	is_array(d.obligations)
}

test_config_loaded if {
	data.spine.config.section_activities.scr.view == "B0370"
	data.spine.config.emergency == {"activity": "B0168", "override_dissent": false}
	data.spine.config.seal.break_activity == "B0058"
	data.spine.config.self_claim_activity == "B0082"
	data.spine.config.dissent_codes == ["93C3", "9Ndo"]
}

test_decision_always_has_three_keys if {
	inputs := [
		base,
		{},
		{"action": 1, "resource": "scr", "subject": [], "relationships": {}, "consent": "no"},
		req({"resource": {"section": "genomics"}}),
		req(sealed_by("other-team")),
		req(emergency("")),
		req(no_lr),
	]
	every i in inputs {
		shape_ok(access.decision) with input as i
	}
}

test_every_deny_has_a_reason if {
	patches := [
		no_lr,
		emergency(""),
		{"action": "delete"},
		{"consent": {"scr": "no"}},
		with_activities([]),
		{"resource": {"seal": {"state": "sealed"}}},
	]
	every p in patches {
		d := decide(p)
		d.allow == false
		count(d.reason_codes) > 0
	}
}

test_empty_input_denied if {
	access.decision == denied([
		"no_legitimate_relationship",
		"unknown_action",
		"unknown_purpose",
		"unknown_section",
	]) with input as {}
}

test_no_config_denies if {
	access.decision == denied(["unknown_action", "unknown_section"]) with input as base with data.spine.config as {}
}

# ---------------------------------------------------------------------------
# Actions, sections, purposes
# ---------------------------------------------------------------------------

test_unknown_action if decide({"action": "delete"}) == denied(["unknown_action"])

test_missing_action if {
	access.decision == denied(["unknown_action"]) with input as object.remove(base, {"action"})
}

test_action_not_mapped_for_section if {
	decide({"action": "self_claim"}) == denied(["unknown_action"])
	decide({"resource": {"section": "relationship"}}) == denied(["unknown_action"])
}

test_unknown_section if decide({"resource": {"section": "genomics"}}) == denied(["unknown_section"])

test_missing_section if {
	access.decision == denied(["unknown_section"]) with input as req({"resource": {"section": null}})
}

test_unknown_action_and_section if {
	decide({"action": "delete", "resource": {"section": "genomics"}}) == denied(["unknown_action", "unknown_section"])
}

test_known_action_unknown_section if {
	decide({"action": "amend", "resource": {"section": "genomics"}}) == denied(["unknown_section"])
}

test_deployment_mapped_section if {
	sections := object.union(data.spine.config.section_activities, {"maternity": {"view": "B0264"}})
	access.decision == allowed with input as req({"resource": {"section": "maternity"}})
		with data.spine.config.section_activities as sections
}

test_section_mapped_to_non_object_is_unknown if {
	sections := object.union(data.spine.config.section_activities, {"x": "B0264"})
	access.decision == denied(["unknown_section"]) with input as req({"resource": {"section": "x"}})
		with data.spine.config.section_activities as sections
}

test_unknown_purpose if {
	decide({"purpose": "research"}) == denied(["unknown_purpose"])
	access.decision == denied(["unknown_purpose"]) with input as object.remove(base, {"purpose"})
}

# ---------------------------------------------------------------------------
# Activities
# ---------------------------------------------------------------------------

test_clinician_allowed_every_section if {
	every section, action in {"scr": "amend", "demographics": "amend", "clinical": "view"} {
		decide({"action": action, "resource": {"section": section}}) == allowed
	}
}

test_nurse_views_scr_but_cannot_amend if {
	nurse := with_activities(["B0082", "B0168", "B0264", "B0370", "B0820"])
	decide(nurse) == allowed
	decide(object.union(nurse, {"action": "amend"})) == denied(["activity_not_permitted"])
}

test_clerk_views_demographics_only if {
	clerk := with_activities(["B0820"])
	decide(object.union(clerk, {"resource": {"section": "demographics"}})) == allowed
	decide(object.union(clerk, {"action": "amend", "resource": {"section": "demographics"}})) == denied(["activity_not_permitted"])
	decide(clerk) == denied(["activity_not_permitted"])
	decide(object.union(clerk, {"resource": {"section": "clinical"}})) == denied(["activity_not_permitted"])
}

test_admin_amends_demographics_through_closure if {
	admin := with_activities(["B0820", "B0825"])
	decide(object.union(admin, {"action": "amend", "resource": {"section": "demographics"}})) == allowed
	decide(object.union(admin, {"resource": {"section": "demographics"}})) == allowed
}

test_no_activities if {
	access.decision == denied(["activity_not_permitted"]) with input as replaced("subject", object.remove(clinician, {"activities"}))
	decide(with_activities([])) == denied(["activity_not_permitted"])
}

test_activity_mapped_to_blank_is_never_held if {
	access.decision == denied(["activity_not_permitted"]) with input as req(with_activities(["", "B0370"]))
		with data.spine.config.section_activities.scr.view as ""
}

test_activity_and_relationship_both_fail if {
	decide(object.union(no_lr, with_activities(["B0820"]))) == denied(["activity_not_permitted", "no_legitimate_relationship"])
}

# ---------------------------------------------------------------------------
# Legitimate relationships
# ---------------------------------------------------------------------------

test_lr_by_organisation if decide({"relationships": [org_lr]}) == allowed

test_lr_by_user if {
	decide({"relationships": [{"kind": "referral", "target_type": "user", "target": "555000000011"}]}) == allowed
}

test_lr_by_workgroup if {
	decide({"relationships": [{"kind": "referral", "target_type": "workgroup", "target": "riverside-gp-team"}]}) == allowed
}

test_no_lr if {
	decide(no_lr) == denied(["no_legitimate_relationship"])
	access.decision == denied(["no_legitimate_relationship"]) with input as object.remove(base, {"relationships"})
}

test_lr_for_someone_else if {
	others := [
		{"target_type": "organisation", "target": "Y99999"},
		{"target_type": "user", "target": "555000000099"},
		{"target_type": "workgroup", "target": "hillside-team"},
		{"target_type": "team", "target": "riverside-gp-team"},
		{"target_type": "organisation", "target": "riverside-gp-team"},
		{"target_type": "workgroup", "target": "Y12345"},
	]
	every rel in others {
		decide({"relationships": [rel]}) == denied(["no_legitimate_relationship"])
	}
}

test_blank_target_never_matches if {
	blank := {"subject": {"uid": "", "org": "", "workgroups": [""]}}
	every t in ["user", "workgroup", "organisation"] {
		decide(object.union(blank, {"relationships": [{"target_type": t, "target": ""}]})) == denied(["no_legitimate_relationship"])
	}
}

test_lr_expired if {
	expired := object.union(org_lr, {"expired": true})
	decide({"relationships": [expired]}) == denied(["legitimate_relationship_expired"])
}

test_lr_expired_and_current if {
	expired := {"target_type": "user", "target": "555000000011", "expired": true}
	decide({"relationships": [expired, org_lr]}) == allowed
}

test_lr_expired_false_is_current if {
	decide({"relationships": [object.union(org_lr, {"expired": false})]}) == allowed
}

test_lr_expired_only_for_us_current_for_others if {
	expired := {"target_type": "workgroup", "target": "riverside-gp-team", "expired": true}
	other := {"target_type": "organisation", "target": "Y99999"}
	decide({"relationships": [expired, other]}) == denied(["legitimate_relationship_expired"])
}

test_lr_past_expires_at_counts_as_expired if {
	every expires_at in [
		"2026-11-22T09:59:59Z",
		"2026-11-22T10:00:00Z", # expiring now is expired
		"2026-11-22T11:00:00+02:00", # compared as instants, not strings
	] {
		decide({"relationships": [object.union(org_lr, {"expires_at": expires_at})]}) == denied(["legitimate_relationship_expired"])
	}
}

test_lr_future_expires_at_is_current if {
	future := object.union(org_lr, {"expires_at": "2027-01-01T00:00:00Z"})
	decide({"relationships": [future]}) == allowed
}

test_lr_uncomparable_expiry_is_not_current if {
	bad := object.union(org_lr, {"expires_at": "next tuesday"})
	decide({"relationships": [bad]}) == denied(["legitimate_relationship_expired"])
	future := object.union(org_lr, {"expires_at": "2027-01-01T00:00:00Z"})
	access.decision == denied(["legitimate_relationship_expired"]) with input as object.remove(
		req({"relationships": [future]}),
		{"now"},
	)
}

# ---------------------------------------------------------------------------
# Consent to the summary care record
# ---------------------------------------------------------------------------

test_consent_yes if decide({"consent": {"scr": "yes"}}) == allowed

test_consent_no if {
	decide({"consent": {"scr": "no"}}) == denied(["patient_dissent"])
	decide({"consent": {"scr": "No"}}) == denied(["patient_dissent"])
	decide({"action": "amend", "consent": {"scr": "no"}}) == denied(["patient_dissent"])
}

test_dissent_codes if {
	every code in ["93C3", "9Ndo"] {
		decide({"consent": {"scr": "yes", "dissent_codes": ["XaXj3", code]}}) == denied(["patient_dissent"])
	}
}

test_other_read_codes_do_not_block if {
	decide({"consent": {"scr": "yes", "dissent_codes": ["XaXj3", "9NDO"]}}) == allowed
}

test_consent_ask_and_unknown_do_not_block if {
	decide({"consent": {"scr": "ask"}}) == allowed
	decide({"consent": {"scr": "unknown"}}) == allowed
	access.decision == allowed with input as object.remove(base, {"consent"})
}

test_dissent_only_applies_to_scr if {
	decide({"resource": {"section": "demographics"}, "consent": {"scr": "no", "dissent_codes": ["93C3"]}}) == allowed
}

test_dissent_codes_are_configurable if {
	access.decision == denied(["patient_dissent"]) with input as req({"consent": {"dissent_codes": ["XaXj3"]}})
		with data.spine.config.dissent_codes as ["XaXj3"]
	access.decision == allowed with input as req({"consent": {"dissent_codes": ["93C3"]}})
		with data.spine.config.dissent_codes as []
}

test_dissent_codes_default_when_not_configured if {
	config := object.remove(data.spine.config, {"dissent_codes"})
	access.decision == denied(["patient_dissent"]) with input as req({"consent": {"dissent_codes": ["9Ndo"]}})
		with data.spine.config as config
}

test_dissent_and_no_lr if {
	decide(object.union(no_lr, {"consent": {"scr": "no"}})) == denied(["no_legitimate_relationship", "patient_dissent"])
}

# ---------------------------------------------------------------------------
# Emergency access
# ---------------------------------------------------------------------------

test_emergency_with_reason_needs_no_lr if {
	decide(object.union(no_lr, emergency("Unconscious in A&E"))) == allowed_with(["emergency_access"])
	decide(emergency("Unconscious in A&E")) == allowed_with(["emergency_access"])
}

test_emergency_without_reason if {
	decide(emergency("")) == denied(["emergency_reason_required"])
	decide(emergency(" \t\n")) == denied(["emergency_reason_required"])
	decide(emergency(42)) == denied(["emergency_reason_required"])
	access.decision == denied(["emergency_reason_required"]) with input as object.remove(req(emergency("")), {"reason"})
}

test_emergency_without_reason_still_needs_lr if {
	decide(object.union(no_lr, emergency(""))) == denied(["emergency_reason_required", "no_legitimate_relationship"])
}

test_emergency_needs_emergency_activity if {
	nurse_no_b0168 := with_activities(["B0264", "B0370", "B0820"])
	decide(object.union(nurse_no_b0168, emergency("Collapsed in clinic"))) == denied(["activity_not_permitted"])
	decide(nurse_no_b0168) == allowed
}

test_emergency_activity_not_configured_denies if {
	access.decision == denied(["activity_not_permitted"]) with input as req(emergency("Collapsed in clinic"))
		with data.spine.config.emergency as {"override_dissent": true}
}

test_emergency_still_needs_section_activity if {
	only_b0168 := with_activities(["B0168"])
	decide(object.union(only_b0168, emergency("Collapsed in clinic"))) == denied(["activity_not_permitted"])
}

test_emergency_dissent_not_overridden_by_default if {
	decide(object.union(emergency("Collapsed in clinic"), {"consent": {"scr": "no"}})) == denied(["patient_dissent"])
	decide(object.union(emergency("Collapsed in clinic"), {"consent": {"dissent_codes": ["93C3"]}})) == denied(["patient_dissent"])
}

test_emergency_dissent_override if {
	p := object.union(object.union(no_lr, emergency("Anaphylaxis")), {"consent": {"scr": "no", "dissent_codes": ["9Ndo"]}})
	access.decision == allowed_with(["dissent_override", "emergency_access"]) with input as req(p)
		with data.spine.config.emergency.override_dissent as true
}

test_emergency_dissent_override_needs_reason if {
	p := object.union(emergency(""), {"consent": {"scr": "no"}})
	access.decision == denied(["emergency_reason_required", "patient_dissent"]) with input as req(p)
		with data.spine.config.emergency.override_dissent as true
}

test_emergency_dissent_override_must_be_true if {
	p := object.union(emergency("Anaphylaxis"), {"consent": {"scr": "no"}})
	access.decision == denied(["patient_dissent"]) with input as req(p)
		with data.spine.config.emergency.override_dissent as "true"
}

test_override_does_not_apply_to_direct_care if {
	access.decision == denied(["patient_dissent"]) with input as req({"consent": {"scr": "no"}})
		with data.spine.config.emergency.override_dissent as true
}

test_no_dissent_no_override_alert if {
	access.decision == allowed_with(["emergency_access"]) with input as req(emergency("Anaphylaxis"))
		with data.spine.config.emergency.override_dissent as true
}

test_emergency_on_other_sections if {
	decide(object.union(object.union(no_lr, emergency("Stroke call")), {"resource": {"section": "clinical"}})) == allowed_with(["emergency_access"])
}

# ---------------------------------------------------------------------------
# Sealed envelopes
# ---------------------------------------------------------------------------

# The clinician fixture plus B0058 (break seal), which only the Caldicott
# Guardian role has by default.
sealed := {
	"resource": {"seal": {"state": "sealed", "owner_workgroup": "hillside-team"}},
	"subject": {"activities": array.concat(clinician.activities, ["B0058"])},
}

test_sealed_with_reason if {
	decide(object.union(sealed, {"reason": "Safeguarding review"})) == allowed_with(["seal_broken"])
}

test_sealed_without_reason if {
	decide(sealed) == denied(["seal_reason_required"])
	decide(object.union(sealed, {"reason": "   "})) == denied(["seal_reason_required"])
}

test_sealed_without_break_activity if {
	p := object.union(object.union(sealed, {"reason": "Safeguarding review"}), with_activities(["B0370", "B0820"]))
	decide(p) == denied(["activity_not_permitted"])
	decide(object.union(p, {"reason": ""})) == denied(["activity_not_permitted", "seal_reason_required"])
}

test_sealed_with_break_activity if {
	p := object.union(object.union(sealed, {"reason": "Safeguarding review"}), with_activities(["B0058", "B0370", "B0820"]))
	decide(p) == allowed_with(["seal_broken"])
}

test_sealed_break_activity_not_configured if {
	p := req(object.union(object.union(sealed, {"reason": "Safeguarding review"}), with_activities(["B0370"])))
	access.decision == allowed_with(["seal_broken"]) with input as p with data.spine.config.seal as {}
	access.decision == allowed_with(["seal_broken"]) with input as p with data.spine.config.seal.break_activity as ""
	access.decision == allowed_with(["seal_broken"]) with input as p with data.spine.config.seal.break_activity as null
}

test_sealed_break_activity_misconfigured_is_never_held if {
	p := req(object.union(sealed, {"reason": "Safeguarding review"}))
	access.decision == denied(["activity_not_permitted"]) with input as p with data.spine.config.seal.break_activity as 58
}

test_sealed_other_rules_still_apply if {
	decide(object.union(object.union(sealed, {"reason": "Safeguarding review"}), no_lr)) == denied(["no_legitimate_relationship"])
}

test_sealed_in_emergency if {
	p := object.union(object.union(sealed, no_lr), emergency("Unconscious in A&E"))
	decide(p) == allowed_with(["emergency_access", "seal_broken"])
}

test_no_seal_or_null_seal_is_unsealed if {
	access.decision == allowed with input as req({"resource": {"seal": null}})
	access.decision == allowed with input as replaced("resource", object.remove(base.resource, {"seal"}))
}

# ---------------------------------------------------------------------------
# Sealed and locked
# ---------------------------------------------------------------------------

test_sealed_locked_owning_team_sees_it if {
	decide(sealed_by("riverside-gp-team")) == allowed
}

test_sealed_locked_owning_team_still_needs_lr_and_activity if {
	decide(object.union(sealed_by("riverside-gp-team"), no_lr)) == denied(["no_legitimate_relationship"])
	decide(object.union(sealed_by("riverside-gp-team"), with_activities(["B0820"]))) == denied(["activity_not_permitted"])
	decide(object.union(sealed_by("riverside-gp-team"), {"action": "delete"})) == denied(["unknown_action"])
}

test_sealed_locked_other_team_not_found if {
	decide(sealed_by("hillside-team")) == not_found
	decide(object.union(sealed_by("hillside-team"), {"reason": "I need to see it"})) == not_found
	decide(object.union(sealed_by("hillside-team"), emergency("Unconscious in A&E"))) == not_found
}

test_sealed_locked_not_found_even_when_everything_else_fails if {
	everything_wrong := {
		"action": "delete",
		"resource": {"section": "genomics", "seal": {"state": "sealed_locked", "owner_workgroup": "hillside-team"}},
		"purpose": "emergency",
		"reason": "",
		"subject": {"activities": [], "workgroups": []},
		"relationships": [object.union(org_lr, {"expired": true})],
		"consent": {"scr": "no", "dissent_codes": ["93C3"]},
	}
	decide(everything_wrong) == not_found
	access.decision == not_found with input as {"resource": {"seal": {"state": "sealed_locked"}}}
}

test_sealed_locked_without_owner_hidden_from_all if {
	decide({"resource": {"seal": {"state": "sealed_locked"}}}) == not_found
	decide({"resource": {"seal": {"state": "sealed_locked", "owner_workgroup": ""}}, "subject": {"workgroups": [""]}}) == not_found
}

test_sealed_locked_no_workgroups_not_found if {
	access.decision == not_found with input as object.union(
		replaced("subject", object.remove(clinician, {"workgroups"})),
		sealed_by("riverside-gp-team"),
	)
}

test_unrecognised_seal_state_hidden if {
	decide({"resource": {"seal": {"state": "SEALED"}}}) == not_found
	decide({"resource": {"seal": {"state": ""}}}) == not_found
	access.decision == not_found with input as replaced("resource", {"section": "scr", "seal": {"owner_workgroup": "hillside-team"}})
	decide({"resource": {"seal": "sealed"}}) == not_found
	decide({"resource": {"seal": {"state": "restricted", "owner_workgroup": "riverside-gp-team"}}}) == allowed
}

# ---------------------------------------------------------------------------
# Self-claimed legitimate relationships
# ---------------------------------------------------------------------------

self_claim := {
	"action": "self_claim",
	"resource": {"section": "relationship"},
	"reason": "Patient presented at walk-in centre",
	"relationships": [],
}

test_self_claim_allowed_without_lr if {
	decide(self_claim) == allowed_with(["self_claimed_relationship"])
}

test_self_claim_needs_reason if {
	decide(object.union(self_claim, {"reason": ""})) == denied(["self_claim_reason_required"])
	decide(object.union(self_claim, {"reason": "  "})) == denied(["self_claim_reason_required"])
}

test_self_claim_needs_activity if {
	decide(object.union(self_claim, with_activities(["B0370", "B0820"]))) == denied(["activity_not_permitted"])
	decide(object.union(self_claim, with_activities([]))) == denied(["activity_not_permitted"])
	decide(object.union(self_claim, {"reason": "", "subject": {"activities": []}})) == denied(["activity_not_permitted", "self_claim_reason_required"])
}

test_self_claim_activity_is_configurable if {
	access.decision == denied(["activity_not_permitted"]) with input as req(self_claim)
		with data.spine.config.self_claim_activity as "B0083"
	config := object.remove(data.spine.config, {"self_claim_activity"})
	access.decision == denied(["activity_not_permitted"]) with input as req(self_claim)
		with data.spine.config as config
	access.decision == allowed_with(["self_claimed_relationship"]) with input as req(object.union(self_claim, with_activities(["B0082", "B0083"])))
		with data.spine.config.self_claim_activity as "B0083"
}

test_self_claim_in_emergency if {
	p := object.union(self_claim, {"purpose": "emergency"})
	decide(p) == allowed_with(["emergency_access", "self_claimed_relationship"])
}

test_self_claim_on_other_section_is_unknown_action if {
	decide({"action": "self_claim", "reason": "x"}) == denied(["unknown_action"])
	decide({"action": "self_claim", "reason": "x", "relationships": []}) == denied(["no_legitimate_relationship", "unknown_action"])
}

# ---------------------------------------------------------------------------
# Obligations
# ---------------------------------------------------------------------------

test_obligations_sorted_and_deduplicated if {
	p := object.union(
		object.union(sealed, emergency("Anaphylaxis")),
		{"consent": {"scr": "no", "dissent_codes": ["93C3", "9Ndo", "93C3"]}},
	)
	d := access.decision with input as req(p) with data.spine.config.emergency.override_dissent as true
	d.obligations == [
		{"type": "alert", "alert_type": "dissent_override"},
		{"type": "alert", "alert_type": "emergency_access"},
		{"type": "alert", "alert_type": "seal_broken"},
	]
	d.allow == true
}

test_no_obligations_when_denied if {
	p := object.union(object.union(sealed, emergency("Anaphylaxis")), with_activities(["B0370"]))
	decide(p) == denied(["activity_not_permitted"])
	decide(object.union(self_claim, with_activities([]))).obligations == []
}

test_reason_codes_sorted_and_deduplicated if {
	p := {
		"purpose": "emergency",
		"reason": "",
		"relationships": [],
		"subject": {"activities": []},
		"resource": {"seal": {"state": "sealed"}},
		"consent": {"scr": "no"},
	}
	decide(p) == denied([
		"activity_not_permitted",
		"emergency_reason_required",
		"no_legitimate_relationship",
		"patient_dissent",
		"seal_reason_required",
	])
}
