package engine

// Forget drops the state of every user for whom drop returns true (the users of a partition another detector now
// owns). It returns the number of users still tracked.
func (e *Engine) Forget(drop func(user string) bool) int {
	for name := range e.users {
		if drop(name) {
			delete(e.users, name)
		}
	}
	return len(e.users)
}
