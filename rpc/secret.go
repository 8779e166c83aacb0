package rpc

import (
	"context"
	"crypto/subtle"
	"errors"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// The cluster secret authenticates Herald's own processes to each other:
// without it, anyone who reaches a dispatch or push node's gRPC port could
// push messages to any user. Every internal call carries it; every internal
// server refuses a call without it.

// ErrNoSecret is returned when a cluster process is configured without one.
var ErrNoSecret = errors.New("a cluster secret is required (--cluster-secret or HERALD_CLUSTER_SECRET), at least 16 bytes")

// MinSecretLen is the shortest cluster secret accepted.
const MinSecretLen = 16

// CheckSecret validates a configured cluster secret.
func CheckSecret(secret string) error {
	if len(secret) < MinSecretLen {
		return ErrNoSecret
	}
	return nil
}

type secretCreds string

func (s secretCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(s)}, nil
}

// RequireTransportSecurity is false: without cluster mTLS (Cluster.TLS)
// the internal network is trusted to carry the secret.
func (secretCreds) RequireTransportSecurity() bool { return false }

func checkCaller(ctx context.Context, secret string) error {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		got := strings.TrimPrefix(v, "Bearer ")
		if subtle.ConstantTimeCompare([]byte(got), []byte(secret)) == 1 {
			return nil
		}
	}
	return status.Error(codes.Unauthenticated, "missing or wrong cluster secret")
}

func secretInterceptor(secret string) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		if err := checkCaller(ctx, secret); err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}
