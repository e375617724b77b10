// Package natsrv is liuhen's one place for NATS: it starts the embedded
// nats-server with JetStream, or connects to an external server or cluster,
// and it owns the stream layout every publisher and reader agrees on.
//
// # Embedded or external
//
// By default `liuhen serve` runs nats-server inside its own process
// (Embed), with JetStream's file store in a directory of the data dir and
// no network listener: the process talks to it over an in-process pipe,
// and other programs on the machine can be let in by setting
// EmbedConfig.Listen. With Config.URL set, Start connects to an existing
// server or cluster instead, with a credentials file and TLS as given.
// Users outgrow one machine this way: a three-node JetStream cluster with
// Replicas: 3.
//
// # Streams
//
// Layout names two streams per ledger: the events stream, one message per
// ledger entry, whose stream sequence is the entry's seq plus one, and the
// checkpoints stream, one message per signed checkpoint. Both keep
// everything forever and deny deletes and purges (StreamConfigs).
// docs/architecture.md, "Subjects", is the reference for consumers.
//
// # Durability
//
// JetStream acknowledges a message once it is written (and, with replicas,
// committed by a quorum), but its file store fsyncs only every two minutes
// by default. The embedded server's events stream goes one step further
// (StreamOptions.AsyncPersist): it acknowledges before the write, which its
// file store then makes in batches. Pebble is the ledger's source of truth;
// after an unclean stop the relay (ledger/outbox) finds the stream behind
// and re-publishes the tail. EmbedConfig.SyncAlways trades a lot of
// throughput for writing and fsyncing every message before its ack.
package natsrv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// EmbedConfig configures the embedded server.
type EmbedConfig struct {
	// StoreDir is JetStream's file store directory. Required.
	StoreDir string
	// Listen is the host:port of a client listener. Default "": no
	// listener; clients in this process connect with ConnectEmbedded.
	// Port 0 picks a free port (see Server.ClientURL).
	Listen string
	// ServerName names the server in JetStream. Default "liuhen".
	ServerName string
	// SyncAlways makes JetStream fsync every write instead of every two
	// minutes. Default false: the ledger re-publishes what JetStream lost.
	SyncAlways bool
	// ReadyTimeout is how long Embed waits for the server to accept
	// clients. Default 10 s.
	ReadyTimeout time.Duration
	// Logger receives the server's log at matching levels. Default: the
	// server does not log.
	Logger *slog.Logger
}

// Validate reports every problem with the configuration.
func (c *EmbedConfig) Validate() error {
	var errs []error
	if c.StoreDir == "" {
		errs = append(errs, errors.New("natsrv: EmbedConfig.StoreDir is required"))
	}
	if c.Listen != "" {
		if _, _, err := splitHostPort(c.Listen); err != nil {
			errs = append(errs, fmt.Errorf("natsrv: EmbedConfig.Listen: %v", err))
		}
	}
	if c.ReadyTimeout < 0 {
		errs = append(errs, errors.New("natsrv: EmbedConfig.ReadyTimeout must not be negative"))
	}
	return errors.Join(errs...)
}

func splitHostPort(hp string) (string, int, error) {
	h, p, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	if n == 0 {
		n = server.RANDOM_PORT
	}
	return h, n, nil
}

// Options returns the nats-server options Embed uses.
func (c *EmbedConfig) Options() *server.Options {
	o := &server.Options{
		ServerName: c.ServerName,
		JetStream:  true,
		StoreDir:   c.StoreDir,
		SyncAlways: c.SyncAlways,
		NoSigs:     true, // the process, not the server, handles signals
		NoLog:      c.Logger == nil,
	}
	if o.ServerName == "" {
		o.ServerName = "liuhen"
	}
	if c.Listen == "" {
		o.DontListen = true
	} else {
		o.Host, o.Port, _ = splitHostPort(c.Listen)
	}
	return o
}

// Embed starts an embedded nats-server with JetStream and waits until it
// accepts clients. Stop it with Shutdown.
func Embed(cfg EmbedConfig) (*server.Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return StartServer(cfg.Options(), cfg.Logger, cfg.ReadyTimeout)
}

// StartServer starts a nats-server with the given options and waits up to
// ready (default 10 s) until it accepts clients. Tests use it for clusters.
func StartServer(o *server.Options, logger *slog.Logger, ready time.Duration) (*server.Server, error) {
	if ready == 0 {
		ready = 10 * time.Second
	}
	s, err := server.NewServer(o)
	if err != nil {
		return nil, fmt.Errorf("natsrv: %w", err)
	}
	if logger != nil {
		s.SetLoggerV2(slogAdapter{logger.With("component", "nats-server")}, false, false, false)
	}
	go s.Start()
	if !s.ReadyForConnections(ready) {
		s.Shutdown()
		return nil, fmt.Errorf("natsrv: server %s not ready after %v", o.ServerName, ready)
	}
	return s, nil
}

