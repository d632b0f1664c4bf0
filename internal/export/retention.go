package export

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// DeleteBefore applies retention: for every date strictly before cutoff (YYYY-MM-DD) under
// <prefix>/<reportType>/, it deletes the objects an export writes there (the manifest, then the
// data object, .csv or .csv.gz) and nothing else. Folders whose names are not exactly
// dt=<a real date>, and other objects inside a date's folder, are left alone. It returns the dates
// it deleted objects of, oldest first.
//
// The manifest goes first so that a reader never sees a manifest without its file; if deletion
// stops halfway, the next run finishes it.
func DeleteBefore(ctx context.Context, b *blob.Bucket, prefix, reportType, cutoff string) ([]string, error) {
	if _, err := ParseDate(cutoff); err != nil {
		return nil, fmt.Errorf("retention cutoff: %w", err)
	}
	probe := Report{Prefix: prefix, ReportType: reportType, Date: cutoff}
	if err := probe.Validate(); err != nil {
		return nil, err
	}
	dir := typeDir(prefix, reportType)
	var dates []string
	it := b.List(&blob.ListOptions{Prefix: dir + "dt=", Delimiter: "/"})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", dir, err)
		}
		if !obj.IsDir {
			continue
		}
		date, ok := strings.CutPrefix(strings.TrimSuffix(strings.TrimPrefix(obj.Key, dir), "/"), "dt=")
		if !ok {
			continue
		}
		if _, err := ParseDate(date); err != nil {
			continue
		}
		// YYYY-MM-DD strings order like the dates they name.
		if date < cutoff {
			dates = append(dates, date)
		}
	}
	sort.Strings(dates)

	var deleted []string
	for _, date := range dates {
		r := Report{Prefix: prefix, ReportType: reportType, Date: date}
		found := false
		for _, key := range []string{r.ManifestKey(), r.DataKey(Gzip), r.DataKey(None)} {
			err := b.Delete(ctx, key)
			switch {
			case err == nil:
				found = true
			case gcerrors.Code(err) == gcerrors.NotFound:
			default:
				return deleted, fmt.Errorf("delete %s: %w", key, err)
			}
		}
		if found {
			deleted = append(deleted, date)
		}
	}
	return deleted, nil
}
