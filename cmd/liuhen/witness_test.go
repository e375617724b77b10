package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liuhen/liuhen/ledger"
	"github.com/liuhen/liuhen/ledger/witness"
)

// TestWitnessTLS: liuhen witness serves HTTPS with --tls-cert and
// --tls-key, names its https URL in its policy line, and a log's submitter
// that trusts the certificate gets its cosignature; SIGINT-like
// cancellation stops it cleanly.
func TestWitnessTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)

	skey, _, err := ledger.GenerateKey("witness.court.example/w1")
	if err != nil {
		t.Fatal(err)
	}
	wkey := filepath.Join(dir, "w.key")
	if err := ledger.WriteKeyFile(wkey, skey); err != nil {
		t.Fatal(err)
	}
	lkey, lvkey, err := ledger.GenerateKey("liuhen.test/tls")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ledger.NewSigner(lkey)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Create(ledger.Config{Dir: filepath.Join(dir, "ledger"), Origin: "liuhen.test/tls", Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Append(context.Background(), records(0, 5, 0)); err != nil {
		t.Fatal(err)
	}
	cp, err := l.CheckpointCovering(context.Background(), 5)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	state := filepath.Join(dir, "state")
	go func() {
		done <- runWitness(ctx, []string{"--key", wkey, "--log", lvkey, "--state", state, "--http", "127.0.0.1:0",
			"--tls-cert", certFile, "--tls-key", keyFile}, io.Discard, io.Discard)
	}()
	var line string
	for deadline := time.Now().Add(10 * time.Second); ; {
		if b, err := os.ReadFile(filepath.Join(state, "witness.policy-line")); err == nil && len(b) > 0 {
			line = strings.TrimSpace(string(b))
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no policy line within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(line, " https://127.0.0.1:") {
		t.Fatalf("policy line %q names no https URL", line)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	sub, err := witness.NewSubmitter(witness.SubmitterConfig{Ledger: l, Policy: []byte(line + "\nquorum witness.court.example/w1\n"),
		Path: filepath.Join(dir, "witnessed"), Client: client})
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Round(context.Background(), cp); err != nil {
		t.Fatalf("Round over TLS: %v", err)
	}
	if sub.Witnessed() == nil {
		t.Fatal("nothing witnessed")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("liuhen witness after cancellation: %v", err)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their files and a pool that trusts it.
func selfSigned(t *testing.T, dir string) (string, string, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "witness test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
