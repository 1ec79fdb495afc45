package deploycheck

import (
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/cocoon-network/cocoon/internal/config"
)

type service struct {
	Build       any            `yaml:"build"`
	Image       string         `yaml:"image"`
	Command     any            `yaml:"command"`
	Environment any            `yaml:"environment"`
	DependsOn   any            `yaml:"depends_on"`
	Healthcheck map[string]any `yaml:"healthcheck"`
}

type composeFile struct {
	Services map[string]service `yaml:"services"`
}

// The files under test (variables so a test can point them elsewhere).
var (
	composePath    = "../../docker-compose.yml"
	dockerfilePath = "../../Dockerfile"
)

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile(composePath)
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

// strs turns a YAML string-or-list into a list.
func strs(v any) []string {
	switch v := v.(type) {
	case string:
		return strings.Fields(v)
	case []any:
		out := make([]string, len(v))
		for i, x := range v {
			out[i] = fmt.Sprint(x)
		}
		return out
	}
	return nil
}

// env returns a service's environment, from either compose form.
func (s service) env() map[string]string {
	out := map[string]string{}
	switch e := s.Environment.(type) {
	case map[string]any:
		for k, v := range e {
			if v == nil {
				out[k] = ""
			} else {
				out[k] = fmt.Sprint(v)
			}
		}
	case []any:
		for _, x := range e {
			k, v, _ := strings.Cut(fmt.Sprint(x), "=")
			out[k] = v
		}
	}
	return out
}

// deps returns depends_on: service -> condition ("" for the short form).
func (s service) deps() map[string]string {
	out := map[string]string{}
	switch d := s.DependsOn.(type) {
	case []any:
		for _, x := range d {
			out[fmt.Sprint(x)] = ""
		}
	case map[string]any:
		for k, v := range d {
			cond := ""
			if m, ok := v.(map[string]any); ok {
				cond = fmt.Sprint(m["condition"])
			}
			out[k] = cond
		}
	}
	return out
}

func (s service) healthy() bool {
	return s.Healthcheck != nil && len(strs(s.Healthcheck["test"])) > 0 && s.Healthcheck["disable"] != true
}

// subcommand is the cocoon subcommand a service runs, "" for other images.
func (s service) subcommand() string {
	if s.Build == nil && !strings.Contains(s.Image, "cocoon") {
		return ""
	}
	if c := strs(s.Command); len(c) > 0 {
		return c[0]
	}
	return ""
}

// composeOnly are variables of the compose file that are not Cocoon
// settings (they configure other images or build URLs).
var composeOnly = map[string]bool{"REDIS_PASSWORD": true}

