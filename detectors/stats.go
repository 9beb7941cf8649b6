package detectors

import (
	"math"
	"strconv"
)

// PoissonTail returns P(X >= k) for X ~ Poisson(lambda), computed in log
// space so that it stays accurate far into the tail.
func PoissonTail(k int, lambda float64) float64 {
	if k <= 0 {
		return 1
	}
	if lambda <= 0 {
		return 0
	}
	// Sum the terms from k upwards until they vanish; start from the
	// log of the k-th term.
	lg, _ := math.Lgamma(float64(k) + 1)
	// float64(…) rounds the product: without it arm64 (the Lambda) fuses
	// the multiply and subtract and replay on amd64 would differ in the
	// last digits (the Go spec allows fusion; a conversion prevents it).
	logTerm := float64(float64(k)*math.Log(lambda)) - lambda - lg
	if float64(k) < lambda {
		// Upper tail holds most of the mass: use the complement.
		return 1 - poissonCDF(k-1, lambda)
	}
	sum := 0.0
	term := 1.0
	for i := k; i < k+1000; i++ {
		sum += term
		term *= lambda / float64(i+1)
		if term < sum*1e-16 {
			break
		}
	}
	return math.Min(1, math.Exp(logTerm)*sum)
}

func poissonCDF(k int, lambda float64) float64 {
	if k < 0 {
		return 0
	}
	sum := 0.0
	logTerm := -lambda
	for i := 0; i <= k; i++ {
		if i > 0 {
			logTerm += math.Log(lambda) - math.Log(float64(i))
		}
		sum += math.Exp(logTerm)
	}
	return math.Min(1, sum)
}

// Surprise is -log10(p), capped, so that scores can grow with evidence.
func Surprise(p float64) float64 {
	if p <= 0 {
		return 300
	}
	return -math.Log10(p)
}

// sig6 rounds x to 6 significant digits for evidence: math.Exp, Log and
// Lgamma may differ in the last bits between amd64 (replay on a laptop)
// and arm64 (the Lambda), and the evidence a finding shows must not.
func sig6(x float64) float64 {
	if x == 0 || math.IsInf(x, 0) || math.IsNaN(x) {
		return x
	}
	v, err := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 6, 64), 64)
	if err != nil {
		return x
	}
	return v
}
