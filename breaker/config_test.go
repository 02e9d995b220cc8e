package breaker

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		field string
	}{
		{"negative slow call", Config{SlowCall: -1}, "SlowCall"},
		{"negative open base", Config{OpenBase: -time.Second}, "OpenBase"},
		{"negative open max", Config{OpenMax: -time.Second}, "OpenMax"},
		{"zero buckets with a window", Config{Window: time.Minute}, "Buckets"},
		{"negative buckets", Config{Buckets: -1}, "Buckets"},
		{"too many buckets", Config{Buckets: maxBuckets + 1}, "Buckets"},
		{"buckets thinner than 1ns", Config{Window: 5, Buckets: 10}, "Window"},
		{"negative min requests", Config{MinRequests: -1}, "MinRequests"},
		{"negative consecutive failures", Config{ConsecutiveFailures: -5}, "ConsecutiveFailures"},
		{"negative probes", Config{HalfOpenProbes: -1}, "HalfOpenProbes"},
		{"too many probes", Config{HalfOpenProbes: maxProbes + 1}, "HalfOpenProbes"},
		{"failure ratio above 1", Config{FailureRatio: 1.5}, "FailureRatio"},
		{"negative failure ratio", Config{FailureRatio: -0.1}, "FailureRatio"},
		{"NaN failure ratio", Config{FailureRatio: math.NaN()}, "FailureRatio"},
		{"slow ratio above 1", Config{SlowRatio: 2}, "SlowRatio"},
		{"jitter above 1", Config{Jitter: 1.01}, "Jitter"},
		{"NaN jitter", Config{Jitter: math.NaN()}, "Jitter"},
		{"too many buckets with no window", Config{Window: -1, Buckets: maxBuckets + 1}, "Buckets"},
		{"negative max ejected", Config{MaxEjected: -0.5}, "MaxEjected"},
		{"panic threshold above 1", Config{PanicThreshold: 1.1}, "PanicThreshold"},
		{"multiplier below 1", Config{OpenMultiplier: 0.5}, "OpenMultiplier"},
		{"infinite multiplier", Config{OpenMultiplier: math.Inf(1)}, "OpenMultiplier"},
		{"NaN multiplier", Config{OpenMultiplier: math.NaN()}, "OpenMultiplier"},
		{"unknown panic mode", Config{PanicMode: PanicOff + 1}, "PanicMode"},
		{"open max below open base", Config{OpenBase: 2 * time.Minute}, "OpenMax"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg)
			var ce *ConfigError
			if s != nil || !errors.As(err, &ce) || !errors.Is(err, ErrConfig) {
				t.Fatalf("New(%+v) = %v, %v; want nil and a *ConfigError matching ErrConfig", tt.cfg, s, err)
			}
			if ce.Field != tt.field {
				t.Fatalf("New(%+v): ConfigError.Field = %q; want %q (%v)", tt.cfg, ce.Field, tt.field, err)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatalf("New(Config{}) = %v", err)
	}
	c := s.cfg
	got := []any{c.Window, c.Buckets, c.MinRequests, c.FailureRatio, c.ConsecutiveFailures,
		c.SlowCall, c.SlowRatio, c.OpenBase, c.OpenMultiplier, c.OpenMax, c.Jitter,
		c.HalfOpenProbes, c.HalfOpenMaxWait, c.MaxEjected, c.PanicThreshold, c.PanicMode}
	want := []any{10 * time.Second, 10, 20, 0.5, 5,
		time.Duration(0), 0.5, 5 * time.Second, 2.0, 60 * time.Second, 0.5,
		3, 10 * time.Second, 0.5, 0.5, FailOpen}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("default %d = %v; want %v", i, got[i], want[i])
		}
	}

	// Limits are accepted.
	edge := Config{Window: time.Minute, Buckets: maxBuckets, FailureRatio: 1, SlowRatio: 1,
		Jitter: 1, MaxEjected: 1, PanicThreshold: 1, OpenMultiplier: 1,
		OpenBase: time.Second, OpenMax: time.Second, HalfOpenProbes: maxProbes}
	if _, err := New(edge); err != nil {
		t.Errorf("New(%+v) = %v; want a Set", edge, err)
	}
}

func TestConfigErrorMessage(t *testing.T) {
	_, err := New(Config{OpenBase: -time.Second})
	want := "breaker: invalid config: OpenBase = -1s: must not be negative"
	if err == nil || err.Error() != want {
		t.Fatalf("New(OpenBase: -1s) = %v; want %q", err, want)
	}
}

func TestEjectionCapRounding(t *testing.T) {
	tests := []struct {
		frac float64
		n    int
		want int
	}{
		{0.5, 10, 5},
		{0.5, 3, 1},
		{0.5, 1, 1},
		{0.5, 0, 1},
		{0.29, 100, 29},
		{0.1, 9, 1},
		{1, 7, 7},
	}
	for _, tt := range tests {
		if got := ejectionCap(tt.frac, tt.n); got != tt.want {
			t.Errorf("ejectionCap(%v, %d) = %d; want %d", tt.frac, tt.n, got, tt.want)
		}
	}
}
