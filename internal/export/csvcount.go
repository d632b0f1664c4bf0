package export

import "bytes"

// recordCounter counts CSV records in a byte stream as it passes through, in constant memory.
//
// It follows RFC 4180 as encoding/csv reads it: a field that starts with a double quote may hold
// commas, quotes (doubled) and line breaks; a quote inside an unquoted field is an ordinary
// character; a line with no bytes other than its line break (LF or CRLF) is not a record; the last
// record needs no trailing line break.
type recordCounter struct {
	state   csvState
	records int64
	// lineHasData is set once the current record holds any byte besides CR/LF, so that blank lines
	// and a final line break are not counted as records.
	lineHasData bool
	bytes       int64
}

type csvState uint8

const (
	fieldStart  csvState = iota // at the start of a field
	unquoted                    // inside a field that did not start with a quote
	quoted                      // inside a quoted field
	quoteQuoted                 // just after a quote inside a quoted field: closing, or the first of a pair
)

// Write never fails, so that it can sit in an io.MultiWriter.
func (c *recordCounter) Write(p []byte) (int, error) {
	c.bytes += int64(len(p))
	state, has := c.state, c.lineHasData
	for i := 0; i < len(p); i++ {
		if state == fieldStart || state == unquoted {
			// Outside quotes only line breaks matter (and commas, for what a quote means): take
			// everything up to the next quote a line at a time.
			end := len(p)
			if j := bytes.IndexByte(p[i:], '"'); j >= 0 {
				end = i + j
			}
			if end > i {
				state, has = c.plain(p[i:end], state, has)
				i = end
				if i == len(p) {
					break
				}
			}
		}
		b := p[i]
		switch state {
		case quoted:
			// Most bytes of a quoted field are plain; skip straight to the next quote.
			j := bytes.IndexByte(p[i:], '"')
			if j < 0 {
				i = len(p)
				continue
			}
			i += j
			state = quoteQuoted
		case fieldStart, unquoted, quoteQuoted:
			switch b {
			case '\n':
				if has {
					c.records++
				}
				has = false
				state = fieldStart
			case '\r':
				// Part of a CRLF, or a stray CR in a field; neither starts a record by itself.
				if state == quoteQuoted {
					state = unquoted
				}
			case ',':
				has = true
				state = fieldStart
			case '"':
				has = true
				switch state {
				case fieldStart, quoteQuoted: // an opening quote, or the second of a doubled pair
					state = quoted
				}
			default:
				has = true
				state = unquoted
			}
		}
	}
	c.state, c.lineHasData = state, has
	return len(p), nil
}

// plain counts the records in seg, which holds no quote and starts outside a quoted field, and
// returns the state and lineHasData after it. It looks at each line's last bytes only: a line holds
// data when it has a byte other than CR, and what follows it is at a field start when that byte is
// a comma.
func (c *recordCounter) plain(seg []byte, state csvState, has bool) (csvState, bool) {
	for len(seg) > 0 {
		k := bytes.IndexByte(seg, '\n')
		line := seg
		if k >= 0 {
			line = seg[:k]
		}
		last := len(line) - 1
		for last >= 0 && line[last] == '\r' {
			last--
		}
		if last >= 0 {
			has = true
			if line[last] == ',' {
				state = fieldStart
			} else {
				state = unquoted
			}
		}
		if k < 0 {
			break
		}
		if has {
			c.records++
		}
		has, state = false, fieldStart
		seg = seg[k+1:]
	}
	return state, has
}

// Records is the number of records seen, counting a last record that lacks a line break. It is
// meant to be called once the stream has ended.
func (c *recordCounter) Records() int64 {
	if c.lineHasData {
		return c.records + 1
	}
	return c.records
}

// Rows is the number of data records: all records but the header.
func (c *recordCounter) Rows() int64 {
	if r := c.Records(); r > 0 {
		return r - 1
	}
	return 0
}
