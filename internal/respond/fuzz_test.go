package respond

import "testing"

func FuzzDecodeIncident(f *testing.F) {
	f.Add([]byte(`{"incident_id":"ab12","rule":"brute_force","user":"a@b","version":1}`))
	f.Add([]byte(`{"incident_id":"ab12","rule":"password_spray","addr":{"key":"192.0.2.0/24","victims":["a@b"]}}`))
	f.Add([]byte(`{"incident_id":"XYZ"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		inc, err := decodeIncident(data)
		if err != nil {
			return
		}
		if inc.ID == "" || len(inc.ID) > 64 || (inc.User == "" && (inc.Addr == nil || inc.Addr.Key == "")) {
			t.Fatalf("accepted %+v", inc)
		}
	})
}

func FuzzParseDoveadm(f *testing.F) {
	f.Add([]byte(`[["doveadmResponse",[],"vigil"]]`))
	f.Add([]byte(`[["error",{"type":"exitCode","exitCode":68},"vigil"]]`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = parseDoveadm(data) // never panics; an error for anything but a response or "no session found"
	})
}
