package warmstart

import (
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ListAPI is the S3 call that finds the accounts of an archive.
type ListAPI interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// Account is one account's part of the archive.
type Account struct {
	// ID is the 12-digit account ID.
	ID string `json:"account"`
	// Prefix is its directory, AWSLogs/[o-…/]<account>/.
	Prefix string `json:"prefix"`
}

var (
	accountID = regexp.MustCompile(`^\d{12}$`)
	orgID     = regexp.MustCompile(`^o-[a-z0-9]{10,32}$`)
	// accountDir matches a prefix at or below an account's directory.
	accountDir = regexp.MustCompile(`^(.*?(?:^|/)AWSLogs/(?:o-[a-z0-9]{10,32}/)?(\d{12})/)`)
)

// maxAccountListings bounds the listings one ListAccounts makes (an
// organization has at most a few thousand accounts, one listing per
// thousand directories).
const maxAccountListings = 1000

// ListAccounts returns the accounts whose CloudTrail directory
// (AWSLogs/[o-…/]<account>/CloudTrail/) is under prefix in bucket, in
// account order. prefix is the archive's root ("" or "AWSLogs/"), an
// organization's directory ("AWSLogs/o-…/"), or one account's.
func ListAccounts(ctx context.Context, c ListAPI, bucket, prefix string) ([]Account, error) {
	if m := accountDir.FindStringSubmatch(prefix); m != nil {
		return []Account{{ID: m[2], Prefix: m[1]}}, nil
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	l := &lister{c: c, bucket: bucket}
	var out []Account
	var walk func(dir string, depth int) error
	walk = func(dir string, depth int) error {
		dirs, err := l.dirs(ctx, dir)
		if err != nil {
			return err
		}
		for _, d := range dirs {
			base := path.Base(strings.TrimSuffix(d, "/"))
			switch {
			case base == "AWSLogs" && depth == 0:
				if err := walk(d, depth+1); err != nil {
					return err
				}
			case orgID.MatchString(base) && strings.HasSuffix(dir, "AWSLogs/"):
				if err := walk(d, depth+1); err != nil {
					return err
				}
			case accountID.MatchString(base) && (strings.HasSuffix(dir, "AWSLogs/") || orgID.MatchString(path.Base(strings.TrimSuffix(dir, "/")))):
				sub, err := l.dirs(ctx, d)
				if err != nil {
					return err
				}
				for _, s := range sub {
					if path.Base(strings.TrimSuffix(s, "/")) == "CloudTrail" {
						out = append(out, Account{ID: base, Prefix: d})
						break
					}
				}
			}
		}
		return nil
	}
	if err := walk(prefix, 0); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ID != out[j].ID {
			return out[i].ID < out[j].ID
		}
		return out[i].Prefix < out[j].Prefix
	})
	return out, nil
}

// lister lists directories, within a bound.
type lister struct {
	c        ListAPI
	bucket   string
	listings int
}

// dirs lists the common prefixes one level below prefix.
func (l *lister) dirs(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	p := s3.NewListObjectsV2Paginator(l.c, &s3.ListObjectsV2Input{
		Bucket: aws.String(l.bucket), Prefix: aws.String(prefix), Delimiter: aws.String("/"),
	})
	for p.HasMorePages() {
		if l.listings++; l.listings > maxAccountListings {
			return nil, fmt.Errorf("list s3://%s/%s: more than %d listings; name the organization's directory (AWSLogs/o-…/)", l.bucket, prefix, maxAccountListings)
		}
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", l.bucket, prefix, err)
		}
		for _, cp := range page.CommonPrefixes {
			out = append(out, aws.ToString(cp.Prefix))
		}
	}
	return out, nil
}

// ErrUnknownAccount is FindAccount's answer for an account without a
// directory under the prefix (or a malformed account ID).
var ErrUnknownAccount = errors.New("no such account in the archive")

// FindAccount returns account's directory under prefix (see ListAccounts).
func FindAccount(ctx context.Context, c ListAPI, bucket, prefix, account string) (Account, error) {
	if !accountID.MatchString(account) {
		return Account{}, fmt.Errorf("%w: account %q: want a 12-digit account ID", ErrUnknownAccount, account)
	}
	if m := accountDir.FindStringSubmatch(prefix); m != nil {
		if m[2] != account {
			return Account{}, fmt.Errorf("%w: prefix %s is account %s's, not %s", ErrUnknownAccount, prefix, m[2], account)
		}
		return Account{ID: account, Prefix: m[1]}, nil
	}
	all, err := ListAccounts(ctx, c, bucket, prefix)
	if err != nil {
		return Account{}, err
	}
	var found []Account
	for _, a := range all {
		if a.ID == account {
			found = append(found, a)
		}
	}
	switch len(found) {
	case 0:
		return Account{}, fmt.Errorf("%w: no CloudTrail directory of account %s under s3://%s/%s", ErrUnknownAccount, account, bucket, prefix)
	case 1:
		return found[0], nil
	default:
		return Account{}, fmt.Errorf("%w: account %s has %d directories under s3://%s/%s (%s, …): name one as the prefix", ErrUnknownAccount, account, len(found), bucket, prefix, found[0].Prefix)
	}
}
