package recordcache

import (
	"strconv"
	"strings"
	"testing"
)

func TestThePlanMemoIsBoundedInBytes(t *testing.T) {
	t.Parallel()
	app, items, _ := itemsApp(t)
	memo := newPlanMemo()
	huge := strings.Repeat("x", 900<<10)
	for i := range 150 { // 150 requests with 900 KB queries
		memo.get(app, 0, items, "", "filter=n%3D"+strconv.Itoa(i)+"&pad="+huge, nil)
	}
	if size := memo.plans.WeightedSize(); size > 0 {
		t.Fatalf("plans of huge queries were kept: %d bytes", size)
	}
	big := strings.Repeat("y", maxMemoizedQuery-100)
	for i := range 2000 { // about 16 MB of keys for a 4 MiB memo
		memo.get(app, 0, items, "", "filter=n%3D"+strconv.Itoa(i)+"&pad="+big, nil)
	}
	memo.plans.CleanUp()
	if size := memo.plans.WeightedSize(); size == 0 || size > planMemoBytes {
		t.Fatalf("memo holds %d bytes, bound %d", size, planMemoBytes)
	}
}
