// Package jsonpos places a byte offset of a JSON text (the offset of
// encoding/json's SyntaxError) as a line and a column people can find.
package jsonpos

// LineAndColumn converts a byte offset of data into 1-based line and column
// numbers.
func LineAndColumn(data []byte, offset int64) (line, column int) {
	line, column = 1, 1
	for _, b := range data[:max(0, min(int(offset), len(data)))] {
		if b == '\n' {
			line++
			column = 1
		} else {
			column++
		}
	}
	return line, column
}
