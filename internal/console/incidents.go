package console

import (
	"net/http"
)

func (c *Console) incidentRoutes(mux *http.ServeMux) {
}

// unreviewed counts the incidents the signed-in admin has not reviewed (0 while the API has no incident routes).
func (c *Console) unreviewed(r *http.Request) (int, error) {
	return 0, nil
}
