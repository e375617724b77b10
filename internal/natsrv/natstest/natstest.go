// Package natstest runs real nats-servers with JetStream for tests: a single
// node, in-process or on a loopback port, and a three-node cluster in one
// process. Nothing is mocked; the servers are the ones liuhen embeds.
package natstest

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/liuhen/liuhen/internal/natsrv"
)

// A Node is one server that can be stopped and started again on the same
// ports and store, as a crashed and restarted process would be.
type Node struct {
	Opts *server.Options
	*server.Server
}

// Single starts one JetStream server listening on a random loopback port,
// with its store in a temporary directory. It is shut down at cleanup.
func Single(t testing.TB) *Node {
	t.Helper()
	o := &server.Options{
		ServerName: "single",
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		JetStream:  true,
		StoreDir:   t.TempDir(),
		NoSigs:     true,
		NoLog:      true,
	}
	n := &Node{Opts: o}
	n.Start(t)
	// Pin the port so that Start after Stop comes back where clients
	// reconnect to.
	o.Port = n.Addr().(*net.TCPAddr).Port
	t.Cleanup(n.Stop)
	return n
}

// Start starts (or restarts) the node.
func (n *Node) Start(t testing.TB) {
	t.Helper()
	s, err := natsrv.StartServer(n.Opts.Clone(), nil, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	n.Server = s
}

// Stop shuts the node down and waits until it is gone. Stopping a stopped
// node does nothing.
func (n *Node) Stop() {
	if n.Server == nil {
		return
	}
	n.Shutdown()
	n.WaitForShutdown()
	n.Server = nil
}

// Running reports whether the node was started and not stopped.
func (n *Node) Running() bool { return n.Server != nil }

// Cluster starts a JetStream cluster of size nodes in this process,
// routed over loopback, and waits until it has a meta leader and every
// node is current. Nodes route to the first one and find each other
// through it.
func Cluster(t testing.TB, size int) []*Node {
	t.Helper()
	base := t.TempDir()
	var routes []string
	ports := freePorts(t, size)
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	nodes := make([]*Node, size)
	errs := make(chan error, size)
	for i := range size {
		o := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1",
			Port:       server.RANDOM_PORT,
			JetStream:  true,
			StoreDir:   filepath.Join(base, fmt.Sprintf("n%d", i+1)),
			NoSigs:     true,
			NoLog:      true,
			Cluster:    server.ClusterOpts{Name: "liuhen-test", Host: "127.0.0.1", Port: ports[i]},
			Routes:     server.RoutesFromStr(strings.Join(routes, ",")),
		}
		nodes[i] = &Node{Opts: o}
		// A clustered server is ready only once it has peers: start all
		// of them before waiting on any.
		go func() {
			s, err := natsrv.StartServer(o.Clone(), nil, 30*time.Second)
			nodes[i].Server = s
			errs <- err
		}()
	}
	for range size {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes {
		t.Cleanup(n.Stop)
		n.Opts.Port = n.Addr().(*net.TCPAddr).Port
	}
	WaitFor(t, 30*time.Second, "JetStream cluster to form", func() bool {
		var leader *Node
		for _, n := range nodes {
			if n.JetStreamIsLeader() {
				leader = n
			}
		}
		if leader == nil || len(leader.JetStreamClusterPeers()) != size {
			return false
		}
		for _, n := range nodes {
			if !n.JetStreamIsCurrent() {
				return false
			}
		}
		return true
	})
	return nodes
}

// URLs returns the client URLs of the running nodes, comma separated.
func URLs(nodes ...*Node) string {
	var u []string
	for _, n := range nodes {
		if n.Running() {
			u = append(u, n.ClientURL())
		}
	}
	return strings.Join(u, ",")
}

// Connect connects to urls with the options liuhen uses (reconnect
// forever) and closes the connection at cleanup.
func Connect(t testing.TB, urls string) *nats.Conn {
	t.Helper()
	nc, err := natsrv.Connect(natsrv.ConnectConfig{URL: urls, Name: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// WaitFor polls cond until it holds, failing the test after timeout.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}
