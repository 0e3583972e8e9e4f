package hapta

import (
	"strconv"
	"testing"
)

func TestOAuth2StatesAreBounded(t *testing.T) {
	t.Parallel()
	states := &oauth2States{states: map[string]oauth2State{}}
	for i := 0; i < maxOAuth2States; i++ {
		if err := states.put(strconv.Itoa(i), oauth2State{provider: "p"}); err != nil {
			t.Fatalf("state %d refused: %v", i, err)
		}
	}
	if err := states.put("one-more", oauth2State{}); err == nil {
		t.Fatal("the states grew past their bound")
	}
	if _, ok := states.take("7"); !ok {
		t.Fatal("a stored state was lost")
	}
	if _, ok := states.take("7"); ok {
		t.Fatal("a state served twice")
	}
	if err := states.put("one-more", oauth2State{}); err != nil {
		t.Fatalf("a freed slot is not reused: %v", err)
	}
}
