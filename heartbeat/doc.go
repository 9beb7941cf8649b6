// Package heartbeat tells when an account and region that has sent
// CloudTrail events falls silent: a stopped trail, a deleted forwarder or
// a broken rule looks exactly like a quiet day otherwise.
//
// The detect function records, per (account, region), the time of the
// latest event it received (Recorder: at most one write per source every
// few minutes per process, a conditional update that only moves forward,
// so a redelivered batch writes nothing). The same function checks the
// heartbeats at most every ten minutes per process (Checker: one Query of
// one partition) and reports the sources silent longer than the configured
// time (Silent) as the metric SilentSources; an alarm on it reaches the
// operations topic. When no event arrives at all, detect is not invoked
// and the check metric stops: a second alarm treats that silence, as long
// as the configured time, as breaching. A source that has never sent an
// event has no heartbeat and so never alarms.
package heartbeat
