package config

import (
	"go/ast"
	"go/constant"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var settingName = regexp.MustCompile(`^[A-Z][A-Z0-9]*_[A-Z0-9_]+$`)

// read is one place the code reads a setting.
type read struct {
	name, method, pos string
	args              []ast.Expr
}

// codeReads parses the non-test Go files of dir and returns every setting
// read through an accessor of *Env (env.Int("NAME", ...)) or os.Getenv, and
// the package's constants (for defaults like defaultBrokerURL).
func codeReads(t *testing.T, dir string) ([]read, map[string]ast.Expr) {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var reads []read
	consts := map[string]ast.Expr{}
	accessors := []string{"String", "Bool", "Int", "Int64", "Duration", "URL", "Required", "Lookup", "Invalid", "Get", "Getenv", "LookupEnv"}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.ValueSpec:
				for i, id := range n.Names {
					if i < len(n.Values) {
						consts[id.Name] = n.Values[i]
					}
				}
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if !ok || !slices.Contains(accessors, sel.Sel.Name) || len(n.Args) == 0 {
					return true
				}
				lit, ok := n.Args[0].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return true
				}
				name, _ := strconv.Unquote(lit.Value)
				if settingName.MatchString(name) {
					reads = append(reads, read{name: name, method: sel.Sel.Name, pos: fset.Position(n.Pos()).String(), args: n.Args})
				}
			}
			return true
		})
	}
	return reads, consts
}

// eval evaluates simple constant expressions: literals, the package's
// constants, arithmetic and time units. ok is false for anything else.
func eval(e ast.Expr, consts map[string]ast.Expr) (v constant.Value, dur bool, ok bool) {
	switch e := e.(type) {
	case *ast.BasicLit:
		return constant.MakeFromLiteral(e.Value, e.Kind, 0), false, true
	case *ast.ParenExpr:
		return eval(e.X, consts)
	case *ast.Ident:
		switch e.Name {
		case "true", "false":
			return constant.MakeBool(e.Name == "true"), false, true
		}
		if c, found := consts[e.Name]; found {
			return eval(c, consts)
		}
	case *ast.SelectorExpr:
		if x, isIdent := e.X.(*ast.Ident); isIdent && x.Name == "time" {
			units := map[string]time.Duration{"Nanosecond": time.Nanosecond, "Microsecond": time.Microsecond,
				"Millisecond": time.Millisecond, "Second": time.Second, "Minute": time.Minute, "Hour": time.Hour}
			if u, found := units[e.Sel.Name]; found {
				return constant.MakeInt64(int64(u)), true, true
			}
		}
	case *ast.BinaryExpr:
		x, dx, okx := eval(e.X, consts)
		y, dy, oky := eval(e.Y, consts)
		if !okx || !oky {
			return nil, false, false
		}
		if e.Op == token.SHL || e.Op == token.SHR {
			s, exact := constant.Uint64Val(y)
			if !exact {
				return nil, false, false
			}
			return constant.Shift(x, e.Op, uint(s)), dx, true
		}
		return constant.BinaryOp(x, e.Op, y), dx || dy, true
	}
	return nil, false, false
}

func TestRegistryCoversCode(t *testing.T) {
	reads, consts := codeReads(t, "../../cmd/cocoon")
	if len(reads) < 30 {
		t.Fatalf("found only %d setting reads in cmd/cocoon: is the scan broken?", len(reads))
	}
	for _, r := range reads {
		s, ok := Known(r.name)
		if !ok {
			t.Errorf("%s: %s is read but not in the registry (internal/config/settings.go) nor the README", r.pos, r.name)
			continue
		}
		checkDefault(t, r, s, consts)
	}
	// Settings packages read through constants (ton.SettingsFromEnv).
	_, tonConsts := codeReads(t, "../../ton")
	for id, e := range tonConsts {
		lit, ok := e.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING || !strings.HasPrefix(id, "Env") {
			continue
		}
		name, _ := strconv.Unquote(lit.Value)
		if _, ok := Known(name); !ok {
			t.Errorf("ton.%s = %s is not in the registry", id, name)
		}
	}
}

