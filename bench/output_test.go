package bench

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The CSV lists the messages in the order they were sent, each with its
// send time, so that a stall shows as a run of slow messages at one moment.
func TestCSVInSendOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lat.csv")
	samples := []sample{
		{sent: 2 * time.Second, lat: 30 * time.Millisecond},
		{sent: 500 * time.Millisecond, lat: 1500 * time.Microsecond},
		{sent: 1250 * time.Millisecond, lat: 800 * time.Microsecond},
	}
	lat := []time.Duration{800 * time.Microsecond, 1500 * time.Microsecond, 30 * time.Millisecond}
	if err := writeOutputs(Config{CSV: path}, lat, samples); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "sent_s,latency_ms\n0.500000,1.500\n1.250000,0.800\n2.000000,30.000\n"
	if string(got) != want {
		t.Fatalf("csv:\n%s\nwant:\n%s", got, want)
	}
}
