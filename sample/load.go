package sample

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// GenerateLoad streams events CloudTrail records as JSON Lines to w, in time
// order, spread over principals distinct principals (IAM Identity Center
// sessions, IAM users, Lambda roles and CI roles), about 30% of them
// mutating. Memory use does not grow with events. When events >= principals
// every principal appears at least once.
func GenerateLoad(w io.Writer, seed uint64, events, principals int) error {
	if events < 0 || principals <= 0 {
		return fmt.Errorf("sample: load needs events >= 0 and principals > 0 (got %d, %d)", events, principals)
	}
	start := time.Date(2026, 10, 5, 0, 0, 0, 0, time.UTC)
	g := newGen(seed, start, start.Add(365*24*time.Hour))
	accts := []*account{g.newAccount(AccountProd, "prod", "prod"), g.newAccount(AccountStaging, "staging", "staging")}
	var reads, writes []string
	for _, k := range apiList {
		a := catalog[k]
		if a.svc == "signin" || a.svc == "sts" && a.name != "GetCallerIdentity" {
			continue
		}
		if a.readOnly {
			reads = append(reads, k)
		} else {
			writes = append(writes, k)
		}
	}
	callers := make([]*caller, principals)
	for i := range callers {
		a := accts[i%len(accts)]
		key := g.accessKey("ASIA")
		switch i % 10 {
		case 0, 1, 2, 3:
			sess := fmt.Sprintf("user%05d@example.com", i)
			callers[i] = &caller{id: g.roleSession(a, "AWSReservedSSO_PowerUserAccess_"+g.hex(16), "/aws-reserved/sso.amazonaws.com/", sess, key, start, false),
				acct: a, region: "us-east-1", ip: randIP(g.r, officeNYC), ua: uaCLIMac}
		case 4, 5:
			name := fmt.Sprintf("load-user-%05d", i)
			callers[i] = &caller{id: g.iamUser(a, name, g.accessKey("AKIA")), acct: a, region: "us-east-1", ip: randIP(g.r, officeBOS), ua: uaBackup}
		case 6, 7, 8:
			fn := fmt.Sprintf("load-fn-%05d", i)
			callers[i] = &caller{id: g.roleSession(a, fn+"-role", "/", fn, key, start, false), acct: a, region: "us-east-1",
				ipPool: []string{randIP(g.r, ec2Prefixes["us-east-1"][i%6]), randIP(g.r, ec2Prefixes["us-east-1"][(i+1)%6])}, ua: uaGoLambda}
		default:
			role := fmt.Sprintf("ci-deploy-%05d", i)
			callers[i] = &caller{id: g.roleSession(a, role, "/", "GitHubActions", key, start, false), acct: a, region: "us-east-1",
				ip: randIP(g.r, runnerPrefixes[i%len(runnerPrefixes)]), ua: uaCLIRunner}
		}
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	t := start
	for i := range events {
		t = t.Add(time.Duration(g.r.ExpFloat64() * float64(200*time.Millisecond)))
		p := i
		if i >= principals {
			p = g.r.IntN(principals)
		}
		c := callers[p]
		k := pick(g.r, reads)
		if g.r.Float64() < 0.3 {
			k = pick(g.r, writes)
		}
		g.emit(c, t, k, callOpts{deny: g.r.IntN(200) == 0})
		if err := enc.Encode(&g.recs[0]); err != nil {
			return fmt.Errorf("encode load record: %w", err)
		}
		g.recs = g.recs[:0]
	}
	return bw.Flush()
}
