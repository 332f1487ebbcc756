package ledger

import (
	"reflect"
	"testing"
)

func TestConds(t *testing.T) {
	for _, numbered := range []bool{false, true} {
		c := Conds{Numbered: numbered}
		if c.Where() != "" {
			t.Errorf("no conditions: %q", c.Where())
		}
		c.Add("owner = ?", "ann")
		c.Add("dead")
		c.Add("(at < ? OR (at = ? AND id < ?))", 5, 5, "x")
		limit := c.Arg(10)
		want, wantLimit := " WHERE owner = ? AND dead AND (at < ? OR (at = ? AND id < ?))", "?"
		if numbered {
			want, wantLimit = " WHERE owner = $1 AND dead AND (at < $2 OR (at = $3 AND id < $4))", "$5"
		}
		if c.Where() != want || limit != wantLimit {
			t.Errorf("numbered %v: %q, limit %q", numbered, c.Where(), limit)
		}
		if !reflect.DeepEqual(c.Args(), []any{"ann", 5, 5, "x", 10}) {
			t.Errorf("args %v", c.Args())
		}
	}
}
