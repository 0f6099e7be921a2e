package daemon

import (
	"fmt"
	"io"
	"runtime/metrics"
)

// writeRuntimeMetrics adds the Go runtime's own figures to GET /v1/metrics,
// under the names Prometheus' Go collector uses: goroutines, heap objects
// allocated so far (allocations per request = its growth over tokens
// served), and the memory the runtime holds. Reading them stops nothing.
func writeRuntimeMetrics(w io.Writer) {
	s := []metrics.Sample{
		{Name: "/sched/goroutines:goroutines"},
		{Name: "/gc/heap/allocs:objects"},
		{Name: "/gc/heap/tiny/allocs:objects"},
		{Name: "/memory/classes/total:bytes"},
	}
	metrics.Read(s)
	u := func(i int) uint64 {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return s[i].Value.Uint64()
	}
	fmt.Fprintf(w, "# HELP go_goroutines Number of goroutines that currently exist.\n# TYPE go_goroutines gauge\ngo_goroutines %d\n", u(0))
	fmt.Fprintf(w, "# HELP go_memstats_mallocs_total Total number of heap objects allocated.\n# TYPE go_memstats_mallocs_total counter\ngo_memstats_mallocs_total %d\n", u(1)+u(2))
	fmt.Fprintf(w, "# HELP go_memstats_sys_bytes Bytes of memory obtained from the OS.\n# TYPE go_memstats_sys_bytes gauge\ngo_memstats_sys_bytes %d\n", u(3))
}
