package chstore

import (
	"encoding/json"
	"fmt"

	"github.com/vigil-ids/vigil/internal/incident"
)

// travelDetail marshals an impossible_travel incident's detail column: its two logins (incident.Travel) as a JSON
// object, where multi_country keeps a JSON array of countries. ok is false for incidents without travel evidence.
func travelDetail(inc *incident.Incident) (detail []byte, ok bool, err error) {
	if inc.Travel == nil {
		return nil, false, nil
	}
	detail, err = json.Marshal(inc.Travel)
	return detail, true, err
}

// parseTravelDetail fills inc.Travel from the detail column of an impossible_travel incident; ok is false for
// other rules.
func parseTravelDetail(inc *incident.Incident, detail string) (ok bool, err error) {
	if inc.Rule != incident.ImpossibleTravel {
		return false, nil
	}
	inc.Travel = &incident.Travel{}
	if err := json.Unmarshal([]byte(detail), inc.Travel); err != nil {
		return true, fmt.Errorf("incident %s travel detail: %w", inc.ID, err)
	}
	return true, nil
}
