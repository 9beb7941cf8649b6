// Package config reads and validates thresholds.yaml, the configuration
// analysts tune: detector modes, thresholds and severity bands, learning and
// forgetting, principal keying, suppressions, routing, the events selected
// beyond the production selection, and high-risk rules
// (added, overridden or disabled; see detectors.CompileRules). Files are checked
// against an embedded JSON Schema and then for meaning, with line numbers in
// every message.
package config

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"gopkg.in/yaml.v3"

	"github.com/trailwatch/trailwatch/detectors"
)

// DefaultYAML is the default thresholds.yaml, embedded.
//
//go:embed thresholds.yaml
var DefaultYAML []byte

// SchemaJSON is the JSON Schema of thresholds.yaml.
//
//go:embed thresholds.schema.json
var SchemaJSON []byte

// file mirrors thresholds.yaml; pointers tell absent from zero.
type file struct {
	Version  int `yaml:"version"`
	Learning *struct {
		MinEvents *int `yaml:"min_events"`
		MinDays   *int `yaml:"min_days"`
	} `yaml:"learning"`
	Forgetting *struct {
		UnseenDays *int `yaml:"unseen_days"`
	} `yaml:"forgetting"`
	Keying *struct {
		PerSessionRoles []string `yaml:"per_session_roles"`
	} `yaml:"keying"`
	Windows *struct {
		CaseMinutes *int `yaml:"case_minutes"`
		DedupeHours *int `yaml:"dedupe_hours"`
	} `yaml:"windows"`
	Routing *struct {
		SNS    *string `yaml:"sns_min_severity"`
		Ticket *string `yaml:"ticket_min_severity"`
	} `yaml:"routing"`
	Detectors map[string]struct {
		Mode      *string            `yaml:"mode"`
		Threshold *float64           `yaml:"threshold"`
		Severity  map[string]float64 `yaml:"severity"`
	} `yaml:"detectors"`
	// Selection adds read-only calls to the events scored
	// (events.Selection); off by default.
	Selection *struct {
		CredentialAccessReads *bool `yaml:"credential_access_reads"`
	} `yaml:"selection"`
	Suppressions []detectors.Suppression `yaml:"suppressions"`
	// SelfProtection adds resources and deployers to what the
	// self-protection rule guards (detectors.Protection).
	SelfProtection *detectors.Protection `yaml:"self_protection"`
	// Networks are the named networks (networks.go).
	Networks []networkEntry `yaml:"networks"`
}

// Problem is one thing wrong with a config file.
type Problem struct {
	Line    int
	Message string
	// Warning problems (an expired suppression) do not make the file
	// unusable.
	Warning bool
}

func (p Problem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("line %d: %s", p.Line, p.Message)
	}
	return p.Message
}

// Error is returned for an unusable config file; it lists every problem.
type Error struct {
	Name     string
	Problems []Problem
}

func (e *Error) Error() string {
	var msgs []string
	for _, p := range e.Problems {
		if !p.Warning {
			msgs = append(msgs, p.String())
		}
	}
	return fmt.Sprintf("config %s: %s", e.Name, strings.Join(msgs, "; "))
}

// Default returns the default configuration.
func Default() *detectors.Config {
	cfg, _, err := Parse("default", DefaultYAML, time.Now())
	if err != nil {
		panic("embedded default config is invalid: " + err.Error())
	}
	return cfg
}

// Load reads and validates a config file. Warnings (such as expired
// suppressions) are returned beside a usable config.
func Load(path string, now time.Time) (*detectors.Config, []Problem, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	return parse(path, b, filepath.Dir(path), now)
}

// Parse validates a config document against the schema and for meaning.
// Absent settings take their defaults. A document parsed here must be
// self-contained: a network's file is read only by Load (relative to the
// config file); the CDK app inlines them when it deploys the config.
func Parse(name string, data []byte, now time.Time) (*detectors.Config, []Problem, error) {
	return parse(name, data, "", now)
}

