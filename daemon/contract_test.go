package daemon

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
)

// The contract in docs/contract.md names every route the daemon serves,
// and no route it does not serve.
func TestContractNamesEveryRoute(t *testing.T) {
	doc, err := os.ReadFile("../docs/contract.md")
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, harnessOpts{noRefresher: true})
	served := map[string]bool{}
	err = chi.Walk(h.srv.routes.(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		route = strings.TrimSuffix(strings.ReplaceAll(route, "/*/", "/"), "/*")
		if method == "*" || strings.Contains(route, "{capability}") {
			return nil // the metadata service answers any method (405 but GET); its section names it
		}
		served[method+" "+route] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for r := range served {
		if !strings.Contains(string(doc), "`"+r) {
			t.Errorf("docs/contract.md does not name %s", r)
		}
	}
	for _, r := range []string{"GET /msi/token", "GET /databricks/<capability>"} {
		if !strings.Contains(string(doc), r) {
			t.Errorf("docs/contract.md does not name %s", r)
		}
	}
	if len(served) < 10 {
		t.Fatalf("only %d routes walked: %v", len(served), served)
	}
}
