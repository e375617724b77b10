// Package durable writes files so that a crash leaves them whole: the
// token store, media bookkeeping, a verifier's trusted checkpoint, backups.
package durable

import (
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFile replaces path with data: a temporary file beside it, fsync,
// rename, fsync of the directory, so that a crash leaves the old file or
// the new one, whole, and the new one once WriteFile has returned.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after the rename, nothing
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// SyncDir fsyncs a directory, making the names created, renamed or removed
// in it durable.
func SyncDir(dir string) error {
	return syncPath(dir)
}

// SyncTree fsyncs every file and directory under root, root included.
func SyncTree(root string) error {
	return filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return syncPath(p)
	})
}

func syncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