// checkDefault compares a read's default argument with the registry's.
func checkDefault(t *testing.T, r read, s Setting, consts map[string]ast.Expr) {
	t.Helper()
	wantKind := map[string]Kind{"Bool": KindBool, "Int": KindInt, "Int64": KindInt, "Duration": KindDuration, "URL": KindURL}
	if k, ok := wantKind[r.method]; ok && s.Kind != k {
		t.Errorf("%s: %s read with %s but registered as %s", r.pos, r.name, r.method, s.Kind)
	}
	if r.method == "String" && s.Kind != KindString && s.Kind != KindEnum {
		t.Errorf("%s: %s read as a string but registered as %s", r.pos, r.name, s.Kind)
	}
	if len(r.args) < 2 || r.method == "Required" || r.method == "Invalid" {
		return
	}
	v, dur, ok := eval(r.args[1], consts)
	if !ok {
		return // not a constant expression (e.g. bot.DefaultAPIURL)
	}
	var got string
	switch {
	case dur:
		n, _ := constant.Int64Val(v)
		want, err := time.ParseDuration(s.Default)
		if err != nil || time.Duration(n) != want {
			t.Errorf("%s: %s defaults to %v in the code, %q in the registry", r.pos, r.name, time.Duration(n), s.Default)
		}
		return
	case v.Kind() == constant.String:
		got = constant.StringVal(v)
	default:
		got = v.ExactString()
	}
	if got != s.Default {
		t.Errorf("%s: %s defaults to %q in the code, %q in the registry", r.pos, r.name, got, s.Default)
	}
	if r.method == "Int" && len(r.args) == 4 {
		for i, bound := range []int64{s.Min, s.Max} {
			if b, _, ok := eval(r.args[2+i], consts); ok {
				if n, exact := constant.Int64Val(b); exact && n != bound {
					t.Errorf("%s: %s bound %d in the code, %d in the registry", r.pos, r.name, n, bound)
				}
			}
		}
	}
}

// readOutside lists registry names read outside cmd/cocoon, or not yet
// wired (name -> where).
var readOutside = map[string]string{
	ConfigSetting:       "internal/config Load",
	"COCOON_OLLAMA_BIN": "internal/tinymodel",
	// Metrics: obs.Serve, wired into each subcommand (pending in cmd/cocoon).
	"COCOON_METRICS_ADDR": "pending wiring",
}

func TestRegistryHasNoStaleSettings(t *testing.T) {
	reads, _ := codeReads(t, "../../cmd/cocoon")
	_, tonConsts := codeReads(t, "../../ton")
	seen := map[string]bool{}
	for _, r := range reads {
		seen[r.name] = true
	}
	for _, e := range tonConsts {
		if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			name, _ := strconv.Unquote(lit.Value)
			seen[name] = true
		}
	}
	for _, s := range registry {
		if !seen[s.Name] && readOutside[s.Name] == "" {
			t.Errorf("%s is in the registry but nothing in cmd/cocoon reads it", s.Name)
		}
	}
}

// notInREADME are registry rows the README's table does not have yet.
var notInREADME = map[string]bool{"COCOON_CONFIG": true, "COCOON_METRICS_ADDR": true, "COCOON_OLLAMA_BIN": true}

// readmeSettings parses the README's settings table: name -> default cell.
func readmeSettings(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "## Settings")
	if !ok {
		t.Fatal("README has no Settings section")
	}
	table, _, _ = strings.Cut(table, "\n## ")
	names := regexp.MustCompile("`([A-Z][A-Z0-9_]+)`")
	out := map[string]string{}
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 5 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		for _, m := range names.FindAllStringSubmatch(cells[1], -1) {
			out[m[1]] = strings.TrimSpace(cells[2])
		}
	}
	if len(out) < 20 {
		t.Fatalf("parsed %d README settings: is the table's shape changed?", len(out))
	}
	return out
}

func TestREADMEMatchesRegistry(t *testing.T) {
	readme := readmeSettings(t)
	literal := regexp.MustCompile("^`([^`]*)`")
	for name, def := range readme {
		s, ok := Known(name)
		if !ok {
			t.Errorf("README lists %s; the registry does not", name)
			continue
		}
		if m := literal.FindStringSubmatch(def); m != nil && m[1] != s.Default {
			t.Errorf("%s: README default %q, registry %q", name, m[1], s.Default)
		}
	}
	for _, s := range registry {
		if _, ok := readme[s.Name]; !ok && !notInREADME[s.Name] {
			t.Errorf("%s is a setting but has no row in the README's table", s.Name)
		}
	}
}

func TestRegistryEntriesAreWellFormed(t *testing.T) {
	for _, s := range registry {
		if s.Meaning == "" || len(s.UsedBy) == 0 {
			t.Errorf("%s: meaning and used-by are required", s.Name)
		}
		if s.Kind == KindInt && s.Min > s.Max {
			t.Errorf("%s: bounds %d..%d", s.Name, s.Min, s.Max)
		}
		if s.Kind == KindEnum && !slices.Contains(s.Values, s.Default) {
			t.Errorf("%s: default %q is not one of %v", s.Name, s.Default, s.Values)
		}
		if s.Default != "" {
			e := OnlyFile("")
			e.file = map[string]string{s.Name: s.Default}
			e.validate(s)
			if err := e.Err(); err != nil {
				t.Errorf("%s: default does not validate: %v", s.Name, err)
			}
		}
	}
}
