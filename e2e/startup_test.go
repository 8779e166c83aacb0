package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/testenv"
)

// An unreachable Redis or MongoDB at start-up is a one-line error naming the
// address and a non-zero exit, not a hang or a stack of retries; so is a
// missing cluster secret.
func TestUnreachableDependencyAtStartup(t *testing.T) {
	bin := testenv.HeraldBinary(t)
	dead := testenv.FreePort(t, "127.0.0.1")
	nosecret := testenv.Start(t, "herald dispatch", bin, []string{"HERALD_CLUSTER_SECRET="}, "dispatch", "--redis-addrs", dead)
	if err := nosecret.Wait(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if out := nosecret.Log.String(); nosecret.Cmd.ProcessState.ExitCode() == 0 || !strings.Contains(out, "cluster secret") {
		t.Fatalf("without a cluster secret: exit %d, %q", nosecret.Cmd.ProcessState.ExitCode(), out)
	}
	cases := map[string][]string{
		"redis": {"dispatch", "--redis-addrs", dead},
		"mongo": {"collect", "--api-key", "k", "--mongo-uri", "mongodb://" + dead + "/"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			p := testenv.Start(t, "herald "+args[0], bin, []string{"HERALD_CLUSTER_SECRET=" + testenv.ClusterSecret}, args...)
			if err := p.Wait(30 * time.Second); err != nil {
				t.Fatal(err)
			}
			if p.Cmd.ProcessState.ExitCode() == 0 {
				t.Fatal("exit code 0")
			}
			out := strings.TrimSpace(p.Log.String())
			if strings.Count(out, "\n") != 0 || !strings.Contains(out, dead) {
				t.Fatalf("want one line naming %s, got:\n%s", dead, out)
			}
		})
	}
}
