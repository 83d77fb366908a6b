package spine.access

default decision := {"allow": false, "reason_codes": ["activity_not_permitted"], "obligations": []}

decision := {"allow": true, "reason_codes": [], "obligations": []} if {
	needed := data.spine.config.section_activities[input.resource.section][input.action]
	needed in input.subject.activities
}
