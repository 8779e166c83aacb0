package memory

import (
	"testing"

	"github.com/heraldpush/herald/internal/routertest"
)

func TestRouter(t *testing.T) {
	routertest.Run(t, func(*testing.T) routertest.Table { return NewRouter() })
}
