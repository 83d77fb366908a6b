package server

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/carespine/spineauth/authd/config"
	"github.com/carespine/spineauth/registration"
)

// openStore opens the registration store cfg names and returns it with a
// description for logs (the SQLite file, or the PostgreSQL user, host and
// database: never the DSN, which holds the password).
func openStore(ctx context.Context, cfg config.Store, log *slog.Logger) (registration.Store, string, error) {
	opts := []registration.Option{registration.WithLogger(log)}
	switch cfg.Driver {
	case "sqlite":
		s, err := registration.OpenSQLite(ctx, cfg.Path, opts...)
		if err != nil {
			return nil, "", err
		}
		return s, "sqlite " + cfg.Path, nil
	case "postgres":
		p := cfg.Postgres
		dsn, err := p.ReadDSN()
		if err != nil {
			return nil, "", err
		}
		opts = append(opts, registration.WithMaxConns(p.MaxConns))
		if p.MaxIdleConns != nil {
			opts = append(opts, registration.WithMaxIdleConns(*p.MaxIdleConns))
		}
		if p.ConnMaxLifetime != nil {
			opts = append(opts, registration.WithConnMaxLifetime(*p.ConnMaxLifetime))
		}
		s, err := registration.OpenPostgres(ctx, dsn, opts...)
		if err != nil {
			return nil, "", err
		}
		return s, "postgres " + s.Target(), nil
	}
	return nil, "", fmt.Errorf("store.driver %q is not supported", cfg.Driver)
}