// parse is Parse, reading network files relative to dir ("": none).
func parse(name string, data []byte, dir string, now time.Time) (*detectors.Config, []Problem, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err == io.EOF {
		return nil, nil, &Error{Name: name, Problems: []Problem{{Message: "empty document (at least `version: 1`)"}}}
	} else if err != nil {
		return nil, nil, &Error{Name: name, Problems: []Problem{{Line: yamlLine(err), Message: "not valid YAML: " + stripLine(err.Error())}}}
	}
	if len(root.Content) == 0 {
		return nil, nil, &Error{Name: name, Problems: []Problem{{Message: "empty document"}}}
	}
	doc := root.Content[0]
	problems := schemaProblems(doc)
	if len(problems) > 0 {
		// The problems travel in the error only: returned as warnings
		// too, a caller printing both would show each twice.
		return nil, nil, &Error{Name: name, Problems: problems}
	}
	var f file
	if err := doc.Decode(&f); err != nil {
		return nil, nil, &Error{Name: name, Problems: []Problem{{Line: yamlLine(err), Message: stripLine(err.Error())}}}
	}
	// Remember each suppression's line for messages.
	if sup := mapValue(doc, "suppressions"); sup != nil {
		for i, item := range sup.Content {
			if i < len(f.Suppressions) {
				f.Suppressions[i].Line = item.Line
			}
		}
	}
	cfg := detectors.DefaultConfig()
	cfg.Version = f.Version
	if l := f.Learning; l != nil {
		if l.MinEvents != nil {
			cfg.Learning.MinEvents = *l.MinEvents
		}
		if l.MinDays != nil {
			cfg.Learning.MinDays = *l.MinDays
		}
	}
	if f.Forgetting != nil && f.Forgetting.UnseenDays != nil {
		cfg.Forget = time.Duration(*f.Forgetting.UnseenDays) * 24 * time.Hour
	}
	if f.Keying != nil && f.Keying.PerSessionRoles != nil {
		cfg.Keying.PerSessionRoles = f.Keying.PerSessionRoles
	}
	if w := f.Windows; w != nil {
		if w.CaseMinutes != nil {
			cfg.Windows.Case = time.Duration(*w.CaseMinutes) * time.Minute
		}
		if w.DedupeHours != nil {
			cfg.Windows.Dedupe = time.Duration(*w.DedupeHours) * time.Hour
		}
	}
	if r := f.Routing; r != nil {
		if r.SNS != nil {
			cfg.Routing.SNSMinSeverity, _ = detectors.ParseSeverity(*r.SNS)
		}
		if r.Ticket != nil {
			cfg.Routing.TicketMinSeverity, _ = detectors.ParseSeverity(*r.Ticket)
		}
	}
	for id, d := range f.Detectors {
		dc := cfg.Detector(id)
		if d.Mode != nil {
			dc.Mode = detectors.Mode(*d.Mode)
		}
		if d.Threshold != nil {
			dc.Threshold = *d.Threshold
		}
		for k, v := range d.Severity {
			switch k {
			case "low":
				dc.Severity.Low = v
			case "medium":
				dc.Severity.Medium = v
			case "high":
				dc.Severity.High = v
			case "critical":
				dc.Severity.Critical = v
			}
		}
		cfg.Detectors[id] = dc
	}
	if sel := f.Selection; sel != nil && sel.CredentialAccessReads != nil {
		cfg.Selection.CredentialAccessReads = *sel.CredentialAccessReads
	}
	cfg.Suppressions = f.Suppressions
	if rules := mapValue(doc, "rules"); rules != nil && len(rules.Content) > 0 {
		set, errs := detectors.CompileRules(rules.Content, name)
		for _, err := range errs {
			problems = append(problems, Problem{Line: leadingLine(err.Error()), Message: stripLine(err.Error())})
		}
		cfg.Rules = set
	}
	if f.SelfProtection != nil {
		cfg.SelfProtection = *f.SelfProtection
		set, err := detectors.NewProtectedSet(cfg.SelfProtection)
		if err != nil {
			problems = append(problems, Problem{Line: lineOf(mapValue(doc, "self_protection")), Message: "self_protection: " + err.Error()})
		}
		cfg.Protected = set
	}
	netWarnings, netProblems := parseNetworks(doc, f.Networks, dir, cfg)
	problems = append(problems, netProblems...)
	for _, err := range cfg.Prepare() {
		problems = append(problems, Problem{Line: leadingLine(err.Error()), Message: stripLine(err.Error())})
	}
	// Point detector problems at their lines.
	for i := range problems {
		if problems[i].Line == 0 {
			problems[i].Line = lineForMessage(doc, problems[i].Message)
		}
	}
	if len(problems) > 0 {
		return nil, nil, &Error{Name: name, Problems: problems}
	}
	warnings := netWarnings
	for _, s := range cfg.Suppressions {
		if s.Expired(now) {
			warnings = append(warnings, Problem{Line: s.Line, Warning: true,
				Message: fmt.Sprintf("suppression %q expired on %s and no longer applies", s.Name, s.Expires)})
		}
	}
	return cfg, warnings, nil
}

