package bench

import "testing"

// A join or leave frame is one event; a presence_changes frame one per
// user it lists; other frames are not counted.
func TestPresenceCounts(t *testing.T) {
	var p presenceCounts
	for _, f := range []string{
		`{"type":"join","topic":"room:1","user":"a","device":"d"}`,
		`{"type":"leave","topic":"room:1","user":"b"}`,
		`{"type":"presence_changes","topic":"room:1","joins":[{"user":"c"},{"user":"d","device":"x"}],"leaves":[{"user":"e"}]}`,
		`{"type":"pong"}`,
		`{"type":"pub","topic":"room:1","payload":{"user":"f"}}`,
	} {
		p.count([]byte(f))
	}
	if p.frames.Load() != 3 || p.events.Load() != 5 {
		t.Fatalf("%d frames, %d events; want 3 and 5", p.frames.Load(), p.events.Load())
	}
}

// The commands run between two readings, without INFO's own.
func TestRedisStatsDiff(t *testing.T) {
	before := redisStats{"get": 10, "set": 5, "info": 1}
	after := redisStats{"get": 25, "set": 5, "eval": 7, "info": 3}
	total, top := after.diff(before)
	if total != 22 || top != "get 15, eval 7" {
		t.Fatalf("diff: %d %q", total, top)
	}
}
