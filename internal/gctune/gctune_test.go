package gctune

import (
	"runtime/debug"
	"testing"
)

func TestForPolicy(t *testing.T) {
	t.Setenv("GOGC", "")
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	restore := ForPolicy(nil)
	if got := debug.SetGCPercent(Percent); got != Percent {
		t.Fatalf("target %d, want %d", got, Percent)
	}
	restore()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("restored target %d, want 100", got)
	}
}

func TestForPolicyKeepsGOGC(t *testing.T) {
	t.Setenv("GOGC", "150")
	before := debug.SetGCPercent(150)
	defer debug.SetGCPercent(before)
	ForPolicy(nil)()
	if got := debug.SetGCPercent(150); got != 150 {
		t.Fatalf("target %d with GOGC=150 set, want 150", got)
	}
}