var interpolation = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)`)

func TestComposeServicesAndHealth(t *testing.T) {
	c := loadCompose(t)
	for _, name := range []string{"redis", "ollama", "broker", "gateway", "worker", "bot"} {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("service %s is missing", name)
		}
	}
	for _, name := range []string{"redis", "ollama", "broker"} {
		if !c.Services[name].healthy() {
			t.Errorf("service %s has no healthcheck (others wait for it to be healthy)", name)
		}
	}
	for name, s := range c.Services {
		deps := s.deps()
		if !s.healthy() && len(deps) == 0 && name != "redis" && name != "ollama" {
			t.Errorf("service %s has neither a healthcheck nor healthy dependencies", name)
		}
		for dep, cond := range deps {
			d, ok := c.Services[dep]
			switch {
			case !ok:
				t.Errorf("%s depends on unknown service %s", name, dep)
			case cond != "service_healthy":
				t.Errorf("%s depends on %s without condition: service_healthy (it would start before %s is ready)", name, dep, dep)
			case !d.healthy():
				t.Errorf("%s waits for %s to be healthy, but %s has no healthcheck", name, dep, dep)
			}
		}
	}
	// A service that talks to another waits for it, directly or through
	// what it depends on.
	needs := map[string]string{"REDIS_URL": "redis", "OLLAMA_HOST": "ollama", "COCOON_BROKER_URL": "broker"}
	for name, s := range c.Services {
		for setting, target := range needs {
			if _, ok := s.env()[setting]; ok && !reaches(c, name, target, map[string]bool{}) {
				t.Errorf("%s uses %s but does not wait for %s", name, setting, target)
			}
		}
	}
}

func reaches(c composeFile, from, to string, seen map[string]bool) bool {
	if seen[from] {
		return false
	}
	seen[from] = true
	for dep := range c.Services[from].deps() {
		if dep == to || reaches(c, dep, to, seen) {
			return true
		}
	}
	return false
}

func TestComposeRedisIsDurableAndProtected(t *testing.T) {
	c := loadCompose(t)
	cmd := strs(c.Services["redis"].Command)
	arg := func(flag string) string {
		if i := slices.Index(cmd, flag); i >= 0 && i+1 < len(cmd) {
			return cmd[i+1]
		}
		return ""
	}
	if arg("--appendonly") != "yes" {
		t.Errorf("redis runs without AOF (--appendonly yes): %v", cmd)
	}
	if arg("--appendfsync") != "everysec" {
		t.Errorf("redis AOF fsync is %q; docs/architecture.md promises everysec", arg("--appendfsync"))
	}
	if arg("--requirepass") == "" {
		t.Errorf("redis has no password (--requirepass): %v", cmd)
	}
	for name, s := range c.Services {
		v, ok := s.env()["REDIS_URL"]
		if !ok {
			continue
		}
		u, err := url.Parse(regexp.MustCompile(`\$\{[^}]*\}`).ReplaceAllString(v, "x"))
		if err != nil {
			t.Errorf("%s: REDIS_URL does not parse", name)
			continue
		}
		if p, set := u.User.Password(); !set || p == "" {
			t.Errorf("%s: REDIS_URL carries no password", name)
		}
	}
}

func TestComposeSettingsAreTheCodes(t *testing.T) {
	c := loadCompose(t)
	ran := map[string]bool{}
	for name, s := range c.Services {
		env := s.env()
		for _, v := range env {
			for _, m := range interpolation.FindAllStringSubmatch(v, -1) {
				if _, ok := config.Known(m[1]); !ok && !composeOnly[m[1]] {
					t.Errorf("%s: ${%s} is neither a setting nor a known compose variable", name, m[1])
				}
			}
		}
		cmd := s.subcommand()
		if cmd == "" {
			continue
		}
		ran[cmd] = true
		for k, v := range env {
			st, ok := config.Known(k)
			switch {
			case !ok:
				t.Errorf("%s: %s is not a setting the code reads", name, k)
				continue
			case !st.Used(cmd):
				t.Errorf("%s: %s is set but `cocoon %s` does not read it (do not hand settings, let alone secrets, to processes that do not need them)", name, k, cmd)
			}
			if st.Secret && !regexp.MustCompile(`^\$\{[A-Za-z_][A-Za-z0-9_]*(:?[?-][^}]*)?\}$`).MatchString(v) {
				t.Errorf("%s: secret %s must come from the environment (${%s}), not be written in the file", name, k, k)
			}
		}
		for _, st := range config.Settings() {
			_, set := env[st.Name]
			if set {
				continue
			}
			if st.RequiredBy(cmd) {
				t.Errorf("%s: `cocoon %s` requires %s, which is not set", name, cmd, st.Name)
			}
			if st.Used(cmd) && strings.Contains(st.Default, "127.0.0.1") {
				t.Errorf("%s: %s defaults to loopback (%s), which is wrong inside a container: set it", name, st.Name, st.Default)
			}
		}
		if env["COCOON_LOG_FORMAT"] != "json" {
			t.Errorf("%s: production logs are JSON (COCOON_LOG_FORMAT: json)", name)
		}
	}
	for _, cmd := range []string{"broker", "worker", "gateway", "bot"} {
		if !ran[cmd] {
			t.Errorf("no service runs `cocoon %s`", cmd)
		}
	}
}

func TestDockerfileIsMultiStageAndNonRoot(t *testing.T) {
	b, err := os.ReadFile(dockerfilePath)
	if err != nil {
		t.Fatal(err)
	}
	var froms []string
	user, copyFrom := "", false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			froms = append(froms, strings.Join(f[1:], " "))
			user = "" // USER does not carry across stages
		case "USER":
			if len(f) > 1 {
				user = f[1]
			}
		case "COPY":
			if len(froms) > 1 && len(f) > 1 && strings.HasPrefix(f[1], "--from=") {
				copyFrom = true
			}
		}
	}
	if len(froms) < 2 {
		t.Fatalf("Dockerfile has %d stage(s), want a build stage and a runtime stage", len(froms))
	}
	if !copyFrom {
		t.Error("the runtime stage copies nothing from the build stage (COPY --from=...)")
	}
	if last := froms[len(froms)-1]; strings.Contains(last, "golang") {
		t.Errorf("the runtime stage is a Go toolchain image (%s)", last)
	}
	name, _, _ := strings.Cut(user, ":")
	if name == "" || name == "root" || name == "0" {
		t.Errorf("the runtime stage ends with USER %q, want a non-root user", user)
	}
}
