package recordcache

import (
	"testing"

	"github.com/pocketbase/pocketbase/tools/types"
)

func TestThePlannerFailsClosed(t *testing.T) {
	t.Parallel()
	app, items, _ := itemsApp(t)
	for filter, want := range map[string]string{
		`n > 1`:                           "",
		`payload = "@now"`:                "",
		"n > 1 // it's @now":              "",
		`@request.method = "GET"`:         "",
		`@request.context = "default"`:    BypassRequestData,
		`@request.query.page = "1"`:       BypassRequestData,
		`@request.body.n:isset = true`:    BypassRequestData,
		`@request.headers.x = "1"`:        BypassRequestData,
		`n > @second`:                     BypassClock,
		`@unknown = 1`:                    BypassUnknown,
		`created > @todayStart`:           BypassClock,
		`payload:excerpt(10) = ""`:        BypassUnknown,
		`payload:changed = true`:          BypassUnknown,
		`lower(payload) = "a"`:            BypassUnknown,
		`n >`:                             BypassUnknown,
		`strftime('%Y', 'NOW') = '2026'`:  BypassClock,
		`strftime('%Y', 1700000000) > ''`: "",
	} {
		if got := planRead(app, items, false, filter, "", "", "", nil).bypass; got != want {
			t.Errorf("filter %q: bypass %q, want %q", filter, got, want)
		}
	}
	items.ListRule = types.Pointer("// the owner's\n@request.auth.id != ''")
	if plan := planRead(app, items, false, "", "", "", "", nil); !plan.readsAuth || plan.bypass != "" {
		t.Errorf("a commented rule that reads the caller: %+v", plan)
	}
}
