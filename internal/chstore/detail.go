package chstore

import (
	"encoding/json"
	"fmt"

	"github.com/vigil-ids/vigil/internal/incident"
)

// detailJSON is an incident's detail column: the evidence of an address-keyed incident (a JSON object), or the
// per-country list of the others (a JSON array).
func detailJSON(inc *incident.Incident) ([]byte, error) {
	if inc.Addr != nil {
		return json.Marshal(inc.Addr)
	}
	return json.Marshal(inc.Detail)
}

// parseDetail reads a detail column back into inc.
func parseDetail(detail string, inc *incident.Incident) error {
	if detail == "" || detail == "null" {
		return nil
	}
	var err error
	if detail[0] == '{' {
		inc.Addr = &incident.Addr{}
		err = json.Unmarshal([]byte(detail), inc.Addr)
	} else {
		err = json.Unmarshal([]byte(detail), &inc.Detail)
	}
	if err != nil {
		return fmt.Errorf("incident %s detail: %w", inc.ID, err)
	}
	return nil
}
