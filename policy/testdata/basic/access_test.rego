package spine.access_test

import data.spine.access

test_view_scr_with_activity if {
	access.decision.allow with input as {"action": "view", "resource": {"section": "scr"}, "subject": {"activities": ["B0370"]}}
}

test_view_scr_without_activity if {
	d := access.decision with input as {"action": "view", "resource": {"section": "scr"}, "subject": {"activities": ["B0264"]}}
	not d.allow
	d.reason_codes == ["activity_not_permitted"]
}
