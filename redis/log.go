package redis

import (
	"context"
	"fmt"
	"log/slog"

	goredis "github.com/redis/go-redis/v9"
)

// slogLogger sends go-redis's own log lines to slog at debug level: its pool
// prints every failed dial, which would bury the one clear error Herald
// reports (and counts) when Redis is down.
type slogLogger struct{}

func (slogLogger) Printf(ctx context.Context, format string, v ...any) {
	slog.DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}

func init() { goredis.SetLogger(slogLogger{}) }
