"""SQL schema migrations, applied in version order at store open.

File names are `<backend>_<version>_<name>.sql` (for example `sqlite_0001_initial.sql`);
each backend applies only its own files and records them in `schema_migrations`."""