// schema is compiled on first use, not at program start: commands and
// cold starts that never validate a file do not pay for it.
var schema = sync.OnceValue(func() *jsonschema.Schema {
	c := jsonschema.NewCompiler()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(SchemaJSON))
	if err != nil {
		panic(err)
	}
	if err := c.AddResource("thresholds.schema.json", doc); err != nil {
		panic(err)
	}
	return c.MustCompile("thresholds.schema.json")
})

var printer = message.NewPrinter(language.English)

// schemaProblems validates the document against the JSON Schema and maps
// each failure to the line of the offending value.
func schemaProblems(doc *yaml.Node) []Problem {
	v, err := toJSONValue(doc)
	if err != nil {
		return []Problem{{Line: doc.Line, Message: err.Error()}}
	}
	err = schema().Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []Problem{{Message: err.Error()}}
	}
	var out []Problem
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			loc := e.InstanceLocation
			msg := e.ErrorKind.LocalizedString(printer)
			where := "/" + strings.Join(loc, "/")
			out = append(out, Problem{Line: lineAt(doc, loc), Message: where + ": " + msg})
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Line < out[j].Line })
	return out
}

// toJSONValue converts YAML to the values a JSON decoder would give.
func toJSONValue(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return toJSONValue(n.Content[0])
	case yaml.AliasNode:
		return toJSONValue(n.Alias)
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			v, err := toJSONValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		a := []any{}
		for _, c := range n.Content {
			v, err := toJSONValue(c)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		return a, nil
	}
	switch n.Tag {
	case "!!int", "!!float":
		if _, err := strconv.ParseFloat(n.Value, 64); err != nil {
			return n.Value, nil
		}
		return json.Number(n.Value), nil
	case "!!bool":
		return n.Value == "true" || n.Value == "True" || n.Value == "TRUE", nil
	case "!!null":
		return nil, nil
	}
	return n.Value, nil
}

// lineAt finds the line of the value at a JSON pointer path.
func lineAt(n *yaml.Node, path []string) int {
	line := n.Line
	for _, p := range path {
		switch n.Kind {
		case yaml.MappingNode:
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == p {
					line = n.Content[i].Line
					n = n.Content[i+1]
					found = true
					break
				}
			}
			if !found {
				return line
			}
		case yaml.SequenceNode:
			i, err := strconv.Atoi(p)
			if err != nil || i >= len(n.Content) {
				return line
			}
			n = n.Content[i]
			line = n.Line
		default:
			return line
		}
	}
	return line
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// lineForMessage points "detectors.<id>..." messages at the detector's line.
func lineForMessage(doc *yaml.Node, msg string) int {
	rest, ok := strings.CutPrefix(msg, "detectors.")
	if !ok {
		return 0
	}
	id, field, _ := strings.Cut(rest, ":")
	parts := strings.Split(id, ".")
	path := append([]string{"detectors"}, parts...)
	_ = field
	return lineAt(doc, path)
}

func yamlLine(err error) int {
	return leadingLine(strings.TrimPrefix(err.Error(), "yaml: "))
}

// leadingLine extracts N from a message starting "line N:".
func leadingLine(msg string) int {
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
	rest, ok := strings.CutPrefix(msg, "line ")
	if !ok {
		return 0
	}
	num, _, _ := strings.Cut(rest, ":")
	n, _ := strconv.Atoi(num)
	return n
}

func stripLine(msg string) string {
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if _, after, ok := strings.Cut(rest, ": "); ok {
			return after
		}
	}
	return msg
}

// lineOf is n's line, or 0 for nil.
func lineOf(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	return n.Line
}
