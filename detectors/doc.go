// Package detectors is the heart of Trailwatch: the per-principal baseline
// model, the detectors that score events against it, the engine that runs
// them over batches, and the findings it produces with their dedupe.
//
// It is pure logic with no AWS SDK. It declares the Store interface it needs;
// package baselines provides the in-memory and DynamoDB implementations.
//
// # Baselines
//
// A Baseline remembers, per principal key (see events.Normalizer), the APIs,
// source networks, user-agent families, regions and long-term access keys it
// used, each with its first and last day, the days it was seen and a bitmap
// of the last 32 days (so late events count once); an hour-of-week histogram
// of active hours; smoothed rates of mutating and denied calls per 10-minute
// window; recent session credentials and their first network; hashes of the
// latest event IDs (so redeliveries are not counted twice). Values unseen for
// the forgetting period (default 90 days) are dropped; each dimension is
// capped (400 APIs, 160 networks, 48 user agents, 32 regions, 24 keys) and
// evicts the value unseen the longest, so an encoded baseline stays under
// about 13 KB whatever the principal does. ModelVersion changes reset stored
// baselines.
//
// # Scoring
//
// Each detector returns Signals with a score in [0, 1] and the reasons behind
// it; each documents its scoring on its type. Signals of one principal within
// the case window fold into one Case (a finding in progress): the strongest
// signal per group, then a noisy-OR across groups. A finding is reported
// (UpdateNew) when it first reaches the routing minimum in alert mode, again
// (UpdateEscalated) when its severity rises, and otherwise only counted.
//
// # Learning
//
// Novelty (first-seen, unusual-hour) is scored only once a principal's
// baseline is mature (Learning.MinEvents events over Learning.MinDays days);
// high-risk actions, error bursts and credential pinning count from the first
// event.
package detectors
