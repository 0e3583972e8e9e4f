// Package sse is a client of PocketBase's realtime API for tests and
// benchmarks: it opens the event stream, reads its events and subscribes.
package sse

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Event is one server-sent event.
type Event struct {
	Name string
	Data string
	At   time.Time // when it was read
}

// Stream is an open realtime connection.
type Stream struct {
	ClientID string
	// Events are the events after PB_CONNECT, in order; closed when the
	// connection ends.
	Events <-chan Event

	base     string
	client   *http.Client
	response *http.Response
}

// Connect opens base's realtime stream and waits for its PB_CONNECT;
// buffer is how many events may wait unread before reading stops.
func Connect(client *http.Client, base string, buffer int) (*Stream, error) {
	response, err := client.Get(base + "/api/realtime")
	if err != nil {
		return nil, err
	}
	if response.StatusCode != http.StatusOK {
		response.Body.Close()
		return nil, fmt.Errorf("GET /api/realtime: %d", response.StatusCode)
	}
	events := make(chan Event, buffer)
	go read(response.Body, events)
	s := &Stream{Events: events, base: base, client: client, response: response}
	select {
	case first, ok := <-events:
		var connect struct{ ClientID string }
		if !ok || first.Name != "PB_CONNECT" || json.Unmarshal([]byte(first.Data), &connect) != nil || connect.ClientID == "" {
			s.Close()
			return nil, fmt.Errorf("no PB_CONNECT: %+v", first)
		}
		s.ClientID = connect.ClientID
	case <-time.After(30 * time.Second):
		s.Close()
		return nil, errors.New("no PB_CONNECT within 30s")
	}
	return s, nil
}

func read(body io.Reader, events chan<- Event) {
	defer close(events)
	scanner := bufio.NewScanner(body)
	scanner.Buffer(make([]byte, 64<<10), 16<<20)
	var event Event
	for scanner.Scan() {
		line := scanner.Text()
		switch {
		case strings.HasPrefix(line, "event:"):
			event.Name = strings.TrimSpace(line[len("event:"):])
		case strings.HasPrefix(line, "data:"):
			event.Data = strings.TrimSpace(line[len("data:"):])
		case line == "" && event.Name != "":
			event.At = time.Now()
			events <- event
			event = Event{}
		}
	}
}

// Subscribe sets the stream's subscriptions as the caller of token ("" for
// a guest), as the JS SDK does.
func (s *Stream) Subscribe(token string, subscriptions ...string) error {
	return Subscribe(s.client, s.base, s.ClientID, token, subscriptions...)
}

// Subscribe sets the subscriptions of the realtime client clientID of
// base, as the caller of token ("" for a guest): for a stream read some
// other way than Connect.
func Subscribe(client *http.Client, base, clientID, token string, subscriptions ...string) error {
	body, _ := json.Marshal(map[string]any{"clientId": clientID, "subscriptions": subscriptions})
	req, err := http.NewRequest(http.MethodPost, base+"/api/realtime", strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	answer, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		return fmt.Errorf("subscribe: %d %s", res.StatusCode, answer)
	}
	return nil
}

// Close ends the connection.
func (s *Stream) Close() { s.response.Body.Close() }
