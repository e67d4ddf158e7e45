package geoimport

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Network is a range of addresses located in one country.
type Network struct {
	Prefix  netip.Prefix
	Country string
}

// WriteCountryDB writes a GeoIP2-Country-shaped database ({"country": {"iso_code": CC}}) holding the networks.
func WriteCountryDB(w io.Writer, networks []Network, description string) error {
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            "GeoIP2-Country",
		Description:             map[string]string{"en": description},
		Languages:               []string{"en"},
		RecordSize:              24,
		IncludeReservedNetworks: true,
		BuildEpoch:              time.Now().Unix(),
	})
	if err != nil {
		return fmt.Errorf("geoip writer: %w", err)
	}
	for _, n := range networks {
		p := n.Prefix.Masked()
		if aliased(p) {
			continue // the IPv4 data is reachable there through the writer's aliases
		}
		ipnet := &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
		rec := mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(n.Country)}}
		if err := tree.Insert(ipnet, rec); err != nil {
			return fmt.Errorf("geoip writer: insert %s: %w", n.Prefix, err)
		}
	}
	if _, err := tree.WriteTo(w); err != nil {
		return fmt.Errorf("geoip writer: %w", err)
	}
	return nil
}

// aliasRanges are the IPv6 ranges MaxMind databases alias to the IPv4 tree (IPv4-mapped, 6to4, Teredo); data
// for them comes from the IPv4 networks.
var aliasRanges = []netip.Prefix{
	netip.MustParsePrefix("::ffff:0:0/96"),
	netip.MustParsePrefix("2002::/16"),
	netip.MustParsePrefix("2001::/32"),
}

func aliased(p netip.Prefix) bool {
	if p.Addr().Is4() {
		return false
	}
	for _, a := range aliasRanges {
		if a.Overlaps(p) {
			return true
		}
	}
	return false
}
