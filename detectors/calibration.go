package detectors

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"

	"github.com/trailwatch/trailwatch/events"
)

// Calibration measures how well NewValueProbability predicts: for every
// event of a mature principal and every dimension the event has a value in,
// it records the predicted chance of a new value (before the event is
// observed) and whether the value was in fact new. Bucketed by prediction,
// a calibrated estimator's mean prediction matches the observed rate of new
// values. Set Engine.Calibration to collect; nil costs nothing.
type Calibration struct {
	// Buckets are indexed by bucketOf; per dimension and overall.
	Dims [NumDims][calBuckets]CalBucket
	All  [calBuckets]CalBucket
}

// CalBucket is one range of predictions.
type CalBucket struct {
	N         int     // observations
	Predicted float64 // sum of predicted chances
	New       int     // observations whose value was new
}

// Mean is the mean predicted chance.
func (b CalBucket) Mean() float64 {
	if b.N == 0 {
		return 0
	}
	return b.Predicted / float64(b.N)
}

// Rate is the observed rate of new values.
func (b CalBucket) Rate() float64 {
	if b.N == 0 {
		return 0
	}
	return float64(b.New) / float64(b.N)
}

// calBuckets split predictions by decades: below 10^-4, then up to 1.
const calBuckets = 5

// bucketOf returns the decade bucket of p: bucket i holds
// [10^(i-4), 10^(i-3)), bucket 0 everything below 10^-3.
func bucketOf(p float64) int {
	if p <= 0 {
		return 0
	}
	i := int(math.Floor(math.Log10(p))) + 4
	return max(0, min(calBuckets-1, i))
}

// BucketRange returns the prediction range of bucket i.
func BucketRange(i int) (lo, hi float64) {
	lo = math.Pow(10, float64(i-4))
	if i == 0 {
		lo = 0
	}
	return lo, math.Pow(10, float64(i-3))
}

// eventValues are the values an event has in each dimension, as Observe
// remembers them ("" where it has none; DimRisk is learned from the
// high-risk detector, never here), given the event's resource
// (ResourceOf): calls an AWS service made on the principal's behalf say
// nothing of its network or user agent, and a denied call changed no
// resource.
func eventValues(ev *events.Event, resource string) [NumDims]string {
	var v [NumDims]string
	v[DimAPI] = APIValue(ev)
	v[DimRegion] = ev.Region
	if ev.InvokedBy == "" {
		v[DimNetwork] = ev.Network.Key
		v[DimUserAgent] = ev.UAFamily
	}
	if isLongTermKey(ev.AccessKeyID) {
		v[DimAccessKey] = ev.AccessKeyID
	}
	if ev.ErrClass != events.ErrDenied {
		v[DimResource] = resource
	}
	return v
}

// observe records an event's predictions against a baseline before the
// event is observed.
func (c *Calibration) observe(b *Baseline, ev *events.Event, resource string) {
	vals := eventValues(ev, resource)
	for d := range NumDims {
		if vals[d] == "" {
			continue
		}
		p, _, _ := b.NewValueProbability(d)
		_, known := b.Has(d, vals[d])
		i := bucketOf(p)
		for _, bk := range []*CalBucket{&c.Dims[d][i], &c.All[i]} {
			bk.N++
			bk.Predicted += p
			if !known {
				bk.New++
			}
		}
	}
}

// CalMinObservations is how many observations a bucket needs before its
// calibration is judged.
const CalMinObservations = 200

// Miscalibrated returns the buckets, over all dimensions, with at least
// CalMinObservations whose mean prediction is not within a factor of two of
// the observed rate. A bucket with no new value at all is judged by the
// count it predicted instead: it is miscalibrated only if it expected at
// least two new values (observing none where two were expected is a
// factor-of-two miss the data can show; fewer cannot be told from chance).
func (c *Calibration) Miscalibrated() []int {
	var bad []int
	for i, b := range c.All {
		if b.N < CalMinObservations {
			continue
		}
		if b.New == 0 {
			if b.Predicted >= 2 {
				bad = append(bad, i)
			}
			continue
		}
		r := b.Mean() / b.Rate()
		if r > 2 || r < 0.5 {
			bad = append(bad, i)
		}
	}
	return bad
}

// WriteTable writes the calibration table: per bucket of prediction, the
// observations, the mean predicted chance, the observed rate and their
// ratio, overall and for each dimension with enough data.
func (c *Calibration) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "dimension\tpredicted range\tobservations\tnew values\tmean predicted\tobserved rate\tpredicted/observed\t")
	row := func(name string, i int, b CalBucket) {
		lo, hi := BucketRange(i)
		ratio := "-"
		switch {
		case b.New > 0:
			ratio = fmt.Sprintf("%.2f", b.Mean()/b.Rate())
		case b.N > 0:
			ratio = fmt.Sprintf("none seen, %.2f expected", b.Predicted)
		}
		judged := ""
		if b.N >= CalMinObservations {
			judged = " *"
		}
		fmt.Fprintf(tw, "%s\t[%.2g, %.2g)\t%d%s\t%d\t%.3g\t%.3g\t%s\t\n", name, lo, hi, b.N, judged, b.New, b.Mean(), b.Rate(), ratio)
	}
	for i, b := range c.All {
		if b.N > 0 {
			row("all", i, b)
		}
	}
	for d := range NumDims {
		for i, b := range c.Dims[d] {
			if b.N >= CalMinObservations {
				row(d.String(), i, b)
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "* judged (at least %d observations): predicted within a factor of two of observed\n", CalMinObservations)
	return err
}
