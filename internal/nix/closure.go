package nix

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	// The pure-Go SQLite driver, registered as "sqlite".
	_ "modernc.org/sqlite"

	"github.com/nix-deploy-action/nix-deploy-action/internal/closure"
)

// DefaultDBPath is the local store's database.
const DefaultDBPath = "/nix/var/nix/db/db.sqlite"

// StoreOptions configures a Store.
type StoreOptions struct {
	// Nix runs `nix path-info` when the database cannot be read; a plain
	// Nix when nil.
	Nix *Nix
	// DBPath is the store database; DefaultDBPath when empty.
	DBPath string
	// URL is the store to read (nix --store); empty or "auto", "local" and
	// "daemon" mean the local store, whose database we read directly.
	URL string
	// Logger gets debug lines about the path taken; slog.Default when nil.
	Logger *slog.Logger
}

// Store reads closures with their NAR sizes. It reads the local store's
// SQLite database read-only, which takes milliseconds where one query per
// path takes seconds, and falls back to `nix path-info --json -r` when the
// database cannot be used (no permission, a remote store, WAL trouble).
type Store struct {
	opts StoreOptions
	log  *slog.Logger

	mu    sync.Mutex
	db    *sql.DB
	dbErr error
}

// NewStore returns a Store; nothing is opened until the first Closure.
func NewStore(opts StoreOptions) *Store {
	if opts.Nix == nil {
		opts.Nix = &Nix{}
	}
	if opts.DBPath == "" {
		opts.DBPath = DefaultDBPath
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Store{opts: opts, log: log}
}

// Close releases the database.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	return err
}

// isLocal reports whether the store URL names the store whose database is
// at DBPath.
func (s *Store) isLocal() bool {
	switch u := s.opts.URL; {
	case u == "", u == "auto", u == "local", u == "daemon":
		return true
	case strings.HasPrefix(u, "local?"), strings.HasPrefix(u, "unix://"):
		return true
	}
	return false
}

// Closure returns the runtime closure of path (root included) with NAR
// sizes. path may be a store path, a path inside one, or a symlink to one
// (a profile link, /run/current-system).
func (s *Store) Closure(ctx context.Context, path string) (*closure.Closure, error) {
	root, err := s.resolve(path)
	if err != nil {
		return nil, err
	}
	if s.isLocal() {
		if db, err := s.openDB(); err == nil {
			c, err := s.dbClosure(ctx, db, root)
			if err == nil || errors.Is(err, ErrInvalidPath) || ctx.Err() != nil {
				return c, err
			}
			s.log.Debug("read closure from the store database failed, using nix path-info", "path", root, "err", err)
		} else {
			s.log.Debug("store database unavailable, using nix path-info", "err", err)
		}
	}
	return s.pathInfoClosure(ctx, root)
}

// resolve turns path into the top store path it is or points into.
func (s *Store) resolve(path string) (string, error) {
	p := filepath.Clean(path)
	if resolved, err := filepath.EvalSymlinks(p); err == nil {
		p = resolved
	} else if s.isLocal() {
		return "", fmt.Errorf("resolve %s: %w", path, err)
	}
	rest, ok := strings.CutPrefix(p, StoreDir+"/")
	if !ok {
		return "", fmt.Errorf("resolve %s: %s is not in %s", path, p, StoreDir)
	}
	top := StoreDir + "/" + strings.SplitN(rest, "/", 2)[0]
	if !IsStorePath(top) {
		return "", fmt.Errorf("resolve %s: %s is not a store path", path, top)
	}
	return top, nil
}

