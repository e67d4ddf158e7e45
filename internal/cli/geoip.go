package cli

import (
	"context"
	"flag"

	"github.com/vigil-ids/vigil/internal/geoimport"
)

func geoipImport() *Command {
	var o geoimport.Options
	return &Command{
		Name:     "geoip import",
		Summary:  "convert licence-free country data into a GeoIP2-Country database",
		Synopsis: "[-format auto|whois-mmdb|tor] -out FILE INPUT [INPUT ...]",
		Help:     "INPUT is ip-location-db's geo-whois-asn-country mmdb or a tor geoip/geoip6 file (Debian's tor-geoipdb).",
		MinArgs:  1, MaxArgs: Many,
		Flags: func(fs *flag.FlagSet, _ func(string) string) {
			fs.StringVar(&o.Format, "format", "auto", "input format: auto (.mmdb = whois-mmdb, otherwise tor), whois-mmdb or tor")
			fs.StringVar(&o.Out, "out", "", "output GeoIP2-Country database (written atomically)")
		},
		Run: func(ctx context.Context, e Env) error {
			o.Inputs = e.Args
			if err := o.Validate(); err != nil {
				return usagef("%w", err)
			}
			return geoimport.Import(ctx, o, e.Stdout, e.Stderr)
		},
	}
}
