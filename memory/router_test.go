package memory

import (
	"testing"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/routertest"
)

func TestRouter(t *testing.T) {
	routertest.Run(t, func(*testing.T) routertest.Table { return NewRouter() })
}

func TestTopicPresence(t *testing.T) {
	routertest.RunPresence(t, func(*testing.T) (herald.TopicPresence, herald.Router) {
		r := NewRouter()
		return NewTopicPresence(r), r
	})
}

func TestOnline(t *testing.T) {
	routertest.RunOnline(t, func(*testing.T) herald.UserOnline { return NewOnline() })
}
