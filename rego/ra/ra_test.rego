# Unit tests of data.spine.ra.decision against the shipped configuration
# (config.json, loaded as data.spine.config.ra).
package spine.ra_test

import data.spine.ra

# ---------------------------------------------------------------------------
# Fixtures: actors by role, activities with inclusions applied
# ---------------------------------------------------------------------------

agent := {
	"uid": "555000000013",
	"role_profile_id": "555000001301",
	"org": "RZZ",
	"job_role": "S8003:G8003:R5090",
	"activities": ["B1611", "B1612", "B1614"],
	"role_current": true,
}

manager := object.union(agent, {
	"uid": "555000000010",
	"role_profile_id": "555000001001",
	"activities": ["B1300", "B1610", "B1611", "B1612", "B1614"],
})

sponsor := object.union(agent, {
	"uid": "555000000015",
	"role_profile_id": "555000001501",
	"activities": ["B0825", "B0820", "B1300"],
})

smartcard_admin := object.union(agent, {
	"uid": "555000000016",
	"role_profile_id": "555000001601",
	"activities": ["B1615"],
})

clinician := object.union(agent, {
	"uid": "555000000011",
	"activities": ["B0370", "B0820"],
})

# The person acted on: registered at RZZ, asking for a nurse profile there.
person := {
	"uid": "555000000020",
	"org": "RZZ",
	"orgs": ["RZZ"],
	"activities": ["B0082", "B0168", "B0264", "B0370", "B0820"],
	"requested_by": "555000000013",
}

decide(action, actor, target) := d if {
	d := ra.decision with input as {"action": action, "actor": actor, "target": target}
}

allowed := {"allow": true, "reason_codes": []}

denied(codes) := {"allow": false, "reason_codes": codes}

# ---------------------------------------------------------------------------
# Each role may do its own actions
# ---------------------------------------------------------------------------

test_agent_actions_allowed if {
	every action in [
		"register_person", "update_person", "view_person", "find_people", "person_history",
		"request_role_profile", "end_role_profile", "list_pending",
		"issue_card", "renew_card", "cancel_card", "unlock_card",
	] {
		decide(action, agent, person) == allowed
	}
}

test_sponsor_approves if {
	decide("approve_role_profile", sponsor, person) == allowed
	decide("list_pending", sponsor, {}) == allowed
}

test_manager_reads_audit if {
	decide("read_audit", manager, {}) == allowed
}

test_smartcard_admin_unlocks_only if {
	decide("unlock_card", smartcard_admin, person) == allowed
	every action in ["issue_card", "renew_card", "cancel_card", "register_person", "request_role_profile"] {
		decide(action, smartcard_admin, person) == denied(["activity_not_permitted"])
	}
}

# ---------------------------------------------------------------------------
# Roles
# ---------------------------------------------------------------------------

test_clinician_is_not_ra if {
	every action in ["register_person", "view_person", "issue_card", "read_audit", "approve_role_profile"] {
		decide(action, clinician, person) == denied(["activity_not_permitted"])
	}
}

test_agent_does_not_approve if {
	decide("approve_role_profile", object.union(agent, {"uid": "555000000019"}), person) == denied(["activity_not_permitted"])
}

test_agent_does_not_read_audit if {
	decide("read_audit", agent, {}) == denied(["activity_not_permitted"])
}

test_sponsor_does_not_request if {
	decide("request_role_profile", sponsor, person) == denied(["activity_not_permitted"])
}

test_unknown_action if {
	decide("delete_person", agent, person) == denied(["unknown_action"])
	decide(7, agent, person) == denied(["unknown_action"])
}

test_missing_activities_deny if {
	decide("register_person", object.remove(agent, {"activities"}), person) == denied(["activity_not_permitted"])
	decide("register_person", object.union(agent, {"activities": ["", 1610]}), person) == denied(["activity_not_permitted"])
}

# ---------------------------------------------------------------------------
# The actor and their role profile
# ---------------------------------------------------------------------------

test_role_not_current if {
	decide("register_person", object.union(agent, {"role_current": false}), person) == denied(["role_not_current"])
	decide("register_person", object.remove(agent, {"role_current"}), person) == denied(["role_not_current"])
	decide("register_person", object.union(agent, {"role_current": "true"}), person) == denied(["role_not_current"])
}

test_actor_unknown if {
	decide("find_people", object.remove(agent, {"uid"}), {}) == denied(["actor_unknown"])
	decide("find_people", object.union(agent, {"org": " "}), {}) == denied(["actor_unknown"])
}

test_no_input if {
	d := ra.decision with input as {}
	d == denied(["actor_unknown", "role_not_current", "unknown_action"])
}

# ---------------------------------------------------------------------------
# Organisation scope
# ---------------------------------------------------------------------------

elsewhere := object.union(person, {"org": "Y12345", "orgs": ["Y12345"]})

