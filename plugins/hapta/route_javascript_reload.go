package hapta

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// reloadQuiet is how long the routes folder must stay still before a
// reload: an editor's save is several events.
const reloadQuiet = 100 * time.Millisecond

// watch reloads the routes in place whenever a file of the folder is
// added, changed or removed: the next request runs the new code, requests
// in flight finish on theirs, and a folder that does not load leaves the
// previous generation serving (the error, with its file, line and column,
// is logged). It stops with stop.
func (j *jsRoutes) watch(stop <-chan struct{}, onError func(error), onReload func(routes int)) error {
	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(j.config.dir, 0o755); err != nil {
		watcher.Close()
		return err
	}
	if err := addDirs(watcher, j.config.dir); err != nil {
		watcher.Close()
		return err
	}
	go func() {
		defer watcher.Close()
		var quiet <-chan time.Time
		for {
			select {
			case <-stop:
				return
			case event, ok := <-watcher.Events:
				if !ok {
					return
				}
				if event.Has(fsnotify.Create) {
					if info, err := os.Stat(event.Name); err == nil && info.IsDir() {
						_ = addDirs(watcher, event.Name) // a new folder: watch it and what it holds
					}
				}
				quiet = time.After(reloadQuiet)
			case err, ok := <-watcher.Errors:
				if !ok {
					return
				}
				onError(err)
			case <-quiet:
				quiet = nil
				serving, err := j.load()
				if err != nil {
					onError(err)
					continue
				}
				j.current.Store(serving)
				onReload(len(serving.generation.Table.Routes))
			}
		}
	}()
	return nil
}

// addDirs watches dir and every folder below it.
func addDirs(watcher *fsnotify.Watcher, dir string) error {
	return filepath.WalkDir(dir, func(path string, entry fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // gone meanwhile
		}
		if err != nil {
			return err
		}
		if entry.IsDir() {
			return watcher.Add(path)
		}
		return nil
	})
}
