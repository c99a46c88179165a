"""Alembic environment: the URL comes from the app's settings (or from the
caller, for tests), the target metadata from the SQLModel tables."""

from __future__ import annotations

from logging.config import fileConfig

from sqlmodel import SQLModel

from alembic import context
import chatapp.db  # noqa: F401  (registers every table on SQLModel.metadata)
from chatapp.config import get_settings
from chatapp.db.engine import migration_engine
from chatapp.db.search import include_in_comparison

config = context.config
if config.config_file_name is not None and not config.attributes.get("database_url"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = SQLModel.metadata


def database_url() -> str:
    return config.attributes.get("database_url") or get_settings().sqlalchemy_url


def run_migrations_offline() -> None:
    context.configure(url=database_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = database_url()
    connectable = migration_engine(url)
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=url.startswith("sqlite"),
            compare_type=True,
            include_object=include_in_comparison,
        )
        with context.begin_transaction():
            context.run_migrations()
    connectable.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