test_agent_only_within_their_organisations if {
	every action in ["register_person", "request_role_profile", "end_role_profile"] {
		decide(action, agent, elsewhere) == denied(["outside_organisation"])
	}
	every action in ["update_person", "view_person", "person_history", "issue_card", "renew_card", "cancel_card", "unlock_card"] {
		decide(action, agent, elsewhere) == denied(["outside_organisation"])
	}
	decide("approve_role_profile", sponsor, elsewhere) == denied(["outside_organisation"])
}

test_person_in_several_organisations if {
	decide("issue_card", agent, object.union(person, {"orgs": ["Y12345", "RZZ"]})) == allowed
}

test_scope_facts_missing_deny if {
	decide("register_person", agent, object.remove(person, {"org"})) == denied(["outside_organisation"])
	decide("issue_card", agent, object.remove(person, {"orgs"})) == denied(["outside_organisation"])
	decide("issue_card", agent, object.union(person, {"orgs": []})) == denied(["outside_organisation"])
}

test_lists_are_not_scoped_by_target if {
	decide("find_people", agent, {}) == allowed
	decide("list_pending", agent, {}) == allowed
}

# ---------------------------------------------------------------------------
# Nobody grants to themselves or acts on their own card
# ---------------------------------------------------------------------------

test_no_self_grant if {
	self := object.union(person, {"uid": agent.uid, "requested_by": "555000000099"})
	decide("request_role_profile", agent, self) == denied(["self_grant_forbidden"])
	decide("end_role_profile", agent, self) == denied(["self_grant_forbidden"])
	decide("approve_role_profile", sponsor, object.union(self, {"uid": sponsor.uid})) == denied(["self_grant_forbidden"])
}

test_no_self_card_actions if {
	self := object.union(person, {"uid": agent.uid})
	every action in ["update_person", "issue_card", "renew_card", "cancel_card", "unlock_card"] {
		decide(action, agent, self) == denied(["self_action_forbidden"])
	}
	decide("unlock_card", smartcard_admin, object.union(person, {"uid": smartcard_admin.uid})) == denied(["self_action_forbidden"])
}

test_missing_target_uid_counts_as_self if {
	decide("issue_card", agent, object.remove(person, {"uid"})) == denied(["self_action_forbidden"])
	decide("request_role_profile", agent, object.union(person, {"uid": ""})) == denied(["self_grant_forbidden"])
}

test_self_view_allowed if {
	decide("view_person", agent, object.union(person, {"uid": agent.uid})) == allowed
}

# ---------------------------------------------------------------------------
# Granting activities
# ---------------------------------------------------------------------------

ra_request := object.union(person, {"activities": ["B1611", "B1612", "B1614"]})

test_agent_cannot_grant_ra_activities if {
	decide("request_role_profile", agent, ra_request) == denied(["activity_not_grantable"])
	decide("request_role_profile", agent, object.union(person, {"activities": ["B0370", "B1300"]})) == denied(["activity_not_grantable"])
	decide("end_role_profile", agent, ra_request) == denied(["activity_not_grantable"])
}

test_manager_grants_ra_activities if {
	decide("request_role_profile", manager, ra_request) == allowed
}

test_sponsor_cannot_approve_ra_activities if {
	decide("approve_role_profile", sponsor, ra_request) == denied(["activity_not_grantable"])
	decide("approve_role_profile", object.union(manager, {"uid": "555000000018"}), ra_request) == allowed
}

test_malformed_activities_not_grantable if {
	decide("request_role_profile", agent, object.union(person, {"activities": [""]})) == denied(["activity_not_grantable"])
	decide("request_role_profile", manager, object.union(person, {"activities": [5]})) == denied(["activity_not_grantable"])
	decide("request_role_profile", agent, object.remove(person, {"activities"})) == denied(["activity_not_grantable"])
	decide("request_role_profile", agent, object.union(person, {"activities": "B0370"})) == denied(["activity_not_grantable"])
}

test_empty_profile_grantable if {
	decide("request_role_profile", agent, object.union(person, {"activities": []})) == allowed
}

# ---------------------------------------------------------------------------
# Two people for every new role profile
# ---------------------------------------------------------------------------

test_requester_cannot_approve if {
	decide("approve_role_profile", sponsor, object.union(person, {"requested_by": sponsor.uid})) == denied(["approval_by_requester"])
}

test_requester_unknown if {
	decide("approve_role_profile", sponsor, object.remove(person, {"requested_by"})) == denied(["requester_unknown"])
	decide("approve_role_profile", sponsor, object.union(person, {"requested_by": ""})) == denied(["requester_unknown"])
}

test_every_failure_reported if {
	self := object.union(ra_request, {"uid": sponsor.uid, "requested_by": sponsor.uid, "org": "Y12345"})
	decide("approve_role_profile", sponsor, self) == denied([
		"activity_not_grantable", "approval_by_requester", "outside_organisation", "self_grant_forbidden",
	])
}

test_config_loaded if {
	data.spine.config.ra.role_activities.sponsor == "B1300"
}
