package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/heraldpush/herald/mongo"
	"github.com/heraldpush/herald/redis"
	"github.com/heraldpush/herald/rpc"
)

// redisOptions are the flags of every command that uses the routing table.
type redisOptions struct {
	addrs    []string
	cluster  bool
	master   string
	username string
	password string
	db       int
}

func (o *redisOptions) register(f *flags, def []string) {
	o.addrs = def
	f.list(&o.addrs, "redis-addrs", "Redis address(es), comma-separated: one for standalone, several for Redis Cluster, the sentinels with --redis-master")
	f.bool(&o.cluster, "redis-cluster", "Redis Cluster even with one address (a configuration endpoint)")
	f.str(&o.master, "redis-master", "Sentinel master name (Sentinel mode)")
	f.str(&o.username, "redis-username", "Redis ACL user name")
	f.str(&o.password, "redis-password", "Redis password")
	f.int(&o.db, "redis-db", "Redis database number (standalone and Sentinel)")
}

func (o *redisOptions) open(ctx context.Context) (*redis.Router, error) {
	return redis.Open(ctx, redis.Options{Addrs: o.addrs, Cluster: o.cluster, MasterName: o.master, Username: o.username, Password: o.password, DB: o.db})
}

// mongoOptions are the flags of every command that uses the message store.
type mongoOptions struct {
	uri string
	db  string
}

func (o *mongoOptions) register(f *flags) {
	o.uri, o.db = "mongodb://127.0.0.1:27017", "herald"
	f.str(&o.uri, "mongo-uri", "MongoDB connection string (a replica set or mongos in production)")
	f.str(&o.db, "mongo-db", "MongoDB database name")

}

// open connects. The writer (collect) passes indexes=true to create the indexes,
// with TTL indexes for retention > 0.
func (o *mongoOptions) open(ctx context.Context, indexes bool, retention time.Duration) (*mongo.Store, error) {
	return mongo.Open(ctx, mongo.Options{URI: o.uri, Database: o.db, Retention: retention, Indexes: indexes})
}

// clusterSecret registers --cluster-secret, which every internal call between
// collect, dispatch and push carries (see rpc.CheckSecret).
// clusterOptions are how a process proves itself to the rest of the cluster.
type clusterOptions struct {
	secret, cert, key, ca string
}

func (o *clusterOptions) register(f *flags) {
	f.str(&o.secret, "cluster-secret", "shared secret of Herald's internal gRPC traffic, 16+ bytes (required)")
	f.str(&o.cert, "cluster-tls-cert", "mTLS for internal gRPC: this process's certificate (PEM; client and server use), signed by --cluster-tls-ca")
	f.str(&o.key, "cluster-tls-key", "mTLS for internal gRPC: the certificate's key")
	f.str(&o.ca, "cluster-tls-ca", "mTLS for internal gRPC: the cluster CA; peers must present a certificate it signed")
}

// load checks the secret and reads the mTLS files (all three, or none).
func (o *clusterOptions) load() (rpc.Cluster, error) {
	if err := rpc.CheckSecret(o.secret); err != nil {
		return rpc.Cluster{}, err
	}
	m, err := rpc.LoadMTLS(o.cert, o.key, o.ca)
	if err != nil {
		return rpc.Cluster{}, err
	}
	return rpc.Cluster{Secret: o.secret, TLS: m}, nil
}

func require(name, value string) error {
	if strings.TrimSpace(value) == "" {
		return fmt.Errorf("--%s (or %s) is required", name, envName(name))
	}
	return nil
}

// devSecret returns the secret in dir/name, creating a random one on first
// use, so `herald all` works with no configuration and keeps its tokens and
// key valid across restarts. The file is readable by its owner only.
func devSecret(dir, name string, bytes int) (string, error) {
	path := filepath.Join(dir, name)
	if b, err := os.ReadFile(path); err == nil {
		if s := strings.TrimSpace(string(b)); s != "" {
			// A file made by an older version, or copied in with a loose
			// mode: the secret is this install's, so it is made owner-only.
			if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
				if err := os.Chmod(path, 0o600); err != nil {
					return "", fmt.Errorf("make %s owner-only: %w", path, err)
				}
				slog.Warn("secret file was readable by other users; made owner-only (0600)", "file", path)
			}
			return s, nil
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	b := make([]byte, bytes)
	rand.Read(b)
	s := hex.EncodeToString(b)
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return s, nil
}
