package clientip

import (
	"net/http/httptest"
	"testing"
)

func TestClientIP(t *testing.T) {
	none, _ := NewResolver("")
	proxy, err := NewResolver("10.0.0.0/24, 2001:db8::1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		r    *Resolver
		peer string
		xff  []string
		want string
	}{
		{"no proxies: spoofed header ignored", none, "203.0.113.9:5555", []string{"1.2.3.4"}, "203.0.113.9"},
		{"mapped peer", none, "[::ffff:203.0.113.9]:5555", nil, "203.0.113.9"},
		{"trusted proxy: right-most untrusted", proxy, "10.0.0.5:443", []string{"6.6.6.6, 198.51.100.7"}, "198.51.100.7"},
		{"chain of trusted proxies", proxy, "10.0.0.5:443", []string{"198.51.100.7, 10.0.0.9", "10.0.0.8"}, "198.51.100.7"},
		{"attacker-controlled leftmost ignored", proxy, "10.0.0.5:443", []string{"1.1.1.1, 198.51.100.7"}, "198.51.100.7"},
		{"malformed header: peer", proxy, "10.0.0.5:443", []string{"198.51.100.7, not-an-ip"}, "10.0.0.5"},
		{"zone in header: peer", proxy, "10.0.0.5:443", []string{"fe80::1%eth0"}, "10.0.0.5"},
		{"no header: peer", proxy, "10.0.0.5:443", nil, "10.0.0.5"},
		{"untrusted peer with header", proxy, "192.0.2.1:443", []string{"198.51.100.7"}, "192.0.2.1"},
		{"IPv6 proxy", proxy, "[2001:db8::1]:443", []string{"2001:db8:ffff::2"}, "2001:db8:ffff::2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/", nil)
			req.RemoteAddr = tt.peer
			for _, v := range tt.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			if got := tt.r.ClientIP(req); got.String() != tt.want {
				t.Errorf("ClientIP = %s; want %s", got, tt.want)
			}
		})
	}
	if _, err := NewResolver("10.0.0.0/33"); err == nil {
		t.Error("bad proxy accepted")
	}
}
