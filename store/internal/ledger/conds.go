package ledger

import (
	"strconv"
	"strings"
)

// Conds builds the WHERE clause of a list query: conditions joined by AND,
// with their arguments in order. Each "?" in a condition stands for the
// next argument; for PostgreSQL (Numbered) it is written $1, $2, … as it
// is added, so that both stores state their conditions alike.
type Conds struct {
	Numbered bool

	conds []string
	args  []any
}

// Add appends cond, whose "?" stand for args in order.
func (c *Conds) Add(cond string, args ...any) {
	if c.Numbered {
		n := len(c.args)
		var b strings.Builder
		for _, r := range cond {
			if r == '?' {
				n++
				b.WriteString("$" + strconv.Itoa(n))
			} else {
				b.WriteRune(r)
			}
		}
		cond = b.String()
	}
	c.conds = append(c.conds, cond)
	c.args = append(c.args, args...)
}

// Arg appends an argument used outside the conditions (a LIMIT's) and
// returns its placeholder.
func (c *Conds) Arg(v any) string {
	c.args = append(c.args, v)
	if c.Numbered {
		return "$" + strconv.Itoa(len(c.args))
	}
	return "?"
}

// Where is " WHERE " and the conditions, or "" when there are none.
func (c *Conds) Where() string {
	if len(c.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(c.conds, " AND ")
}

// Args are the arguments, in order.
func (c *Conds) Args() []any { return c.args }
