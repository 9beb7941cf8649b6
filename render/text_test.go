package render

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTextRendering(t *testing.T) {
	var b strings.Builder
	if err := Text(&b, nil); err != nil || b.String() != "No findings.\n" {
		t.Errorf("no findings: %q %v", b.String(), err)
	}
	fs := sampleFindings(t)
	b.Reset()
	if err := Text(&b, fs[:2]); err != nil {
		t.Fatal(err)
	}
	if want := FindingText(fs[0]) + "\n" + FindingText(fs[1]); b.String() != want {
		t.Errorf("Text is not the findings' FindingText separated by a blank line")
	}
	for _, f := range fs {
		txt := FindingText(f)
		for _, want := range append([]string{f.Title, "id: " + f.ID, "principal: " + f.Principal}, f.Reasons...) {
			if !strings.Contains(txt, want) {
				t.Errorf("%s: text lacks %q", f.ID, want)
			}
		}
		if json.Valid([]byte(txt)) {
			t.Errorf("%s: the text rendering is JSON", f.ID)
		}
	}
}

func TestChatNotification(t *testing.T) {
	for _, f := range sampleFindings(t) {
		c := Chat(f)
		if c.Version != "1.0" || c.Source != "custom" || c.Content.TextType != "client-markdown" || c.Metadata.ThreadID != f.ID {
			t.Errorf("%s: envelope %+v", f.ID, c)
		}
		if utf8.RuneCountInString(c.Content.Title) > chatTitleMax || utf8.RuneCountInString(c.Content.Description) > chatDescriptionMax {
			t.Errorf("%s: title %d / description %d runes, over the bounds", f.ID, utf8.RuneCountInString(c.Content.Title), utf8.RuneCountInString(c.Content.Description))
		}
		if strings.ContainsAny(c.Content.Title, "\n\r") {
			t.Errorf("%s: title has a line break", f.ID)
		}
		if !strings.HasPrefix(c.Content.Title, "["+f.Severity.String()+"]") || len(c.Content.NextSteps) == 0 {
			t.Errorf("%s: title %q, next steps %v", f.ID, c.Content.Title, c.Content.NextSteps)
		}
	}
}