// ConnectConfig configures a client connection to an external server.
type ConnectConfig struct {
	// URL is the server or a comma-separated list of cluster members.
	// Required.
	URL string
	// CredsFile is a NATS credentials file (JWT and NKey seed). Optional.
	CredsFile string
	// TLSCA is a PEM file of CAs to verify the server with. Optional; the
	// system roots are used for tls:// URLs without it.
	TLSCA string
	// TLSCert and TLSKey are a client certificate and key, for servers that
	// require mutual TLS. Both or neither.
	TLSCert, TLSKey string
	// Name is the connection name the server shows. Default "liuhen".
	Name string
}

// Validate reports every problem with the configuration.
func (c *ConnectConfig) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("natsrv: ConnectConfig.URL is required"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("natsrv: TLS client certificate and key go together"))
	}
	return errors.Join(errs...)
}

// Connect connects to an external server. The connection reconnects
// forever: the relay and the consumers keep retrying while NATS is away.
func Connect(cfg ConnectConfig) (*nats.Conn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts := clientOptions(cfg.Name)
	if cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	if cfg.TLSCA != "" {
		opts = append(opts, nats.RootCAs(cfg.TLSCA))
	}
	if cfg.TLSCert != "" {
		opts = append(opts, nats.ClientCert(cfg.TLSCert, cfg.TLSKey))
	}
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("natsrv: connect %s: %w", cfg.URL, err)
	}
	return nc, nil
}

// ConnectEmbedded connects to an embedded server over an in-process pipe,
// whether or not it listens on the network.
func ConnectEmbedded(s *server.Server) (*nats.Conn, error) {
	nc, err := nats.Connect(s.ClientURL(), append(clientOptions(""), nats.InProcessServer(s))...)
	if err != nil {
		return nil, fmt.Errorf("natsrv: connect in-process: %w", err)
	}
	return nc, nil
}

func clientOptions(name string) []nats.Option {
	if name == "" {
		name = "liuhen"
	}
	return []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(false),
	}
}

// Config is what `liuhen serve` needs: an embedded server or an external
// URL, and the stream layout.
type Config struct {
	// Embed configures the embedded server, used when Connect.URL is "".
	Embed EmbedConfig
	// Connect configures the connection to an external server.
	Connect ConnectConfig
	// Layout names the streams. Its Origin is required.
	Layout Layout
	// Replicas is the streams' replica count. Default 1; use 3 on a
	// three-node cluster.
	Replicas int
}

// NATS is a running connection, and the embedded server behind it if any.
type NATS struct {
	Conn   *nats.Conn
	Server *server.Server // nil when connected to an external server
}

// streamSetupTimeout bounds creating or updating the streams in Start when
// its context has no deadline.
const streamSetupTimeout = time.Minute

// Start starts the embedded server (or connects to the external one) and
// creates or updates the streams, within a minute unless ctx has a
// deadline of its own.
func Start(ctx context.Context, cfg Config) (*NATS, error) {
	if cfg.Replicas < 0 {
		return nil, errors.New("natsrv: Config.Replicas must not be negative")
	}
	if err := cfg.Layout.Validate(); err != nil {
		return nil, err
	}
	n := &NATS{}
	var err error
	if cfg.Connect.URL == "" {
		if n.Server, err = Embed(cfg.Embed); err != nil {
			return nil, err
		}
		n.Conn, err = ConnectEmbedded(n.Server)
	} else {
		n.Conn, err = Connect(cfg.Connect)
	}
	if err != nil {
		n.Close()
		return nil, err
	}
	js, err := newJetStream(n.Conn)
	if err == nil {
		// Creating a replicated stream waits for its Raft group to form,
		// which on a busy cluster can take longer than the 5 s a JetStream
		// request gets when its context has no deadline.
		sctx := ctx
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			sctx, cancel = context.WithTimeout(ctx, streamSetupTimeout)
			defer cancel()
		}
		// The embedded server's events stream persists asynchronously
		// unless the operator asked for SyncAlways; an external server's
		// durability is its operator's choice.
		err = EnsureStreamsWith(sctx, js, cfg.Layout, StreamOptions{
			Replicas:     cfg.Replicas,
			AsyncPersist: cfg.Connect.URL == "" && !cfg.Embed.SyncAlways,
		})
	}
	if err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// Close drains the connection and shuts the embedded server down.
func (n *NATS) Close() {
	if n.Conn != nil {
		n.Conn.Close()
	}
	if n.Server != nil {
		n.Server.Shutdown()
		n.Server.WaitForShutdown()
	}
}

// slogAdapter is a server.Logger writing to slog.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Noticef(f string, v ...any) { a.l.Info(fmt.Sprintf(f, v...)) }
func (a slogAdapter) Warnf(f string, v ...any)   { a.l.Warn(fmt.Sprintf(f, v...)) }
func (a slogAdapter) Fatalf(f string, v ...any)  { a.l.Error(fmt.Sprintf(f, v...)) }
func (a slogAdapter) Errorf(f string, v ...any)  { a.l.Error(fmt.Sprintf(f, v...)) }
func (a slogAdapter) Debugf(f string, v ...any)  { a.l.Debug(fmt.Sprintf(f, v...)) }
func (a slogAdapter) Tracef(f string, v ...any)  { a.l.Debug(fmt.Sprintf(f, v...)) }

func newJetStream(nc *nats.Conn) (jetstream.JetStream, error) { return jetstream.New(nc) }
