package notify

import (
	"context"
	"slices"
	"time"

	"github.com/vigil-ids/vigil/internal/chstore"
)

// maxOwnerLogins bounds the logins an owner mail lists.
const maxOwnerLogins = 50

// StoreLogins answers an owner mail's logins from the ClickHouse history (the console's Last Logins query).
type StoreLogins struct{ Store *chstore.Store }

// Logins returns the user's logins in [from, to), oldest first, at most 50.
func (s StoreLogins) Logins(ctx context.Context, user string, from, to time.Time) ([]Login, error) {
	rows, err := s.Store.UserLogins(ctx, chstore.LoginFilter{User: user, From: from, To: to, Limit: maxOwnerLogins})
	if err != nil {
		return nil, err
	}
	out := make([]Login, 0, len(rows))
	for _, r := range rows {
		out = append(out, Login{Time: r.Time, Country: r.Country, IP: r.IP, Service: r.Service, Success: r.Success})
	}
	slices.Reverse(out)
	return out, nil
}
