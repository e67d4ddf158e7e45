package chstore

import (
	"encoding/json"
	"fmt"

	"github.com/vigil-ids/vigil/internal/incident"
)

// detailJSON is an incident's detail column: the evidence of an address-keyed incident or the two logins of an
// impossible_travel one (JSON objects), or the per-country list of the others (a JSON array).
func detailJSON(inc *incident.Incident) ([]byte, error) {
	switch {
	case inc.Addr != nil:
		return json.Marshal(inc.Addr)
	case inc.Travel != nil:
		return json.Marshal(inc.Travel)
	}
	return json.Marshal(inc.Detail)
}

// parseDetail reads a detail column back into inc, whose Rule is set.
func parseDetail(detail string, inc *incident.Incident) error {
	if detail == "" || detail == "null" {
		return nil
	}
	var err error
	switch {
	case inc.Rule == incident.ImpossibleTravel:
		inc.Travel = &incident.Travel{}
		err = json.Unmarshal([]byte(detail), inc.Travel)
	case detail[0] == '{':
		inc.Addr = &incident.Addr{}
		err = json.Unmarshal([]byte(detail), inc.Addr)
	default:
		err = json.Unmarshal([]byte(detail), &inc.Detail)
	}
	if err != nil {
		return fmt.Errorf("incident %s detail: %w", inc.ID, err)
	}
	return nil
}
