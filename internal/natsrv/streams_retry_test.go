package natsrv

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestRetryAPI: a request that went unanswered is sent again, within the
// caller's deadline; a refusal is not.
func TestRetryAPI(t *testing.T) {
	ctx := context.Background()
	calls := 0
	err := retryAPI(ctx, func(actx context.Context) error {
		calls++
		if _, ok := actx.Deadline(); !ok {
			t.Error("an attempt has no deadline")
		}
		switch calls {
		case 1:
			return fmt.Errorf("natsrv: create stream X: %w", context.DeadlineExceeded)
		case 2:
			return nats.ErrNoResponders
		case 3:
			return &jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream cluster not available"}
		}
		return nil
	})
	if err != nil || calls != 4 {
		t.Fatalf("retryAPI = %v after %d calls, want nil after 4", err, calls)
	}

	calls = 0
	refused := fmt.Errorf("%w: X", ErrForeignStream)
	if err := retryAPI(ctx, func(context.Context) error { calls++; return refused }); !errors.Is(err, ErrForeignStream) || calls != 1 {
		t.Fatalf("retryAPI = %v after %d calls, want the refusal after 1", err, calls)
	}

	calls = 0
	short, cancel := context.WithTimeout(ctx, 600*time.Millisecond)
	defer cancel()
	err = retryAPI(short, func(context.Context) error { calls++; return nats.ErrTimeout })
	if !errors.Is(err, nats.ErrTimeout) || calls < 2 || short.Err() == nil {
		t.Fatalf("retryAPI = %v after %d calls (ctx %v), want the timeout after retrying until the deadline", err, calls, short.Err())
	}
}
