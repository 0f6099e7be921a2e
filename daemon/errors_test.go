package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/store"
)

// Every error answer goes through fail: the endpoint's shape, Retry-After
// rounded up, causes kept for errors.Is and the log but never shown.
func TestFail(t *testing.T) {
	var logs bytes.Buffer
	s := &Server{log: slog.New(slog.NewTextHandler(&logs, nil))}
	secretCause := errors.New("dial tcp 10.0.0.1:443: the cause, with a detail")
	for _, tc := range []struct {
		name, path string
		err        error
		status     int
		body       string
		retry      string
	}{
		{"api error, API shape", "/v1/token", newError(wire.CodeUpstreamUnavailable, "try later").withRetry(1200 * time.Millisecond), 503,
			`{"error":"upstream_unavailable","error_description":"try later"}`, "2"},
		{"api error, MSI shape", "/msi/token", newError(wire.CodeUpstreamUnavailable, "try later").withRetry(time.Second), 503,
			`{"statusCode":503,"message":"try later"}`, "1"},
		{"unknown error becomes internal", "/v1/status", secretCause, 500,
			`{"error":"internal","error_description":"internal error: see the tokend log"}`, ""},
		{"unknown error on the metadata service", "/databricks/tkd1.id.secret", fmt.Errorf("x: %w", secretCause), 500,
			`{"error":"internal","error_description":"internal error: see the tokend log"}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs.Reset()
			w := httptest.NewRecorder()
			s.fail(w, httptest.NewRequest("GET", tc.path, nil), tc.err)
			if w.Code != tc.status || strings.TrimSpace(w.Body.String()) != tc.body || w.Header().Get("Retry-After") != tc.retry {
				t.Fatalf("%d %s Retry-After %q", w.Code, w.Body, w.Header().Get("Retry-After"))
			}
			if strings.Contains(w.Body.String(), "the cause") {
				t.Fatal("the cause reached the caller")
			}
			if tc.status == 500 && (!strings.Contains(logs.String(), "the cause") || strings.Contains(logs.String(), "tkd1.")) {
				t.Fatalf("log: %s", logs.String())
			}
		})
	}
}

func TestAPIErrorKeepsItsCause(t *testing.T) {
	cause := fmt.Errorf("%w: write /s/x: no space left on device; free some space", store.ErrUnavailable)
	ae := storeError(cause)
	if !errors.Is(ae, store.ErrUnavailable) || ae.code != wire.CodeStoreUnavailable || ae.retryAfter != 30*time.Second {
		t.Fatalf("%#v", ae)
	}
	var body wire.ErrorBody
	w := httptest.NewRecorder()
	writeAPIError(w, ae)
	if json.Unmarshal(w.Body.Bytes(), &body) != nil || !strings.Contains(body.Description, "free some space") {
		t.Fatalf("body %s", w.Body)
	}
}
