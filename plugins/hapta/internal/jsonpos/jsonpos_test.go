package jsonpos

import "testing"

func TestLineAndColumn(t *testing.T) {
	t.Parallel()
	data := []byte("{\n  \"a\": 1,\n  oops\n}")
	for _, c := range []struct {
		offset       int64
		line, column int
	}{{0, 1, 1}, {1, 1, 2}, {2, 2, 1}, {14, 3, 3}, {-1, 1, 1}, {999, 4, 2}} {
		if line, column := LineAndColumn(data, c.offset); line != c.line || column != c.column {
			t.Errorf("offset %d: line %d column %d, want %d %d", c.offset, line, column, c.line, c.column)
		}
	}
}
