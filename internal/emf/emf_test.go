package emf

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func TestPut(t *testing.T) {
	var buf bytes.Buffer
	w := &Writer{W: &buf, Now: func() time.Time { return time.UnixMilli(1700000000000) }}
	if err := w.Put(map[string]string{"Severity": "HIGH", "Detector": "first-seen"}, Metric{Name: "Findings", Unit: Count, Value: 2}); err != nil {
		t.Fatal(err)
	}
	if err := w.Count("ConfigReloadFailures", 1, nil); err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("got %d lines", len(lines))
	}
	type rec struct {
		AWS struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		Findings float64
		Severity string
		Detector string
	}
	var r rec
	if err := json.Unmarshal(lines[0], &r); err != nil {
		t.Fatal(err)
	}
	cw := r.AWS.CloudWatchMetrics[0]
	if cw.Namespace != "Trailwatch" || r.AWS.Timestamp != 1700000000000 || r.Findings != 2 || r.Severity != "HIGH" || r.Detector != "first-seen" {
		t.Errorf("record %s", lines[0])
	}
	if len(cw.Dimensions) != 1 || len(cw.Dimensions[0]) != 2 || cw.Dimensions[0][0] != "Detector" || cw.Dimensions[0][1] != "Severity" {
		t.Errorf("dimensions %v", cw.Dimensions)
	}
	var bare rec
	if err := json.Unmarshal(lines[1], &bare); err != nil {
		t.Fatal(err)
	}
	if d := bare.AWS.CloudWatchMetrics[0].Dimensions; len(d) != 1 || len(d[0]) != 0 {
		t.Errorf("dimensionless metric has dimensions %v", d)
	}
	var nilW *Writer
	if err := nilW.Count("X", 1, nil); err != nil {
		t.Error(err)
	}
}
