package entra

import (
	"testing"

	"github.com/tokend/tokend/internal/flow"
)

// Every flow of the table can be built: adding a row to internal/flow
// without a provider here fails this test.
func TestEveryFlowHasABuilder(t *testing.T) {
	for _, f := range flow.All() {
		if builders[f.Name] == nil {
			t.Errorf("flow %s has no builder", f.Name)
		}
	}
	if len(builders) != len(flow.All()) {
		t.Errorf("%d builders for %d flows", len(builders), len(flow.All()))
	}
}
