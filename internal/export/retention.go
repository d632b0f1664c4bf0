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

// DeleteBefore applies retention for one writer: for every date strictly before cutoff (YYYY-MM-DD)
// under <prefix>/<reportType>/ whose manifest says exportedBy wrote it, it deletes the manifest and
// then the data object the manifest names, and nothing else. Dates another writer exported (another
// resource sharing the prefix), dates without a readable manifest, folders whose names are not
// exactly dt=<a real date>, and other objects inside a date's folder are left alone. It returns the
// dates it deleted, oldest first.
//
// The manifest goes first so that a reader never sees a manifest without its file. If deletion
// stops between the two, the data object stays behind without a manifest; it is never read as an
// export, and an export of that date would replace it.
func DeleteBefore(ctx context.Context, b *blob.Bucket, prefix, reportType, cutoff, exportedBy string) ([]string, error) {
	if exportedBy == "" {
		return nil, errors.New("retention needs the writer whose exports it deletes")
	}
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
		m, err := ReadManifest(ctx, b, r)
		switch {
		case errors.Is(err, ErrManifestNotFound):
			continue
		case errors.Is(err, ErrInvalidManifest):
			continue // not a manifest this operator wrote
		case err != nil:
			return deleted, err // the store failed: the next run tries again
		case m.ExportedBy != exportedBy:
			continue
		}
		for _, key := range []string{r.ManifestKey(), m.Object} {
			if err := b.Delete(ctx, key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
				return deleted, fmt.Errorf("delete %s: %w", key, err)
			}
		}
		deleted = append(deleted, date)
	}
	return deleted, nil
}
