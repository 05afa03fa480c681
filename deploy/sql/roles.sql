-- Least-privilege setup of organizer_pipeline, run ONCE by the server's admin role (a superuser, or the
-- managed server's admin: RDS `postgres`, Cloud SQL `cloudsqlsuperuser` member, Azure `azure_pg_admin` member):
--
--   psql "$ADMIN_URL" -v ON_ERROR_STOP=1 -v app_password="$APP_PASSWORD" -f deploy/sql/roles.sql
--
-- Optional: -v app_role=organizer_app -v database=organizer -v dagster_database=dagster (the defaults).
-- Afterwards the application runs as the app role only (DATABASE_URL, DAGSTER_PG_URL), including
-- `organizer db upgrade`, which creates the schemas raw, core, hotmart, ai, kpi and ops — owned by the app
-- role, with everything in them. The app role is no superuser, cannot create databases or roles, and owns
-- nothing outside its schemas and Dagster's database. See docs/operations.md § Database roles.
\set ON_ERROR_STOP on
\if :{?app_role}
\else
  \set app_role organizer_app
\endif
\if :{?database}
\else
  \set database organizer
\endif
\if :{?dagster_database}
\else
  \set dagster_database dagster
\endif

CREATE ROLE :"app_role" LOGIN PASSWORD :'app_password'
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
-- PostgreSQL 16+: a non-superuser admin may give a database to a role only as a member of it.
GRANT :"app_role" TO CURRENT_USER;

-- The warehouse belongs to the admin (the app cannot drop it); the app may create its own schemas in it.
CREATE DATABASE :"database";
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
GRANT CONNECT, TEMPORARY, CREATE ON DATABASE :"database" TO :"app_role";

-- Dagster's run, event and schedule storage: a database of its own, owned by the app (Dagster creates and
-- migrates its tables there).
CREATE DATABASE :"dagster_database" OWNER :"app_role";
REVOKE ALL ON DATABASE :"dagster_database" FROM PUBLIC;

\connect :"database"
-- pgvector is not a trusted extension: only the admin can install it. It lands in `public`, owned by the
-- admin; the app uses its type and operators (USAGE on public) and cannot drop or alter it.
CREATE EXTENSION IF NOT EXISTS vector;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
