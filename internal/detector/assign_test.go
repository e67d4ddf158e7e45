package detector

import (
	"fmt"
	"testing"
)

// Every partition has exactly one owner, every member computes the same assignment whatever order it lists the
// members in, and a member leaving moves only its own partitions.
func TestAssignRendezvous(t *testing.T) {
	const n = 64
	members := []string{"det-a", "det-b", "det-c"}
	got := assign(members, n)
	reversed := assign([]string{"det-c", "det-b", "det-a"}, n)
	owner := map[int]string{}
	for m, ps := range got {
		if len(ps) == 0 {
			t.Errorf("assign(%v): %s owns no partition", members, m)
		}
		for p := range ps {
			if o, ok := owner[p]; ok {
				t.Errorf("assign(%v): partition %d owned by %s and %s", members, p, o, m)
			}
			owner[p] = m
			if !reversed[m][p] {
				t.Errorf("assign in another order gives partition %d to another member than %s", p, m)
			}
		}
	}
	if len(owner) != n {
		t.Fatalf("assign(%v) covers %d of %d partitions", members, len(owner), n)
	}
	after := assign([]string{"det-a", "det-c"}, n)
	for p, o := range owner {
		if o != "det-b" && !after[o][p] {
			t.Errorf("partition %d moved from %s although only det-b left", p, o)
		}
	}
	if len(after["det-a"])+len(after["det-c"]) != n {
		t.Errorf("after det-b left, %d+%d partitions owned; want %d", len(after["det-a"]), len(after["det-c"]), n)
	}
}

func TestGroupOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		ok   bool
	}{
		{"group", Options{Group: true}, true},
		{"group with owned partitions", Options{Group: true, Owned: []int{1}}, false},
		{"member with a dot", Options{Group: true, Member: "host.example"}, false},
		{"member too long", Options{Group: true, Member: fmt.Sprintf("%065d", 0)}, false},
		{"ttl too short", Options{Group: true, GroupTTL: 100e6}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.setDefaults()
			if err := o.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate(%+v) = %v; want ok %v", tc.o, err, tc.ok)
			}
			if tc.ok && (o.Member == "" || len(o.Owned) != 0) {
				t.Errorf("defaults: Member %q, Owned %v; want a member name and no owned partitions", o.Member, o.Owned)
			}
		})
	}
}
