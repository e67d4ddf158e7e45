package app

import (
	"slices"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/config"
)

func TestDetectorOptionsFromConfig(t *testing.T) {
	cfg := &config.Config{Partitions: 8, DetectorPartitions: "0-2,5", BatchSize: 64, FlushInterval: time.Second, MultiCountry: 3, SendVolume: 100, BruteForce: 8, NewCountry: 10, PasswordSpray: 20}
	o, err := detectorOptions(cfg)
	if err != nil {
		t.Fatalf("detectorOptions: %v", err)
	}
	if o.Partitions != 8 || !slices.Equal(o.Owned, []int{0, 1, 2, 5}) || o.BatchSize != 64 || o.FlushInterval != time.Second {
		t.Errorf("detectorOptions = %+v", o)
	}
	if o.Rules.Global["multi_country"] != 3 || o.Rules.Global["send_volume"] != 100 {
		t.Errorf("detectorOptions rules = %+v", o.Rules)
	}
	cfg.DetectorPartitions = "9"
	if _, err := detectorOptions(cfg); err == nil {
		t.Errorf("detectorOptions with partition 9 of 8: no error")
	}
}

func TestDetectorGroupOptionsFromConfig(t *testing.T) {
	cfg := &config.Config{Partitions: 8, BatchSize: 64, FlushInterval: time.Second, MultiCountry: 2, SendVolume: 500, BruteForce: 8, NewCountry: 10, PasswordSpray: 20, DetectorGroup: "on", DetectorGroupTTL: 4 * time.Second}
	o, err := detectorOptions(cfg)
	if err != nil {
		t.Fatalf("detectorOptions: %v", err)
	}
	if !o.Group || o.GroupTTL != 4*time.Second || len(o.Owned) != 0 {
		t.Errorf("detectorOptions(group on) = Group %v, GroupTTL %s, Owned %v; want true, 4s, none", o.Group, o.GroupTTL, o.Owned)
	}
	cfg.DetectorGroup = "off"
	if o, _ := detectorOptions(cfg); o.Group {
		t.Errorf("detectorOptions(group off).Group = true")
	}
}

func TestStoreOptionsFromConfig(t *testing.T) {
	cfg := &config.Config{ClickHouseAddr: "127.0.0.1:9000", ClickHouseDatabase: "vigil", ClickHouseUser: "u", ClickHousePassword: "p"}
	o := storeOptions(cfg)
	if o.Addr != cfg.ClickHouseAddr || o.Database != "vigil" || o.Username != "u" || o.Password != "p" || o.DialTimeout != 3*time.Second {
		t.Errorf("storeOptions = %+v", o)
	}
}
