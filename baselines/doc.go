// Package baselines provides the stores behind detectors.Store: an
// in-memory store, the embedded default of replay, and a DynamoDB store
// shared by concurrent Lambda instances.
package baselines
