// Package geoimport converts licence-free country databases into GeoIP2-Country files.
package geoimport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
	"go4.org/netipx"
)

// Attribution texts written into the converted databases' descriptions.
const (
	WhoisAttribution = "Converted by Vigil from ip-location-db geo-whois-asn-country (CC BY 4.0), built from whois data of the NRO and the RIRs (AFRINIC, APNIC, ARIN, LACNIC, RIPE NCC)"
	TorAttribution   = "Converted by Vigil from the IPFire location database as shipped by tor-geoipdb (CC BY-SA 4.0)"
)

// MaxLine bounds a line of a tor geoip file.
const MaxLine = 256

// Formats are the values of Options.Format.
var Formats = []string{"auto", "whois-mmdb", "tor"}

// Options says what Import converts.
type Options struct {
	Format string   // one of Formats; auto (the default): .mmdb files are whois-mmdb, the others tor
	Out    string   // the GeoIP2-Country database to write (atomically)
	Inputs []string // the files to convert
}

// Validate reports every problem with the options at once.
func (o Options) Validate() error {
	var errs []error
	if o.Format != "" && !slices.Contains(Formats, o.Format) {
		errs = append(errs, fmt.Errorf("unknown format %q: want %s", o.Format, strings.Join(Formats, ", ")))
	}
	if o.Out == "" || len(o.Inputs) == 0 {
		errs = append(errs, errors.New("want -out FILE and at least one INPUT"))
	}
	return errors.Join(errs...)
}

// Import converts the inputs into one GeoIP2-Country database (vigil geoip import), saying on stderr what it read
// from each input and on stdout what it wrote.
func Import(ctx context.Context, o Options, stdout, stderr io.Writer) error {
	if err := o.Validate(); err != nil {
		return fmt.Errorf("geoip import: %w", err)
	}
	if o.Format == "" {
		o.Format = "auto"
	}
	start := time.Now()
	var (
		nets        []Network
		attribution []string
	)
	for _, in := range o.Inputs {
		f := o.Format
		if f == "auto" {
			f = "tor"
			if strings.HasSuffix(in, ".mmdb") {
				f = "whois-mmdb"
			}
		}
		var (
			got []Network
			err error
		)
		switch f {
		case "whois-mmdb":
			got, err = readWhoisMMDB(in)
			attribution = appendOnce(attribution, WhoisAttribution)
		case "tor":
			got, err = readTorFile(in)
			attribution = appendOnce(attribution, TorAttribution)
		default:
			return fmt.Errorf("geoip import: unknown format %q", f)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "geoip import: %s: %d networks\n", in, len(got))
		nets = append(nets, got...)
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if len(nets) == 0 {
		return errors.New("geoip import: no networks with a country in the input")
	}
	tmp, err := os.CreateTemp(filepath.Dir(o.Out), ".geoip-import-*")
	if err != nil {
		return fmt.Errorf("geoip import: %w", err)
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriterSize(tmp, 1<<20)
	if err := WriteCountryDB(w, nets, strings.Join(attribution, "; ")); err != nil {
		tmp.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), o.Out); err != nil {
		return fmt.Errorf("geoip import: %w", err)
	}
	countries := map[string]bool{}
	for _, n := range nets {
		countries[n.Country] = true
	}
	st, _ := os.Stat(o.Out)
	fmt.Fprintf(stdout, "geoip import: wrote %s: %d networks, %d countries, %.1f MB in %s\n", o.Out, len(nets), len(countries), float64(st.Size())/1e6, time.Since(start).Round(time.Millisecond))
	return nil
}

func appendOnce(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// readWhoisMMDB reads an ip-location-db country mmdb (records {"country_code": "US"}).
func readWhoisMMDB(path string) ([]Network, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("geoip import: %s: %w", path, err)
	}
	defer r.Close()
	var out []Network
	var rec struct {
		CountryCode string `maxminddb:"country_code"`
	}
	for res := range r.Networks() {
		rec.CountryCode = ""
		if err := res.Decode(&rec); err != nil {
			return nil, fmt.Errorf("geoip import: %s: %w", path, err)
		}
		if cc, ok := countryCode(rec.CountryCode); ok {
			out = append(out, Network{Prefix: res.Prefix(), Country: cc})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("geoip import: %s has no country_code records (is it the geo-whois-asn-country database?)", path)
	}
	return out, nil
}

// readTorFile reads a tor geoip or geoip6 file.
func readTorFile(path string) ([]Network, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("geoip import: %w", err)
	}
	defer f.Close()
	var out []Network
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, MaxLine+1), MaxLine+1)
	line := 0
	for sc.Scan() {
		line++
		ps, cc, err := ParseTorLine(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("geoip import: %s:%d: %w", path, line, err)
		}
		for _, p := range ps {
			out = append(out, Network{Prefix: p, Country: cc})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("geoip import: %s:%d: %w", path, line+1, err)
	}
	return out, nil
}

// ParseTorLine parses one line of a tor geoip file: "start,end,CC" with IPv4 bounds as integers or IPv6 bounds as
// addresses. Comments, blank lines and unknown countries ("??") give no prefixes and no error.
func ParseTorLine(s string) ([]netip.Prefix, string, error) {
	s = strings.TrimSpace(s)
	if s == "" || s[0] == '#' {
		return nil, "", nil
	}
	if len(s) > MaxLine {
		return nil, "", fmt.Errorf("line longer than %d bytes", MaxLine)
	}
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return nil, "", fmt.Errorf("want start,end,CC; got %d fields", len(parts))
	}
	lo, err := torAddr(parts[0])
	if err != nil {
		return nil, "", err
	}
	hi, err := torAddr(parts[1])
	if err != nil {
		return nil, "", err
	}
	if lo.BitLen() != hi.BitLen() || hi.Less(lo) {
		return nil, "", fmt.Errorf("range %s-%s is empty or mixes address families", lo, hi)
	}
	cc, ok := countryCode(parts[2])
	if !ok {
		if parts[2] == "??" || parts[2] == "" {
			return nil, "", nil
		}
		return nil, "", fmt.Errorf("country %q is not a two-letter code", parts[2])
	}
	return netipx.IPRangeFrom(lo, hi).Prefixes(), cc, nil
}

func torAddr(s string) (netip.Addr, error) {
	if strings.Contains(s, ":") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Addr{}, fmt.Errorf("bad IPv6 address %q", s)
		}
		return a, nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("bad IPv4 integer %q", s)
	}
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), nil
}

func countryCode(s string) (string, bool) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if len(s) != 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' {
		return "", false
	}
	return s, true
}
