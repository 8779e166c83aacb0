package testenv

import (
	"fmt"
	"github.com/heraldpush/herald/internal/testenv/probe"
	"strings"
	"testing"
	"time"
)

// Test secrets shared by every process of a test cluster.
const (
	ClusterJWTSecret = "test-secret-test-secret-test-secret-0123456789"
	ClusterAPIKey    = "test-api-key"
	ClusterSecret    = "test-cluster-secret-0123456789"
)

// Node is one herald process of a test cluster.
type Node struct {
	*Process
	Role     string
	HTTPAddr string // public or health HTTP address
	GRPCAddr string // internal gRPC address (dispatch, push)
	args     []string
	env      []string
	t        testing.TB
}

// URL is the node's HTTP base URL.
func (n *Node) URL() string { return "http://" + n.HTTPAddr }

// WS is the node's WebSocket base URL.
func (n *Node) WS() string { return "ws://" + n.HTTPAddr }

// Restart starts the same command again, on the same addresses.
func (n *Node) Restart() {
	n.t.Helper()
	n.Process = Start(n.t, n.Process.Name, HeraldBinary(n.t), n.env, n.args...)
	n.waitReady()
}

func (n *Node) waitReady() {
	n.t.Helper()
	if err := probe.WaitHTTP(n.URL()+"/readyz", 60*time.Second); err != nil {
		n.t.Fatalf("%s: %v\n%s", n.Name, err, n.Log.String())
	}
}

// Cluster is Redis, FerretDB and herald processes on 127.0.0.x addresses.
type Cluster struct {
	Redis    *Redis
	Mongo    *Mongo
	Auth     *Node
	Collect  []*Node
	Dispatch []*Node
	Push     []*Node
	t        testing.TB
	nextHost int
}

// ClusterSize says how many of each service to start.
type ClusterSize struct {
	Collect, Dispatch, Push int
	PushEnv                 []string // extra HERALD_* settings of the push nodes
	CollectEnv              []string // extra HERALD_* settings of the collect instances
	Env                     []string // extra HERALD_* settings of every herald process
}

// StartCluster starts a whole cluster and waits until every process is ready.
// Each herald process gets its own loopback address (127.0.0.2, .3, ...), as
// it would get its own host.
func StartCluster(t testing.TB, size ClusterSize) *Cluster {
	t.Helper()
	c := &Cluster{t: t, nextHost: 2, Redis: StartRedis(t), Mongo: StartMongo(t)}
	HeraldBinary(t)
	env := []string{
		"HERALD_JWT_SECRET=" + ClusterJWTSecret,
		"HERALD_API_KEY=" + ClusterAPIKey,
		"HERALD_CLUSTER_SECRET=" + ClusterSecret,
		"HERALD_REDIS_ADDRS=" + c.Redis.Addr,
		"HERALD_MONGO_URI=" + c.Mongo.URI,
		"HERALD_MONGO_DB=herald",
	}
	env = append(env, size.Env...)
	c.Auth = c.start("auth", env, false)
	for range size.Dispatch {
		c.Dispatch = append(c.Dispatch, c.start("dispatch", env, true))
	}
	var dispatchAddrs []string
	for _, d := range c.Dispatch {
		dispatchAddrs = append(dispatchAddrs, d.GRPCAddr)
	}
	collectEnv := append(env[:len(env):len(env)], "HERALD_DISPATCH_ADDRS="+strings.Join(dispatchAddrs, ","))
	collectEnv = append(collectEnv, size.CollectEnv...)
	for range size.Collect {
		c.Collect = append(c.Collect, c.start("collect", collectEnv, false))
	}
	pushEnv := append(env[:len(env):len(env)], "HERALD_AUTH_URLS="+c.Auth.URL(),
		"HERALD_HEARTBEAT_INTERVAL=500ms", "HERALD_HEARTBEAT_TTL=2s")
	pushEnv = append(pushEnv, size.PushEnv...)
	for range size.Push {
		c.Push = append(c.Push, c.start("push", pushEnv, true))
	}
	for _, group := range [][]*Node{{c.Auth}, c.Dispatch, c.Collect, c.Push} {
		for _, n := range group {
			n.waitReady()
		}
	}
	return c
}

func (c *Cluster) start(role string, env []string, grpc bool) *Node {
	c.t.Helper()
	host := fmt.Sprintf("127.0.0.%d", c.nextHost)
	c.nextHost++
	n := &Node{Role: role, HTTPAddr: FreePort(c.t, host), t: c.t}
	n.args = []string{role, "--listen", n.HTTPAddr}
	if grpc {
		n.GRPCAddr = FreePort(c.t, host)
		n.args = append(n.args, "--grpc-listen", n.GRPCAddr)
	}
	if role == "push" {
		n.args = append(n.args, "--node-id", fmt.Sprintf("push-%d", len(c.Push)+1))
	}
	n.env = env
	n.Process = Start(c.t, fmt.Sprintf("herald %s %s", role, host), HeraldBinary(c.t), env, n.args...)
	return n
}

// API returns a client of the i-th collect instance.
func (c *Cluster) API(i int) probe.API {
	return probe.API{Base: c.Collect[i].URL(), Key: ClusterAPIKey}
}

// AuthAPI returns a client of the auth service.
func (c *Cluster) AuthAPI() probe.API { return probe.API{Base: c.Auth.URL(), Key: ClusterAPIKey} }
