package retry

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestBackoffDoublesUpToMax(t *testing.T) {
	for _, tt := range []struct {
		name string
		b    Backoff
		want []time.Duration
	}{
		{"zero value", Backoff{}, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, 1600 * time.Millisecond, 3200 * time.Millisecond, 5 * time.Second, 5 * time.Second}},
		{"capped at 2s", Backoff{Min: 500 * time.Millisecond, Max: 2 * time.Second}, []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 2 * time.Second}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got []time.Duration
			for range tt.want {
				if p := tt.b.Peek(); p != tt.b.Peek() {
					t.Fatalf("Peek advanced the backoff")
				}
				got = append(got, tt.b.Next())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("waits = %v; want %v", got, tt.want)
			}
		})
	}
}

func TestSleepStopsWithContext(t *testing.T) {
	if !Sleep(context.Background(), time.Millisecond) {
		t.Error("Sleep(1ms) = false; want true")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Error("Sleep on a cancelled context = true; want false")
	}
}