func (s *Store) openDB() (*sql.DB, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db != nil || s.dbErr != nil {
		return s.db, s.dbErr
	}
	if _, err := os.Stat(s.opts.DBPath); err != nil {
		s.dbErr = fmt.Errorf("open store database: %w", err)
		return nil, s.dbErr
	}
	// mode=ro never writes the database; Nix may be writing it meanwhile,
	// which SQLite's locking handles. A busy timeout rides out Nix's write
	// transactions.
	dsn := (&url.URL{
		Scheme:   "file",
		Path:     s.opts.DBPath,
		RawQuery: "mode=ro&_pragma=busy_timeout(10000)&_pragma=query_only(1)&_pragma=mmap_size(268435456)&_pragma=temp_store(2)&_pragma=cache_size(-65536)",
	}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		s.dbErr = fmt.Errorf("open store database: %w", err)
		return nil, s.dbErr
	}
	s.db = db
	return db, nil
}

// closureQuery walks Refs from the root; UNION (not UNION ALL) visits each
// path once however many paths refer to it.
const closureQuery = `
WITH RECURSIVE c(id) AS (
	SELECT id FROM ValidPaths WHERE path = ?1
	UNION
	SELECT r.reference FROM Refs r JOIN c ON r.referrer = c.id
)
SELECT v.path, coalesce(v.narSize, 0) FROM c JOIN ValidPaths v ON v.id = c.id`

const referencesQuery = `
SELECT t.path FROM ValidPaths f
JOIN Refs r ON r.referrer = f.id
JOIN ValidPaths t ON t.id = r.reference
WHERE f.path = ?1 AND t.id != f.id`

func (s *Store) dbClosure(ctx context.Context, db *sql.DB, root string) (*closure.Closure, error) {
	rows, err := db.QueryContext(ctx, closureQuery, root)
	if err != nil {
		return nil, fmt.Errorf("query closure of %s: %w", root, err)
	}
	defer rows.Close()
	c := &closure.Closure{Root: root}
	for rows.Next() {
		var p closure.Path
		if err := rows.Scan(&p.Path, &p.NarSize); err != nil {
			return nil, fmt.Errorf("query closure of %s: %w", root, err)
		}
		c.Paths = append(c.Paths, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query closure of %s: %w", root, err)
	}
	if len(c.Paths) == 0 {
		return nil, fmt.Errorf("closure of %s: %w", root, ErrInvalidPath)
	}
	sort.Slice(c.Paths, func(i, j int) bool { return c.Paths[i].Path < c.Paths[j].Path })

	from := root
	if sw := s.swTarget(root); sw != "" && containsPath(c.Paths, sw) {
		from = sw
	}
	refs, err := db.QueryContext(ctx, referencesQuery, from)
	if err != nil {
		return nil, fmt.Errorf("query references of %s: %w", from, err)
	}
	defer refs.Close()
	for refs.Next() {
		var p string
		if err := refs.Scan(&p); err != nil {
			return nil, fmt.Errorf("query references of %s: %w", from, err)
		}
		c.Selected = append(c.Selected, p)
	}
	if err := refs.Err(); err != nil {
		return nil, fmt.Errorf("query references of %s: %w", from, err)
	}
	sort.Strings(c.Selected)
	return c, nil
}

func containsPath(paths []closure.Path, p string) bool {
	i := sort.Search(len(paths), func(i int) bool { return paths[i].Path >= p })
	return i < len(paths) && paths[i].Path == p
}

// swTarget is the store path <root>/sw points to, or "" (not a NixOS
// system, or a store we cannot look into).
func (s *Store) swTarget(root string) string {
	if !s.isLocal() {
		return ""
	}
	t, err := filepath.EvalSymlinks(root + "/sw")
	if err != nil || !IsStorePath(t) {
		return ""
	}
	return t
}

func (s *Store) pathInfoClosure(ctx context.Context, root string) (*closure.Closure, error) {
	args := []string{"path-info", "--json", "-r"}
	if !s.isLocal() {
		args = append(args, "--store", s.opts.URL)
	}
	args = append(args, root)
	out, err := s.opts.Nix.run(ctx, args, nil)
	if err != nil {
		return nil, fmt.Errorf("read closure of %s: %w", root, err)
	}
	infos, err := DecodePathInfo(out)
	if err != nil {
		return nil, fmt.Errorf("read closure of %s: %w", root, err)
	}
	return ClosureFromPathInfo(root, s.swTarget(root), infos)
}
