// Package baselines provides the stores behind detectors.Store: an
// in-memory store, the embedded default of replay, and a DynamoDB store
// shared by concurrent Lambda instances.
//
// # DynamoDB table design
//
// The table has a string partition key pk and a string sort key sk, and the
// TTL attribute expires_at (as the CDK app defines it). Each principal is
// one item collection, pk = "P#" + principal key:
//
//	sk = "HOT"            version (N), writer (S), hot (B), expires_at (N),
//	                      and cold (B) and cases (B) while they fit,
//	                      else cold_ref (S) / cases_ref (S)
//	sk = "COLD#<v>#<id>"  data (B), expires_at (N): a spilled cold part
//	sk = "CASES#<v>#<id>" data (B), expires_at (N): spilled dedupe state
//
// hot is the part of the baseline that changes with every event (counters,
// rates, hour histogram, sessions); cold the value sets (change at most once
// per value per day); cases the finding dedupe state. Binary parts start
// with a format byte and are DEFLATE-compressed when that helps. While the
// three parts together stay under 3,500 bytes (most principals) they live
// in the HOT item: one item per principal costs one read unit and usually
// one or two write units per batch. Beyond that the cold part, then the
// cases, spill to items of their own, written only when they change, so the
// item written with every batch stays small.
//
// Load reads the HOT items of a batch's principals with consistent
// BatchGetItem calls (100 keys each, unprocessed keys retried with
// backoff), then the spilled parts they refer to in a second BatchGetItem.
//
// Save writes the HOT item with PutItem conditioned on the version loaded
// (attribute_not_exists(pk) for a new principal), incrementing it; a failed
// condition is detectors.ErrConflict, and the engine reloads and recomputes
// that principal. Spilled parts are immutable: written before the HOT item
// under a sort key never used before, they become current only when the
// conditional HOT write that refers to them succeeds, so a reader always
// sees one consistent version and a writer that loses the race leaves an
// unreferenced item behind (dynalite has no TransactWriteItems, and this
// needs none). Superseded parts expire with the TTL: expires_at is the
// principal's last event plus the forgetting period (two days more for
// spilled parts, which are rewritten before the HOT item would outlive
// them). The writer attribute is a token per write: when an answer is lost
// and the SDK's retry then fails its condition, the store recognises its
// own write instead of letting the engine apply the events twice.
//
// A HOT item that cannot be decoded (corrupt, of an older model version, or
// missing a spilled part) is logged as a warning and its principal reset to
// an empty baseline that keeps the stored version, so the batch goes on,
// other principals are unaffected, and the next write still conditions
// correctly. An item of a newer model version is never reset: Load logs an
// error, leaves it out and names it in a detectors.UnusableStates error, so
// the engine fails only that principal's events and the item stays as the
// newer binary wrote it. A part approaching the 400 KB item limit (350 KB) is compacted:
// the values unseen the longest, or the oldest cases, are dropped and the
// compaction logged.
package baselines
