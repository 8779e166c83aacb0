package mongo

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/storetest"
	"github.com/heraldpush/herald/internal/testenv"
)

var dbn atomic.Int64

func TestStore(t *testing.T) {
	srv := testenv.StartMongo(t)
	storetest.Run(t, func(t *testing.T) herald.Store {
		s, err := Open(context.Background(), srv.URI, fmt.Sprintf("herald_test_%d", dbn.Add(1)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close(context.Background()) })
		return s
	})
}

func TestUnreachableFailsFastNamingTheAddress(t *testing.T) {
	addr := testenv.FreePort(t, "127.0.0.1") // nothing listens there
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, err := Open(ctx, "mongodb://"+addr+"/", "x")
	if err == nil {
		t.Fatal("Open of an address with no server succeeded")
	}
	if want := addr; !contains(err.Error(), want) {
		t.Fatalf("error %q does not name %s", err, want)
	}
}

func contains(s, sub string) bool { return len(sub) == 0 || (len(s) >= len(sub) && index(s, sub) >= 0) }

func index(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}
