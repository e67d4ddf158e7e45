package decision

import "slices"

// Select returns the decisions in the index (in force or not) for which keep reports true, oldest first.
func (x *Index) Select(keep func(*Decision) bool) []Decision {
	x.mu.RLock()
	var out []Decision
	for _, d := range x.byID {
		if keep(&d) {
			out = append(out, d)
		}
	}
	x.mu.RUnlock()
	slices.SortFunc(out, func(a, b Decision) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		if a.ID < b.ID {
			return -1
		}
		return 1
	})
	return out
}

// CausedBy reports whether incident id caused d, alone or as part of a combination.
func (d *Decision) CausedBy(id string) bool {
	return id != "" && (d.IncidentID == id || slices.Contains(d.Related, id))
}
