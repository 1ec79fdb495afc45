package ledger

import (
	"context"
	"errors"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestLuaArithmetic checks the script helpers are exact where Lua's doubles are not.
func TestLuaArithmetic(t *testing.T) {
	e := single(t)
	ctx := context.Background()
	script := redis.NewScript(luaLib + `
local op, a, b = ARGV[1], ARGV[2], ARGV[3]
if op == 'ge' then return tostring(ge(a, b)) end
if op == 'fits' then return tostring(fits(a, b)) end
return add(a, b)
`)
	tests := []struct{ op, a, b, want string }{
		{"ge", "9007199254740993", "9007199254740992", "true"},
		{"ge", "9007199254740992", "9007199254740993", "false"},
		{"ge", "9223372036854775807", "9223372036854775806", "true"},
		{"ge", "5", "5", "true"},
		{"ge", "10", "9", "true"},
		{"ge", "-1", "0", "false"},
		{"ge", "0", "-1", "true"},
		{"ge", "-10", "-9", "false"},
		{"ge", "-9", "-10", "true"},
		{"add", "9007199254740993", "1", "9007199254740994"},
		{"add", "999", "1", "1000"},
		{"add", "0", "0", "0"},
		{"add", "8999999999999999999", "1", "9000000000000000000"},
		{"fits", "8999999999999999999", "1", "true"},
		{"fits", "8999999999999999999", "2", "false"},
		{"fits", "-5", "1000000000000000000", "true"},
	}
	for _, tt := range tests {
		got, err := script.Run(ctx, e.rdb, []string{"k"}, tt.op, tt.a, tt.b).Text()
		if err != nil || got != tt.want {
			t.Errorf("%s(%s, %s) = %q, %v; want %q", tt.op, tt.a, tt.b, got, err, tt.want)
		}
	}
}

// TestExactBeyondDoubles: a balance one nanoTON short of 2^53+1 cannot
// reserve 2^53+1, which a double comparison would allow.
func TestExactBeyondDoubles(t *testing.T) {
	e := single(t)
	ctx := context.Background()
	const big = 1<<53 + 1
	e.credit("u", "tx", big-1)
	if _, err := e.l.Reserve(ctx, "u", "j", big); !errors.Is(err, ErrInsufficientBalance) {
		t.Fatalf("reserve above balance: %v", err)
	}
	e.credit("u", "tx2", 1)
	rc, err := e.l.Reserve(ctx, "u", "j", big)
	if err != nil || rc.Balance != 0 {
		t.Fatalf("reserve of the whole balance: %+v %v", rc, err)
	}
	s := Settlement{User: "u", JobID: "j", Model: "m", Charge: big - 2, Operator: big - 2}
	if rc := e.settle(s); rc.Released != 2 || rc.Balance != 2 {
		t.Fatalf("settle %+v", rc)
	}
	e.apply("u")
	if r := e.check(); r.OperatorRevenue != big-2 {
		t.Fatalf("report:\n%s", r)
	}
}
